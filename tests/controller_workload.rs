//! The workload in the engine's terms, and the canary built from it.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use portcullis::controller::replica_set::ReplicaSetInfo;
use portcullis::controller::{revision, workload};
use portcullis::engine::CanaryDesired;
use serde_json::{Value, json};

fn deployment(status: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "auth-api", "namespace": "payments", "uid": "d-1",
                     "generation": 3, "labels": {"team": "identity"}},
        "spec": {
            "replicas": 4, "paused": true,
            "selector": {"matchLabels": {"app": "auth-api"}},
            "progressDeadlineSeconds": 600,
            "template": {"metadata": {"labels": {"app": "auth-api"}},
                         "spec": {"containers": [{"name": "app", "image": "auth:1.5"}]}}
        },
        "status": status
    }))
    .unwrap()
}

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "portcullis.dev/v1alpha1".into(),
        kind: "Rollout".into(),
        name: "auth-api".into(),
        uid: "r-1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[test]
fn a_deployment_is_rolled_out_only_when_every_replica_is_updated_and_available() {
    let done = json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 4,
                      "availableReplicas": 4, "readyReplicas": 4});
    let o = workload::observe(&deployment(done.clone()));
    assert!(o.rolled_out && o.paused);
    assert_eq!((o.replicas, o.ready_replicas), (4, 4));
    assert_eq!(o.revision.images, vec!["auth:1.5".to_string()]);

    let old_pods_left = json!({"observedGeneration": 3, "replicas": 5, "updatedReplicas": 4,
                               "availableReplicas": 4});
    assert!(!workload::observe(&deployment(old_pods_left)).rolled_out);
    let not_available = json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 4,
                               "availableReplicas": 3});
    assert!(!workload::observe(&deployment(not_available)).rolled_out);
    let stale = json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 4,
                       "availableReplicas": 4});
    assert!(!workload::observe(&deployment(stale)).rolled_out);
}

#[test]
fn the_canary_runs_the_workload_template_with_the_track_label_and_is_owned_by_the_rollout() {
    let w = deployment(json!({}));
    let rev = workload::observe(&w).revision.revision;
    let desired = CanaryDesired {
        revision: rev.clone(),
        replicas: 1,
    };
    let c = workload::canary_deployment(&w, &desired, &owner());
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["metadata"]["name"], "auth-api-canary");
    assert_eq!(
        v["metadata"]["annotations"]["portcullis.dev/revision"],
        json!(rev)
    );
    assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "r-1");
    assert_eq!(v["spec"]["replicas"], 1);
    assert_eq!(
        v["spec"]["selector"]["matchLabels"],
        json!({"app": "auth-api", "portcullis.dev/track": "canary"})
    );
    assert_eq!(
        v["spec"]["template"]["metadata"]["labels"],
        json!({"app": "auth-api", "portcullis.dev/track": "canary"})
    );
    // Not paused, whatever the workload is: the canary must run.
    assert!(v["spec"]["paused"].is_null());
    // Same release, same revision, on both tracks.
    assert_eq!(
        revision::of_template(&c.spec.template),
        rev,
        "the canary's template hashes to the workload's revision"
    );
}

#[test]
fn canary_pods_of_an_older_template_do_not_count_as_ready() {
    let mut c = workload::canary_deployment(
        &deployment(json!({})),
        &CanaryDesired {
            revision: "r".into(),
            replicas: 2,
        },
        &owner(),
    );
    c.metadata.generation = Some(2);
    c.status = serde_json::from_value(json!({"observedGeneration": 2, "readyReplicas": 2,
                                             "updatedReplicas": 1}))
    .unwrap();
    let o = workload::observe_canary(&c);
    assert_eq!(
        (o.revision.as_str(), o.replicas, o.ready_replicas),
        ("r", 2, 1)
    );
    // Scaled (a new generation, not yet observed): the ready pods still count.
    c.metadata.generation = Some(3);
    assert_eq!(workload::observe_canary(&c).ready_replicas, 1);
}

#[test]
fn the_stable_replica_set_is_the_owned_one_running_the_stable_revision() {
    let w = deployment(json!({}));
    let rs = |name: &str, hash: &str, image: &str, owner_uid: &str| -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "auth-api", "pod-template-hash": hash},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                            "name": "auth-api", "uid": owner_uid, "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "auth-api", "pod-template-hash": hash}},
                     "template": {"metadata": {"labels": {"app": "auth-api", "pod-template-hash": hash}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}
        }))
        .unwrap()
    };
    let sets: Vec<ReplicaSetInfo> = [
        rs("auth-api-aaa", "aaa", "auth:1.5", "d-1"),
        rs("auth-api-bbb", "bbb", "auth:1.4", "d-1"),
        rs("other-ccc", "ccc", "auth:1.4", "someone-else"),
    ]
    .iter()
    .map(ReplicaSetInfo::from)
    .collect();
    let mut old = w.spec.template.clone();
    old.spec.as_mut().unwrap().containers[0].image = Some("auth:1.4".into());
    let stable_rev = revision::of_template(&old);
    let stable = workload::stable_replica_set(&w, &sets, &stable_rev).unwrap();
    assert_eq!(stable.pod_template_hash.as_deref(), Some("bbb"));
    assert_eq!(stable.images, ["auth:1.4"]);
}
