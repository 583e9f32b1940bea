//! Single rolling-update steps of the deployment core, as the Kubernetes documentation
//! describes them: with 10 replicas at 25% / 25%, the first step makes the new
//! ReplicaSet 3 pods (10 + 3 surge at most) and takes the old one to 8 (10 - 2). And the
//! Recreate strategy: nothing new before everything old is gone.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use kube_memserver::workloads::deployment;
use kube_memserver::workloads::memory::MemoryCluster;
use kube_memserver::workloads::{WorkloadOptions, Write};
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
    let mut c = MemoryCluster::new(
        WorkloadOptions::default(),
        "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap(),
    );
    c.create_deployment(deployment(replicas)).unwrap();
    c.run_for(Duration::from_secs(10), Duration::from_secs(1), |_| {})
        .unwrap();
    c
}

/// The ReplicaSet sizes the core writes in one reconcile after the image changes.
fn first_step(c: &mut MemoryCluster) -> (i32, i32) {
    c.edit_deployment("shop", "auth", |d| {
        d.spec.template.spec.as_mut().unwrap().containers[0].image = Some("auth:2".into())
    })
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
    (
        new.expect("a new ReplicaSet"),
        old.unwrap_or(rss[0].spec.replicas.unwrap()),
    )
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

#[test]
fn recreate_removes_every_old_pod_before_the_first_new_one() {
    // Strategy Recreate: old ReplicaSets go to zero, their pods must be gone, then the new
    // ReplicaSet is created at full size.
    let mut d = deployment(3);
    d.spec.strategy = Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    let mut c = MemoryCluster::new(
        WorkloadOptions::default(),
        "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap(),
    );
    c.create_deployment(d).unwrap();
    c.run_for(Duration::from_secs(10), Duration::from_secs(1), |_| {})
        .unwrap();
    c.edit_deployment("shop", "auth", |d| {
        d.spec.template.spec.as_mut().unwrap().containers[0].image = Some("auth:2".into())
    })
    .unwrap();
    let image = |p: &&k8s_openapi::api::core::v1::Pod| {
        p.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    };
    c.run_for(Duration::from_secs(20), Duration::from_secs(1), |c| {
        let pods = c.pods_in("shop");
        let old = pods.iter().filter(|p| image(p) == "auth:1").count();
        let new = pods.iter().filter(|p| image(p) == "auth:2").count();
        assert!(old == 0 || new == 0, "{old} old pods beside {new} new ones");
    })
    .unwrap();
    let pods = c.pods_in("shop");
    assert_eq!(pods.iter().filter(|p| image(p) == "auth:2").count(), 3);
    let rss = c.replica_sets_in("shop");
    assert_eq!(
        rss.iter()
            .map(|rs| rs.spec.replicas.unwrap())
            .collect::<Vec<_>>(),
        vec![0, 3]
    );
    let max =
        &rss[1].metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/max-replicas"];
    assert_eq!(max, "3", "no surge with Recreate");
    let status = c
        .deployment("shop", "auth")
        .unwrap()
        .status
        .clone()
        .unwrap();
    let reasons: Vec<_> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| c.reason.unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec!["MinimumReplicasAvailable", "NewReplicaSetAvailable"]
    );
}
