//! Revision history: rolling back to an earlier template reuses its ReplicaSet with a new
//! revision, and `revisionHistoryLimit` deletes the oldest scaled-down ReplicaSets, whose
//! pods go with them (background propagation, `05b-ownerref-gc.json`).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;
use kube_memserver::workloads::deployment::{REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION};
use kube_memserver::workloads::memory::MemoryCluster;
use kube_memserver::workloads::{WorkloadOptions, Write};
use serde_json::{Value, json};
use std::time::Duration;

const NS: &str = "shop";

fn deployment(history: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "auth", "namespace": NS},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": history,
            "selector": {"matchLabels": {"app": "auth"}},
            "template": {"metadata": {"labels": {"app": "auth"}}, "spec": {"containers": [{"name": "auth", "image": "auth:1"}]}}
        }
    }))
    .unwrap()
}

fn roll_out(c: &mut MemoryCluster, image: &str) {
    c.edit_deployment(NS, "auth", |d| {
        d.spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.into())
    })
    .unwrap();
    c.run_for(Duration::from_secs(20), Duration::from_secs(1), |_| {})
        .unwrap();
}

/// (image, revision, replicas) of each ReplicaSet, oldest first.
fn replica_sets(c: &MemoryCluster) -> Vec<(String, String, i32)> {
    c.replica_sets_in(NS)
        .iter()
        .map(|rs| {
            let image = rs
                .spec
                .template
                .as_ref()
                .unwrap()
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .clone()
                .unwrap();
            let revision = rs.metadata.annotations.as_ref().unwrap()[REVISION_ANNOTATION].clone();
            (image, revision, rs.spec.replicas.unwrap())
        })
        .collect()
}

fn cluster(history: i32) -> MemoryCluster {
    let mut c = MemoryCluster::new(
        WorkloadOptions::default(),
        "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap(),
    );
    c.create_deployment(deployment(history)).unwrap();
    c.run_for(Duration::from_secs(10), Duration::from_secs(1), |_| {})
        .unwrap();
    c
}

#[test]
fn rolling_back_reuses_the_old_replica_set_with_the_next_revision() {
    let mut c = cluster(10);
    roll_out(&mut c, "auth:2");
    roll_out(&mut c, "auth:1");
    assert_eq!(
        replica_sets(&c),
        vec![
            ("auth:1".into(), "3".into(), 2),
            ("auth:2".into(), "2".into(), 0)
        ]
    );
    let first = c.replica_sets_in(NS)[0];
    assert_eq!(
        first.metadata.annotations.as_ref().unwrap()[REVISION_HISTORY_ANNOTATION],
        "1"
    );
    let d = c.deployment(NS, "auth").unwrap();
    assert_eq!(
        d.metadata.annotations.as_ref().unwrap()[REVISION_ANNOTATION],
        "3"
    );
}

#[test]
fn the_oldest_scaled_down_replica_sets_beyond_the_history_limit_are_deleted_with_their_pods() {
    let mut c = cluster(1);
    roll_out(&mut c, "auth:2");
    roll_out(&mut c, "auth:3");
    roll_out(&mut c, "auth:4");
    assert_eq!(
        replica_sets(&c),
        vec![
            ("auth:3".into(), "3".into(), 0),
            ("auth:4".into(), "4".into(), 2)
        ]
    );
    let images: Vec<String> = c
        .pods_in(NS)
        .iter()
        .map(|p| {
            p.spec.as_ref().unwrap().containers[0]
                .image
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(images, vec!["auth:4", "auth:4"]);
}

#[test]
fn deleting_a_replica_set_takes_its_pods_as_background_propagation_does() {
    // Recorded: DELETE of an owner with propagationPolicy Background; the next list shows
    // neither of its two children.
    let text = include_str!("fixtures/apiserver-transcripts/05b-ownerref-gc.json");
    let t: Vec<Value> = serde_json::from_str(text).unwrap();
    assert_eq!(t[5]["request"]["body"]["propagationPolicy"], "Background");
    assert_eq!(
        t[3]["request"]["body"]["metadata"]["ownerReferences"][0]["name"],
        "owner"
    );
    assert_eq!(t[6]["response"]["body"]["items"], json!([]));

    let mut c = cluster(10);
    assert_eq!(c.pods_in(NS).len(), 2);
    let name = c.replica_sets_in(NS)[0].metadata.name.clone().unwrap();
    c.edit_deployment(NS, "auth", |d| d.spec.replicas = Some(0))
        .unwrap();
    c.apply(Write::DeleteReplicaSet {
        namespace: NS.into(),
        name,
    })
    .unwrap();
    assert!(c.pods_in(NS).is_empty());
}
