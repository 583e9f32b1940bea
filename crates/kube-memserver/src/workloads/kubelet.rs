//! A simulated scheduler and kubelet, as a pure core: a pod's status is a function of its
//! creation time, its image's behaviour and the time. Pods start after `start_delay`,
//! become Ready `readiness_delay` later, or fail: a crash loop (the container exits, backs
//! off 10 s doubling to 5 min, `restartCount` goes up, never Ready), or never Ready (a
//! readiness probe that never passes). Pod IPs are labels (`10.244.x.y`), never dialled.
//! Known differences: no `spec.nodeName` binding (there is no node object), no probes,
//! no volumes; a deleted pod is confirmed gone at once (no grace period).

use super::access;
use super::hash::fnv1a_32;
use super::writes::Write;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// The address every simulated pod reports as its node's.
pub const HOST_IP: &str = "172.18.0.2";
const BACKOFF_START: i64 = 10;
const BACKOFF_CAP: i64 = 300;

/// How a failing image misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// The container exits `runs_for` after each start and is restarted with back-off.
    CrashLoop { runs_for: Duration },
    /// The container runs, its readiness probe never passes.
    NeverReady,
}

/// The life of one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodBehaviour {
    pub start_delay: Duration,
    pub readiness_delay: Duration,
    pub failure: Option<FailureMode>,
}

/// What the kubelet writes for one pod, and when it looks again.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeletSync {
    pub write: Option<Write>,
    pub requeue_after: Option<Duration>,
}

fn at(t: Timestamp, d: Duration) -> Timestamp {
    t.saturating_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
        .expect("adding a duration to a timestamp saturates")
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(s.max(0) as u64)
}

/// `10.244.x.y` from the pod's uid (or name): stable across restarts of the simulator.
pub fn pod_ip(pod: &Pod) -> String {
    let key = pod
        .metadata
        .uid
        .as_deref()
        .unwrap_or(access::name(&pod.metadata));
    let h = fnv1a_32(key.as_bytes());
    format!("10.244.{}.{}", (h >> 8) & 0xff, 2 + (h & 0xff) % 253)
}

/// The state of the containers at `now`: (state, last state, restarts, ready), and when it
/// changes next.
fn container_state(
    started: Timestamp,
    b: &PodBehaviour,
    now: Timestamp,
) -> (
    ContainerState,
    Option<ContainerState>,
    i32,
    bool,
    Option<Timestamp>,
) {
    let running = |since: Timestamp| ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(Time(since)),
        }),
        ..ContainerState::default()
    };
    match b.failure {
        None => {
            let ready_at = at(started, b.readiness_delay);
            let next = (now < ready_at).then_some(ready_at);
            (running(started), None, 0, now >= ready_at, next)
        }
        Some(FailureMode::NeverReady) => (running(started), None, 0, false, None),
        Some(FailureMode::CrashLoop { runs_for }) => {
            let runs_for = runs_for.as_secs().max(1) as i64;
            let (mut start, mut restarts) = (started.as_second(), 0);
            let mut last = None;
            loop {
                let end = start + runs_for;
                let terminated = ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 1,
                        reason: Some("Error".into()),
                        started_at: Some(Time(Timestamp::from_second(start).expect("valid"))),
                        finished_at: Some(Time(Timestamp::from_second(end).expect("valid"))),
                        ..ContainerStateTerminated::default()
                    }),
                    ..ContainerState::default()
                };
                let ts = |s: i64| Timestamp::from_second(s).expect("valid");
                if now.as_second() < end {
                    return (running(ts(start)), last, restarts, false, Some(ts(end)));
                }
                let backoff = (BACKOFF_START << restarts.min(5)).min(BACKOFF_CAP);
                let restart = end + backoff;
                if now.as_second() < restart {
                    let waiting = ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("CrashLoopBackOff".into()),
                            message: Some(format!(
                                "back-off {backoff}s restarting failed container"
                            )),
                        }),
                        ..ContainerState::default()
                    };
                    return (
                        waiting,
                        Some(terminated),
                        restarts,
                        false,
                        Some(ts(restart)),
                    );
                }
                last = Some(terminated);
                restarts += 1;
                start = restart;
            }
        }
    }
}

fn condition(
    type_: &str,
    ok: bool,
    since: Timestamp,
    reason: Option<&str>,
    message: Option<String>,
) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        last_transition_time: Some(Time(since)),
        reason: reason.map(str::to_string),
        message,
        ..PodCondition::default()
    }
}

/// The status the kubelet reports for `pod` at `now`.
pub fn status_at(pod: &Pod, b: &PodBehaviour, now: Timestamp) -> (PodStatus, Option<Timestamp>) {
    let created = access::created_at(&pod.metadata).unwrap_or(now);
    let created = access::whole_seconds(created);
    let started = at(created, b.start_delay);
    let containers: Vec<_> = pod.spec.iter().flat_map(|s| s.containers.iter()).collect();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let qos = pod.status.as_ref().and_then(|s| s.qos_class.clone());
    let mut status = PodStatus {
        qos_class: qos,
        host_ip: Some(HOST_IP.into()),
        host_ips: Some(vec![HostIP { ip: HOST_IP.into() }]),
        start_time: Some(Time(created)),
        ..PodStatus::default()
    };
    let unready = format!("containers with unready status: [{}]", names.join(" "));
    if now < started {
        let waiting = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".into()),
                message: None,
            }),
            ..ContainerState::default()
        };
        status.phase = Some("Pending".into());
        status.conditions = Some(vec![
            condition("PodReadyToStartContainers", false, created, None, None),
            condition("Initialized", true, created, None, None),
            condition(
                "Ready",
                false,
                created,
                Some("ContainersNotReady"),
                Some(unready.clone()),
            ),
            condition(
                "ContainersReady",
                false,
                created,
                Some("ContainersNotReady"),
                Some(unready),
            ),
            condition("PodScheduled", true, created, None, None),
        ]);
        status.container_statuses = Some(
            containers
                .iter()
                .map(|c| ContainerStatus {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    state: Some(waiting.clone()),
                    ..ContainerStatus::default()
                })
                .collect(),
        );
        return (status, Some(started));
    }
    let (state, last_state, restarts, ready, next) = container_state(started, b, now);
    let ready_since = if ready {
        at(started, b.readiness_delay)
    } else {
        started
    };
    let ip = pod_ip(pod);
    status.phase = Some("Running".into());
    status.pod_ip = Some(ip.clone());
    status.pod_ips = Some(vec![PodIP { ip }]);
    let (reason, message) = if ready {
        (None, None)
    } else {
        (Some("ContainersNotReady"), Some(unready))
    };
    status.conditions = Some(vec![
        condition("PodReadyToStartContainers", true, started, None, None),
        condition("Initialized", true, created, None, None),
        condition("Ready", ready, ready_since, reason, message.clone()),
        condition("ContainersReady", ready, ready_since, reason, message),
        condition("PodScheduled", true, created, None, None),
    ]);
    let is_running = state.running.is_some();
    status.container_statuses = Some(
        containers
            .iter()
            .map(|c| ContainerStatus {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                image_id: c.image.clone().unwrap_or_default(),
                ready,
                started: Some(is_running),
                restart_count: restarts,
                state: Some(state.clone()),
                last_state: last_state.clone(),
                ..ContainerStatus::default()
            })
            .collect(),
    );
    (status, next)
}

/// One look at `pod`: its status brought up to date, or a deleted pod confirmed gone.
pub fn reconcile(pod: &Pod, behaviour: &PodBehaviour, now: Timestamp) -> KubeletSync {
    if pod.metadata.deletion_timestamp.is_some() {
        return KubeletSync {
            write: Some(Write::DeletePod {
                namespace: access::namespace(&pod.metadata).to_string(),
                name: access::name(&pod.metadata).to_string(),
                grace_period_seconds: Some(0),
            }),
            requeue_after: None,
        };
    }
    let (status, next) = status_at(pod, behaviour, now);
    let write = (pod.status.as_ref() != Some(&status)).then(|| {
        let mut updated = pod.clone();
        updated.status = Some(status);
        Write::ReplacePodStatus(updated)
    });
    let requeue_after =
        next.map(|t| secs(t.as_second() - now.as_second()).max(Duration::from_secs(1)));
    KubeletSync {
        write,
        requeue_after,
    }
}
