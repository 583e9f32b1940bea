//! The workload in the engine's terms, and the canary Deployment built from it.
//!
//! The user's Deployment stays the source of truth: the canary is a copy of its current
//! pod template under an owned Deployment `<workload>-canary`, whose pods carry the track
//! label so the routers can tell them from stable pods.

use super::replica_set::ReplicaSetInfo;
use super::revision;
use crate::api::Revision;
use crate::engine::{CanaryDesired, CanaryObservation, WorkloadObservation};
use crate::traffic::{CANARY_TRACK, POD_TEMPLATE_HASH_LABEL, TRACK_LABEL};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// Annotation on the canary Deployment naming the revision it runs.
pub const REVISION_ANNOTATION: &str = "portcullis.dev/revision";
/// Annotation on the user's Deployment naming the Rollout that manages it: one owner.
pub const OWNER_ANNOTATION: &str = "portcullis.dev/rollout";
/// Annotation on the user's Deployment listing rejected revisions (comma-separated), so
/// a Rollout created again still refuses them.
pub const REJECTED_ANNOTATION: &str = "portcullis.dev/rejected-revisions";
/// Label on objects Portcullis creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "portcullis");

pub fn canary_name(workload: &str) -> String {
    format!("{workload}-canary")
}

/// What the engine needs to know of the user's Deployment and its ReplicaSets.
pub fn observe_with(
    deployment: &Deployment,
    replica_sets: &[ReplicaSetInfo],
) -> WorkloadObservation {
    let mut o = observe(deployment);
    if !o.rolled_out {
        o.serving = serving(deployment, replica_sets, &o.revision.revision);
    }
    o
}

/// The release the Deployment's own ReplicaSets serve most, other than `current`.
fn serving(
    deployment: &Deployment,
    replica_sets: &[ReplicaSetInfo],
    current: &str,
) -> Option<Revision> {
    let uid = deployment.metadata.uid.as_deref()?;
    replica_sets
        .iter()
        .filter(|rs| rs.controlled_by(uid) && rs.ready_replicas > 0)
        .filter_map(|rs| {
            let revision = rs.revision.clone()?;
            (revision != current).then(|| {
                (
                    rs.ready_replicas,
                    Revision {
                        revision,
                        images: rs.images.clone(),
                    },
                )
            })
        })
        .max_by_key(|(ready, _)| *ready)
        .map(|(_, r)| r)
}

/// What the engine needs to know of the user's Deployment alone.
pub fn observe(deployment: &Deployment) -> WorkloadObservation {
    let spec = &deployment.spec;
    let status = deployment.status.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1);
    let observed =
        status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
    // The test `kubectl rollout status` uses: every replica updated, no old pods left,
    // every updated pod available, for the latest generation.
    let rolled_out = observed
        && status.updated_replicas.unwrap_or(0) >= replicas
        && status.replicas.unwrap_or(0) <= status.updated_replicas.unwrap_or(0)
        && status.available_replicas.unwrap_or(0) >= status.updated_replicas.unwrap_or(0);
    WorkloadObservation {
        revision: Revision {
            revision: revision::of_template(&spec.template),
            images: revision::images(&spec.template),
        },
        replicas,
        paused: spec.paused.unwrap_or(false),
        rolled_out,
        ready_replicas: status.ready_replicas.unwrap_or(0),
        updated_replicas: status.updated_replicas.unwrap_or(0),
        serving: None,
        rejected_revisions: rejected_revisions(deployment),
    }
}

/// The revisions the Deployment's annotation records as rejected.
pub fn rejected_revisions(deployment: &Deployment) -> Vec<String> {
    annotation(deployment, REJECTED_ANNOTATION)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The Rollout the Deployment's annotation names as its manager.
pub fn owner(deployment: &Deployment) -> Option<&str> {
    annotation(deployment, OWNER_ANNOTATION).filter(|o| !o.is_empty())
}

fn annotation<'a>(deployment: &'a Deployment, key: &str) -> Option<&'a str> {
    deployment
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The pod template of the stable ReplicaSet as the Deployment had it: the ReplicaSet's
/// copy less the `pod-template-hash` label Kubernetes adds. Put back into the
/// Deployment, Kubernetes finds the same ReplicaSet again and starts no rollout.
pub fn deployment_template(rs: &ReplicaSet) -> Option<k8s_openapi::api::core::v1::PodTemplateSpec> {
    let mut template = rs.spec.template.clone()?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    Some(template)
}

/// The owned canary Deployment as observed; only updated pods (of its current template)
/// count as ready, so a canary that is itself mid-update does not count old pods. A
/// scale change (a new generation, same template) keeps its ready pods counted.
pub fn observe_canary(canary: &Deployment) -> CanaryObservation {
    let status = canary.status.clone().unwrap_or_default();
    let ready = status
        .ready_replicas
        .unwrap_or(0)
        .min(status.updated_replicas.unwrap_or(0));
    CanaryObservation {
        revision: canary
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION_ANNOTATION).cloned())
            .unwrap_or_default(),
        replicas: canary.spec.replicas.unwrap_or(0),
        ready_replicas: ready,
    }
}

/// The workload's ReplicaSet that runs `stable_revision`: the stable track.
pub fn stable_replica_set<'a>(
    deployment: &Deployment,
    replica_sets: &'a [ReplicaSetInfo],
    stable_revision: &str,
) -> Option<&'a ReplicaSetInfo> {
    let uid = deployment.metadata.uid.as_deref()?;
    replica_sets
        .iter()
        .find(|rs| rs.controlled_by(uid) && rs.revision.as_deref() == Some(stable_revision))
}

/// The canary Deployment for `desired`: the workload's current template plus the track
/// label, selected by the workload's selector plus the track label, owned by the Rollout.
pub fn canary_deployment(
    workload: &Deployment,
    desired: &CanaryDesired,
    owner: &OwnerReference,
) -> Deployment {
    let name = workload.metadata.name.clone().unwrap_or_default();
    let spec = &workload.spec;
    let mut template = spec.template.clone();
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(TRACK_LABEL.into(), CANARY_TRACK.into());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(TRACK_LABEL.into(), CANARY_TRACK.into());
    let mut labels = workload.metadata.labels.clone().unwrap_or_default();
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    labels.insert(TRACK_LABEL.into(), CANARY_TRACK.into());
    Deployment {
        metadata: ObjectMeta {
            name: Some(canary_name(&name)),
            namespace: workload.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                REVISION_ANNOTATION.to_string(),
                desired.revision.clone(),
            )])),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: DeploymentSpec {
            replicas: Some(desired.replicas),
            selector,
            template,
            min_ready_seconds: spec.min_ready_seconds,
            progress_deadline_seconds: spec.progress_deadline_seconds,
            revision_history_limit: Some(1),
            ..Default::default()
        },
        status: None,
    }
}
