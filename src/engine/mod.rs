//! The pure rollout engine: (spec, status, observations, now) → decision.
//!
//! No I/O, no clock, no Kubernetes client: the controller observes, calls [`decide`], and
//! makes the returned desired state so. Level-triggered: the decision is always the whole
//! desired state, and everything needed to resume lives in the returned status, so running
//! it twice, or after a restart, is safe. Deciding again with the returned status and the
//! same observations changes nothing and emits no event.
//!
//! # What the engine guarantees (checked over random histories in
//! `tests/engine_properties.rs`)
//!
//! - **Nothing unjudged reaches the workload's pods.** The workload is unpaused only
//!   while it holds the stable template, or the canary's once promotion is past
//!   `ScalingCanary`. With nothing else to do (invalid spec) [`Decision::hold`] still
//!   keeps it paused; a missing or failing router API holds the release where it is.
//!   Deleting the Rollout hands the workload back through [`handover::on_delete`],
//!   which never unpauses a template that was rejected or is still being judged.
//! - **One owner.** With `owner_conflict` the decision changes nothing at all.
//! - **Rejections outlive the Rollout**: on adoption, the revisions recorded on the
//!   workload join `rejectedRevisions`, and a workload holding one is not adopted.
//! - **Every wait on the outside has a deadline** (`waits`): pods, metrics, gates and
//!   the router are written to `status.waiting` with their deadline, the decision asks
//!   to be woken by it, and past it the release is rolled back.

mod commands;
mod decision;
pub mod freeze;
pub mod handover;
mod lifecycle;
mod machine;
mod observations;
mod outcome;
mod report;
pub mod sizing;
mod steps;
mod verdicts;
mod waits;

pub use decision::{CanaryDesired, Decision, Desired, Event, EventType, Wants};
pub use observations::{
    AnalysisReading, CanaryObservation, GateOutcome, GateResults, Observations, WorkloadObservation,
};

use crate::api::{Phase, PromotionStage, RolloutSpec, RolloutStatus, rollout::defaults};
use k8s_openapi::jiff::Timestamp;

/// One decision's inputs.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub spec: &'a RolloutSpec,
    /// `metadata.generation` of the Rollout.
    pub generation: Option<i64>,
    pub status: &'a RolloutStatus,
    pub observations: &'a Observations,
    pub now: Timestamp,
}

/// Decides what should happen next.
pub fn decide(input: &Input) -> Decision {
    machine::decide(input)
}

/// Whether the controller should take an analysis reading now: analysis is configured, a
/// canary is being judged, and the interval has passed since the last reading.
pub fn analysis_due(spec: &RolloutSpec, status: &RolloutStatus, now: Timestamp) -> bool {
    if !analysis_active(spec, status) {
        return false;
    }
    let interval = analysis_interval(spec);
    match status
        .analysis
        .as_ref()
        .and_then(|a| a.last_reading_at.as_ref())
    {
        None => true,
        Some(last) => machine::elapsed(&last.0, now) >= interval,
    }
}

/// Analysis runs while a canary is in flight at or after `startingStep`, until Kubernetes
/// starts rolling the new revision out.
pub fn analysis_active(spec: &RolloutSpec, status: &RolloutStatus) -> bool {
    let Some(analysis) = &spec.analysis else {
        return false;
    };
    if analysis.templates.is_empty() && analysis.metrics.is_empty() {
        return false;
    }
    let step = status.current_step.unwrap_or(0);
    match status.phase {
        Some(Phase::Progressing | Phase::Paused) => {
            status.canary.is_some() && step >= analysis.starting_step.unwrap_or(0)
        }
        Some(Phase::Promoting) => status.promotion_stage == Some(PromotionStage::ScalingCanary),
        _ => false,
    }
}

pub(crate) fn analysis_interval(spec: &RolloutSpec) -> std::time::Duration {
    spec.analysis
        .as_ref()
        .and_then(|a| a.interval.as_ref())
        .and_then(|d| d.parse().ok())
        .unwrap_or(std::time::Duration::from_secs(
            defaults::ANALYSIS_INTERVAL_SECS,
        ))
}
