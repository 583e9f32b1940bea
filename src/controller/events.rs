//! Kubernetes Events for the engine's transitions. An event that cannot be written is
//! logged and dropped: it never holds up a rollback.

use crate::api::Rollout;
use crate::engine::{Event, EventType};
use kube::Resource;
use kube::runtime::events::{Event as KubeEvent, EventType as KubeType, Recorder, Reporter};

pub fn reporter() -> Reporter {
    Reporter {
        controller: "portcullis".into(),
        instance: std::env::var("POD_NAME").ok().or_else(|| hostname().ok()),
    }
}

fn hostname() -> std::io::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string())
}

pub async fn publish(recorder: &Recorder, ro: &Rollout, events: &[Event]) {
    let reference = ro.object_ref(&());
    for e in events {
        let ev = KubeEvent {
            type_: match e.type_ {
                EventType::Normal => KubeType::Normal,
                EventType::Warning => KubeType::Warning,
            },
            reason: e.reason.clone(),
            note: Some(truncate(&e.message, 1000)),
            action: e.reason.clone(),
            secondary: None,
        };
        if let Err(err) = recorder.publish(&ev, &reference).await {
            tracing::warn!(reason = %e.reason, error = %err, "could not write event");
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// An Event about the user's Deployment (what deleting its Rollout did to it).
pub async fn about_workload(
    recorder: &Recorder,
    deployment: &k8s_openapi::api::apps::v1::Deployment,
    warning: bool,
    reason: &str,
    note: &str,
) {
    let ev = KubeEvent {
        type_: if warning {
            KubeType::Warning
        } else {
            KubeType::Normal
        },
        reason: reason.into(),
        note: Some(truncate(note, 1000)),
        action: reason.into(),
        secondary: None,
    };
    if let Err(err) = recorder.publish(&ev, &deployment.object_ref(&())).await {
        tracing::warn!(%reason, error = %err, "could not write event");
    }
}
