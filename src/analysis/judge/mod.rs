//! The judge: pure statistics on what the providers read. No I/O, no clock; everything
//! it needs to resume lives in `MetricResult` (status), so a restarted controller loses
//! no evidence.
//!
//! - [`counts`]: the anytime-valid rate-ratio test, canary against stable (the rule).
//! - [`ceiling`]: `maxRatio`, an absolute ceiling checked with the same kind of test.
//! - [`query`]: per-track values against `min`/`max`/stable, judged by [`signs`], a
//!   sequential sign test of "the canary is out of bounds alone more often than stable".
//! - [`combine`]: how α is split between metrics and how their verdicts combine.
//! - [`dispersion`]: how bursty failures (or persistent values) are, from stable's own
//!   readings; the tests divide their log-evidence by it.
//! - [`evidence`]: mixtures of likelihood ratios.
//! - [`confidence`]: the confidence sequences shown next to the verdicts.

pub mod ceiling;
pub mod combine;
pub mod confidence;
pub mod counts;
pub mod dispersion;
pub mod evidence;
mod metric;
pub mod query;
pub mod signs;

pub use combine::{alphas, judge};
pub use counts::Counts;
pub use metric::{CountsReading, judge_counts, judge_probe, judge_query};

/// What a provider read for one metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A `counts` metric: cumulative counts of each track since the canary started, and
    /// of each stable pod when the query can be split by pod (empty when not): how
    /// unevenly failures fall on pods that run the same release is the best measure of
    /// how bursty they are ([`dispersion`]).
    Counts {
        canary: Counts,
        stable: Counts,
        stable_pods: Vec<Counts>,
    },
    /// A `probe` metric: the failures and total of this round of probes.
    Probe(Counts),
    /// A `query` metric: the canary's value and stable's (`None` is no observation: the
    /// judge needs both).
    Value { canary: f64, stable: Option<f64> },
}
