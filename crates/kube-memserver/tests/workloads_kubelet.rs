//! The simulated kubelet's view of one pod over time: Pending while its container is
//! created, Running with an IP, Ready after the readiness delay; never Ready when told so;
//! a pod being deleted is confirmed gone.

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube_memserver::workloads::Write;
use kube_memserver::workloads::kubelet::{self, FailureMode, PodBehaviour};
use serde_json::json;
use std::time::Duration;

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "auth-5d8f-abcde", "namespace": "shop", "uid": "p-1", "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"containers": [{"name": "auth", "image": "auth:1"}]},
        "status": {"phase": "Pending", "qosClass": "BestEffort"}
    }))
    .unwrap()
}

fn at(seconds: i64) -> Timestamp {
    "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(seconds)
}

const HEALTHY: PodBehaviour = PodBehaviour {
    start_delay: Duration::from_secs(1),
    readiness_delay: Duration::from_secs(2),
    failure: None,
};

fn condition(status: &PodStatus, type_: &str) -> (String, Option<String>) {
    let c = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .unwrap();
    (c.status.clone(), c.reason.clone())
}

fn look(pod: &Pod, b: &PodBehaviour, t: i64) -> (PodStatus, Option<Duration>) {
    let sync = kubelet::reconcile(pod, b, at(t));
    let Some(Write::ReplacePodStatus(p)) = sync.write else {
        panic!("a status write, got {:?}", sync.write)
    };
    (p.status.unwrap(), sync.requeue_after)
}

#[test]
fn a_healthy_pod_goes_pending_running_ready() {
    let (status, next) = look(&pod(), &HEALTHY, 0);
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    assert_eq!(status.pod_ip, None);
    assert_eq!(
        status.qos_class.as_deref(),
        Some("BestEffort"),
        "kept from the API server"
    );
    assert_eq!(condition(&status, "PodScheduled").0, "True");
    let waiting = status.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ContainerCreating"));
    assert_eq!(
        next,
        Some(Duration::from_secs(1)),
        "look again when the container starts"
    );

    let (status, next) = look(&pod(), &HEALTHY, 1);
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let ip = status.pod_ip.clone().unwrap();
    let octets: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap()).collect();
    assert_eq!(&octets[..2], &[10, 244], "{ip}");
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), Some("ContainersNotReady".into()))
    );
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [auth]")
    );
    assert_eq!(next, Some(Duration::from_secs(2)));

    let (status, next) = look(&pod(), &HEALTHY, 3);
    assert_eq!(condition(&status, "Ready"), ("True".into(), None));
    assert_eq!(condition(&status, "ContainersReady").0, "True");
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.last_transition_time.as_ref().unwrap().0, at(3));
    assert!(status.container_statuses.unwrap()[0].ready);
    assert_eq!(next, None, "nothing more happens");
    assert_eq!(kubelet::pod_ip(&pod()), ip, "the IP is stable");
}

#[test]
fn an_up_to_date_status_is_not_written_again() {
    let mut p = pod();
    p.status = Some(look(&pod(), &HEALTHY, 5).0);
    assert_eq!(kubelet::reconcile(&p, &HEALTHY, at(60)).write, None);
}

#[test]
fn a_never_ready_pod_runs_and_stays_unready() {
    let b = PodBehaviour {
        failure: Some(FailureMode::NeverReady),
        ..HEALTHY
    };
    let (status, next) = look(&pod(), &b, 3600);
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(condition(&status, "Ready").0, "False");
    assert_eq!(next, None);
}

#[test]
fn a_pod_being_deleted_is_confirmed_gone() {
    let mut p = pod();
    p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
    let sync = kubelet::reconcile(&p, &HEALTHY, at(10));
    assert_eq!(
        sync.write,
        Some(Write::DeletePod {
            namespace: "shop".into(),
            name: "auth-5d8f-abcde".into(),
            grace_period_seconds: Some(0)
        })
    );
}
