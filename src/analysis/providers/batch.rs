//! Many Rollouts' count queries in one Prometheus query.
//!
//! A reading asks, per `counts` metric, for failures and totals of both tracks: at
//! thousands of Rollouts that is four queries per canary and interval. Queries rendered
//! from one template for one namespace differ only in their pods (`{{pods}}`) and their
//! window (`{{elapsed}}`). Requests whose text is the same apart from those two share a
//! *batch*, one query with one *arm* per distinct text apart from the pods:
//!
//! ```text
//! label_replace(sum by (pod) (X{pod=~"<pods of every request of arm 0>"}[95s]), "portcullis_batch_arm", "0", "", "")
//! or label_replace(sum by (pod) (X{pod=~"<pods of arm 1>"}[130s]), "portcullis_batch_arm", "1", "", "")
//! ```
//!
//! and each request's answer is the samples of its arm and its own pods: the numbers its
//! own `sum by (pod) (...)` would get, since only queries whose every selector is
//! restricted to the pods ([`selects_pods`]) are batched, so every sample names one pod.
//! A constant fallback (`or vector(0)`) answers for a request none of whose pods has a
//! series, as it would alone. Anything else is queried on its own.
//!
//! Pure: which requests can share, the batch's query, and each request's share of the
//! answer. Collecting requests over time is the provider's (`prometheus`).

use super::by_pod::{grouped, selects_pods};
use crate::analysis::render::{RenderContext, RenderError, TrackContext, render};
use std::collections::BTreeSet;
use std::time::Duration;

/// The label telling a batch's arms apart in its answer.
pub const ARM_LABEL: &str = "portcullis_batch_arm";
/// Stands in for the pods when comparing texts (a plain name: escaping leaves it alone).
const SENTINEL_POD: &str = "portcullisbatchpods";
/// Stands in for `{{elapsed}}` in a batch's key.
const SENTINEL_WINDOW: Duration = Duration::from_secs(9_999_999_999);

/// One track's count query, as the provider would render and send it alone.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackQuery {
    pub template: String,
    pub ctx: RenderContext,
    pub track: TrackContext,
}

/// Where a request goes: requests with equal `key` can share one query, those with
/// equal `arm` one selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub key: String,
    pub arm: String,
    pub fallback: Option<f64>,
}

/// A request's slot, or `None` when it must be queried alone (the query is not a
/// `sum(...)` of selectors restricted to `{{pods}}`, or it does not render).
pub fn slot(q: &TrackQuery) -> Option<Slot> {
    if q.track.pods.is_empty() {
        return None;
    }
    let sentinel = TrackContext {
        pods: vec![SENTINEL_POD.to_string()],
        ..q.track.clone()
    };
    let text = render(&q.template, &q.ctx, &sentinel).ok()?;
    if !selects_pods(&text, &format!("(?:{SENTINEL_POD})")) {
        return None;
    }
    let arm = grouped(&text)?;
    let any_window = RenderContext {
        elapsed: SENTINEL_WINDOW,
        ..q.ctx.clone()
    };
    Some(Slot {
        key: render(&q.template, &any_window, &sentinel).ok()?,
        arm: arm.by_pod,
        fallback: arm.fallback,
    })
}

/// The query answering every request (all of one key): one arm per distinct `arm`,
/// selecting the union of its requests' pods.
pub fn query(requests: &[(TrackQuery, Slot)]) -> Result<String, RenderError> {
    let mut parts = Vec::new();
    for (i, arm) in arms(requests).iter().enumerate() {
        let members = requests.iter().filter(|(_, s)| &s.arm == *arm);
        let pods: BTreeSet<&String> = members.clone().flat_map(|(q, _)| &q.track.pods).collect();
        let (first, _) = members.clone().next().expect("an arm has a request");
        let track = TrackContext {
            pods: pods.into_iter().cloned().collect(),
            ..first.track.clone()
        };
        let text = render(&first.template, &first.ctx, &track)?;
        // `slot` parsed the same text with other pod names: it groups the same way.
        let by_pod = grouped(&text).map_or(text, |g| g.by_pod);
        parts.push(format!(
            r#"label_replace({by_pod}, "{ARM_LABEL}", "{i}", "", "")"#
        ));
    }
    Ok(parts.join(" or "))
}

/// One sample of a batch's answer: its arm and pod labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub arm: Option<String>,
    pub pod: Option<String>,
    pub value: f64,
}

/// Each request's samples, as its own `sum by (pod) (...)` query would answer: its
/// pods' samples, or its fallback when none of them has a series, or nothing.
pub fn split(
    requests: &[(TrackQuery, Slot)],
    answer: &[Sample],
) -> Vec<Vec<(Option<String>, f64)>> {
    let arms = arms(requests);
    requests
        .iter()
        .map(|(q, s)| {
            let arm = arms
                .iter()
                .position(|a| *a == &s.arm)
                .map(|i| i.to_string());
            let mine: Vec<(Option<String>, f64)> = answer
                .iter()
                .filter(|x| x.arm == arm)
                .filter(|x| x.pod.as_ref().is_some_and(|p| q.track.pods.contains(p)))
                .map(|x| (x.pod.clone(), x.value))
                .collect();
            match (mine.is_empty(), s.fallback) {
                (true, Some(c)) => vec![(None, c)],
                _ => mine,
            }
        })
        .collect()
}

/// Distinct arms, in the order of their first request.
fn arms(requests: &[(TrackQuery, Slot)]) -> Vec<&String> {
    let mut out: Vec<&String> = Vec::new();
    for (_, s) in requests {
        if !out.contains(&&s.arm) {
            out.push(&s.arm);
        }
    }
    out
}

#[cfg(test)]
mod tests;
