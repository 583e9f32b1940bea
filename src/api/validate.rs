//! Static checks of a Rollout spec. They mirror the CRD's CEL rules (so a server that
//! skips CEL, or an old object, still gets a clear answer) and add the checks CEL cannot
//! express. Each error names the field to fix.

use super::rollout::{FreezeWindow, RolloutSpec, Traffic};
use super::template::Metric;
use std::fmt;

/// A problem with one field of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON-path-like location, e.g. `spec.steps[2].setWeight`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Joins errors into one message for status and events.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// All static problems of a Rollout spec (empty = valid).
pub fn validate_rollout(spec: &RolloutSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if spec.workload_ref.name.is_empty() {
        errors.push(FieldError::new(
            "spec.workloadRef.name",
            "must name a Deployment",
        ));
    }
    if spec.service.is_empty() {
        errors.push(FieldError::new(
            "spec.service",
            "must name the app's Service",
        ));
    }
    validate_traffic(&spec.traffic, &mut errors);
    if spec.steps.is_empty() {
        errors.push(FieldError::new("spec.steps", "must not be empty"));
    }
    if spec.traffic.gateway_api.is_none() {
        for (i, s) in spec.steps.iter().enumerate() {
            if s.set_weight == Some(100) {
                errors.push(FieldError::new(
                    format!("spec.steps[{i}].setWeight"),
                    "100 is not reachable with the replicas router (stable pods keep serving); \
                     promotion moves all traffic, so drop this step or use gatewayAPI",
                ));
            }
        }
    }
    let has_analysis = spec
        .analysis
        .as_ref()
        .is_some_and(|a| !a.templates.is_empty() || !a.metrics.is_empty());
    for (i, step) in spec.steps.iter().enumerate() {
        let field = format!("spec.steps[{i}]");
        let actions = [
            step.set_weight.is_some(),
            step.pause.is_some(),
            step.analysis.is_some(),
        ]
        .into_iter()
        .filter(|x| *x)
        .count();
        if actions != 1 {
            errors.push(FieldError::new(
                &field,
                format!("must have exactly one of setWeight, pause, analysis (has {actions})"),
            ));
        }
        if let Some(w) = step.set_weight
            && !(0..=100).contains(&w)
        {
            errors.push(FieldError::new(
                format!("{field}.setWeight"),
                format!("{w} is outside 0..100"),
            ));
        }
        if let Some(d) = step.pause.as_ref().and_then(|p| p.duration.as_ref())
            && let Err(e) = d.parse()
        {
            errors.push(FieldError::new(
                format!("{field}.pause.duration"),
                e.to_string(),
            ));
        }
        if let Some(a) = &step.analysis {
            if !has_analysis {
                errors.push(FieldError::new(
                    format!("{field}.analysis"),
                    "an analysis step needs spec.analysis.templates or spec.analysis.metrics",
                ));
            }
            if let Some(Err(e)) = a.max_duration.as_ref().map(|d| d.parse()) {
                errors.push(FieldError::new(
                    format!("{field}.analysis.maxDuration"),
                    e.to_string(),
                ));
            }
        }
    }
    if let Some(a) = &spec.analysis {
        if let Some(Err(e)) = a.interval.as_ref().map(|d| d.parse()) {
            errors.push(FieldError::new("spec.analysis.interval", e.to_string()));
        }
        if let Some(s) = a.starting_step
            && (s < 0 || s as usize >= spec.steps.len().max(1))
        {
            errors.push(FieldError::new(
                "spec.analysis.startingStep",
                format!("{s} is not the index of a step (0..{})", spec.steps.len()),
            ));
        }
        if let Some(l) = a.error_limit
            && l < 0
        {
            errors.push(FieldError::new("spec.analysis.errorLimit", "must be ≥ 0"));
        }
        for (i, t) in a.templates.iter().enumerate() {
            if t.name.is_empty() {
                errors.push(FieldError::new(
                    format!("spec.analysis.templates[{i}].name"),
                    "must name an AnalysisTemplate",
                ));
            }
        }
        validate_metrics(&a.metrics, "spec.analysis.metrics", &mut errors);
    }
    if let Some(Err(e)) = spec.progress_deadline.as_ref().map(|d| d.parse()) {
        errors.push(FieldError::new("spec.progressDeadline", e.to_string()));
    }
    if let Some(d) = &spec.deadlines {
        for (field, value) in [
            ("router", &d.router),
            ("metrics", &d.metrics),
            ("gates", &d.gates),
        ] {
            if let Some(Err(e)) = value.as_ref().map(|v| v.parse()) {
                errors.push(FieldError::new(
                    format!("spec.deadlines.{field}"),
                    e.to_string(),
                ));
            }
        }
    }
    if let Some(h) = spec.history_limit
        && !(1..=100).contains(&h)
    {
        errors.push(FieldError::new(
            "spec.historyLimit",
            format!("{h} is outside 1..100"),
        ));
    }
    if let Some(g) = &spec.gates {
        for (i, w) in g.freeze_windows.iter().enumerate() {
            if let Err(e) = parse_freeze_window(w) {
                errors.push(FieldError::new(format!("spec.gates.freezeWindows[{i}]"), e));
            }
        }
        for (kind, hooks) in [
            ("preRollout", &g.pre_rollout),
            ("prePromotion", &g.pre_promotion),
        ] {
            for (i, h) in hooks.iter().enumerate() {
                check_url(&h.url, &format!("spec.gates.{kind}[{i}].url"), &mut errors);
                if let Some(Err(e)) = h.timeout.as_ref().map(|d| d.parse()) {
                    errors.push(FieldError::new(
                        format!("spec.gates.{kind}[{i}].timeout"),
                        e.to_string(),
                    ));
                }
            }
        }
    }
    for (i, n) in spec.notifications.iter().enumerate() {
        check_url(&n.url, &format!("spec.notifications[{i}].url"), &mut errors);
    }
    errors
}

fn validate_traffic(traffic: &Traffic, errors: &mut Vec<FieldError>) {
    match (&traffic.replicas, &traffic.gateway_api) {
        (Some(_), None) => {}
        (None, Some(g)) => {
            if g.http_route.is_empty() {
                errors.push(FieldError::new(
                    "spec.traffic.gatewayAPI.httpRoute",
                    "must name an HTTPRoute",
                ));
            }
            for (i, r) in g.header_routes.iter().enumerate() {
                if r.headers.is_empty() {
                    errors.push(FieldError::new(
                        format!("spec.traffic.gatewayAPI.headerRoutes[{i}].headers"),
                        "needs at least one header match",
                    ));
                }
            }
        }
        _ => errors.push(FieldError::new(
            "spec.traffic",
            "set exactly one traffic router: replicas or gatewayAPI",
        )),
    }
}

/// Checks metric shapes (shared by inline metrics and templates).
pub fn validate_metrics(metrics: &[Metric], field: &str, errors: &mut Vec<FieldError>) {
    for (i, m) in metrics.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if m.name.is_empty() {
            errors.push(FieldError::new(format!("{f}.name"), "must not be empty"));
        }
        let kinds = [m.counts.is_some(), m.query.is_some(), m.probe.is_some()]
            .into_iter()
            .filter(|x| *x)
            .count();
        if kinds != 1 {
            errors.push(FieldError::new(
                &f,
                format!("must have exactly one of counts, query, probe (has {kinds})"),
            ));
        }
        let confidences = [
            m.counts.as_ref().and_then(|c| c.confidence),
            m.probe.as_ref().and_then(|p| p.confidence),
            m.query.as_ref().and_then(|q| q.confidence),
        ];
        for c in confidences.into_iter().flatten() {
            if !(c > 0.0 && c < 1.0) {
                errors.push(FieldError::new(
                    format!("{f}.confidence"),
                    format!("{c} must be strictly between 0 and 1"),
                ));
            }
        }
        if let Some(c) = &m.counts {
            if c.failures.trim().is_empty() || c.total.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("{f}.counts"),
                    "failures and total queries must not be empty",
                ));
            }
            if c.max_increase.is_some_and(|x| x < 0.0) {
                errors.push(FieldError::new(
                    format!("{f}.counts.maxIncrease"),
                    "must be ≥ 0",
                ));
            }
            if c.max_ratio.is_some_and(|x| !(0.0..=1.0).contains(&x)) {
                errors.push(FieldError::new(
                    format!("{f}.counts.maxRatio"),
                    "must be in 0..1",
                ));
            }
        }
        if let Some(q) = &m.query
            && let (Some(min), Some(max)) = (q.min, q.max)
            && min > max
        {
            errors.push(FieldError::new(
                format!("{f}.query"),
                format!("min {min} is greater than max {max}"),
            ));
        }
        if let Some(p) = &m.probe
            && let Some(Err(e)) = p.period.as_ref().map(|d| d.parse())
        {
            errors.push(FieldError::new(format!("{f}.probe.period"), e.to_string()));
        }
    }
}

fn check_url(url: &str, field: &str, errors: &mut Vec<FieldError>) {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        errors.push(FieldError::new(
            field,
            format!("`{url}` must be an http(s) URL"),
        ));
    }
}

/// A freeze window in a checked, ready-to-evaluate form.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedWindow {
    Absolute {
        start: k8s_openapi::jiff::Timestamp,
        end: k8s_openapi::jiff::Timestamp,
    },
    /// Weekdays (0 = Monday) and minutes since midnight UTC.
    Weekly {
        days: Vec<u8>,
        from_min: u32,
        to_min: u32,
    },
}

pub fn parse_freeze_window(w: &FreezeWindow) -> Result<ParsedWindow, String> {
    match (&w.start, &w.end, &w.days, &w.from, &w.to) {
        (Some(s), Some(e), None, None, None) => {
            let start: k8s_openapi::jiff::Timestamp = s
                .parse()
                .map_err(|_| format!("start `{s}` is not an RFC 3339 time"))?;
            let end: k8s_openapi::jiff::Timestamp = e
                .parse()
                .map_err(|_| format!("end `{e}` is not an RFC 3339 time"))?;
            if end <= start {
                return Err(format!("end `{e}` is not after start `{s}`"));
            }
            Ok(ParsedWindow::Absolute { start, end })
        }
        (None, None, Some(days), Some(from), Some(to)) => {
            const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            let days = days
                .iter()
                .map(|d| {
                    NAMES
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(d))
                        .map(|p| p as u8)
                        .ok_or_else(|| format!("day `{d}` is not one of {}", NAMES.join(", ")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if days.is_empty() {
                return Err("days must list at least one weekday".into());
            }
            Ok(ParsedWindow::Weekly {
                days,
                from_min: parse_hhmm(from)?,
                to_min: parse_hhmm(to)?,
            })
        }
        _ => {
            Err("a freeze window is either start/end (RFC 3339) or days/from/to (HH:MM UTC)".into())
        }
    }
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let err = || format!("`{s}` is not a time of day as HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(err)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    if h > 23 || m > 59 {
        return Err(err());
    }
    Ok(h * 60 + m)
}
