//! The writes a controller core asks for; the thin loops turn them into API calls.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

/// One API request. `Replace*` carry the object as read (with its resourceVersion), so a
/// write based on a stale read fails with 409 and the next reconcile starts over.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    CreateReplicaSet(ReplicaSet),
    /// PUT of the main resource (replicas, annotations).
    ReplaceReplicaSet(ReplicaSet),
    ReplaceReplicaSetStatus(ReplicaSet),
    DeleteReplicaSet {
        namespace: String,
        name: String,
    },
    /// PUT of `/status`; the revision annotation rides along, as kube-controller-manager does.
    ReplaceDeploymentStatus(Deployment),
    /// A pod with `generateName`; the API server picks the suffix.
    CreatePod(Pod),
    /// DELETE; `grace_period_seconds: Some(0)` is the kubelet confirming a pod is gone.
    DeletePod {
        namespace: String,
        name: String,
        grace_period_seconds: Option<i64>,
    },
    ReplacePodStatus(Pod),
}
