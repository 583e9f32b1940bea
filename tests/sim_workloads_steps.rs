//! Single rolling-update steps of the deployment core, as the Kubernetes documentation
//! describes them: with 10 replicas at 25% / 25%, the first step makes the new
//! ReplicaSet 3 pods (10 + 3 surge at most) and takes the old one to 8 (10 - 2).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use portcullis::sim::workloads::deployment;
use portcullis::sim::workloads::memory::MemoryCluster;
use portcullis::sim::workloads::{Write, WorkloadOptions};
use serde_json::json;
use std::time::Duration;

fn deployment(replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "auth", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "auth"}},
            "template": {"metadata": {"labels": {"app": "auth"}}, "spec": {"containers": [{"name": "auth", "image": "auth:1"}]}}
        }
    }))
    .unwrap()
}

/// A cluster where `replicas` pods of auth:1 run and are available.
fn settled(replicas: i32) -> MemoryCluster {
    let mut c = MemoryCluster::new(WorkloadOptions::default(), "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap());
    c.create_deployment(deployment(replicas)).unwrap();
    c.run_for(Duration::from_secs(10), Duration::from_secs(1), |_| {}).unwrap();
    c
}

/// The ReplicaSet sizes the core writes in one reconcile after the image changes.
fn first_step(c: &mut MemoryCluster) -> (i32, i32) {
    c.edit_deployment("shop", "auth", |d| d.spec.template.spec.as_mut().unwrap().containers[0].image = Some("auth:2".into()))
        .unwrap();
    let d = c.deployment("shop", "auth").unwrap().clone();
    let rss: Vec<ReplicaSet> = c.replica_sets_in("shop").into_iter().cloned().collect();
    let writes = deployment::reconcile(&d, &rss, c.now()).unwrap().writes;
    let new = writes.iter().find_map(|w| match w {
        Write::CreateReplicaSet(rs) => rs.spec.replicas,
        _ => None,
    });
    let old = writes.iter().find_map(|w| match w {
        Write::ReplaceReplicaSet(rs) => rs.spec.replicas,
        _ => None,
    });
    (new.expect("a new ReplicaSet"), old.unwrap_or(rss[0].spec.replicas.unwrap()))
}

#[test]
fn ten_replicas_at_25_percent_start_with_3_new_and_8_old() {
    assert_eq!(first_step(&mut settled(10)), (3, 8));
}

#[test]
fn four_replicas_at_25_percent_start_with_1_new_and_keep_all_old() {
    // 25% of 4: one surge pod, and one unavailable pod that floor(1) allows.
    assert_eq!(first_step(&mut settled(4)), (1, 3));
}

#[test]
fn one_replica_surges_a_pod_and_keeps_the_old_one() {
    // 25% of 1: surge rounds up to 1, unavailable down to 0.
    assert_eq!(first_step(&mut settled(1)), (1, 1));
}
