//! The deployment controller's pure core, after kube-controller-manager's
//! `pkg/controller/deployment` (`syncDeployment`): given a Deployment, the ReplicaSets it
//! controls and the time, the writes that move it one step towards its spec.
//!
//! kube-controller-manager issues several writes per sync and lets a conflict restart the
//! next one; here one pass computes the end state and writes each object once. The
//! Deployment's status is the exception: like kube-controller-manager, a pass that records
//! a new condition mid-sync (paused, resumed, new ReplicaSet) writes only that, and the
//! next pass the counts, so watchers see the same sequence of statuses.
//! Known differences: no adoption or release of ReplicaSets by selector (only those
//! whose controller reference is the Deployment), no `ReplicaFailure` condition (nothing
//! here fails to create pods); `Recreate` waits for old pods by the ReplicaSets' counts
//! (`replicas` and `terminatingReplicas`), not by listing pods.

mod replicasets;
mod scale;
mod status;

use super::access::{self, whole_seconds};
use super::fenceposts::{self, FencepostError};
use super::writes::Write;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

pub use replicasets::{
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
};

/// What one reconcile of a Deployment asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSync {
    pub writes: Vec<Write>,
    /// Reconcile again after this long even if nothing changes (the progress deadline).
    pub requeue_after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentError {
    #[error("Deployment {0} has no uid: pass the object as the API server returned it")]
    NotStored(String),
    #[error("Deployment {name}: {source}")]
    Fencepost {
        name: String,
        source: FencepostError,
    },
}

/// The spec values the controller uses, with the API server's defaults.
#[derive(Debug, Clone, Copy)]
struct Spec {
    replicas: i32,
    paused: bool,
    /// `RollingUpdate` (the default) rather than `Recreate`.
    rolling: bool,
    /// `MaxSurge(d)` / `MaxUnavailable(d)`, already resolved to pods.
    max_surge: i32,
    max_unavailable: i32,
    /// None when there is no deadline (absent or `MaxInt32`).
    progress_deadline_seconds: Option<i64>,
    revision_history_limit: i32,
    min_ready_seconds: i32,
}

impl Spec {
    fn of(d: &Deployment) -> Result<Self, DeploymentError> {
        let name = access::name(&d.metadata).to_string();
        let spec = Some(&d.spec);
        let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
        let strategy = spec.and_then(|s| s.strategy.as_ref());
        let is_rolling = strategy.and_then(|s| s.type_.as_deref()) != Some("Recreate");
        let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
        let default =
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".to_string());
        let surge = rolling.map_or(Some(&default), |r| r.max_surge.as_ref());
        let unavailable = rolling.map_or(Some(&default), |r| r.max_unavailable.as_ref());
        let (max_surge, max_unavailable) = fenceposts::resolve(surge, unavailable, replicas)
            .map_err(|source| DeploymentError::Fencepost { name, source })?;
        let deadline = spec
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600);
        // `MaxSurge` / `MaxUnavailable` are 0 for Recreate.
        let (max_surge, max_unavailable) = if is_rolling {
            (max_surge, max_unavailable)
        } else {
            (0, 0)
        };
        Ok(Spec {
            replicas,
            paused: spec.and_then(|s| s.paused).unwrap_or(false),
            rolling: is_rolling,
            max_surge,
            max_unavailable: if replicas == 0 {
                0
            } else {
                max_unavailable.min(replicas)
            },
            progress_deadline_seconds: (deadline != i32::MAX).then_some(i64::from(deadline)),
            revision_history_limit: spec.and_then(|s| s.revision_history_limit).unwrap_or(10),
            min_ready_seconds: spec.and_then(|s| s.min_ready_seconds).unwrap_or(0),
        })
    }
}

/// A ReplicaSet as the pass sees it: `original` is None for one this pass creates.
struct Working {
    rs: ReplicaSet,
    original: Option<ReplicaSet>,
    delete: bool,
}

/// The state of one pass: working copies that the steps mutate, diffed at the end.
struct Pass {
    d: Deployment,
    spec: Spec,
    rss: Vec<Working>,
    now: Timestamp,
    /// The Deployment as kube-controller-manager's first status write of the sync leaves
    /// it (see [`Pass::note_early_write`]).
    early: Option<Deployment>,
    /// The Deployment as read.
    original: Deployment,
}

/// One reconcile of `deployment`. `replica_sets` may hold any ReplicaSets of the
/// namespace; only those the Deployment controls are used.
pub fn reconcile(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    now: Timestamp,
) -> Result<DeploymentSync, DeploymentError> {
    reconcile_among(deployment, replica_sets, now)
}

/// [`reconcile`] over any ReplicaSets by reference, so the loop can hand each Deployment
/// only the ones indexed under its uid instead of every ReplicaSet in the cluster.
pub(crate) fn reconcile_among<'a>(
    deployment: &Deployment,
    replica_sets: impl IntoIterator<Item = &'a ReplicaSet>,
    now: Timestamp,
) -> Result<DeploymentSync, DeploymentError> {
    let uid = deployment
        .metadata
        .uid
        .as_deref()
        .ok_or_else(|| DeploymentError::NotStored(access::name(&deployment.metadata).into()))?;
    let mut pass = Pass {
        d: deployment.clone(),
        spec: Spec::of(deployment)?,
        rss: replica_sets
            .into_iter()
            .filter(|rs| access::controlled_by(&rs.metadata, uid))
            .map(|rs| Working {
                rs: rs.clone(),
                original: Some(rs.clone()),
                delete: false,
            })
            .collect(),
        now: whole_seconds(now),
        early: None,
        original: deployment.clone(),
    };
    let mut requeue_after = None;
    if deployment.metadata.deletion_timestamp.is_some() {
        let new = pass.sync_revision(false)?;
        pass.d.status = Some(pass.calculate_status(new));
    } else {
        pass.check_paused_conditions();
        pass.note_early_write();
        if pass.spec.paused || pass.is_scaling_event()? {
            pass.sync()?;
        } else {
            requeue_after = if pass.spec.rolling {
                pass.rollout_rolling()?
            } else {
                pass.rollout_recreate()?
            };
        }
    }
    Ok(DeploymentSync {
        writes: pass.finish(),
        requeue_after,
    })
}

impl Pass {
    fn name(&self) -> &str {
        access::name(&self.d.metadata)
    }

    /// Indices of the ReplicaSets that are not the new one (and not being deleted).
    fn old_indices(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != new && !self.rss[*i].delete)
            .collect()
    }

    /// `sync`: scale (paused or a scaling event), never roll out.
    fn sync(&mut self) -> Result<(), DeploymentError> {
        let new = self.sync_revision(false)?;
        self.scale(new);
        if self.spec.paused {
            self.cleanup(new);
        }
        self.d.status = Some(self.calculate_status(new));
        Ok(())
    }

    /// `rolloutRolling`: create or find the new ReplicaSet, scale it up as far as
    /// `maxSurge` allows, else scale old ones down as far as `maxUnavailable` allows.
    fn rollout_rolling(&mut self) -> Result<Option<Duration>, DeploymentError> {
        let new = self.sync_revision(true)?.expect("created when missing");
        if !self.reconcile_new_replica_set(new) && !self.reconcile_old_replica_sets(new) {
            let status = self.d.status.clone().unwrap_or_default();
            if self.complete(&status) {
                self.cleanup(Some(new));
            }
        }
        Ok(self.sync_rollout_status(Some(new)))
    }

    /// `rolloutRecreate`: scale every old ReplicaSet to zero, wait until none of their pods
    /// is left, then create the new ReplicaSet at full size.
    fn rollout_recreate(&mut self) -> Result<Option<Duration>, DeploymentError> {
        let new = self.sync_revision(false)?;
        let mut scaled_down = false;
        for i in self.old_indices(new) {
            if access::spec_replicas(&self.rss[i].rs) > 0 {
                scaled_down |= self.scale_to(i, 0);
            }
        }
        if scaled_down || self.old_pods_running(new) {
            return Ok(self.sync_rollout_status(new));
        }
        let new = match new {
            Some(i) => i,
            None => self.sync_revision(true)?.expect("created when missing"),
        };
        self.scale_to(new, self.spec.replicas);
        let status = self.d.status.clone().unwrap_or_default();
        if self.complete(&status) {
            self.cleanup(Some(new));
        }
        Ok(self.sync_rollout_status(Some(new)))
    }

    /// `oldPodsRunning`, from the old ReplicaSets' counts: pods that still exist, running
    /// or terminating.
    fn old_pods_running(&self, new: Option<usize>) -> bool {
        self.old_indices(new).iter().any(|i| {
            let status = self.rss[*i].rs.status.as_ref();
            status.map_or(0, |s| s.replicas + s.terminating_replicas.unwrap_or(0)) > 0
        })
    }

    /// kube-controller-manager writes the Deployment's status as soon as the paused or
    /// resumed condition, the revision annotation or the condition for a new ReplicaSet
    /// changes, mid-sync; its status write at the end of that sync then conflicts and the
    /// next sync computes the rest. Keeping the first such state reproduces what watchers
    /// see (`DeploymentResumed`, `NewReplicaSetCreated`) before the counts catch up.
    fn note_early_write(&mut self) {
        let changed = self.d.status.clone().unwrap_or_default()
            != self.original.status.clone().unwrap_or_default()
            || self.d.metadata.annotations != self.original.metadata.annotations;
        if changed && self.early.is_none() {
            self.early = Some(self.d.clone());
        }
    }

    /// The writes that turn the objects as read into the working copies.
    fn finish(mut self) -> Vec<Write> {
        let original = self.original.clone();
        if let Some(early) = self.early.take() {
            self.d = early;
        }
        let mut writes = Vec::new();
        for w in self.rss {
            match (&w.original, w.delete) {
                (None, _) => writes.push(Write::CreateReplicaSet(w.rs)),
                (Some(_), true) => writes.push(Write::DeleteReplicaSet {
                    namespace: access::namespace(&w.rs.metadata).to_string(),
                    name: access::name(&w.rs.metadata).to_string(),
                }),
                (Some(o), false) if *o != w.rs => writes.push(Write::ReplaceReplicaSet(w.rs)),
                _ => {}
            }
        }
        if self.d.status != original.status
            || self.d.metadata.annotations != original.metadata.annotations
        {
            writes.push(Write::ReplaceDeploymentStatus(self.d));
        }
        writes
    }
}
