//! Deployment status and conditions as kube-controller-manager writes them
//! (`calculateStatus`, `syncRolloutStatus`, `checkPausedConditions`, `SetDeploymentCondition`).

use super::Pass;
use crate::workloads::access::{
    self, available_replicas, ready_replicas, spec_replicas, status_replicas,
};
use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
const REPLICA_FAILURE: &str = "ReplicaFailure";
const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const PAUSED: &str = "DeploymentPaused";
const RESUMED: &str = "DeploymentResumed";

pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.to_string()),
        status: Some(status.to_string()),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_))
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_.as_deref() != Some(type_));
    }
}

/// `SetDeploymentCondition`: same status and reason → unchanged; same status → keeps its
/// transition time; the new condition goes to the end of the list.
pub fn set_condition(status: &mut DeploymentStatus, mut new: DeploymentCondition) {
    if let Some(current) = condition(status, new.type_.as_deref().unwrap_or_default()) {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, new.type_.as_deref().unwrap_or_default());
    status.conditions.get_or_insert_default().push(new);
}

/// Go's `omitempty` on an int32: zero is not written.
fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

impl Pass {
    /// `checkPausedConditions`: Progressing becomes Unknown on pause and on resume, so the
    /// time spent paused never counts against the progress deadline.
    pub(super) fn check_paused_conditions(&mut self) {
        if self.spec.progress_deadline_seconds.is_none() {
            return;
        }
        let status = self.d.status.get_or_insert_default();
        let reason = condition(status, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT) {
            return;
        }
        let paused_recorded = reason.as_deref() == Some(PAUSED);
        if self.spec.paused && !paused_recorded {
            let c = new_condition(
                PROGRESSING,
                "Unknown",
                PAUSED,
                "Deployment is paused".into(),
                self.now,
            );
            set_condition(status, c);
        } else if !self.spec.paused && paused_recorded {
            let c = new_condition(
                PROGRESSING,
                "Unknown",
                RESUMED,
                "Deployment is resumed".into(),
                self.now,
            );
            set_condition(status, c);
        }
    }

    /// `calculateStatus`: counts from the ReplicaSets, conditions carried over, Available
    /// set from `availableReplicas >= replicas - maxUnavailable`.
    pub(super) fn calculate_status(&self, new: Option<usize>) -> DeploymentStatus {
        let all: Vec<usize> = self.old_indices(new).into_iter().chain(new).collect();
        let rss = || all.iter().map(|i| &self.rss[*i].rs);
        let available: i32 = rss().map(available_replicas).sum();
        let total: i32 = rss().map(spec_replicas).sum();
        // `terminatingReplicas` is known only when every ReplicaSet reports it.
        let terminating = rss()
            .map(|rs| rs.status.as_ref().and_then(|s| s.terminating_replicas))
            .sum::<Option<i32>>();
        let previous = self.d.status.clone().unwrap_or_default();
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation.filter(|g| *g != 0),
            replicas: nonzero(rss().map(status_replicas).sum()),
            updated_replicas: nonzero(new.map_or(0, |i| status_replicas(&self.rss[i].rs))),
            ready_replicas: nonzero(rss().map(ready_replicas).sum()),
            available_replicas: nonzero(available),
            unavailable_replicas: nonzero((total - available).max(0)),
            terminating_replicas: terminating,
            collision_count: previous.collision_count,
            conditions: previous.conditions.clone(),
        };
        let c = if available >= self.spec.replicas - self.spec.max_unavailable {
            new_condition(
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
                self.now,
            )
        } else {
            new_condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
                self.now,
            )
        };
        set_condition(&mut status, c);
        status
    }

    /// `DeploymentComplete`.
    pub(super) fn complete(&self, status: &DeploymentStatus) -> bool {
        let r = Some(self.spec.replicas).filter(|r| *r != 0);
        status.updated_replicas == r
            && status.replicas == r
            && status.available_replicas == r
            && status.observed_generation.unwrap_or(0) >= self.d.metadata.generation.unwrap_or(0)
    }

    /// `syncRolloutStatus`: the status of a rollout, with Progressing telling whether it
    /// completed, moved since the last status, or has made no progress for
    /// `progressDeadlineSeconds`. Returns when to look again if nothing else happens.
    pub(super) fn sync_rollout_status(&mut self, new: Option<usize>) -> Option<Duration> {
        let mut status = self.calculate_status(new);
        let old = self.d.status.clone().unwrap_or_default();
        // Messages name the new ReplicaSet, or the Deployment while there is none (Recreate).
        let subject = match new {
            Some(i) => format!("ReplicaSet {:?}", access::name(&self.rss[i].rs.metadata)),
            None => format!("Deployment {:?}", self.name()),
        };
        let current = condition(&old, PROGRESSING).cloned();
        let deadline = self.spec.progress_deadline_seconds;
        if deadline.is_none() {
            remove_condition(&mut status, PROGRESSING);
        }
        let complete_before = status.replicas == status.updated_replicas
            && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
        if let (Some(seconds), false) = (deadline, complete_before) {
            if self.complete(&status) {
                let message = format!("{subject} has successfully progressed.");
                set_condition(
                    &mut status,
                    new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, self.now),
                );
            } else if progressed(&old, &status) {
                let message = format!("{subject} is progressing.");
                let mut c =
                    new_condition(PROGRESSING, "True", "ReplicaSetUpdated", message, self.now);
                // Progress refreshes lastUpdateTime even when the reason stays the same.
                if let Some(current) = &current {
                    if current.status.as_deref() == Some("True") {
                        c.last_transition_time = current.last_transition_time.clone();
                    }
                    remove_condition(&mut status, PROGRESSING);
                }
                set_condition(&mut status, c);
            } else if self.timed_out(&status, seconds) {
                let message = format!("{subject} has timed out progressing.");
                set_condition(
                    &mut status,
                    new_condition(PROGRESSING, "False", TIMED_OUT, message, self.now),
                );
            }
        }
        remove_condition(&mut status, REPLICA_FAILURE);
        let requeue = self.requeue_stuck(&old, &status);
        self.d.status = Some(status);
        requeue
    }

    /// `DeploymentTimedOut`: no progress recorded for longer than the deadline.
    fn timed_out(&self, status: &DeploymentStatus, seconds: i64) -> bool {
        let Some(c) = condition(status, PROGRESSING) else {
            return false;
        };
        match c.reason.as_deref() {
            Some(NEW_RS_AVAILABLE) => false,
            Some(TIMED_OUT) => true,
            _ => c
                .last_update_time
                .as_ref()
                .is_some_and(|t| t.0.as_second() + seconds < self.now.as_second()),
        }
    }

    /// `requeueStuckDeployment`: a rollout that is not moving is looked at again just after
    /// its deadline, so the timeout is recorded without any other event.
    fn requeue_stuck(&self, old: &DeploymentStatus, new: &DeploymentStatus) -> Option<Duration> {
        let seconds = self.spec.progress_deadline_seconds?;
        let current = condition(old, PROGRESSING)?;
        if self.complete(new) || current.reason.as_deref() == Some(TIMED_OUT) {
            return None;
        }
        let last = current.last_update_time.as_ref()?.0.as_second();
        let after = (last + seconds - self.now.as_second()).max(0);
        Some(Duration::from_secs(after as u64 + 1))
    }
}

/// `DeploymentProgressing`: more updated, fewer old, more ready or more available pods.
fn progressed(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}
