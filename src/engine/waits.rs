//! Waits on things outside Portcullis, each with a deadline: ready pods, readable
//! metrics, a webhook gate, the traffic router's API. A wait is written to
//! `status.waiting` (what, since when, until when); when its deadline passes the
//! release is rolled back — an in-flight canary aborted, a release that never started
//! rejected — so nothing waits for ever.

use super::decision::EventType;
use super::machine::*;
use super::observations::WorkloadObservation;
use crate::api::duration::format_duration;
use crate::api::rollout::defaults;
use crate::api::{AbortRecord, NotificationEvent, Outcome, Revision, RolloutSpec, Wait, WaitFor};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// How long a release may wait on `for_`, by the spec or by default.
pub(crate) fn limit(spec: &RolloutSpec, for_: WaitFor) -> Duration {
    let d = spec.deadlines.as_ref();
    let (set, default) = match for_ {
        WaitFor::Pods => (
            spec.progress_deadline.as_ref(),
            defaults::PROGRESS_DEADLINE_SECS,
        ),
        WaitFor::Metrics => (
            d.and_then(|d| d.metrics.as_ref()),
            defaults::METRICS_DEADLINE_SECS,
        ),
        WaitFor::Gate => (
            d.and_then(|d| d.gates.as_ref()),
            defaults::GATES_DEADLINE_SECS,
        ),
        WaitFor::Router => (
            d.and_then(|d| d.router.as_ref()),
            defaults::ROUTER_DEADLINE_SECS,
        ),
    };
    set.and_then(|v| v.parse().ok())
        .unwrap_or(Duration::from_secs(default))
}

impl Ctx<'_> {
    /// Registers a wait on `for_` that began at `since` (default: when the stored status
    /// began waiting on the same thing, or now). True once its deadline has passed;
    /// until then the decision asks to be woken at the deadline.
    pub(super) fn wait(&mut self, for_: WaitFor, since: Option<Timestamp>) -> bool {
        let since = since
            .or_else(|| {
                self.before
                    .waiting
                    .as_ref()
                    .filter(|w| w.for_ == for_)
                    .map(|w| w.since.0)
            })
            .unwrap_or(self.now);
        let limit = limit(self.spec, for_);
        let deadline = since
            .checked_add(SignedDuration::from_secs(limit.as_secs() as i64))
            .unwrap_or(Timestamp::MAX);
        self.st.waiting = Some(Wait {
            for_,
            since: Time(since),
            deadline: Time(deadline),
        });
        if self.now >= deadline {
            return true;
        }
        self.wake_in(elapsed(&self.now, deadline));
        false
    }

    /// How a passed deadline reads in a reason.
    pub(super) fn overdue(&self, for_: WaitFor) -> String {
        format!(
            "waited {} for {} (deadline)",
            format_duration(limit(self.spec, for_)),
            for_.as_str()
        )
    }

    /// The router's API is usable, or why not. Its coming and going is reported once
    /// each as an Event; the `RouterUnavailable` condition says so meanwhile.
    pub(super) fn router_check(&mut self) -> Result<(), String> {
        let was_down = self
            .before
            .conditions
            .iter()
            .any(|c| c.type_ == "RouterUnavailable" && c.status == "True");
        match self.obs.router_unavailable.clone() {
            Some(why) => {
                if !was_down {
                    self.event(
                        EventType::Warning,
                        "RouterUnavailable",
                        format!("{why}; the workload stays paused and nothing new starts"),
                        None,
                    );
                }
                Err(why)
            }
            None => {
                if was_down {
                    self.event(
                        EventType::Normal,
                        "RouterAvailable",
                        "the traffic router's API is served again".into(),
                        None,
                    );
                }
                Ok(())
            }
        }
    }

    /// A new release cannot start while the router is unavailable: it waits, and is
    /// rejected at the router deadline.
    pub(super) fn start_waits_for_router(&mut self, workload: &WorkloadObservation, why: &str) {
        let rev = workload.revision.clone();
        if self.st.rejected_revisions.contains(&rev.revision) {
            // Already refused: the usual message, no wait.
            self.try_start(workload);
            return;
        }
        if self.wait(WaitFor::Router, None) {
            let reason = format!("{}: {why}", self.overdue(WaitFor::Router));
            self.reject(&rev, reason);
            self.try_start(workload);
            return;
        }
        let message = format!("{} waits: {why}", describe_revision(&rev));
        self.block("AwaitingRouter", message, EventType::Normal);
    }

    /// A canary in flight holds where it is while the router is unavailable, and is
    /// aborted at the router deadline.
    pub(super) fn hold_for_router(&mut self, why: &str) {
        if self.wait(WaitFor::Router, None) {
            let reason = format!("{}: {why}", self.overdue(WaitFor::Router));
            self.abort(reason);
            return;
        }
        self.st.message = Some(format!("{why}; holding until the router is back"));
    }

    /// Rejects a release that never started: recorded like an abort, so it is not
    /// tried again until `retry` or a new template.
    pub(super) fn reject(&mut self, rev: &Revision, reason: String) {
        self.st.waiting = None;
        if !self.st.rejected_revisions.contains(&rev.revision) {
            self.st.rejected_revisions.insert(0, rev.revision.clone());
            self.st.rejected_revisions.truncate(self.history_limit());
        }
        self.st.last_abort = Some(AbortRecord {
            revision: rev.clone(),
            reason: reason.clone(),
            at: self.now_time(),
            estimated_failed_requests: None,
        });
        self.record_history(rev, Outcome::Aborted, Some(reason.clone()));
        self.event(
            EventType::Warning,
            "Rejected",
            format!("rejected {}: {reason}", describe_revision(rev)),
            Some(NotificationEvent::Aborted),
        );
    }
}
