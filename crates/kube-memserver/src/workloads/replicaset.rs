//! The replicaset controller's pure core (`pkg/controller/replicaset`): as many active
//! pods as `spec.replicas`, created from the template with a controller reference and a
//! generated name, the least useful deleted first; and the ReplicaSet's status.
//! Known differences: no adoption of orphan pods by selector, no slow-start batches.

use super::access::{self, pod_available, pod_ready_since};
use super::writes::Write;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use std::cmp::Reverse;
use std::time::Duration;

/// What one reconcile of a ReplicaSet asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSetSync {
    pub writes: Vec<Write>,
    /// Look again then: a ready pod becomes available after `minReadySeconds`.
    pub requeue_after: Option<Duration>,
}

fn active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        _ => 2,
    }
}

fn restarts(pod: &Pod) -> i32 {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    statuses
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .sum()
}

/// One reconcile of `rs`. `pods` may hold any pods of the namespace; only those the
/// ReplicaSet controls are counted.
pub fn reconcile(rs: &ReplicaSet, pods: &[Pod], now: Timestamp) -> ReplicaSetSync {
    reconcile_among(rs, pods, now)
}

/// [`reconcile`] over any pods by reference, so the loop can hand each ReplicaSet only
/// the pods indexed under its uid instead of every pod in the cluster.
pub(crate) fn reconcile_among<'a>(
    rs: &ReplicaSet,
    pods: impl IntoIterator<Item = &'a Pod>,
    now: Timestamp,
) -> ReplicaSetSync {
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    let owned: Vec<&Pod> = pods
        .into_iter()
        .filter(|p| access::controlled_by(&p.metadata, uid))
        .collect();
    let mut active_pods: Vec<&Pod> = owned.iter().copied().filter(|p| active(p)).collect();
    let mut writes = Vec::new();
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    if rs.metadata.deletion_timestamp.is_none() {
        let diff = active_pods.len() as i64 - i64::from(access::spec_replicas(rs));
        if diff < 0 {
            for _ in 0..-diff {
                writes.push(Write::CreatePod(pod_from_template(rs)));
            }
        } else if diff > 0 {
            // `getPodsToDelete`: unscheduled, pending, not ready, ready for less time,
            // restarted more, newer, first.
            active_pods.sort_by_key(|p| {
                (
                    p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some(),
                    phase_rank(p),
                    pod_ready_since(p).is_some(),
                    Reverse(pod_ready_since(p)),
                    Reverse(restarts(p)),
                    Reverse(access::created_at(&p.metadata)),
                )
            });
            for p in &active_pods[..diff as usize] {
                writes.push(Write::DeletePod {
                    namespace: access::namespace(&p.metadata).to_string(),
                    name: access::name(&p.metadata).to_string(),
                    grace_period_seconds: None,
                });
            }
        }
    }
    // Unlike kube-controller-manager, the pods this pass deletes count as terminating, not
    // as available: the deployment controller never acts on a count that is about to drop.
    let deleting: Vec<&str> = writes
        .iter()
        .filter_map(|w| match w {
            Write::DeletePod { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let counted: Vec<&Pod> = owned
        .iter()
        .copied()
        .filter(|p| !deleting.contains(&access::name(&p.metadata)))
        .collect();
    let status = status(rs, &counted, deleting.len() as i32, now);
    if rs.status.as_ref() != Some(&status) {
        let mut updated = rs.clone();
        updated.status = Some(status);
        writes.push(Write::ReplaceReplicaSetStatus(updated));
    }
    let requeue_after = active_pods
        .iter()
        .filter(|p| min_ready > 0 && !pod_available(p, min_ready, now))
        .filter_map(|p| pod_ready_since(p))
        .map(|since| since.as_second() + i64::from(min_ready) + 1 - now.as_second())
        .min()
        .map(|s| Duration::from_secs(s.max(1) as u64));
    ReplicaSetSync {
        writes,
        requeue_after,
    }
}

/// `calculateStatus`, from the pods as listed before this reconcile's writes.
/// `deleting`: pods this pass deletes, counted as terminating already.
fn status(rs: &ReplicaSet, owned: &[&Pod], deleting: i32, now: Timestamp) -> ReplicaSetStatus {
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let template_labels = rs
        .spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let active: Vec<&&Pod> = owned.iter().filter(|p| active(p)).collect();
    let count = |f: &dyn Fn(&Pod) -> bool| active.iter().filter(|p| f(p)).count() as i32;
    let nonzero = |n: i32| (n != 0).then_some(n);
    let fully_labeled = count(&|p| {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    });
    let terminating = owned
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .count() as i32
        + deleting;
    ReplicaSetStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: nonzero(fully_labeled),
        ready_replicas: nonzero(count(&|p| pod_ready_since(p).is_some())),
        available_replicas: nonzero(count(&|p| pod_available(p, min_ready, now))),
        observed_generation: rs.metadata.generation,
        terminating_replicas: Some(terminating),
        conditions: rs.status.as_ref().and_then(|s| s.conditions.clone()),
    }
}

/// `GetPodFromTemplate`: the template's labels, annotations and spec, the ReplicaSet as
/// controller, `<replicaset>-` as generateName.
fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs.spec.template.clone().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", access::name(&rs.metadata))),
            namespace: rs.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![access::controller_ref(
                "apps/v1",
                "ReplicaSet",
                &rs.metadata,
            )]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}
