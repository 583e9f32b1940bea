//! Walking the steps: weights in effect on ready pods, timed and indefinite pauses,
//! analysis steps, the progress deadline.

use super::decision::EventType;
use super::machine::*;
use super::observations::WorkloadObservation;
use super::{analysis_active, analysis_interval, sizing};
use crate::api::rollout::defaults;
use crate::api::{NotificationEvent, PauseReason, Phase, RolloutSpec, Verdict, WaitFor};
use std::time::Duration;

impl Ctx<'_> {
    /// Advances through the steps as far as the observations allow.
    pub(super) fn progress(&mut self, workload: &WorkloadObservation) {
        if analysis_active(self.spec, &self.st) {
            self.wake_in(analysis_interval(self.spec));
        }
        // A drained canary waits on metrics, paused or not, and so does one restored but
        // not measured since; at the deadline, counted from the first drain, it goes.
        let draining = self.st.analysis.as_ref().is_some_and(|a| a.draining);
        let drained_since = self
            .st
            .analysis
            .as_ref()
            .and_then(|a| a.drained_since.clone());
        if (draining || drained_since.is_some())
            && self.wait(WaitFor::Metrics, drained_since.map(|t| t.0))
        {
            let why = self.metrics_error();
            self.abort(format!("{}: {why}", self.overdue(WaitFor::Metrics)));
            return;
        }
        if self.st.pause_reason.is_some() {
            self.st.phase = Some(Phase::Paused);
            return;
        }
        self.st.phase = Some(Phase::Progressing);
        if draining {
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
                    self.new_weight_needs_new_evidence();
                    self.advance(i + 1);
                    continue;
                }
                let since = self.st.step_started_at.as_ref().map(|t| t.0);
                if self.wait(WaitFor::Pods, since) {
                    self.abort(format!(
                        "ProgressDeadlineExceeded: the canary did not serve {w}% with ready pods within {}",
                        crate::api::duration::format_duration(self.progress_deadline())
                    ));
                    return;
                }
                self.st.message = Some(format!("waiting for {w}% of traffic on ready canary pods"));
                return;
            }
            // The weight in effect is the spec's, so an edit of `steps` mid-canary is
            // followed at once, not only from the next `setWeight`.
            let held = weight_at(self.spec, i);
            if held != self.st.desired_weight {
                self.event(
                    EventType::Normal,
                    "StepsChanged",
                    format!(
                        "spec.steps changed: step {}/{} now holds {held}% (was {}%)",
                        i + 1,
                        self.spec.steps.len(),
                        self.st.desired_weight
                    ),
                    None,
                );
                self.st.desired_weight = held;
            }
            if let Some(pause) = &step.pause {
                match pause.duration.as_ref().and_then(|d| d.parse().ok()) {
                    Some(d) if step_elapsed >= d => {
                        self.advance(i + 1);
                        continue;
                    }
                    Some(d) => {
                        self.wake_in(d - step_elapsed);
                        // The whole duration, not a countdown: the message (and so
                        // status) changes once per step, not at every reconcile.
                        self.st.message = Some(format!(
                            "pausing {} at {}% (from step start)",
                            crate::api::duration::format_duration(d),
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
                let max = a
                    .max_duration
                    .as_ref()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(Duration::from_secs(defaults::ANALYSIS_STEP_MAX_SECS));
                {
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

    /// "Not worse" at one weight says little about the next: a regression may show
    /// only under more load. Every weight earns its own pass (and an earlier reading's
    /// pass never ends a later step: [`Self::fresh_pass`]).
    fn new_weight_needs_new_evidence(&mut self) {
        if let Some(a) = self.st.analysis.as_mut() {
            a.metrics
                .iter_mut()
                .for_each(crate::api::MetricResult::forget_pass_evidence);
        }
    }

    /// A pass from a reading taken during the current step, with no error since. A
    /// reading at the very instant the step started was applied before it started (the
    /// previous step's), so it must be strictly later.
    pub(super) fn fresh_pass(&self) -> bool {
        let Some(a) = &self.st.analysis else {
            return false;
        };
        let started = self.st.step_started_at.as_ref().map(|t| t.0);
        a.verdict == Some(Verdict::Pass)
            && a.consecutive_errors == 0
            && a.last_reading_at.as_ref().map(|t| t.0) > started
    }

    /// The last metrics error, for a reason.
    pub(super) fn metrics_error(&self) -> String {
        self.st
            .analysis
            .as_ref()
            .and_then(|a| a.last_error.clone())
            .unwrap_or_else(|| "metrics cannot be read".into())
    }

    pub(super) fn progress_deadline(&self) -> Duration {
        super::waits::limit(self.spec, WaitFor::Pods)
    }

    pub(super) fn weight_in_effect(&self, workload: &WorkloadObservation, weight: i32) -> bool {
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

    pub(super) fn advance(&mut self, next: usize) {
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

    pub(super) fn pause(&mut self, reason: PauseReason, message: String) {
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
}

/// The weight step `i` holds: that of the last `setWeight` at or before it (0 if none).
pub(super) fn weight_at(spec: &RolloutSpec, i: usize) -> i32 {
    spec.steps[..=i.min(spec.steps.len().saturating_sub(1))]
        .iter()
        .rev()
        .find_map(|s| s.set_weight)
        .unwrap_or(0)
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
