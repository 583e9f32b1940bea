//! How a canary ends: promotion (in stages), success, or abort; and the history.

use super::decision::EventType;
use super::machine::*;
use super::observations::{GateOutcome, WorkloadObservation};
use crate::api::rollout::defaults;
use crate::api::{
    AbortRecord, HistoryEntry, NotificationEvent, Outcome, Phase, PromotionStage, Revision,
    RolloutStatus, WaitFor,
};

impl Ctx<'_> {
    /// All steps done: check prePromotion gates, then promote.
    pub(super) fn enter_promotion(&mut self) {
        if self
            .st
            .analysis
            .as_ref()
            .is_some_and(|a| a.consecutive_errors > 0)
        {
            if self.wait(WaitFor::Metrics, None) {
                let why = self.metrics_error();
                self.abort(format!("{}: {why}", self.overdue(WaitFor::Metrics)));
                return;
            }
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
                    if self.wait(WaitFor::Gate, None) {
                        let reason =
                            format!("{}: prePromotion gate: {why}", self.overdue(WaitFor::Gate));
                        self.abort(reason);
                        return;
                    }
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
    pub(super) fn promote(&mut self, workload: &WorkloadObservation) {
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
                        let since = self.st.step_started_at.as_ref().map(|t| t.0);
                        if self.wait(WaitFor::Pods, since) {
                            self.abort(format!(
                                "ProgressDeadlineExceeded: the canary did not reach {} ready pods for promotion within {}",
                                workload.replicas,
                                crate::api::duration::format_duration(self.progress_deadline())
                            ));
                            return;
                        }
                        self.st.message = Some(format!(
                            "promoting: canary at {ready}/{} ready pods",
                            workload.replicas
                        ));
                        return;
                    }
                    if gateway {
                        self.st.desired_weight = 100;
                        if self.obs.routed_weight != 100 {
                            let since = self.st.step_started_at.as_ref().map(|t| t.0);
                            if self.wait(WaitFor::Pods, since) {
                                self.abort(format!(
                                    "ProgressDeadlineExceeded: the router did not move all traffic to the canary within {}",
                                    crate::api::duration::format_duration(self.progress_deadline())
                                ));
                                return;
                            }
                            self.st.message =
                                Some("promoting: moving all traffic to the canary".into());
                            return;
                        }
                    }
                    self.st.promotion_stage = Some(PromotionStage::RollingOut);
                }
                PromotionStage::RollingOut => {
                    if !(workload.rolled_out && workload.revision.revision == canary.revision) {
                        // The template is promoted (judged): rolling it out is Kubernetes'
                        // work. Past the deadline a person is told; undoing a judged
                        // release half-rolled-out would not be safer.
                        let message = if self.wait(WaitFor::Pods, None) {
                            format!(
                                "promoting: Kubernetes has not rolled out the promoted revision \
                                 within {}; see `kubectl rollout status deployment/{}`",
                                crate::api::duration::format_duration(self.progress_deadline()),
                                self.spec.workload_ref.name
                            )
                        } else {
                            format!(
                                "promoting: Kubernetes is rolling out the new revision \
                                 ({}/{} pods updated)",
                                workload.updated_replicas.min(workload.replicas),
                                workload.replicas
                            )
                        };
                        self.promotion_waits(message);
                        return;
                    }
                    self.st.stable = Some(canary.clone());
                    self.st.promotion_stage = Some(PromotionStage::Finalizing);
                }
                PromotionStage::Finalizing => {
                    self.st.desired_weight = 0;
                    if gateway && self.obs.routed_weight != 0 {
                        // Both tracks run the promoted revision now: the wait is bounded
                        // for reporting, and the canary stays until the route moves.
                        let message = if self.wait(WaitFor::Router, None) {
                            "promoting: the router has not moved traffic to the new stable \
                             pods by its deadline; check the HTTPRoute"
                                .to_string()
                        } else {
                            "promoting: moving traffic to the new stable pods".into()
                        };
                        self.promotion_waits(message);
                        return;
                    }
                    self.succeed(&canary);
                    return;
                }
            }
        }
    }

    /// A promotion waiting on Kubernetes or the router: said in status, and once as a
    /// Warning when its deadline has passed (see `promote`).
    fn promotion_waits(&mut self, message: String) {
        let overdue = self
            .st
            .waiting
            .as_ref()
            .is_some_and(|w| self.now >= w.deadline.0);
        if overdue && self.before.message.as_deref() != Some(message.as_str()) {
            self.event(
                EventType::Warning,
                "PromotionStalled",
                message.clone(),
                None,
            );
        }
        self.st.message = Some(message);
    }

    pub(super) fn succeed(&mut self, canary: &Revision) {
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
    pub(super) fn abort(&mut self, reason: String) {
        let canary = self.st.canary.clone().expect("aborting a canary");
        let excess = estimated_excess_failures(&self.st);
        self.st.phase = Some(Phase::Aborted);
        // Whatever it waited on, it waits no more.
        self.st.waiting = None;
        self.st.pause_reason = None;
        self.st.promotion_stage = None;
        self.st.desired_weight = 0;
        if let Some(a) = self.st.analysis.as_mut() {
            a.draining = false;
            a.drained_since = None;
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

    pub(super) fn history_limit(&self) -> usize {
        self.spec
            .history_limit
            .map_or(defaults::HISTORY_LIMIT, |h| h.max(1) as usize)
    }

    pub(super) fn record_history(
        &mut self,
        revision: &Revision,
        outcome: Outcome,
        reason: Option<String>,
    ) {
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
}

/// Failed canary requests beyond what the stable failure rate predicts, summed over
/// count metrics that have both tracks' numbers.
pub(super) fn estimated_excess_failures(st: &RolloutStatus) -> Option<i64> {
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
