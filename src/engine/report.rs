//! The parts of status derived from the rest: conditions and the step label.

use super::machine::Ctx;
use crate::api::{Phase, Verdict};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub(super) fn finish(cx: &mut Ctx) {
    let n = cx.spec.steps.len();
    cx.st.step_label = match (cx.st.phase, cx.st.current_step) {
        (Some(Phase::Progressing | Phase::Paused | Phase::Promoting), Some(i)) => {
            Some(format!("{}/{n}", (i.max(0) as usize + 1).min(n)))
        }
        _ => None,
    };
    cx.st.effective_weight = cx.obs.routed_weight;
    let phase = cx.st.phase.unwrap_or(Phase::Idle);
    let message = cx.st.message.clone().unwrap_or_default();
    let generation = cx.st.observed_generation;
    let valid = if phase == Phase::InvalidSpec {
        ("False", "InvalidSpec", message.clone())
    } else {
        ("True", "SpecValid", "the spec is valid".to_string())
    };
    let progressing = match phase {
        Phase::Progressing | Phase::Promoting => ("True", phase.as_str()),
        Phase::Paused => ("Unknown", "Paused"),
        _ => ("False", phase.as_str()),
    };
    let paused = if phase == Phase::Paused {
        ("True", "Paused")
    } else {
        ("False", "NotPaused")
    };
    let mut conditions = vec![
        ("Valid", valid.0, valid.1.to_string(), valid.2),
        (
            "Progressing",
            progressing.0,
            progressing.1.to_string(),
            message.clone(),
        ),
        ("Paused", paused.0, paused.1.to_string(), message),
    ];
    if let Some(a) = &cx.st.analysis {
        let (status, reason) = if a.consecutive_errors > 0 {
            ("Unknown", "MetricsUnavailable")
        } else {
            match a.verdict {
                Some(Verdict::Fail) => ("False", "CanaryWorse"),
                Some(Verdict::Pass) => ("True", "CanaryNotWorse"),
                _ => ("Unknown", "Inconclusive"),
            }
        };
        let detail = a
            .last_error
            .clone()
            .unwrap_or_else(|| format!("{} metric(s) read", a.metrics.len()));
        conditions.push(("Analysis", status, reason.to_string(), detail));
    }
    // Present once the router has been unavailable; False again when it is back.
    let router_seen = cx
        .st
        .conditions
        .iter()
        .any(|c| c.type_ == "RouterUnavailable");
    match &cx.obs.router_unavailable {
        Some(why) => conditions.push((
            "RouterUnavailable",
            "True",
            "RouterAPIUnavailable".into(),
            why.clone(),
        )),
        None if router_seen => conditions.push((
            "RouterUnavailable",
            "False",
            "RouterAPIServed".into(),
            "the traffic router's API is served".into(),
        )),
        None => {}
    }
    for (type_, status, reason, message) in conditions {
        set_condition(
            &mut cx.st.conditions,
            cx.now,
            generation,
            type_,
            status,
            &reason,
            &message,
        );
    }
}

/// Sets a condition, keeping `lastTransitionTime` unless its status changes.
fn set_condition(
    conditions: &mut Vec<Condition>,
    now: k8s_openapi::jiff::Timestamp,
    generation: Option<i64>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) {
    let new = |time: Time| Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: time,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            let time = if c.status == status {
                c.last_transition_time.clone()
            } else {
                Time(now)
            };
            *c = new(time);
        }
        None => conditions.push(new(Time(now))),
    }
}
