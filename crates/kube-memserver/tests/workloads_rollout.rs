//! Rollouts on the in-memory cluster with the simulated kubelet: rolling updates within
//! `maxSurge` / `maxUnavailable` at every step, paused and resumed Deployments, pods that
//! never become ready and the progress deadline, crash loops.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube_memserver::workloads::deployment::REVISION_ANNOTATION;
use kube_memserver::workloads::kubelet::FailureMode;
use kube_memserver::workloads::memory::MemoryCluster;
use kube_memserver::workloads::{ImageFailure, WorkloadOptions, deployment};
use serde_json::json;
use std::time::Duration;

const NS: &str = "shop";

fn deployment(
    replicas: i32,
    surge: IntOrString,
    unavailable: IntOrString,
    image: &str,
) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "auth", "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "auth"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "progressDeadlineSeconds": 30,
            "template": {
                "metadata": {"labels": {"app": "auth"}},
                "spec": {"containers": [{"name": "auth", "image": image}]}
            }
        }
    }))
    .unwrap()
}

fn cluster(options: WorkloadOptions) -> MemoryCluster {
    MemoryCluster::new(
        options,
        "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap(),
    )
}

fn fast() -> WorkloadOptions {
    WorkloadOptions {
        start_delay: Duration::from_secs(1),
        readiness_delay: Duration::from_secs(1),
        failures: Vec::new(),
    }
}

fn condition(c: &MemoryCluster, type_: &str) -> DeploymentCondition {
    let d = c.deployment(NS, "auth").unwrap();
    let conditions = d.status.as_ref().unwrap().conditions.as_ref().unwrap();
    conditions
        .iter()
        .find(|c| c.type_.as_deref() == Some(type_))
        .unwrap()
        .clone()
}

fn reason(c: &DeploymentCondition) -> (&str, &str) {
    (c.status.as_deref().unwrap(), c.reason.as_deref().unwrap())
}

fn set_image(c: &mut MemoryCluster, image: &str) {
    c.edit_deployment(NS, "auth", |d| {
        d.spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.into())
    })
    .unwrap();
}

/// Ready pods not being deleted, per image.
fn ready_pods(c: &MemoryCluster, image: Option<&str>) -> usize {
    c.pods_in(NS)
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            image.is_none_or(|i| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some(i))
        })
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .count()
}

fn rs_replicas(c: &MemoryCluster) -> Vec<i32> {
    c.replica_sets_in(NS)
        .iter()
        .map(|rs| rs.spec.replicas.unwrap())
        .collect()
}

fn rolls_out_within_bounds(
    replicas: i32,
    surge: IntOrString,
    unavailable: IntOrString,
    max_total: i32,
    min_ready: i32,
) {
    let mut c = cluster(fast());
    c.create_deployment(deployment(replicas, surge, unavailable, "auth:1"))
        .unwrap();
    c.run_for(Duration::from_secs(5), Duration::from_secs(1), |_| {})
        .unwrap();
    assert_eq!(
        ready_pods(&c, Some("auth:1")),
        replicas as usize,
        "first rollout completes"
    );
    set_image(&mut c, "auth:2");
    let mut steps = 0;
    c.run_for(Duration::from_secs(60), Duration::from_secs(1), |c| {
        steps += 1;
        let total: i32 = rs_replicas(c).iter().sum();
        assert!(
            total <= max_total,
            "{total} pods wanted, more than replicas + maxSurge = {max_total}: {:?}",
            rs_replicas(c)
        );
        let ready = ready_pods(c, None) as i32;
        assert!(
            ready >= min_ready,
            "{ready} ready, fewer than replicas - maxUnavailable = {min_ready}"
        );
    })
    .unwrap();
    assert!(steps > 3, "the rollout took several steps");
    assert_eq!(
        ready_pods(&c, Some("auth:2")),
        replicas as usize,
        "all pods run the new image"
    );
    assert_eq!(
        rs_replicas(&c),
        vec![0, replicas],
        "old ReplicaSet scaled to zero, new one to the full size"
    );
    assert_eq!(
        reason(&condition(&c, "Progressing")),
        ("True", "NewReplicaSetAvailable")
    );
    assert_eq!(
        reason(&condition(&c, "Available")),
        ("True", "MinimumReplicasAvailable")
    );
}

#[test]
fn rolling_update_with_percentages_rounds_surge_up_and_unavailable_down() {
    // 25% of 10: surge ceil(2.5) = 3, unavailable floor(2.5) = 2.
    rolls_out_within_bounds(
        10,
        IntOrString::String("25%".into()),
        IntOrString::String("25%".into()),
        13,
        8,
    );
}

#[test]
fn rolling_update_with_absolute_surge_and_no_unavailability() {
    rolls_out_within_bounds(4, IntOrString::Int(1), IntOrString::Int(0), 5, 4);
}

#[test]
fn rolling_update_without_surge_replaces_pods_one_at_a_time() {
    rolls_out_within_bounds(3, IntOrString::Int(0), IntOrString::Int(1), 3, 2);
}

#[test]
fn both_fenceposts_rounding_to_zero_still_let_the_rollout_move() {
    // 10% of 3 pods: surge rounds up to 1, unavailable down to 0.
    rolls_out_within_bounds(
        3,
        IntOrString::String("10%".into()),
        IntOrString::String("10%".into()),
        4,
        3,
    );
    // 0% and 0% resolve to maxUnavailable 1 (ResolveFenceposts).
    rolls_out_within_bounds(
        2,
        IntOrString::String("0%".into()),
        IntOrString::String("0%".into()),
        2,
        1,
    );
}

#[test]
fn a_paused_deployment_scales_without_rolling_out_and_rolls_out_when_resumed() {
    let mut c = cluster(fast());
    c.create_deployment(deployment(
        2,
        IntOrString::Int(1),
        IntOrString::Int(0),
        "auth:1",
    ))
    .unwrap();
    c.run_for(Duration::from_secs(5), Duration::from_secs(1), |_| {})
        .unwrap();
    c.edit_deployment(NS, "auth", |d| d.spec.paused = Some(true))
        .unwrap();
    set_image(&mut c, "auth:2");
    c.edit_deployment(NS, "auth", |d| d.spec.replicas = Some(4))
        .unwrap();
    c.run_for(Duration::from_secs(40), Duration::from_secs(1), |_| {})
        .unwrap();
    assert_eq!(rs_replicas(&c), vec![4], "scaled, no new ReplicaSet");
    assert_eq!(ready_pods(&c, Some("auth:1")), 4);
    let progressing = condition(&c, "Progressing");
    assert_eq!(
        reason(&progressing),
        ("Unknown", "DeploymentPaused"),
        "and no timeout while paused"
    );
    assert_eq!(progressing.message.as_deref(), Some("Deployment is paused"));

    c.edit_deployment(NS, "auth", |d| d.spec.paused = None)
        .unwrap();
    c.settle().unwrap();
    assert_eq!(
        c.replica_sets_in(NS).len(),
        2,
        "resuming creates the new ReplicaSet"
    );
    c.run_for(Duration::from_secs(30), Duration::from_secs(1), |_| {})
        .unwrap();
    assert_eq!(rs_replicas(&c), vec![0, 4]);
    assert_eq!(ready_pods(&c, Some("auth:2")), 4);
    let d = c.deployment(NS, "auth").unwrap();
    assert_eq!(
        d.metadata.annotations.as_ref().unwrap()[REVISION_ANNOTATION],
        "2"
    );
    let progressing = condition(&c, "Progressing");
    assert_eq!(reason(&progressing), ("True", "NewReplicaSetAvailable"));
    let new_rs = c.replica_sets_in(NS)[1].metadata.name.clone().unwrap();
    assert_eq!(
        progressing.message.unwrap(),
        format!("ReplicaSet \"{new_rs}\" has successfully progressed.")
    );
}

#[test]
fn resuming_records_deployment_resumed_before_anything_else() {
    let mut c = cluster(fast());
    c.create_deployment(deployment(
        1,
        IntOrString::Int(1),
        IntOrString::Int(0),
        "auth:1",
    ))
    .unwrap();
    c.run_for(Duration::from_secs(3), Duration::from_secs(1), |_| {})
        .unwrap();
    c.edit_deployment(NS, "auth", |d| d.spec.paused = Some(true))
        .unwrap();
    c.settle().unwrap();
    c.edit_deployment(NS, "auth", |d| d.spec.paused = Some(false))
        .unwrap();
    let d = c.deployment(NS, "auth").unwrap().clone();
    // The template did not change: resuming alone changes only the condition.
    let sync = deployment::reconcile(
        &d,
        &c.replica_sets_in(NS)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>(),
        c.now(),
    )
    .unwrap();
    let status = sync.writes.iter().find_map(|w| match w {
        kube_memserver::workloads::Write::ReplaceDeploymentStatus(d) => d.status.clone(),
        _ => None,
    });
    let progressing = status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        .unwrap();
    assert_eq!(reason(&progressing), ("Unknown", "DeploymentResumed"));
    assert_eq!(
        progressing.message.as_deref(),
        Some("Deployment is resumed")
    );
}

#[test]
fn pods_that_never_become_ready_exceed_the_progress_deadline() {
    let options = WorkloadOptions {
        failures: vec![ImageFailure {
            image: "auth:broken".into(),
            mode: FailureMode::NeverReady,
        }],
        ..fast()
    };
    let mut c = cluster(options);
    c.create_deployment(deployment(
        3,
        IntOrString::Int(1),
        IntOrString::Int(0),
        "auth:1",
    ))
    .unwrap();
    c.run_for(Duration::from_secs(5), Duration::from_secs(1), |_| {})
        .unwrap();
    set_image(&mut c, "auth:broken");
    c.run_for(Duration::from_secs(25), Duration::from_secs(1), |_| {})
        .unwrap();
    assert_eq!(
        reason(&condition(&c, "Progressing")),
        ("True", "ReplicaSetUpdated"),
        "within the 30 s deadline"
    );
    // The controller asks to be woken just after the deadline, with nothing else changing.
    let d = c.deployment(NS, "auth").unwrap().clone();
    let rss: Vec<_> = c.replica_sets_in(NS).into_iter().cloned().collect();
    let after = deployment::reconcile(&d, &rss, c.now())
        .unwrap()
        .requeue_after
        .unwrap();
    assert!(
        after > Duration::ZERO && after <= Duration::from_secs(10),
        "{after:?}"
    );
    c.run_for(Duration::from_secs(10), Duration::from_secs(1), |_| {})
        .unwrap();
    let progressing = condition(&c, "Progressing");
    assert_eq!(reason(&progressing), ("False", "ProgressDeadlineExceeded"));
    let new_rs = c.replica_sets_in(NS)[1].metadata.name.clone().unwrap();
    assert_eq!(
        progressing.message.unwrap(),
        format!("ReplicaSet \"{new_rs}\" has timed out progressing.")
    );
    let status = c.deployment(NS, "auth").unwrap().status.clone().unwrap();
    assert_eq!(
        status.available_replicas,
        Some(3),
        "only the old pods are available"
    );
    assert_eq!(
        status.updated_replicas,
        Some(1),
        "one surge pod, never ready, blocks the rollout"
    );
    assert_eq!(ready_pods(&c, Some("auth:broken")), 0);
}

#[test]
fn a_crash_looping_image_restarts_with_back_off_and_is_never_ready() {
    let options = WorkloadOptions {
        failures: vec![ImageFailure {
            image: "auth:crash".into(),
            mode: FailureMode::CrashLoop {
                runs_for: Duration::from_secs(2),
            },
        }],
        ..fast()
    };
    let mut c = cluster(options);
    c.create_deployment(deployment(
        1,
        IntOrString::Int(1),
        IntOrString::Int(0),
        "auth:crash",
    ))
    .unwrap();
    // Starts at 1 s, exits at 3 s; back-off 10 s, 20 s, 40 s: restarts at 13 s, 35 s, 77 s.
    let mut restarts = Vec::new();
    c.run_for(Duration::from_secs(80), Duration::from_secs(1), |c| {
        let Some(pod) = c.pods_in(NS).into_iter().next() else {
            return;
        };
        let cs = &pod
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .map(|v| v[0].clone());
        if let Some(cs) = cs {
            assert!(!cs.ready);
            if restarts.last() != Some(&cs.restart_count) {
                restarts.push(cs.restart_count);
            }
        }
    })
    .unwrap();
    assert_eq!(restarts, vec![0, 1, 2, 3]);
    let status = c.pods_in(NS)[0].status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(
        c.deployment(NS, "auth")
            .unwrap()
            .status
            .as_ref()
            .unwrap()
            .available_replicas,
        None
    );
}
