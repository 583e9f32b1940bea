//! The rollout state machine: one pass from the stored status to the next one.

use super::decision::{CanaryDesired, Decision, Desired, Event, EventType, Wants};
use super::observations::{GateOutcome, Observations, WorkloadObservation};
use super::{Input, analysis_active, analysis_interval, commands, freeze, report, sizing};
use crate::api::rollout::defaults;
use crate::api::validate::{FieldError, describe, validate_rollout};
use crate::api::{
    AbortRecord, AnalysisStatus, HistoryEntry, NotificationEvent, OnError, Outcome, PauseReason,
    Phase, PromotionStage, Revision, RolloutSpec, RolloutStatus, Verdict,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// How often to retry a failed webhook gate.
const GATE_RETRY: Duration = Duration::from_secs(30);

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

    cx.track_revision(workload);
    // Evidence first: a command decides on the freshest verdict.
    cx.fold_analysis();
    if let Some(command) = commands::pending(&cx.st, cx.obs.command.as_deref()) {
        commands::apply(&mut cx, command, workload);
    }
    if cx.st.canary.is_none() && workload.revision.revision != stable_rev(&cx.st) {
        cx.try_start(workload);
    }
    if matches!(cx.st.phase, Some(Phase::Progressing | Phase::Paused)) {
        cx.progress(workload);
    }
    // Not `else`: the last step may have just handed over to promotion.
    if cx.st.phase == Some(Phase::Promoting) {
        cx.promote(workload);
    }
    let desired = cx.desired(workload);
    report::finish(&mut cx);
    Decision {
        desired: Some(desired),
        status: cx.st,
        events: cx.events,
        wants: cx.wants,
        requeue_after: cx.wake,
    }
}

fn spec_errors(spec: &RolloutSpec, obs: &Observations) -> Vec<FieldError> {
    let mut errors = validate_rollout(spec);
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

fn stable_rev(st: &RolloutStatus) -> String {
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

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(10)]
}

pub(super) fn describe_revision(r: &Revision) -> String {
    if r.images.is_empty() {
        format!("revision {}", short(&r.revision))
    } else {
        format!("revision {} ({})", short(&r.revision), r.images.join(", "))
    }
}

impl Ctx<'_> {
    pub fn event(
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

    pub fn wake_in(&mut self, d: Duration) {
        let d = d.max(Duration::from_secs(1));
        self.wake = Some(self.wake.map_or(d, |w| w.min(d)));
    }

    fn now_time(&self) -> Time {
        Time(self.now)
    }

    fn invalid(mut self, errors: &[FieldError]) -> Decision {
        let message = describe(errors);
        if self.before.phase != Some(Phase::InvalidSpec)
            || self.before.message.as_deref() != Some(message.as_str())
        {
            self.event(EventType::Warning, "InvalidSpec", message.clone(), None);
        }
        self.st.phase = Some(Phase::InvalidSpec);
        self.st.message = Some(message);
        report::finish(&mut self);
        Decision {
            desired: None,
            status: self.st,
            events: self.events,
            wants: self.wants,
            requeue_after: None,
        }
    }

    /// Notices a new pod template on the workload: adopts it on first sight, supersedes a
    /// running canary, or ends the canary when the workload went back to stable.
    fn track_revision(&mut self, workload: &WorkloadObservation) {
        let rev = &workload.revision;
        let Some(stable) = self.st.stable.clone() else {
            self.st.stable = Some(rev.clone());
            self.st.phase = Some(Phase::Idle);
            self.st.message = Some(format!("adopted {} as stable", describe_revision(rev)));
            self.event(
                EventType::Normal,
                "Adopted",
                format!(
                    "adopted the running {} as the stable release",
                    describe_revision(rev)
                ),
                None,
            );
            return;
        };
        let Some(canary) = self.st.canary.clone() else {
            if rev.revision == stable.revision
                && !matches!(self.st.phase, Some(Phase::Idle | Phase::Succeeded))
            {
                self.st.phase = Some(Phase::Idle);
            }
            return;
        };
        if rev.revision == canary.revision {
            return;
        }
        let promoting_past_scaling = self.st.phase == Some(Phase::Promoting)
            && self.st.promotion_stage != Some(PromotionStage::ScalingCanary);
        if promoting_past_scaling && rev.revision == stable.revision {
            return;
        }
        let (reason, message) = if rev.revision == stable.revision {
            (
                "Reverted",
                format!(
                    "the workload went back to the stable {}; canary {} ended",
                    describe_revision(&stable),
                    describe_revision(&canary)
                ),
            )
        } else {
            (
                "Superseded",
                format!(
                    "{} superseded canary {}",
                    describe_revision(rev),
                    describe_revision(&canary)
                ),
            )
        };
        if self.st.phase != Some(Phase::Aborted) {
            self.record_history(&canary, Outcome::Superseded, Some(message.clone()));
        }
        self.event(EventType::Normal, reason, message.clone(), None);
        self.clear_canary();
        self.st.phase = Some(Phase::Idle);
        self.st.message = Some(message);
    }

    fn clear_canary(&mut self) {
        self.st.canary = None;
        self.st.current_step = None;
        self.st.step_started_at = None;
        self.st.canary_started_at = None;
        self.st.pause_reason = None;
        self.st.promotion_stage = None;
        self.st.analysis = None;
        self.st.desired_weight = 0;
    }

    /// Starts a canary for the workload's new revision, unless something blocks it.
    pub fn try_start(&mut self, workload: &WorkloadObservation) {
        let rev = workload.revision.clone();
        if self.st.rejected_revisions.contains(&rev.revision) {
            let reason = self
                .st
                .last_abort
                .as_ref()
                .filter(|a| a.revision.revision == rev.revision)
                .map(|a| format!(" ({})", a.reason))
                .unwrap_or_default();
            let message = format!(
                "{} was rejected earlier{reason}; push a new template or send `retry`",
                describe_revision(&rev)
            );
            self.block("RevisionRejected", message, EventType::Warning);
            return;
        }
        if self.st.freeze_override.as_deref() != Some(rev.revision.as_str())
            && let Some((name, left)) = freeze::active_window(self.spec.gates.as_ref(), self.now)
        {
            self.wake_in(left);
            let message = format!(
                "{} waits: freeze window `{name}` is active (send `override-freeze` to start anyway)",
                describe_revision(&rev)
            );
            self.block("FreezeWindow", message, EventType::Normal);
            return;
        }
        let gated = self
            .spec
            .gates
            .as_ref()
            .is_some_and(|g| !g.pre_rollout.is_empty());
        if gated {
            match &self.obs.gates.pre_rollout {
                None => {
                    self.wants.pre_rollout_gate = true;
                    let message = format!("{} waits for preRollout gates", describe_revision(&rev));
                    self.block("AwaitingGate", message, EventType::Normal);
                    return;
                }
                Some(GateOutcome::Failed(why)) => {
                    self.wake_in(GATE_RETRY);
                    let message =
                        format!("preRollout gate refused {}: {why}", describe_revision(&rev));
                    self.block("GateFailed", message, EventType::Warning);
                    return;
                }
                Some(GateOutcome::Passed) => {}
            }
        }
        self.st.canary = Some(rev.clone());
        self.st.canary_started_at = Some(self.now_time());
        self.st.current_step = Some(0);
        self.st.step_started_at = Some(self.now_time());
        self.st.analysis = None;
        self.st.pause_reason = None;
        self.st.promotion_stage = None;
        self.st.desired_weight = 0;
        self.st.phase = Some(Phase::Progressing);
        let message = format!(
            "canary started for {} against stable {}",
            describe_revision(&rev),
            describe_revision(self.st.stable.as_ref().expect("stable is known"))
        );
        self.st.message = Some(message.clone());
        self.event(
            EventType::Normal,
            "CanaryStarted",
            message,
            Some(NotificationEvent::Started),
        );
    }

    fn block(&mut self, reason: &str, message: String, type_: EventType) {
        let changed = self.before.phase != Some(Phase::Blocked)
            || self.before.message.as_deref() != Some(message.as_str());
        self.st.phase = Some(Phase::Blocked);
        self.st.message = Some(message.clone());
        if changed {
            self.event(type_, reason, message, None);
        }
    }

    /// Advances through the steps as far as the observations allow.
    fn progress(&mut self, workload: &WorkloadObservation) {
        if analysis_active(self.spec, &self.st) {
            self.wake_in(analysis_interval(self.spec));
        }
        if self.st.pause_reason.is_some() {
            self.st.phase = Some(Phase::Paused);
            return;
        }
        self.st.phase = Some(Phase::Progressing);
        if self.st.analysis.as_ref().is_some_and(|a| a.draining) {
            self.st.message =
                Some("metrics cannot be read: canary drained to weight 0 until they return".into());
            return;
        }
        loop {
            let i = self.st.current_step.unwrap_or(0).max(0) as usize;
            let Some(step) = self.spec.steps.get(i).cloned() else {
                self.enter_promotion();
                return;
            };
            let step_elapsed = self
                .st
                .step_started_at
                .as_ref()
                .map_or(Duration::ZERO, |t| elapsed(&t.0, self.now));
            if let Some(w) = step.set_weight {
                self.st.desired_weight = w;
                if self.weight_in_effect(workload, w) {
                    self.advance(i + 1);
                    continue;
                }
                let deadline = self.progress_deadline();
                if step_elapsed >= deadline {
                    self.abort(format!(
                        "ProgressDeadlineExceeded: the canary did not serve {w}% with ready pods within {}",
                        crate::api::duration::format_duration(deadline)
                    ));
                    return;
                }
                self.wake_in(deadline - step_elapsed);
                self.st.message = Some(format!("waiting for {w}% of traffic on ready canary pods"));
                return;
            }
            if let Some(pause) = &step.pause {
                match pause.duration.as_ref().and_then(|d| d.parse().ok()) {
                    Some(d) if step_elapsed >= d => {
                        self.advance(i + 1);
                        continue;
                    }
                    Some(d) => {
                        self.wake_in(d - step_elapsed);
                        self.st.message = Some(format!(
                            "pausing for {} at {}%",
                            crate::api::duration::format_duration(d - step_elapsed),
                            self.st.desired_weight
                        ));
                        return;
                    }
                    None => {
                        self.pause(
                            PauseReason::Step,
                            format!("paused at step {}: send `promote` to continue", i + 1),
                        );
                        return;
                    }
                }
            }
            if let Some(a) = &step.analysis {
                if self.fresh_pass() {
                    self.event(
                        EventType::Normal,
                        "AnalysisPassed",
                        format!(
                            "step {}: enough evidence that the canary is not worse",
                            i + 1
                        ),
                        None,
                    );
                    self.advance(i + 1);
                    continue;
                }
                if let Some(max) = a.max_duration.as_ref().and_then(|d| d.parse().ok()) {
                    if step_elapsed >= max {
                        self.pause(
                            PauseReason::AnalysisInconclusive,
                            format!(
                                "step {}: analysis still inconclusive after {}; send `promote` to continue or `abort`",
                                i + 1,
                                crate::api::duration::format_duration(max)
                            ),
                        );
                        return;
                    }
                    self.wake_in(max - step_elapsed);
                }
                self.st.message = Some(format!("step {}: gathering evidence", i + 1));
                return;
            }
            return;
        }
    }

    /// A pass from a reading taken during the current step, with no error since.
    fn fresh_pass(&self) -> bool {
        let Some(a) = &self.st.analysis else {
            return false;
        };
        let started = self.st.step_started_at.as_ref().map(|t| t.0);
        a.verdict == Some(Verdict::Pass)
            && a.consecutive_errors == 0
            && a.last_reading_at.as_ref().map(|t| t.0) >= started
    }

    fn progress_deadline(&self) -> Duration {
        self.spec
            .progress_deadline
            .as_ref()
            .and_then(|d| d.parse().ok())
            .unwrap_or(Duration::from_secs(defaults::PROGRESS_DEADLINE_SECS))
    }

    fn weight_in_effect(&self, workload: &WorkloadObservation, weight: i32) -> bool {
        let want = sizing::canary_replicas(&self.spec.traffic, workload.replicas, weight);
        let canary_rev = self.st.canary.as_ref().map(|c| c.revision.as_str());
        let canary_ready = self
            .obs
            .canary
            .as_ref()
            .filter(|c| Some(c.revision.as_str()) == canary_rev)
            .map_or(0, |c| c.ready_replicas);
        let routed = self.spec.traffic.gateway_api.is_none() || self.obs.routed_weight == weight;
        canary_ready >= want && routed
    }

    fn advance(&mut self, next: usize) {
        self.st.current_step = Some(next as i32);
        self.st.step_started_at = Some(self.now_time());
        let n = self.spec.steps.len();
        if next < n {
            let what = describe_step(self.spec, next);
            self.event(
                EventType::Normal,
                "StepStarted",
                format!("step {}/{n}: {what}", next + 1),
                Some(NotificationEvent::Step),
            );
        }
    }

    pub fn pause(&mut self, reason: PauseReason, message: String) {
        let changed =
            self.st.pause_reason != Some(reason) || self.before.phase != Some(Phase::Paused);
        self.st.pause_reason = Some(reason);
        self.st.phase = Some(Phase::Paused);
        self.st.message = Some(message.clone());
        if changed {
            self.event(
                EventType::Normal,
                "Paused",
                message,
                Some(NotificationEvent::Paused),
            );
        }
    }

    /// Folds a fresh analysis reading into status; a failed verdict aborts.
    fn fold_analysis(&mut self) {
        let Some(reading) = &self.obs.analysis else {
            return;
        };
        if !analysis_active(self.spec, &self.st) {
            return;
        }
        // The same reading fed twice at one instant (a re-run of this decision) counts once.
        let already = |a: &AnalysisStatus| {
            a.last_reading_at.as_ref().map(|t| t.0) == Some(self.now)
                && (reading.metrics.is_empty() || a.metrics == reading.metrics)
                && match reading.verdict {
                    Some(v) => a.verdict == Some(v) && a.last_error.is_none(),
                    None => a.last_error == reading.error || reading.error.is_none(),
                }
        };
        if self.st.analysis.as_ref().is_some_and(already) {
            return;
        }
        let analysis = self.st.analysis.get_or_insert_with(AnalysisStatus::default);
        analysis.last_reading_at = Some(Time(self.now));
        if !reading.metrics.is_empty() {
            analysis.metrics = reading.metrics.clone();
        }
        match reading.verdict {
            Some(verdict) => {
                analysis.consecutive_errors = 0;
                analysis.last_error = None;
                analysis.verdict = Some(verdict);
                if std::mem::take(&mut analysis.draining) {
                    self.event(
                        EventType::Normal,
                        "MetricsRecovered",
                        "metrics can be read again: canary traffic restored".into(),
                        None,
                    );
                }
                if verdict == Verdict::Fail {
                    let why = failing_metrics(&self.st);
                    self.abort(format!("analysis failed: {why}"));
                }
            }
            None => {
                analysis.consecutive_errors += 1;
                let error = reading
                    .error
                    .clone()
                    .unwrap_or_else(|| "no observation".into());
                analysis.last_error = Some(error.clone());
                let limit = self
                    .spec
                    .analysis
                    .as_ref()
                    .and_then(|a| a.error_limit)
                    .unwrap_or(defaults::ERROR_LIMIT);
                if analysis.consecutive_errors <= limit {
                    return;
                }
                let on_error = self
                    .spec
                    .analysis
                    .as_ref()
                    .and_then(|a| a.on_error)
                    .unwrap_or_default();
                match on_error {
                    OnError::Drain => {
                        if !analysis.draining {
                            analysis.draining = true;
                            self.event(
                                EventType::Warning,
                                "MetricsUnavailable",
                                format!("{error}; canary drained to weight 0 until metrics return"),
                                None,
                            );
                        }
                    }
                    OnError::Pause => {
                        self.pause(
                            PauseReason::AnalysisError,
                            format!("{error}; paused until `resume`"),
                        );
                    }
                    OnError::Abort => self.abort(format!("metrics unavailable: {error}")),
                }
            }
        }
    }

    /// All steps done: check prePromotion gates, then promote.
    fn enter_promotion(&mut self) {
        if self
            .st
            .analysis
            .as_ref()
            .is_some_and(|a| a.consecutive_errors > 0)
        {
            self.st.message = Some(
                "all steps done; waiting for a clean analysis reading before promoting".into(),
            );
            return;
        }
        let gated = self
            .spec
            .gates
            .as_ref()
            .is_some_and(|g| !g.pre_promotion.is_empty());
        if gated {
            match &self.obs.gates.pre_promotion {
                None => {
                    self.wants.pre_promotion_gate = true;
                    self.st.message = Some("all steps done; waiting for prePromotion gates".into());
                    return;
                }
                Some(GateOutcome::Failed(why)) => {
                    self.wake_in(GATE_RETRY);
                    let message = format!("prePromotion gate refused promotion: {why}");
                    if self.before.message.as_deref() != Some(message.as_str()) {
                        self.event(EventType::Warning, "GateFailed", message.clone(), None);
                    }
                    self.st.message = Some(message);
                    return;
                }
                Some(GateOutcome::Passed) => {}
            }
        }
        self.st.phase = Some(Phase::Promoting);
        self.st.promotion_stage = Some(PromotionStage::ScalingCanary);
        self.st.current_step = Some(self.spec.steps.len() as i32);
        self.st.step_started_at = Some(self.now_time());
        self.st.pause_reason = None;
        let canary = self.st.canary.clone().expect("promoting a canary");
        self.event(
            EventType::Normal,
            "Promoting",
            format!("all steps passed: promoting {}", describe_revision(&canary)),
            None,
        );
    }

    /// Promotion: the canary grows to full size, then Kubernetes rolls the workload out,
    /// then traffic returns to the (new) stable track and the canary goes.
    fn promote(&mut self, workload: &WorkloadObservation) {
        let canary = self.st.canary.clone().expect("promoting a canary");
        let gateway = self.spec.traffic.gateway_api.is_some();
        loop {
            match self
                .st
                .promotion_stage
                .unwrap_or(PromotionStage::ScalingCanary)
            {
                PromotionStage::ScalingCanary => {
                    let ready = self
                        .obs
                        .canary
                        .as_ref()
                        .filter(|c| c.revision == canary.revision)
                        .map_or(0, |c| c.ready_replicas);
                    if ready < workload.replicas {
                        self.st.message = Some(format!(
                            "promoting: canary at {ready}/{} ready pods",
                            workload.replicas
                        ));
                        return;
                    }
                    if gateway {
                        self.st.desired_weight = 100;
                        if self.obs.routed_weight != 100 {
                            self.st.message =
                                Some("promoting: moving all traffic to the canary".into());
                            return;
                        }
                    }
                    self.st.promotion_stage = Some(PromotionStage::RollingOut);
                }
                PromotionStage::RollingOut => {
                    if !(workload.rolled_out && workload.revision.revision == canary.revision) {
                        self.st.message =
                            Some("promoting: Kubernetes is rolling out the new revision".into());
                        return;
                    }
                    self.st.stable = Some(canary.clone());
                    self.st.promotion_stage = Some(PromotionStage::Finalizing);
                }
                PromotionStage::Finalizing => {
                    self.st.desired_weight = 0;
                    if gateway && self.obs.routed_weight != 0 {
                        self.st.message =
                            Some("promoting: moving traffic to the new stable pods".into());
                        return;
                    }
                    self.succeed(&canary);
                    return;
                }
            }
        }
    }

    fn succeed(&mut self, canary: &Revision) {
        let message = format!(
            "promoted {}: it is the stable release",
            describe_revision(canary)
        );
        self.record_history(canary, Outcome::Promoted, None);
        self.clear_canary();
        self.st.phase = Some(Phase::Succeeded);
        self.st.message = Some(message.clone());
        self.event(
            EventType::Normal,
            "Promoted",
            message,
            Some(NotificationEvent::Promoted),
        );
    }

    /// Aborts the canary: weight 0 and zero canary pods in this very decision.
    pub fn abort(&mut self, reason: String) {
        let canary = self.st.canary.clone().expect("aborting a canary");
        let excess = estimated_excess_failures(&self.st);
        self.st.phase = Some(Phase::Aborted);
        self.st.pause_reason = None;
        self.st.promotion_stage = None;
        self.st.desired_weight = 0;
        if let Some(a) = self.st.analysis.as_mut() {
            a.draining = false;
        }
        if !self.st.rejected_revisions.contains(&canary.revision) {
            self.st
                .rejected_revisions
                .insert(0, canary.revision.clone());
            self.st.rejected_revisions.truncate(self.history_limit());
        }
        self.st.last_abort = Some(AbortRecord {
            revision: canary.clone(),
            reason: reason.clone(),
            at: self.now_time(),
            estimated_failed_requests: excess,
        });
        self.record_history(&canary, Outcome::Aborted, Some(reason.clone()));
        let stable = self.st.stable.clone().unwrap_or_default();
        let message = format!(
            "aborted {}: {reason}; traffic back on stable {}",
            describe_revision(&canary),
            describe_revision(&stable)
        );
        self.st.message = Some(message.clone());
        self.event(
            EventType::Warning,
            "Aborted",
            message,
            Some(NotificationEvent::Aborted),
        );
    }

    fn history_limit(&self) -> usize {
        self.spec
            .history_limit
            .map_or(defaults::HISTORY_LIMIT, |h| h.max(1) as usize)
    }

    fn record_history(&mut self, revision: &Revision, outcome: Outcome, reason: Option<String>) {
        let entry = HistoryEntry {
            revision: revision.clone(),
            outcome,
            reason,
            started_at: self.st.canary_started_at.clone(),
            ended_at: self.now_time(),
        };
        self.st.history.insert(0, entry);
        let limit = self.history_limit();
        self.st.history.truncate(limit);
    }

    /// The whole desired state for the phase reached.
    fn desired(&self, workload: &WorkloadObservation) -> Desired {
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

pub(super) fn describe_step(spec: &RolloutSpec, i: usize) -> String {
    let Some(step) = spec.steps.get(i) else {
        return "promotion".into();
    };
    if let Some(w) = step.set_weight {
        format!("setWeight {w}")
    } else if let Some(p) = &step.pause {
        match &p.duration {
            Some(d) => format!("pause {d}"),
            None => "pause until promoted".into(),
        }
    } else {
        "analysis".into()
    }
}

fn failing_metrics(st: &RolloutStatus) -> String {
    let failing: Vec<String> = st
        .analysis
        .iter()
        .flat_map(|a| a.metrics.iter())
        .filter(|m| m.verdict == Some(Verdict::Fail))
        .map(|m| match &m.message {
            Some(msg) => format!("{}: {msg}", m.name),
            None => m.name.clone(),
        })
        .collect();
    if failing.is_empty() {
        "the canary is worse than stable".into()
    } else {
        failing.join("; ")
    }
}

/// Failed canary requests beyond what the stable failure rate predicts, summed over
/// count metrics that have both tracks' numbers.
fn estimated_excess_failures(st: &RolloutStatus) -> Option<i64> {
    let metrics = &st.analysis.as_ref()?.metrics;
    let mut total = None;
    for m in metrics {
        let (Some(c), Some(s)) = (&m.canary, &m.stable) else {
            continue;
        };
        let (Some(cf), Some(ct), Some(sf), Some(stot)) = (c.failures, c.total, s.failures, s.total)
        else {
            continue;
        };
        let expected = if stot > 0.0 { ct * sf / stot } else { 0.0 };
        *total.get_or_insert(0.0) += (cf - expected).max(0.0);
    }
    total.map(|t: f64| t.round() as i64)
}
