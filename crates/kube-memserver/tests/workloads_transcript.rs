//! The deployment and replicaset controller cores against what kube-controller-manager
//! wrote in `10-deployment-controller.json` (recorded on v1.36 with no scheduler or
//! kubelet, so pods stay Pending): ReplicaSet names and annotations, Deployment status
//! and conditions, a second ReplicaSet on an image change, pausing.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use kube_memserver::workloads::WorkloadOptions;
use kube_memserver::workloads::deployment::{self, REVISION_ANNOTATION};
use kube_memserver::workloads::memory::MemoryCluster;
use kube_memserver::workloads::{Write, hash::POD_TEMPLATE_HASH_LABEL};
use serde_json::{Value, json};
use std::time::Duration;

const NS: &str = "tx-deploy-ctrl";

fn transcript() -> Vec<Value> {
    let text = include_str!("fixtures/apiserver-transcripts/10-deployment-controller.json");
    serde_json::from_str(text).expect("the transcript is JSON")
}

/// The response body of the exchange whose note is `note`.
fn recorded(t: &[Value], note: &str) -> Value {
    t.iter()
        .find(|e| e["note"] == note)
        .unwrap_or_else(|| panic!("no exchange noted {note:?}"))["response"]["body"]
        .clone()
}

/// Drops the values the transcript README calls volatile and replaces each ReplicaSet's
/// pod-template-hash by `<hash of revision N>`, so two clusters' objects compare equal.
fn normalise(mut v: Value, hashes: &[(String, String)]) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in [
                    "uid",
                    "resourceVersion",
                    "creationTimestamp",
                    "managedFields",
                ] {
                    m.remove(k);
                }
                for k in ["lastUpdateTime", "lastTransitionTime"] {
                    if m.contains_key(k) {
                        m.insert(k.into(), json!("<time>"));
                    }
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    let mut text = v.to_string();
    for (hash, placeholder) in hashes {
        text = text.replace(hash, placeholder);
    }
    serde_json::from_str(&text).expect("still JSON")
}

/// (hash, placeholder) for each ReplicaSet, named by its revision.
fn hashes(rss: &[Value]) -> Vec<(String, String)> {
    rss.iter()
        .map(|rs| {
            let hash = rs["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]
                .as_str()
                .unwrap()
                .to_string();
            let revision = rs["metadata"]["annotations"][REVISION_ANNOTATION]
                .as_str()
                .unwrap();
            (hash, format!("<hash of revision {revision}>"))
        })
        .collect()
}

fn by_revision(mut rss: Vec<Value>) -> Vec<Value> {
    rss.sort_by_key(|rs| {
        rs["metadata"]["annotations"][REVISION_ANNOTATION]
            .as_str()
            .unwrap()
            .to_string()
    });
    rss
}

/// The transcript's Deployment as first stored (the API server filled in the defaults).
fn recorded_deployment(t: &[Value]) -> Deployment {
    let mut d = t
        .iter()
        .find(|e| e["note"] == "create Deployment with 2 replicas")
        .unwrap()["response"]["body"]
        .clone();
    d["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    serde_json::from_value(d).unwrap()
}

fn cluster_at(t: &[Value]) -> MemoryCluster {
    let created: Timestamp = "2026-11-25T12:07:53Z".parse().unwrap();
    let mut cluster = MemoryCluster::new(WorkloadOptions::default(), created);
    cluster.kubelet = false; // as recorded: no scheduler, no kubelet
    let mut d = recorded_deployment(t);
    d.metadata.uid = None;
    d.metadata.resource_version = None;
    cluster.create_deployment(d).unwrap();
    cluster
}

fn ours(cluster: &MemoryCluster) -> (Value, Vec<Value>) {
    let d = serde_json::to_value(cluster.deployment(NS, "ctrl").unwrap()).unwrap();
    let rss = cluster
        .replica_sets_in(NS)
        .into_iter()
        .map(|rs| serde_json::to_value(rs).unwrap())
        .collect();
    (d, by_revision(rss))
}

fn theirs(t: &[Value], deployment_note: &str, rs_note: &str) -> (Value, Vec<Value>) {
    let rss = recorded(t, rs_note)["items"].as_array().unwrap().clone();
    (recorded(t, deployment_note), by_revision(rss))
}

fn assert_same(ours: (Value, Vec<Value>), theirs: (Value, Vec<Value>)) {
    let (our_hashes, their_hashes) = (hashes(&ours.1), hashes(&theirs.1));
    let (od, td) = (
        normalise(ours.0, &our_hashes),
        normalise(theirs.0, &their_hashes),
    );
    assert_eq!(od["status"], td["status"], "Deployment status");
    assert_eq!(
        od["metadata"]["annotations"], td["metadata"]["annotations"],
        "Deployment annotations"
    );
    let ors: Vec<Value> = ours
        .1
        .into_iter()
        .map(|v| normalise(v, &our_hashes))
        .collect();
    let trs: Vec<Value> = theirs
        .1
        .into_iter()
        .map(|v| normalise(v, &their_hashes))
        .collect();
    assert_eq!(ors.len(), trs.len(), "number of ReplicaSets");
    for (o, t) in ors.iter().zip(&trs) {
        assert_eq!(o["metadata"], t["metadata"], "ReplicaSet metadata");
        assert_eq!(o["spec"], t["spec"], "ReplicaSet spec");
        assert_eq!(o["status"], t["status"], "ReplicaSet status");
    }
}

#[test]
fn first_sync_creates_the_replica_set_kube_controller_manager_creates() {
    let t = transcript();
    let d = recorded_deployment(&t);
    let sync = deployment::reconcile(&d, &[], "2026-11-25T12:07:53Z".parse().unwrap()).unwrap();
    let Some(Write::CreateReplicaSet(rs)) = sync.writes.first() else {
        panic!(
            "expected a ReplicaSet to be created first, got {:?}",
            sync.writes
        );
    };
    let name = rs.metadata.name.as_deref().unwrap();
    let hash = name
        .strip_prefix("ctrl-")
        .expect("named <deployment>-<hash>");
    // The shape of Kubernetes' hashes: decimal digits of a u32 in the safe alphabet.
    assert!(
        (1..=10).contains(&hash.len()) && hash.chars().all(|c| "456789bcdf".contains(c)),
        "{hash}"
    );
    let recorded_rs = recorded(&t, "after create: poll 0 replicasets")["items"][0].clone();
    let ours = normalise(
        serde_json::to_value(rs).unwrap(),
        &[(hash.into(), "<hash>".into())],
    );
    let theirs = normalise(
        recorded_rs.clone(),
        &hashes(&[recorded_rs])[..1]
            .iter()
            .map(|(h, _)| (h.clone(), "<hash>".to_string()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(ours["metadata"]["labels"], theirs["metadata"]["labels"]);
    assert_eq!(
        ours["metadata"]["annotations"],
        theirs["metadata"]["annotations"]
    );
    assert_eq!(
        ours["metadata"]["ownerReferences"],
        theirs["metadata"]["ownerReferences"]
    );
    assert_eq!(ours["spec"], theirs["spec"]);
}

#[test]
fn the_pod_template_hash_is_stable_and_changes_with_the_template() {
    let t = transcript();
    let d = recorded_deployment(&t);
    let hash =
        |d: &Deployment| kube_memserver::workloads::hash::pod_template_hash(&d.spec.template, None);
    let mut changed = d.clone();
    changed.spec.template.spec.as_mut().unwrap().containers[0].image = Some("nginx:1.28".into());
    assert_eq!(hash(&d), hash(&d.clone()));
    assert_ne!(hash(&d), hash(&changed));
    let with_collision =
        kube_memserver::workloads::hash::pod_template_hash(&d.spec.template, Some(1));
    assert_ne!(
        hash(&d),
        with_collision,
        "collisionCount is part of the hash"
    );
}

#[test]
fn a_new_deployment_reaches_the_recorded_status_and_replica_set() {
    let t = transcript();
    let mut cluster = cluster_at(&t);
    cluster.settle().unwrap();
    assert_same(
        ours(&cluster),
        theirs(
            &t,
            "after create: poll 15 deployment",
            "after create: poll 15 replicasets",
        ),
    );
}

#[test]
fn the_replica_set_creates_pods_like_the_recorded_ones() {
    let t = transcript();
    let mut cluster = cluster_at(&t);
    cluster.settle().unwrap();
    let recorded_pods = recorded(
        &t,
        "pods created by the ReplicaSet (Pending forever: no scheduler/kubelet)",
    );
    let rs_name = |v: &Value| {
        v["metadata"]["ownerReferences"][0]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ours: Vec<Value> = cluster
        .pods_in(NS)
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    let theirs = recorded_pods["items"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(theirs) {
        let (oh, th) = (rs_name(o), rs_name(t));
        assert!(
            o["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{oh}-"))
        );
        let o = normalise(o.clone(), &[(oh.clone(), "<rs>".into())]);
        let t = normalise(t.clone(), &[(th.clone(), "<rs>".into())]);
        assert_eq!(o["metadata"]["generateName"], t["metadata"]["generateName"]);
        assert_eq!(
            o["metadata"]["labels"]["app"],
            t["metadata"]["labels"]["app"]
        );
        assert_eq!(
            o["metadata"]["ownerReferences"],
            t["metadata"]["ownerReferences"]
        );
        assert_eq!(
            o["spec"]["containers"][0]["image"],
            t["spec"]["containers"][0]["image"]
        );
        assert_eq!(o["status"], t["status"], "Pending with no kubelet");
    }
}

fn set_image(cluster: &mut MemoryCluster, image: &str) {
    cluster
        .edit_deployment(NS, "ctrl", |d| {
            d.spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.into())
        })
        .unwrap();
}

#[test]
fn an_image_change_creates_revision_2_and_keeps_the_unavailable_old_pods() {
    // maxSurge 25% of 2 rounds up to 1 pod; maxUnavailable rounds down to 0, so with no
    // pod available nothing old may go.
    let t = transcript();
    let mut cluster = cluster_at(&t);
    cluster.settle().unwrap();
    cluster.advance(Duration::from_secs(8));
    set_image(&mut cluster, "nginx:1.28");
    cluster.settle().unwrap();
    assert_same(
        ours(&cluster),
        theirs(
            &t,
            "after image change: poll 19 deployment",
            "after image change: poll 19 replicasets",
        ),
    );
    let d = cluster.deployment(NS, "ctrl").unwrap();
    let progressing = d
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        .unwrap();
    assert_eq!(
        progressing.last_update_time.as_ref().unwrap().0,
        "2026-11-25T12:08:01Z".parse().unwrap(),
        "progress moves lastUpdateTime"
    );
    assert_eq!(
        progressing.last_transition_time.as_ref().unwrap().0,
        "2026-11-25T12:07:53Z".parse().unwrap(),
        "still True: no transition"
    );
}

#[test]
fn pausing_then_changing_the_image_makes_no_replica_set_and_reports_deployment_paused() {
    let t = transcript();
    let mut cluster = cluster_at(&t);
    cluster.settle().unwrap();
    cluster.advance(Duration::from_secs(8));
    set_image(&mut cluster, "nginx:1.28");
    cluster.settle().unwrap();
    cluster.advance(Duration::from_secs(10));
    cluster
        .edit_deployment(NS, "ctrl", |d| d.spec.paused = Some(true))
        .unwrap();
    set_image(&mut cluster, "nginx:1.29");
    // First the condition alone, with the old observedGeneration, as recorded in between.
    cluster.round().unwrap();
    let first = normalise(
        serde_json::to_value(cluster.deployment(NS, "ctrl").unwrap()).unwrap(),
        &[],
    );
    let between = normalise(
        recorded(&t, "change image while paused -> no new ReplicaSet"),
        &[],
    );
    let strip_hashes = |v: &Value| {
        v["status"]
            .to_string()
            .split('"')
            .filter(|s| !s.starts_with("ctrl-"))
            .collect::<String>()
    };
    assert_eq!(strip_hashes(&first), strip_hashes(&between));
    cluster.settle().unwrap();
    assert_same(
        ours(&cluster),
        theirs(
            &t,
            "while paused: poll 9 deployment",
            "while paused: poll 9 replicasets",
        ),
    );
    let d = cluster.deployment(NS, "ctrl").unwrap();
    let progressing = d
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        .unwrap();
    assert_eq!(
        progressing.last_transition_time.as_ref().unwrap().0,
        "2026-11-25T12:08:11Z".parse().unwrap(),
        "Unknown since the pause"
    );
}

#[test]
fn replica_sets_of_other_owners_are_left_alone() {
    let t = transcript();
    let d = recorded_deployment(&t);
    let mut foreign: ReplicaSet = serde_json::from_value(
        recorded(&t, "after create: poll 15 replicasets")["items"][0].clone(),
    )
    .unwrap();
    foreign.metadata.owner_references.as_mut().unwrap()[0].uid = "someone-else".into();
    let sync =
        deployment::reconcile(&d, &[foreign], "2026-11-25T12:07:53Z".parse().unwrap()).unwrap();
    assert!(
        sync.writes.iter().all(|w| !matches!(
            w,
            Write::ReplaceReplicaSet(_) | Write::DeleteReplicaSet { .. }
        )),
        "{:?}",
        sync.writes
    );
    assert!(matches!(
        sync.writes.first(),
        Some(Write::CreateReplicaSet(_))
    ));
}
