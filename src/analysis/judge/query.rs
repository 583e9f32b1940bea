//! `query` metrics: one value per track (a p99 latency, a saturation), judged inside the
//! rollout's false-rollback budget like the count metrics.
//!
//! **Why not a threshold.** Failing after `failureLimit` out-of-bounds readings in a row
//! has no error rate: a noisy value (a p99 over few requests) crosses a bound by chance
//! sooner or later, more often the longer the canary runs and the more often it is read,
//! so no `confidence` could bound a Rollout with such a metric.
//!
//! **The null: exchangeable tracks.** A reading is out of bounds for a track when its
//! value is below `min`, above `max`, or (with `compareToStable`) above the *other*
//! track's value × (1 + maxIncrease). If the canary behaves like stable, the pair
//! (canary, stable) is as likely as (stable, canary) given everything before, so of the
//! readings in which exactly one track is out of bounds, each is the canary's with
//! probability 1/2 (≤ 1/2 for a canary better in the direction the bounds point). The
//! sequential sign test of [`super::signs`] on those readings, at the metric's share of
//! α ([`super::combine`]), keeps `P(ever rolled back | canary like stable) ≤ α`. The
//! bounds may change between readings (an edited spec): the test stays valid, because
//! each reading's bounds are fixed before it is read.
//!
//! **Absolute bounds are judged against stable too.** `min`/`max` alone state no null:
//! nothing says how often a healthy canary's p99 tops 500 ms. So a breach counts as
//! evidence only when stable is within that bound at the same reading, and stable's value
//! is read for every query metric. A bound both tracks breach (load, an incident
//! upstream) is no evidence against the canary and rolls nothing back; it does withhold
//! the metric's pass, so an `analysis` step waits.
//!
//! **Persistent values.** A value over a window longer than the reading interval
//! (`rate(...[1m])` read every 5 s) repeats its noise over readings, so signs come in
//! runs, not coin flips. The log-evidence is divided by how persistent *stable's* value
//! is: whether it is above its running mean is fed to [`super::dispersion`] as one trial
//! per reading, whose variance inflation `v` over blocks of 1, 4 and 16 readings (prior
//! 4) is turned into `φ = 2v − 1`. Dividing by the variance inflation alone is not
//! enough: a run of signs weighs like one cluster, and the tempered mixture is a
//! supermartingale for clusters no larger than `φ`; for runs that continue with
//! probability `q`, `v = q/(1 − q)` while the mean run a reading sits in is
//! `(1 + q)/(1 − q) ≈ 2v − 1` for long runs, and `2v − 1 = 1` for independent readings.
//! Only stable feeds it, so a regression cannot hide itself; a trend in stable raises it
//! (slower, never faster). Measured (`tests/analysis_query_monte_carlo.rs`, 400 healthy
//! canaries × 120 readings, α = 1%): 0 rolled back with independent readings or a lag-one
//! correlation of 0.5, 4 at 0.8; at 0.9 (a window ten or more readings long) 12: such
//! values are outside the guarantee (a test trusting every reading: 42, 122, 168).
//!
//! **`failureLimit`** is kept as an extra condition: the verdict fails only when the
//! last `failureLimit` readings were out of bounds for the canary (which can only lower
//! the false-rollback rate). A reading within bounds is a pass, as before: an `analysis`
//! step's early pass on a query metric carries no error bound.
//!
//! **Price.** (1) Each reading at most doubles the evidence: rolling back takes at least
//! `log₂(6/α)` readings of the canary alone out of bounds (9 at α = 1%), times the
//! persistence (7 before stable's value has shown itself): a canary twice as slow is
//! rolled back after about 30 readings (measured median; 44 at most), not after
//! `failureLimit` of them. (2) One more query per reading for metrics without
//! `compareToStable`. (3) A bound breached by both tracks rolls nothing back. (4) The
//! null needs tracks whose values are equally noisy near an absolute bound: a quantile
//! over a small canary share's few requests is noisier than stable's and crosses a fixed
//! `max` alone more often (a relative bound only needs the canary/stable ratio to be as
//! likely above 1 as below); use windows in which both tracks have many requests.
//! (5) Windows much longer than the interval are outside the guarantee (above).

use super::counts::Counts;
use super::dispersion::Dispersion;
use crate::api::{QueryMetric, QueryState};

/// What one reading of a query metric says.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCheck {
    /// Why the canary is out of bounds; empty when it is within them.
    pub violations: Vec<String>,
    /// Whether stable is out of the same bounds (its relative bound against the canary).
    pub stable_out: bool,
}

impl QueryCheck {
    /// The canary is within bounds.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// `Some(true)` when the canary alone is out of bounds, `Some(false)` when stable
    /// alone is, `None` when both or neither are (no information on which is worse).
    pub fn alone(&self) -> Option<bool> {
        match (!self.ok(), self.stable_out) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }
}

/// Why a query reading is no observation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("{track} value is {value}, not a number")]
    NotANumber { track: &'static str, value: f64 },
    #[error("a query metric is judged against stable's value, and the stable query returned none")]
    NoStable,
}

fn finite(track: &'static str, value: f64) -> Result<f64, QueryError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(QueryError::NotANumber { track, value })
    }
}

/// Why `value` is out of bounds, given the other track's value.
fn out_of_bounds(m: &QueryMetric, track: &str, value: f64, other: f64) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(min) = m.min
        && value < min
    {
        why.push(format!("{track} {value} < min {min}"));
    }
    if let Some(max) = m.max
        && value > max
    {
        why.push(format!("{track} {value} > max {max}"));
    }
    if let Some(cmp) = &m.compare_to_stable {
        let factor = 1.0 + cmp.max_increase.max(0.0);
        if value > other * factor {
            let other_track = if track == "canary" {
                "stable"
            } else {
                "canary"
            };
            why.push(format!(
                "{track} {value} > {other_track} {other} × {factor}"
            ));
        }
    }
    why
}

/// Checks one reading of both tracks.
pub fn check(m: &QueryMetric, canary: f64, stable: Option<f64>) -> Result<QueryCheck, QueryError> {
    let canary = finite("canary", canary)?;
    let stable = finite("stable", stable.ok_or(QueryError::NoStable)?)?;
    Ok(QueryCheck {
        violations: out_of_bounds(m, "canary", canary, stable),
        stable_out: !out_of_bounds(m, "stable", stable, canary).is_empty(),
    })
}

/// Readings in a row out of bounds for the canary, after this one.
pub fn consecutive(previous: i32, check: &QueryCheck) -> i32 {
    if check.ok() { 0 } else { previous + 1 }
}

/// `failureLimit`, default 1.
pub fn failure_limit(m: &QueryMetric) -> i32 {
    m.failure_limit.unwrap_or(1).max(1)
}

/// Adds stable's value to its running mean and returns how persistent it is (≥ 1,
/// `2v − 1` of the variance inflation `v` of "above its mean"): the number the sign
/// test's log-evidence is divided by.
pub fn persistence(tally: &mut QueryState, spread: &mut Vec<f64>, stable: f64) -> f64 {
    let mut d = Dispersion::new(spread);
    if let Some(mean) = tally.stable_mean {
        d.add(Counts::new(if stable > mean { 1.0 } else { 0.0 }, 1.0));
    }
    let n = tally.stable_readings.max(0) as f64;
    let mean = tally.stable_mean.unwrap_or(0.0);
    tally.stable_mean = Some(mean + (stable - mean) / (n + 1.0));
    tally.stable_readings += 1;
    2.0 * d.phi() - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StableComparison;

    fn metric() -> QueryMetric {
        QueryMetric {
            query: "x".into(),
            min: Some(0.5),
            max: Some(2.0),
            compare_to_stable: Some(StableComparison { max_increase: 0.5 }),
            failure_limit: Some(2),
            confidence: None,
        }
    }

    #[test]
    fn a_value_within_bounds_and_near_stable_passes() {
        let c = check(&metric(), 1.2, Some(1.0)).unwrap();
        assert!(c.ok());
        assert_eq!(c.alone(), None);
        assert_eq!(consecutive(1, &c), 0);
    }

    #[test]
    fn each_bound_and_the_stable_comparison_can_fail() {
        assert_eq!(
            check(&metric(), 0.1, Some(1.0)).unwrap().violations.len(),
            1
        );
        assert_eq!(
            check(&metric(), 2.5, Some(1.0)).unwrap().violations.len(),
            2
        );
        let c = check(&metric(), 1.6, Some(1.0)).unwrap();
        assert_eq!(
            c.violations,
            vec!["canary 1.6 > stable 1 × 1.5".to_string()]
        );
        assert_eq!(consecutive(1, &c), 2);
    }

    #[test]
    fn only_a_track_out_of_bounds_alone_says_which_is_worse() {
        // The canary alone above 1.5 × stable.
        assert_eq!(
            check(&metric(), 1.6, Some(1.0)).unwrap().alone(),
            Some(true)
        );
        // Stable alone: above 1.5 × the canary, and above max.
        assert_eq!(
            check(&metric(), 1.0, Some(1.6)).unwrap().alone(),
            Some(false)
        );
        assert_eq!(
            check(&metric(), 1.9, Some(2.1)).unwrap().alone(),
            Some(false)
        );
        // Both above max: an incident on both tracks, no evidence against the canary.
        let both = check(&metric(), 2.2, Some(2.4)).unwrap();
        assert!(!both.ok());
        assert_eq!(both.alone(), None);
    }

    #[test]
    fn nan_or_a_missing_stable_is_no_observation() {
        assert!(check(&metric(), f64::NAN, Some(1.0)).is_err());
        assert_eq!(check(&metric(), 1.0, None), Err(QueryError::NoStable));
        assert!(check(&metric(), 1.0, Some(f64::NAN)).is_err());
        let absolute = QueryMetric {
            compare_to_stable: None,
            ..metric()
        };
        assert_eq!(check(&absolute, 1.0, None), Err(QueryError::NoStable));
    }

    #[test]
    fn a_stable_value_that_alternates_reads_as_independent_and_one_in_long_runs_does_not() {
        let phi = |values: &mut dyn Iterator<Item = f64>| {
            let (mut tally, mut spread) = (QueryState::default(), Vec::new());
            values.fold(0.0, |_, v| persistence(&mut tally, &mut spread, v))
        };
        let alternating = phi(&mut (0..400).map(|i| if i % 2 == 0 { 1.0 } else { 2.0 }));
        assert!(alternating < 1.2, "{alternating}");
        // Twenty readings up, twenty down: runs far longer than a block of 16.
        let runs = phi(&mut (0..400).map(|i| if (i / 20) % 2 == 0 { 1.0 } else { 2.0 }));
        assert!(runs > 5.0, "{runs}");
    }
}
