//! The intermediate Deployment statuses kube-controller-manager writes mid-sync: it
//! records a new ReplicaSet (or one found without a Progressing condition) before the
//! counts, and those are what watchers see first.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::jiff::Timestamp;
use kube_memserver::workloads::deployment::{self, REVISION_ANNOTATION};
use kube_memserver::workloads::memory::MemoryCluster;
use kube_memserver::workloads::{WorkloadOptions, Write};
use serde_json::json;
use std::time::Duration;

fn deployment() -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "auth", "namespace": "shop", "uid": "d-1", "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "auth"}},
            "template": {"metadata": {"labels": {"app": "auth"}}, "spec": {"containers": [{"name": "auth", "image": "auth:1"}]}}
        }
    }))
    .unwrap()
}

fn now() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

fn status_write(writes: &[Write]) -> (DeploymentStatus, Deployment) {
    writes
        .iter()
        .find_map(|w| match w {
            Write::ReplaceDeploymentStatus(d) => Some((d.status.clone().unwrap(), d.clone())),
            _ => None,
        })
        .expect("a status write")
}

fn progressing(status: &DeploymentStatus) -> (String, String, String) {
    let c = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        .unwrap();
    (
        c.status.clone().unwrap(),
        c.reason.clone().unwrap(),
        c.message.clone().unwrap(),
    )
}

#[test]
fn creating_the_replica_set_first_records_new_replica_set_created_and_revision_1() {
    let sync = deployment::reconcile(&deployment(), &[], now()).unwrap();
    let Some(Write::CreateReplicaSet(rs)) = sync.writes.first() else {
        panic!("{:?}", sync.writes)
    };
    let (status, d) = status_write(&sync.writes);
    let name = rs.metadata.name.clone().unwrap();
    assert_eq!(
        progressing(&status),
        (
            "True".into(),
            "NewReplicaSetCreated".into(),
            format!("Created new replica set \"{name}\"")
        )
    );
    assert_eq!(d.metadata.annotations.unwrap()[REVISION_ANNOTATION], "1");
    assert_eq!(
        status.observed_generation, None,
        "the counts come with the next sync"
    );
}

#[test]
fn a_replica_set_found_without_a_progressing_condition_is_recorded_as_found() {
    let mut c = MemoryCluster::new(WorkloadOptions::default(), now());
    let mut d = deployment();
    d.metadata.uid = None;
    c.create_deployment(d).unwrap();
    c.run_for(Duration::from_secs(5), Duration::from_secs(1), |_| {})
        .unwrap();
    let mut d = c.deployment("shop", "auth").unwrap().clone();
    d.status
        .as_mut()
        .unwrap()
        .conditions
        .as_mut()
        .unwrap()
        .retain(|c| c.type_.as_deref() != Some("Progressing"));
    let rss: Vec<_> = c.replica_sets_in("shop").into_iter().cloned().collect();
    let (status, _) = status_write(&deployment::reconcile(&d, &rss, c.now()).unwrap().writes);
    let name = rss[0].metadata.name.clone().unwrap();
    assert_eq!(
        progressing(&status),
        (
            "True".into(),
            "FoundNewReplicaSet".into(),
            format!("Found new replica set \"{name}\"")
        )
    );
}

#[test]
fn a_complete_rollout_is_quiet() {
    let mut c = MemoryCluster::new(WorkloadOptions::default(), now());
    let mut d = deployment();
    d.metadata.uid = None;
    c.create_deployment(d).unwrap();
    c.run_for(Duration::from_secs(5), Duration::from_secs(1), |_| {})
        .unwrap();
    let d = c.deployment("shop", "auth").unwrap().clone();
    let rss: Vec<_> = c.replica_sets_in("shop").into_iter().cloned().collect();
    let sync = deployment::reconcile(&d, &rss, c.now() + Duration::from_secs(3600)).unwrap();
    assert_eq!(sync.writes, vec![], "nothing to write an hour later");
    assert_eq!(sync.requeue_after, None, "and nothing to wait for");
    assert_eq!(
        progressing(d.status.as_ref().unwrap()).1,
        "NewReplicaSetAvailable"
    );
}
