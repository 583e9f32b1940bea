//! The data plane over pods the simulated controllers run: a stable and a canary
//! Deployment behind one Service. Traffic reaches canary pods only once they are Ready,
//! then in proportion to the ready pods, and a buggy canary fails only its own logins.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::jiff::Timestamp;
use kube_memserver::workloads::WorkloadOptions;
use kube_memserver::workloads::memory::MemoryCluster;
use portcullis::lab::dataplane::{
    AuthBehaviour, Bursts, DataPlaneMetrics, Population, Snapshot, TrafficModel,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use std::time::Duration;

const NS: &str = "shop";

fn deployment(name: &str, track: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "auth", "track": track}},
            "template": {
                "metadata": {"labels": {"app": "auth", "track": track}},
                "spec": {"containers": [{"name": "auth", "image": image}]}
            }
        }
    }))
    .unwrap()
}

fn snapshot(c: &MemoryCluster) -> Snapshot {
    let service: Service =
        serde_json::from_value(json!({"metadata": {"name": "auth", "namespace": NS}, "spec": {"selector": {"app": "auth"}}})).unwrap();
    let pods: Vec<Pod> = c.pods_in(NS).into_iter().cloned().collect();
    Snapshot::from_objects(&pods, &[service], &[])
}

#[test]
fn canary_traffic_follows_its_ready_pods_and_its_bug_stays_on_them() {
    let options = WorkloadOptions {
        start_delay: Duration::from_secs(1),
        readiness_delay: Duration::from_secs(1),
        failures: vec![],
    };
    let mut c = MemoryCluster::new(
        options,
        "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap(),
    );
    c.create_deployment(deployment("auth-stable", "stable", "auth:1", 4))
        .unwrap();
    c.run_for(Duration::from_secs(5), Duration::from_secs(1), |_| {})
        .unwrap();
    c.create_deployment(deployment("auth-canary", "canary", "auth:2", 1))
        .unwrap();
    c.settle().unwrap();

    let model = TrafficModel {
        namespace: NS.into(),
        service: "auth".into(),
        population: Population {
            users: 500,
            staff: 0,
            canary_header: ("x-canary".into(), "true".into()),
        },
        releases: vec!["auth:2=baseline:0,bug:1.0".parse().unwrap()],
        default: AuthBehaviour {
            baseline: 0.0,
            ..AuthBehaviour::default()
        },
        bursts: Bursts::default(),
    };
    let metrics = DataPlaneMetrics::new();
    let mut rng = StdRng::seed_from_u64(3);
    let before = model.serve_many(&snapshot(&c), &metrics, 2_000, &mut rng);
    assert!(
        before.iter().all(|s| s.image == "auth:1"),
        "the canary pod is not Ready yet"
    );

    c.run_for(Duration::from_secs(3), Duration::from_secs(1), |_| {})
        .unwrap();
    let after = model.serve_many(&snapshot(&c), &metrics, 20_000, &mut rng);
    let canary: Vec<_> = after.iter().filter(|s| s.image == "auth:2").collect();
    let share = canary.len() as f64 / after.len() as f64;
    let se = (0.2f64 * 0.8 / after.len() as f64).sqrt();
    assert!(
        (share - 0.2).abs() < 4.0 * se,
        "canary share {share:.4}, 1 of 5 ready pods"
    );
    assert!(
        canary.iter().all(|s| s.code == 401),
        "the bug fails every canary login"
    );
    assert!(
        after
            .iter()
            .filter(|s| s.image == "auth:1")
            .all(|s| s.code == 200),
        "and no stable one"
    );
    let canary_pod = &canary[0].pod;
    assert!(canary_pod.starts_with("auth-canary-"), "{canary_pod}");
    assert_eq!(metrics.logins(NS, canary_pod, false), canary.len() as u64);
}
