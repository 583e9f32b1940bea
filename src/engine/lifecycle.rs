//! A release's arrival: a new template adopted, started as a canary, superseded, or
//! blocked (freeze window, gate, rejected revision).

use super::decision::EventType;
use super::freeze;
use super::machine::*;
use super::observations::{GateOutcome, WorkloadObservation};
use crate::api::{NotificationEvent, Outcome, Phase, WaitFor};

impl Ctx<'_> {
    /// Notices a new pod template on the workload: adopts it on first sight, supersedes a
    /// running canary, or ends the canary when the workload went back to stable.
    pub(super) fn track_revision(&mut self, workload: &WorkloadObservation) {
        let rev = &workload.revision;
        let Some(stable) = self.st.stable.clone() else {
            // Rejections recorded on the Deployment outlive any one Rollout object.
            for r in &workload.rejected_revisions {
                if !self.st.rejected_revisions.contains(r) {
                    self.st.rejected_revisions.push(r.clone());
                }
            }
            if self.st.rejected_revisions.contains(&rev.revision) {
                let message = format!(
                    "the Deployment's template, {}, was rejected earlier and is not adopted as \
                     stable; the Deployment stays paused: put the stable template back, push a \
                     new one, or send `retry` to accept it as stable",
                    describe_revision(rev)
                );
                self.block("RevisionRejected", message, EventType::Warning);
                return;
            }
            self.adopt(workload);
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

    /// Adopts what the workload runs as the stable release: the first sight of it, or a
    /// rejected template the user accepted with `retry`.
    pub(super) fn adopt(&mut self, workload: &WorkloadObservation) {
        let rev = &workload.revision;
        // A template Kubernetes has not rolled out yet (pushed before the operator
        // first looked) is not what runs: the release its pods serve is stable, and
        // the template is judged as a canary like any new release.
        let running = workload.serving.clone().filter(|_| !workload.rolled_out);
        let stable = running.clone().unwrap_or_else(|| rev.clone());
        self.st.stable = Some(stable.clone());
        self.st.phase = Some(Phase::Idle);
        let note = match &running {
            Some(_) => format!(
                "; the Deployment's new template, {}, will run as a canary",
                describe_revision(rev)
            ),
            None => String::new(),
        };
        self.st.message = Some(format!(
            "adopted {} as stable{note}",
            describe_revision(&stable)
        ));
        self.event(
            EventType::Normal,
            "Adopted",
            format!(
                "adopted the running {} as the stable release{note}",
                describe_revision(&stable)
            ),
            None,
        );
    }

    pub(super) fn clear_canary(&mut self) {
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
    pub(super) fn try_start(&mut self, workload: &WorkloadObservation) {
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
                    if self.wait(WaitFor::Gate, None) {
                        let reason =
                            format!("{}: preRollout gate: {why}", self.overdue(WaitFor::Gate));
                        self.reject(&rev, reason);
                        self.try_start(workload);
                        return;
                    }
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

    pub(super) fn block(&mut self, reason: &str, message: String, type_: EventType) {
        let changed = self.before.phase != Some(Phase::Blocked)
            || self.before.message.as_deref() != Some(message.as_str());
        self.st.phase = Some(Phase::Blocked);
        self.st.message = Some(message.clone());
        if changed {
            self.event(type_, reason, message, None);
        }
    }
}
