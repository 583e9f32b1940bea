//! From a Rollout's `spec.analysis` and the templates it references to the flat list of
//! metrics the judge reads, with every problem the API server could not catch reported
//! as a `FieldError` naming the field (the controller puts them in
//! `Observations.spec_errors`, so the Rollout goes `InvalidSpec`).

use super::render::{check_queries, resolve_args};
use crate::api::validate::{FieldError, validate_metrics};
use crate::api::{AnalysisTemplateSpec, Metric, PrometheusSource, RolloutAnalysis};
use std::collections::BTreeMap;

/// A metric ready to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedMetric {
    pub metric: Metric,
    /// Values for `{{args.NAME}}`.
    pub args: BTreeMap<String, String>,
    /// The template's Prometheus, when it overrides the controller's default.
    pub prometheus: Option<PrometheusSource>,
}

/// Resolves `spec.analysis`. `templates[i]` is what `spec.analysis.templates[i]` points
/// to, `None` when it does not exist.
pub fn resolve(
    analysis: &RolloutAnalysis,
    templates: &[Option<AnalysisTemplateSpec>],
) -> Result<Vec<ResolvedMetric>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, r) in analysis.templates.iter().enumerate() {
        let field = format!("spec.analysis.templates[{i}]");
        let kind = r.kind();
        let Some(Some(t)) = templates.get(i) else {
            errors.push(FieldError::new(
                format!("{field}.name"),
                format!("{kind} `{}` not found", r.name),
            ));
            continue;
        };
        let args = match resolve_args(&t.args, &r.args, &r.name, &format!("{field}.args")) {
            Ok(a) => a,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        let within = format!("{kind} `{}` spec.metrics", r.name);
        validate_metrics(&t.metrics, &within, &mut errors);
        errors.extend(check_queries(&t.metrics, &args, &within));
        out.extend(t.metrics.iter().map(|m| ResolvedMetric {
            metric: m.clone(),
            args: args.clone(),
            prometheus: t.prometheus.clone(),
        }));
    }
    errors.extend(check_queries(
        &analysis.metrics,
        &BTreeMap::new(),
        "spec.analysis.metrics",
    ));
    out.extend(analysis.metrics.iter().map(|m| ResolvedMetric {
        metric: m.clone(),
        args: BTreeMap::new(),
        prometheus: None,
    }));
    // The judge keeps each metric's evidence under its name.
    let mut seen = BTreeMap::new();
    for m in &out {
        *seen.entry(m.metric.name.as_str()).or_insert(0) += 1;
    }
    for (name, n) in seen {
        if n > 1 {
            errors.push(FieldError::new(
                "spec.analysis",
                format!("{n} metrics are named `{name}`; metric names must be unique across templates and inline metrics"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
