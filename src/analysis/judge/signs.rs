//! A sequential sign test: of the readings in which exactly one track is out of bounds,
//! is it the canary more often than half the time?
//!
//! Under the null each such reading is the canary's with probability ≤ 1/2, whatever
//! came before (see [`super::query`] for when that holds). For an alternative `p₁ > 1/2`
//! a reading's likelihood ratio is `2p₁` when it is the canary's and `2(1 − p₁)` when it
//! is stable's; its mean under any `p ≤ 1/2` is `2(1 − p₁) + 2p(2p₁ − 1) ≤ 1`, so the
//! product over readings is a supermartingale and so is an equal-weight mixture over
//! [`CANARY_SHARE`] (no guessed effect size). Ville: `P(ever ≥ 1/α) ≤ α`.
//!
//! Each reading at most doubles a component: with `K` components it takes at least
//! `log₂(K/α)` readings in which the canary alone is out of bounds to reject, however
//! far out it is. That is the price of a test that assumes nothing about the values'
//! distribution.

use super::evidence::{accumulate, tempered_mixture};

/// Alternatives: the canary's share of the readings in which one track alone is out of
/// bounds.
pub const CANARY_SHARE: [f64; 6] = [0.6, 0.7, 0.8, 0.9, 0.95, 0.99];

/// Log-likelihood ratio of one reading in which one track alone was out of bounds.
pub fn log_lr(canary_alone: bool, p1: f64) -> f64 {
    if canary_alone {
        (2.0 * p1).ln()
    } else {
        (2.0 * (1.0 - p1)).ln()
    }
}

/// Adds one such reading to the components.
pub fn update(components: &mut Vec<f64>, canary_alone: bool) {
    accumulate(components, CANARY_SHARE.len(), |k| {
        log_lr(canary_alone, CANARY_SHARE[k])
    });
}

/// E-value against "the canary is out of bounds alone no more often than stable",
/// for readings whose signs persist over `phi` (≥ 1) readings.
pub fn evidence(components: &[f64], phi: f64) -> f64 {
    tempered_mixture(components, phi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_of_the_canary_alone_doubles_the_top_component_at_most() {
        assert!((log_lr(true, 0.99) - 1.98f64.ln()).abs() < 1e-12);
        assert!((log_lr(false, 0.99) - 0.02f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn nine_readings_of_the_canary_alone_reject_at_one_percent_and_a_fair_split_does_not() {
        // mean_k (2p_k)^n over CANARY_SHARE: 96.38 after 8 readings, 180.55 after 9.
        let mut c = Vec::new();
        for _ in 0..8 {
            update(&mut c, true);
        }
        assert!((evidence(&c, 1.0) - 96.3775).abs() < 1e-3);
        update(&mut c, true);
        assert!((evidence(&c, 1.0) - 180.5514).abs() < 1e-3);
        let mut fair = Vec::new();
        for i in 0..200 {
            update(&mut fair, i % 2 == 0);
        }
        assert!(evidence(&fair, 1.0) < 1.0);
    }

    #[test]
    fn persistence_tempers_the_evidence() {
        // Eleven readings whose signs persist over four: worth under three independent
        // ones, e-value mean_k (2p_k)^(11/4) ≈ 4.21.
        let mut c = Vec::new();
        for _ in 0..11 {
            update(&mut c, true);
        }
        assert!((evidence(&c, 4.0) - 4.2061).abs() < 1e-3);
    }
}
