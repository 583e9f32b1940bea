//! The rollout state machine: one pass from the stored status to the next one. This
//! file holds the pass and the desired state; the rules live beside it, one concern a
//! file: `lifecycle` (a new release arrives), `steps`, `verdicts` (analysis readings) and
//! `outcome` (promotion, success, abort).

use super::decision::{CanaryDesired, Decision, Desired, Event, EventType, Wants};
use super::observations::{Observations, WorkloadObservation};
use super::{Input, commands, report, sizing};
use crate::api::validate::{FieldError, describe, validate_rollout};
use crate::api::{NotificationEvent, Phase, PromotionStage, Revision, RolloutSpec, RolloutStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// How often to retry a failed webhook gate.
pub(super) const GATE_RETRY: Duration = Duration::from_secs(30);

pub(super) struct Ctx<'a> {
    pub spec: &'a RolloutSpec,
    pub obs: &'a Observations,
    pub now: Timestamp,
    pub before: &'a RolloutStatus,
    pub st: RolloutStatus,
    pub events: Vec<Event>,
    pub wants: Wants,
    pub wake: Option<Duration>,
}

pub(super) fn decide(input: &Input) -> Decision {
    // Status times have whole seconds; so must `now`, or a decision would not survive
    // the round trip through the API server.
    let now = Timestamp::from_second(input.now.as_second()).expect("a valid timestamp");
    let mut cx = Ctx {
        spec: input.spec,
        obs: input.observations,
        now,
        before: input.status,
        st: input.status.clone(),
        events: Vec::new(),
        wants: Wants::default(),
        wake: None,
    };
    cx.st.observed_generation = input.generation;

    if let Some(owner) = &input.observations.owner_conflict {
        return cx.owned_elsewhere(owner);
    }
    let errors = spec_errors(input.spec, input.observations);
    let Some(workload) = input
        .observations
        .workload
        .as_ref()
        .filter(|_| errors.is_empty())
    else {
        return cx.invalid(&errors);
    };
    if cx.st.phase == Some(Phase::InvalidSpec) {
        cx.st.phase = None;
        cx.event(
            EventType::Normal,
            "SpecValid",
            "the spec is valid again".into(),
            None,
        );
    }
    // Recomputed every pass: a wait that is not registered again has ended.
    cx.st.waiting = None;

    cx.track_revision(workload);
    // Evidence first: a command decides on the freshest verdict.
    cx.fold_analysis();
    if let Some(command) = commands::pending(&cx.st, cx.obs.command.as_deref()) {
        commands::apply(&mut cx, command, workload);
    }
    let router = cx.router_check();
    if cx.st.stable.is_some()
        && cx.st.canary.is_none()
        && workload.revision.revision != stable_rev(&cx.st)
    {
        match &router {
            Ok(()) => cx.try_start(workload),
            Err(why) => cx.start_waits_for_router(workload, why),
        }
    }
    if matches!(cx.st.phase, Some(Phase::Progressing | Phase::Paused)) {
        match &router {
            Ok(()) => cx.progress(workload),
            Err(why) => cx.hold_for_router(why),
        }
    }
    // Not `else`: the last step may have just handed over to promotion.
    if cx.st.phase == Some(Phase::Promoting) {
        let scaling = cx
            .st
            .promotion_stage
            .unwrap_or(PromotionStage::ScalingCanary)
            == PromotionStage::ScalingCanary;
        match &router {
            Err(why) if scaling => cx.hold_for_router(why),
            _ => cx.promote(workload),
        }
    }
    let desired = cx.desired(workload);
    report::finish(&mut cx);
    Decision {
        desired: Some(desired),
        hold: false,
        status: cx.st,
        events: cx.events,
        wants: cx.wants,
        requeue_after: cx.wake,
    }
}

pub(super) fn spec_errors(spec: &RolloutSpec, obs: &Observations) -> Vec<FieldError> {
    let mut errors = validate_rollout(spec);
    errors.extend(obs.spec_errors.iter().cloned());
    if obs.workload.is_none() && errors.is_empty() {
        errors.push(FieldError::new(
            "spec.workloadRef.name",
            format!(
                "Deployment `{}` not found in the Rollout's namespace",
                spec.workload_ref.name
            ),
        ));
    }
    errors
}

pub(super) fn stable_rev(st: &RolloutStatus) -> String {
    st.stable
        .as_ref()
        .map(|s| s.revision.clone())
        .unwrap_or_default()
}

pub(crate) fn elapsed(since: &Timestamp, now: Timestamp) -> Duration {
    let d = now.duration_since(*since);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

pub(super) fn describe_revision(r: &Revision) -> String {
    format!("revision {r}")
}

impl Ctx<'_> {
    pub(super) fn event(
        &mut self,
        type_: EventType,
        reason: &str,
        message: String,
        notify: Option<NotificationEvent>,
    ) {
        self.events.push(Event {
            type_,
            reason: reason.to_string(),
            message,
            notify,
        });
    }

    pub(super) fn wake_in(&mut self, d: Duration) {
        let d = d.max(Duration::from_secs(1));
        self.wake = Some(self.wake.map_or(d, |w| w.min(d)));
    }

    pub(super) fn now_time(&self) -> Time {
        Time(self.now)
    }

    pub(super) fn invalid(mut self, errors: &[FieldError]) -> Decision {
        let message = describe(errors);
        if self.before.phase != Some(Phase::InvalidSpec)
            || self.before.message.as_deref() != Some(message.as_str())
        {
            self.event(EventType::Warning, "InvalidSpec", message.clone(), None);
        }
        self.st.phase = Some(Phase::InvalidSpec);
        self.st.message = Some(message);
        // Nothing progresses until a person fixes the spec: no deadline runs meanwhile.
        self.st.waiting = None;
        let hold = self.obs.owner_conflict.is_none()
            && self.obs.workload.as_ref().is_some_and(|w| self.holds(w));
        report::finish(&mut self);
        Decision {
            desired: None,
            hold,
            status: self.st,
            events: self.events,
            wants: self.wants,
            requeue_after: None,
        }
    }

    /// Another Rollout manages the workload: refused, and nothing in the cluster changes.
    pub(super) fn owned_elsewhere(self, owner: &str) -> Decision {
        let error = FieldError::new(
            "spec.workloadRef.name",
            format!(
                "Deployment `{}` is already managed by Rollout `{owner}`; a Deployment has one \
                 Rollout: delete this one, or `{owner}` first",
                self.spec.workload_ref.name
            ),
        );
        self.invalid(&[error])
    }

    /// Whether the workload must stay paused although nothing else is done: unless its
    /// template is one Portcullis let through (stable, or promoted) and Kubernetes is
    /// still rolling it out, a template nobody judged could reach its pods.
    fn holds(&self, workload: &WorkloadObservation) -> bool {
        let rev = &workload.revision.revision;
        let promoted = super::handover::promoted(&self.st, rev);
        let first_rollout = self.st.stable.is_none() && workload.serving.is_none();
        let rolling_out_stable = !workload.paused
            && !workload.rolled_out
            && (first_rollout || *rev == stable_rev(&self.st));
        !(promoted || rolling_out_stable)
    }

    /// The whole desired state for the phase reached.
    pub(super) fn desired(&self, workload: &WorkloadObservation) -> Desired {
        let stable_revision = stable_rev(&self.st);
        let r = workload.replicas;
        let canary = |replicas: i32| {
            self.st.canary.as_ref().map(|c| CanaryDesired {
                revision: c.revision.clone(),
                replicas,
            })
        };
        // First sight of a Deployment mid-rollout: let Kubernetes finish before pausing it.
        // Once paused it stays paused: pausing bumps the generation, and the Deployment
        // reads as "not rolled out" until its controller catches up.
        let settle = !workload.rolled_out
            && !workload.paused
            && workload.revision.revision == stable_revision;
        match self.st.phase {
            Some(Phase::Progressing | Phase::Paused) => {
                let draining = self.st.analysis.as_ref().is_some_and(|a| a.draining);
                let weight = if draining { 0 } else { self.st.desired_weight };
                let sized_for = if draining && self.spec.traffic.gateway_api.is_none() {
                    0
                } else {
                    self.st.desired_weight
                };
                Desired {
                    workload_paused: true,
                    canary: canary(sizing::canary_replicas(&self.spec.traffic, r, sized_for)),
                    weight,
                    header_routes: !draining,
                    stable_revision,
                }
            }
            Some(Phase::Promoting) => {
                let stage = self
                    .st
                    .promotion_stage
                    .unwrap_or(PromotionStage::ScalingCanary);
                Desired {
                    workload_paused: stage == PromotionStage::ScalingCanary,
                    canary: canary(r.max(1)),
                    weight: self.st.desired_weight,
                    header_routes: stage == PromotionStage::ScalingCanary,
                    stable_revision,
                }
            }
            Some(Phase::Aborted) => Desired {
                workload_paused: true,
                canary: canary(0),
                weight: 0,
                header_routes: false,
                stable_revision,
            },
            _ => Desired {
                workload_paused: !settle,
                canary: None,
                weight: 0,
                header_routes: false,
                stable_revision,
            },
        }
    }
}
