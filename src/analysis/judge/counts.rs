//! The canary-vs-stable rate-ratio test on failure counts.
//!
//! Let `ρ` be the canary's failure rate divided by the stable release's. The tolerance
//! `maxIncrease` sets the boundary `ρ₀ = 1 + maxIncrease`, and the test is of
//! `H₀: ρ ≤ ρ₀` (the canary is no worse than tolerated) against `ρ > ρ₀`.
//!
//! **Conditioning on failures.** Within one reading interval the canary saw `n_c` attempts
//! and `f_c` failures, stable `n_s` and `f_s`. Treating failures as Poisson events in
//! exposure, given `f = f_c + f_s` the canary's share is `Binomial(f, p(ρ))` with
//! `p(ρ) = ρ·n_c / (ρ·n_c + n_s)`. The stable rate cancels: a diurnal cycle, an attack
//! on both tracks or a traffic-share change moves both rates and leaves `p` alone.
//!
//! **Mixture martingale.** For an alternative `ρ₁` the interval's likelihood ratio is
//! `(p₁/p₀)^f_c · ((1-p₁)/(1-p₀))^f_s`. The product over intervals is a martingale under
//! `ρ = ρ₀` even though the exposures change from one interval to the next, and a
//! supermartingale for any `ρ < ρ₀` (`p` grows with `ρ`, and the ratio is one-sided). An
//! equal-weight mixture over the grid `ρ₁ = ρ₀·c`, `c ∈` [`WORSE`], needs no guessed
//! effect size: small `c` wins for slight regressions, large `c` for outages. By Ville's
//! inequality `P(mixture ever ≥ 1/α | H₀) ≤ α`, however often it is looked at, so the
//! canary is rejected when the mixture reaches `1/α`.
//!
//! **Early pass.** The mirror test of `H₀': ρ ≥ ρ₀` with alternatives `ρ₀·c`,
//! `c ∈` [`NOT_WORSE`], is a supermartingale under `H₀'` by the same argument. The
//! metric passes when it reaches `1/α`: the probability of passing a canary that *is*
//! worse by at least the tolerance is ≤ α.
//!
//! **Counts that are not Poisson.** For binomial attempts with a common failure ratio
//! (A/A), the split given `f` is hypergeometric, less spread than the binomial the test
//! assumes: conservative. Bursts (one client retrying a bad password over a sticky
//! connection to one track) are *more* spread and would inflate false rollbacks: the
//! evidence is divided by the dispersion measured on stable's own counts
//! ([`super::dispersion`]).
//!
//! The state kept in status is the log-likelihood ratio of every component (plus the
//! last cumulative counts, kept in `MetricResult.canary` / `.stable`).

use super::evidence::{accumulate, tempered_mixture};

/// Alternatives `ρ₁ / ρ₀` for "the canary is worse".
pub const WORSE: [f64; 10] = [1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1000.0];
/// Alternatives `ρ₁ / ρ₀` for "the canary is not worse".
pub const NOT_WORSE: [f64; 6] = [0.9, 0.8, 0.67, 0.5, 0.33, 0.1];

/// Failures out of a total, on one track.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    pub failures: f64,
    pub total: f64,
}

impl Counts {
    pub fn new(failures: f64, total: f64) -> Self {
        Counts { failures, total }
    }
    pub fn ratio(&self) -> Option<f64> {
        (self.total > 0.0).then(|| self.failures / self.total)
    }
}

/// Why a pair of cumulative counts is no observation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CountError {
    #[error("{what} is {value}, not a finite count ≥ 0")]
    NotACount { what: &'static str, value: f64 },
    #[error("{what} went down from {before} to {now} (a counter reset or a lost series)")]
    Decreased {
        what: &'static str,
        before: f64,
        now: f64,
    },
    #[error("failures {failures} exceed total {total}: the two queries do not match")]
    MoreFailuresThanTotal { failures: f64, total: f64 },
}

/// Prometheus' `increase()` extrapolates, so a flat counter can read slightly lower than
/// last time; a drop within this share (or two counts) is noise, not a reset.
const DECREASE_TOLERANCE: f64 = 0.05;

fn check(what: &'static str, before: f64, now: f64) -> Result<f64, CountError> {
    if !now.is_finite() || now < 0.0 {
        return Err(CountError::NotACount { what, value: now });
    }
    let now = now.round();
    if now < before - (before * DECREASE_TOLERANCE).max(2.0) {
        return Err(CountError::Decreased { what, before, now });
    }
    Ok(now.max(before))
}

/// Cumulative counts (rounded) after this reading, and what is new since `before`.
/// `track` names the track in errors.
pub fn advance(
    track: &'static str,
    before: Counts,
    now: Counts,
) -> Result<(Counts, Counts), CountError> {
    let (fw, tw) = match track {
        "canary" => ("canary failures", "canary total"),
        _ => ("stable failures", "stable total"),
    };
    let failures = check(fw, before.failures, now.failures)?;
    let total = check(tw, before.total, now.total)?;
    if failures > total + (total * DECREASE_TOLERANCE).max(2.0) {
        return Err(CountError::MoreFailuresThanTotal { failures, total });
    }
    let failures = failures.min(total);
    let cumulative = Counts::new(failures, total);
    let new = Counts::new(
        (failures - before.failures).max(0.0),
        (total - before.total).max(0.0),
    );
    Ok((cumulative, new))
}

/// The canary's expected share of failures when its rate is `rho` × stable's.
pub fn canary_share(rho: f64, canary_total: f64, stable_total: f64) -> f64 {
    rho * canary_total / (rho * canary_total + stable_total)
}

/// Log-likelihood ratio of one interval's split of failures, `ρ₁` against `ρ₀`.
/// Zero (no information) when there were no failures or one track had no traffic.
pub fn log_lr(canary: Counts, stable: Counts, rho0: f64, rho1: f64) -> f64 {
    if canary.failures + stable.failures <= 0.0 || canary.total <= 0.0 || stable.total <= 0.0 {
        return 0.0;
    }
    let p0 = canary_share(rho0, canary.total, stable.total);
    let p1 = canary_share(rho1, canary.total, stable.total);
    canary.failures * (p1 / p0).ln() + stable.failures * ((1.0 - p1) / (1.0 - p0)).ln()
}

/// The two one-sided tests around `ρ₀`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioTest {
    pub rho0: f64,
}

impl RatioTest {
    pub fn new(max_increase: f64) -> Self {
        RatioTest {
            rho0: 1.0 + max_increase.max(0.0),
        }
    }

    /// Adds one interval (new counts on each track) to both tests' log-evidence.
    pub fn update(&self, worse: &mut Vec<f64>, not_worse: &mut Vec<f64>, c: Counts, s: Counts) {
        accumulate(worse, WORSE.len(), |k| {
            log_lr(c, s, self.rho0, self.rho0 * WORSE[k])
        });
        accumulate(not_worse, NOT_WORSE.len(), |k| {
            log_lr(c, s, self.rho0, self.rho0 * NOT_WORSE[k])
        });
    }

    /// E-value against "not worse than tolerated" (Fail at ≥ 1/α), for failures as
    /// spread as `phi` (1 = independent attempts).
    pub fn worse_evidence(worse: &[f64], phi: f64) -> f64 {
        tempered_mixture(worse, phi)
    }

    /// E-value against "worse than tolerated" (Pass at ≥ 1/α).
    pub fn not_worse_evidence(not_worse: &[f64], phi: f64) -> f64 {
        tempered_mixture(not_worse, phi)
    }
}

/// Rate-ratio estimate `(f_c/n_c) / (f_s/n_s)` on cumulative counts; `None` when
/// undefined (no stable failures, no traffic). Its confidence sequence is
/// [`super::confidence::ratio_sequence`].
pub fn ratio_point(c: Counts, s: Counts) -> Option<f64> {
    (c.total > 0.0 && s.total > 0.0 && s.failures > 0.0)
        .then(|| (c.failures / c.total) / (s.failures / s.total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lr_matches_a_hand_computation() {
        // n_c = 100, n_s = 900, f_c = 10, f_s = 10, ρ₀ = 1.2, ρ₁ = 2.4:
        // p₀ = 120/1020 = 0.1176471, p₁ = 240/1140 = 0.2105263,
        // 10·ln(p₁/p₀) + 10·ln((1-p₁)/(1-p₀)) = 10·0.5819215 − 10·0.1112256 = 4.706959.
        let lr = log_lr(Counts::new(10.0, 100.0), Counts::new(10.0, 900.0), 1.2, 2.4);
        assert!((lr - 4.706959).abs() < 1e-5, "{lr}");
    }

    #[test]
    fn an_interval_without_failures_or_traffic_carries_no_information() {
        assert_eq!(
            log_lr(Counts::new(0.0, 100.0), Counts::new(0.0, 900.0), 1.2, 5.0),
            0.0
        );
        assert_eq!(
            log_lr(Counts::new(3.0, 100.0), Counts::new(0.0, 0.0), 1.2, 5.0),
            0.0
        );
    }

    #[test]
    fn evidence_of_a_split_in_line_with_the_exposure_favours_not_worse() {
        // 5% of traffic, 5% of failures: ρ̂ = 1 < ρ₀ = 1.2.
        let t = RatioTest::new(0.2);
        let (mut worse, mut not_worse) = (Vec::new(), Vec::new());
        t.update(
            &mut worse,
            &mut not_worse,
            Counts::new(500.0, 10_000.0),
            Counts::new(9_500.0, 190_000.0),
        );
        assert!(RatioTest::worse_evidence(&worse, 1.0) < 1.0);
        assert!(RatioTest::not_worse_evidence(&not_worse, 1.0) > 100.0);
    }

    #[test]
    fn advance_rounds_tolerates_extrapolation_jitter_and_rejects_resets() {
        let before = Counts::new(10.0, 1000.0);
        let (cum, new) = advance("canary", before, Counts::new(12.4, 1100.2)).unwrap();
        assert_eq!(
            (cum, new),
            (Counts::new(12.0, 1100.0), Counts::new(2.0, 100.0))
        );
        // increase() of a flat counter reads a bit lower as its window grows: no new counts.
        let (cum, new) = advance("canary", before, Counts::new(10.0, 990.0)).unwrap();
        assert_eq!((cum, new), (before, Counts::new(0.0, 0.0)));
        assert!(matches!(
            advance("canary", before, Counts::new(10.0, 500.0)),
            Err(CountError::Decreased { .. })
        ));
        assert!(matches!(
            advance("stable", before, Counts::new(f64::NAN, 1000.0)),
            Err(CountError::NotACount { .. })
        ));
        assert!(matches!(
            advance("stable", Counts::default(), Counts::new(50.0, 10.0)),
            Err(CountError::MoreFailuresThanTotal { .. })
        ));
    }

    #[test]
    fn ratio_point_of_a_doubled_canary_and_of_undefined_counts() {
        let point = ratio_point(Counts::new(20.0, 1000.0), Counts::new(10.0, 1000.0));
        assert!((point.unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(
            ratio_point(Counts::new(20.0, 1000.0), Counts::new(0.0, 1000.0)),
            None
        );
        assert_eq!(
            ratio_point(Counts::new(0.0, 0.0), Counts::new(5.0, 1000.0)),
            None
        );
    }
}
