//! Many metrics, one verdict.
//!
//! **α split.** Every metric (`counts`, `probe`, `query`) has its own `confidence`; with
//! `m` of them on one rollout, metric `i` is tested at `αᵢ = (1 − confidenceᵢ) / m`
//! (Bonferroni), so the chance that *any* of them rolls back a healthy canary is at most
//! `Σ αᵢ ≤ max(1 − confidenceᵢ)`: the whole Rollout's false-rollback probability is
//! bounded by its least confident metric. Inside a `counts` metric with `maxRatio`, the
//! ratio test and the ceiling test share `αᵢ` equally. A `query` metric's null is that
//! the tracks are exchangeable ([`super::query`]).
//!
//! **Overall verdict.** Fail as soon as any metric fails (evidence from the others is not
//! needed to act on it). Otherwise, any metric that could not be read makes the reading
//! an error (no verdict: it counts toward `errorLimit`/`onError`). Otherwise Pass when
//! every metric passes, else Inconclusive.

use super::Observation;
use super::metric::{CountsReading, judge_counts, judge_probe, judge_query};
use crate::api::{Metric, MetricResult, Verdict, metric_defaults};
use crate::engine::AnalysisReading;

/// The α each metric is tested at.
pub fn alphas(metrics: &[Metric]) -> Vec<f64> {
    let confidence = |m: &Metric| {
        m.counts
            .as_ref()
            .and_then(|c| c.confidence)
            .or(m.probe.as_ref().and_then(|p| p.confidence))
            .or(m.query.as_ref().and_then(|q| q.confidence))
            .unwrap_or(metric_defaults::CONFIDENCE)
    };
    let m = metrics.len().max(1) as f64;
    metrics.iter().map(|x| (1.0 - confidence(x)) / m).collect()
}

/// Judges one reading of every metric. `previous` is `status.analysis.metrics` (matched by
/// name); `readings[i]` is metric `i`'s observation or the reason it could not be read.
pub fn judge(
    metrics: &[Metric],
    previous: &[MetricResult],
    readings: Vec<Result<Observation, String>>,
) -> AnalysisReading {
    let alphas = alphas(metrics);
    let mut results = Vec::with_capacity(metrics.len());
    let mut errors = Vec::new();
    for (i, (m, reading)) in metrics.iter().zip(readings).enumerate() {
        let prev = previous.iter().find(|p| p.name == m.name);
        let failed_read = reading.as_ref().err().cloned();
        let a = alphas[i];
        let result = match (m, reading) {
            (
                Metric {
                    counts: Some(c), ..
                },
                r,
            ) => judge_counts(&m.name, c, a, prev, r.and_then(as_counts)),
            (Metric { probe: Some(p), .. }, r) => {
                judge_probe(&m.name, p, a, prev, r.and_then(as_probe))
            }
            (Metric { query: Some(q), .. }, r) => {
                judge_query(&m.name, q, a, prev, r.and_then(as_value))
            }
            _ => {
                errors.push(format!("{}: has no counts, query or probe", m.name));
                continue;
            }
        };
        let stalled = result.errors > prev.map_or(0, |p| p.errors);
        if stalled {
            let why = failed_read.unwrap_or_else(|| {
                result
                    .message
                    .clone()
                    .unwrap_or_else(|| "no observation".into())
            });
            errors.push(format!("{}: {why}", m.name));
        }
        results.push(result);
    }
    let verdicts: Vec<Option<Verdict>> = results.iter().map(|r| r.verdict).collect();
    let verdict = if verdicts.contains(&Some(Verdict::Fail)) {
        Some(Verdict::Fail)
    } else if !errors.is_empty() {
        None
    } else if verdicts.iter().all(|v| *v == Some(Verdict::Pass)) {
        Some(Verdict::Pass)
    } else {
        Some(Verdict::Inconclusive)
    };
    AnalysisReading {
        verdict,
        error: (verdict.is_none()).then(|| errors.join("; ")),
        metrics: results,
        readability_only: false,
    }
}

fn as_counts(o: Observation) -> Result<CountsReading, String> {
    match o {
        Observation::Counts {
            canary,
            stable,
            stable_pods,
        } => Ok(CountsReading {
            canary,
            stable,
            stable_pods,
        }),
        other => Err(format!("expected counts, the provider returned {other:?}")),
    }
}

fn as_probe(o: Observation) -> Result<super::Counts, String> {
    match o {
        Observation::Probe(c) => Ok(c),
        other => Err(format!(
            "expected probe counts, the provider returned {other:?}"
        )),
    }
}

fn as_value(o: Observation) -> Result<(f64, Option<f64>), String> {
    match o {
        Observation::Value { canary, stable } => Ok((canary, stable)),
        other => Err(format!("expected a value, the provider returned {other:?}")),
    }
}
