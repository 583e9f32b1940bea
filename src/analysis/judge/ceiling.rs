//! `maxRatio`: an absolute ceiling on the canary's failure ratio `q`, judged with the
//! same kind of anytime-valid test as the rate ratio, so one unlucky interval cannot
//! trip it and checking it at every reading costs no extra false rollbacks.
//!
//! Each interval's canary failures are `Binomial(n, q)`. Against `H₀: q ≤ q₀` (`q₀` =
//! `maxRatio`) the alternatives multiply the odds of `q₀` by `c ∈` [`ABOVE`]; the mixture
//! of their likelihood ratios `(q₁/q₀)^f · ((1-q₁)/(1-q₀))^(n-f)` is a supermartingale
//! for every `q ≤ q₀`, so rejecting at `1/α` (Fail) has error ≤ α at any number of looks.
//! The mirror test of `H₀': q ≥ q₀` (odds × [`BELOW`]) gives the early pass.
//! A ceiling of 0 ("no failure at all") is treated as `q₀ = 1e-6`: two failures
//! reject it at any usual α.

use super::counts::Counts;
use super::evidence::{accumulate, tempered_mixture};

/// Odds multipliers of the alternatives above the ceiling.
pub const ABOVE: [f64; 9] = [1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1000.0];
/// Odds multipliers of the alternatives below the ceiling.
pub const BELOW: [f64; 6] = [0.8, 0.6, 0.4, 0.2, 0.1, 0.01];

/// A ceiling of 0 cannot be confirmed by any finite sample: the early pass confirms the
/// failing share is below this instead.
pub const PASS_FLOOR: f64 = 0.01;

const Q_MIN: f64 = 1e-6;

pub fn with_odds(q: f64, c: f64) -> f64 {
    let o = q / (1.0 - q) * c;
    o / (1.0 + o)
}

/// Log-likelihood ratio of `f` failures in `n` attempts, `q₁` against `q₀`.
pub fn log_lr(new: Counts, q0: f64, q1: f64) -> f64 {
    let ok = (new.total - new.failures).max(0.0);
    new.failures * (q1 / q0).ln() + ok * ((1.0 - q1) / (1.0 - q0)).ln()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CeilingTest {
    pub q0: f64,
}

impl CeilingTest {
    pub fn new(max_ratio: f64) -> Self {
        CeilingTest {
            q0: max_ratio.clamp(Q_MIN, 1.0 - Q_MIN),
        }
    }

    /// Adds one interval's new canary counts to both tests.
    pub fn update(&self, above: &mut Vec<f64>, below: &mut Vec<f64>, new: Counts) {
        accumulate(above, ABOVE.len(), |k| {
            log_lr(new, self.q0, with_odds(self.q0, ABOVE[k]))
        });
        let q_pass = self.q0.max(PASS_FLOOR);
        accumulate(below, BELOW.len(), |k| {
            log_lr(new, q_pass, with_odds(q_pass, BELOW[k]))
        });
    }

    pub fn above_evidence(above: &[f64], phi: f64) -> f64 {
        tempered_mixture(above, phi)
    }

    pub fn below_evidence(below: &[f64], phi: f64) -> f64 {
        tempered_mixture(below, phi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lr_matches_a_hand_computation() {
        // 30 failures in 200, q₀ = 0.1, q₁ = 0.2:
        // 30·ln 2 + 170·ln(0.8/0.9) = 20.794415 − 20.023116 = 0.771299.
        let lr = log_lr(Counts::new(30.0, 200.0), 0.1, 0.2);
        assert!((lr - 0.771299).abs() < 1e-5, "{lr}");
    }

    #[test]
    fn odds_multiplier_moves_the_ratio() {
        // odds(0.1) = 1/9; × 9 → odds 1 → 0.5.
        assert!((with_odds(0.1, 9.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn far_above_the_ceiling_rejects_and_far_below_passes() {
        let t = CeilingTest::new(0.05);
        let (mut above, mut below) = (Vec::new(), Vec::new());
        t.update(&mut above, &mut below, Counts::new(40.0, 100.0));
        assert!(CeilingTest::above_evidence(&above, 1.0) > 1e6);
        let (mut above, mut below) = (Vec::new(), Vec::new());
        t.update(&mut above, &mut below, Counts::new(2.0, 1000.0));
        assert!(CeilingTest::above_evidence(&above, 1.0) < 1.0);
        assert!(CeilingTest::below_evidence(&below, 1.0) > 1e6);
    }

    #[test]
    fn a_zero_ceiling_is_rejected_by_two_failures() {
        // q₀ = 1e-6; the top component (odds × 1000) gains ×1000 per failure.
        let t = CeilingTest::new(0.0);
        let (mut above, mut below) = (Vec::new(), Vec::new());
        t.update(&mut above, &mut below, Counts::new(2.0, 5.0));
        assert!(CeilingTest::above_evidence(&above, 1.0) > 1e4);
    }
}
