//! Many metrics, one verdict.
//!
//! **α split.** Each statistical metric (`counts`, `probe`) has its own `confidence`; with
//! `m` of them on one rollout, metric `i` is tested at `αᵢ = (1 − confidenceᵢ) / m`
//! (Bonferroni), so the chance that *any* of them rolls back a healthy canary is at most
//! `Σ αᵢ ≤ max(1 − confidenceᵢ)`. Inside a `counts` metric with `maxRatio`, the ratio test
//! and the ceiling test share `αᵢ` equally. `query` metrics are thresholds with
//! `failureLimit` and take no part in the split.
//!
//! **Overall verdict.** Fail as soon as any metric fails (evidence from the others is not
//! needed to act on it). Otherwise, any metric that could not be read makes the reading
//! an error (no verdict: it counts toward `errorLimit`/`onError`). Otherwise Pass when
//! every metric passes, else Inconclusive.

use super::Observation;
use super::metric::{CountsReading, judge_counts, judge_probe, judge_query};
use crate::api::{Metric, MetricResult, Verdict, metric_defaults};
use crate::engine::AnalysisReading;

/// The α each metric is tested at (`None` for query metrics).
pub fn alphas(metrics: &[Metric]) -> Vec<Option<f64>> {
    let confidence = |m: &Metric| {
        m.counts
            .as_ref()
            .map(|c| c.confidence)
            .or(m.probe.as_ref().map(|p| p.confidence))
            .map(|c| c.unwrap_or(metric_defaults::CONFIDENCE))
    };
    let statistical = metrics.iter().filter(|m| confidence(m).is_some()).count();
    metrics
        .iter()
        .map(|m| confidence(m).map(|c| (1.0 - c) / statistical as f64))
        .collect()
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
        let result = match (m, reading, alphas[i]) {
            (
                Metric {
                    counts: Some(c), ..
                },
                r,
                Some(a),
            ) => judge_counts(&m.name, c, a, prev, r.and_then(as_counts)),
            (Metric { probe: Some(p), .. }, r, Some(a)) => {
                judge_probe(&m.name, p, a, prev, r.and_then(as_probe))
            }
            (Metric { query: Some(q), .. }, r, _) => {
                judge_query(&m.name, q, prev, r.and_then(as_value))
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
