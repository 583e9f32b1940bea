//! The data plane model: where simulated logins go (Service endpoints, HTTPRoute weights
//! and header matches) and how each release answers them, with a seeded random source.

use k8s_openapi::api::core::v1::{Pod, Service};
use portcullis::lab::dataplane::routing::{self, Unrouted};
use portcullis::lab::dataplane::{
    AuthBehaviour, Bursts, DataPlaneMetrics, Population, Release, Snapshot, TrafficModel,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

const NS: &str = "shop";

fn pod(name: &str, track: &str, image: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "auth", "track": track}},
        "spec": {"containers": [{"name": "auth", "image": image}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    }))
    .unwrap()
}

fn service(name: &str, selector: Value) -> Service {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": NS}, "spec": {"selector": selector}}),
    )
    .unwrap()
}

/// 4 stable pods, 1 ready canary pod and 1 canary pod that is not ready.
fn cluster(routes: &[Value]) -> Snapshot {
    let pods = vec![
        pod("auth-stable-1", "stable", "auth:1", true),
        pod("auth-stable-2", "stable", "auth:1", true),
        pod("auth-stable-3", "stable", "auth:1", true),
        pod("auth-stable-4", "stable", "auth:1", true),
        pod("auth-canary-1", "canary", "auth:2", true),
        pod("auth-canary-2", "canary", "auth:2", false),
    ];
    let services = vec![
        service("auth", json!({"app": "auth"})),
        service("auth-stable", json!({"app": "auth", "track": "stable"})),
        service("auth-canary", json!({"app": "auth", "track": "canary"})),
    ];
    Snapshot::from_objects(&pods, &services, routes)
}

fn model(service: &str, releases: Vec<Release>) -> TrafficModel {
    TrafficModel {
        namespace: NS.into(),
        service: service.into(),
        population: Population {
            users: 1000,
            staff: 50,
            canary_header: ("X-Canary".into(), "true".into()),
        },
        releases,
        default: AuthBehaviour {
            baseline: 0.02,
            ..AuthBehaviour::default()
        },
        bursts: Bursts::default(),
    }
}

fn route(weights: (u32, u32)) -> Value {
    json!({
        "metadata": {"name": "auth", "namespace": NS, "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"name": "x-canary", "value": "true"}]}],
             "backendRefs": [{"name": "auth-canary", "port": 80}]},
            {"backendRefs": [{"name": "auth-stable", "port": 80, "weight": weights.0}, {"name": "auth-canary", "port": 80, "weight": weights.1}]}
        ]}
    })
}

/// `|observed - expected| < 4 standard errors` of a share estimated from `n` draws.
fn assert_share(observed: usize, n: usize, expected: f64) {
    let share = observed as f64 / n as f64;
    let se = (expected * (1.0 - expected) / n as f64).sqrt();
    assert!(
        (share - expected).abs() < 4.0 * se + 1e-9,
        "share {share:.4}, expected {expected} ± {:.4}",
        4.0 * se
    );
}

#[test]
fn behind_a_service_the_canary_gets_its_share_of_ready_pods() {
    // kube-proxy spreads connections evenly over ready endpoints; unready pods get none.
    let snapshot = cluster(&[]);
    let metrics = DataPlaneMetrics::new();
    let served = model("auth", vec![]).serve_many(
        &snapshot,
        &metrics,
        20_000,
        &mut StdRng::seed_from_u64(7),
    );
    assert_eq!(served.len(), 20_000);
    assert_share(
        served.iter().filter(|s| s.image == "auth:2").count(),
        served.len(),
        0.2,
    );
    assert!(
        served.iter().all(|s| s.pod != "auth-canary-2"),
        "a pod that is not ready gets no traffic"
    );
}

#[test]
fn an_httproute_splits_by_weight_and_sends_canary_header_traffic_to_the_canary() {
    // Gateway API: the rule with a header match takes precedence over the catch-all rule;
    // backendRefs share traffic in proportion to their weights.
    let snapshot = cluster(&[route((90, 10))]);
    let metrics = DataPlaneMetrics::new();
    let m = model("auth-stable", vec![]);
    let served = m.serve_many(&snapshot, &metrics, 40_000, &mut StdRng::seed_from_u64(11));
    let (staff, others): (Vec<_>, Vec<_>) =
        served.iter().partition(|s| s.user < m.population.staff);
    assert!(!staff.is_empty());
    assert!(
        staff.iter().all(|s| s.image == "auth:2"),
        "x-canary: true always reaches the canary"
    );
    assert_share(
        others.iter().filter(|s| s.image == "auth:2").count(),
        others.len(),
        0.1,
    );
}

#[test]
fn route_weights_of_zero_send_no_traffic_and_all_zero_is_unrouted() {
    let snapshot = cluster(&[route((100, 0))]);
    let metrics = DataPlaneMetrics::new();
    let m = TrafficModel {
        population: Population {
            staff: 0,
            ..model("auth", vec![]).population
        },
        ..model("auth-stable", vec![])
    };
    let served = m.serve_many(&snapshot, &metrics, 5_000, &mut StdRng::seed_from_u64(3));
    assert!(served.iter().all(|s| s.image == "auth:1"));
    let snapshot = cluster(&[route((0, 0))]);
    let req = m.request(&mut StdRng::seed_from_u64(1));
    let got = routing::route(
        &snapshot,
        NS,
        "auth-stable",
        &req,
        &mut StdRng::seed_from_u64(1),
    );
    assert_eq!(got, Err(Unrouted::ZeroWeights));
}

#[test]
fn a_service_without_ready_pods_is_unrouted_and_counted() {
    let pods = vec![pod("auth-canary-2", "canary", "auth:2", false)];
    let snapshot = Snapshot::from_objects(&pods, &[service("auth", json!({"app": "auth"}))], &[]);
    let metrics = DataPlaneMetrics::new();
    let served =
        model("auth", vec![]).serve_many(&snapshot, &metrics, 10, &mut StdRng::seed_from_u64(1));
    assert!(served.is_empty());
    assert_eq!(metrics.unrouted(NS, "auth", "no_ready_endpoints"), 10);
}

#[test]
fn a_release_with_a_login_bug_fails_only_on_its_own_pods() {
    let snapshot = cluster(&[]);
    let metrics = DataPlaneMetrics::new();
    let m = model("auth", vec!["auth:2=baseline:0,bug:1.0".parse().unwrap()]);
    let served = m.serve_many(&snapshot, &metrics, 20_000, &mut StdRng::seed_from_u64(5));
    let canary =
        metrics.logins(NS, "auth-canary-1", true) + metrics.logins(NS, "auth-canary-1", false);
    assert!(canary > 0);
    assert_eq!(
        metrics.logins(NS, "auth-canary-1", false),
        canary,
        "every canary login fails"
    );
    assert_eq!(metrics.requests(NS, "auth-canary-1", 401), canary);
    let stable: Vec<_> = served.iter().filter(|s| s.image == "auth:1").collect();
    let stable_failures = stable.iter().filter(|s| s.code != 200).count();
    assert_share(stable_failures, stable.len(), 0.02);
    for i in 1..=4 {
        let pod = format!("auth-stable-{i}");
        assert_eq!(
            metrics.requests(NS, &pod, 401),
            metrics.logins(NS, &pod, false),
            "stable failures are wrong passwords"
        );
    }
}

#[test]
fn a_bug_limited_to_some_users_fails_only_their_logins() {
    let snapshot = cluster(&[]);
    let metrics = DataPlaneMetrics::new();
    let release: Release = "auth:2=baseline:0,bug:1.0,bug-users:0.1,bug-code:500"
        .parse()
        .unwrap();
    let m = model("auth", vec![release.clone()]);
    let served = m.serve_many(&snapshot, &metrics, 30_000, &mut StdRng::seed_from_u64(9));
    let canary: Vec<_> = served.iter().filter(|s| s.image == "auth:2").collect();
    for s in &canary {
        assert_eq!(
            s.code == 500,
            release.behaviour.affects(s.user),
            "user {} got {}",
            s.user,
            s.code
        );
    }
    let users: std::collections::BTreeSet<u32> = canary.iter().map(|s| s.user).collect();
    let failing: std::collections::BTreeSet<u32> = canary
        .iter()
        .filter(|s| s.code == 500)
        .map(|s| s.user)
        .collect();
    assert_eq!(
        metrics.failing_clients(NS, "auth-canary-1"),
        failing.len() as u64,
        "one per distinct failing user"
    );
    assert_share(failing.len(), users.len(), 0.1);
}

#[test]
fn the_same_seed_gives_the_same_traffic() {
    let snapshot = cluster(&[route((50, 50))]);
    let m = model("auth-stable", vec![]);
    let run = |seed| {
        m.serve_many(
            &snapshot,
            &DataPlaneMetrics::new(),
            500,
            &mut StdRng::seed_from_u64(seed),
        )
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn release_options_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Release>().unwrap_err().to_string();
    assert!(err("auth:2").contains("write IMAGE=KEY:VALUE"));
    assert!(err("auth:2=bug:2").contains("bug must be a share between 0 and 1, not `2`"));
    assert!(err("auth:2=typo:1").contains("unknown key `typo`"));
    assert!(err("auth:2=bug-code:404").contains("bug-code must be 401, 403 or 500"));
    let ok: Release = "registry.local/auth:2.0=baseline:0.05".parse().unwrap();
    assert_eq!(ok.image, "registry.local/auth:2.0");
    assert_eq!(
        ok.behaviour,
        AuthBehaviour {
            baseline: 0.05,
            ..AuthBehaviour::default()
        }
    );
}

fn failures_by_pod(metrics: &DataPlaneMetrics) -> Vec<u64> {
    [
        "auth-stable-1",
        "auth-stable-2",
        "auth-stable-3",
        "auth-stable-4",
        "auth-canary-1",
    ]
    .iter()
    .map(|p| metrics.logins(NS, p, false))
    .collect()
}

#[test]
fn retries_and_bots_put_bursts_of_failures_on_one_pod() {
    let snapshot = cluster(&[]);
    let mut m = TrafficModel {
        bursts: Bursts {
            retries: 3.0,
            ..Bursts::default()
        },
        ..model("auth", vec![])
    };
    m.default.baseline = 0.1;
    let metrics = DataPlaneMetrics::new();
    let served = m.serve_many(&snapshot, &metrics, 20_000, &mut StdRng::seed_from_u64(5));
    let failed_logins = served.iter().filter(|s| s.code != 200).count() as f64;
    let failed_attempts: u64 = failures_by_pod(&metrics).iter().sum();
    // Each failing login comes with 2 more failing attempts on average.
    let per = failed_attempts as f64 / failed_logins;
    assert!((2.7..3.3).contains(&per), "{per} attempts per failed login");

    m.bursts = Bursts {
        bot_share: 0.01,
        bot_attempts: 30,
        ..Bursts::default()
    };
    m.default.baseline = 0.0;
    let metrics = DataPlaneMetrics::new();
    m.serve_many(&snapshot, &metrics, 10_000, &mut StdRng::seed_from_u64(6));
    let by_pod = failures_by_pod(&metrics);
    assert!(
        by_pod.iter().all(|f| f % 30 == 0),
        "whole bots per pod: {by_pod:?}"
    );
    let bots: u64 = by_pod.iter().sum::<u64>() / 30;
    assert!((70..130).contains(&bots), "{bots} bots in 10 000 logins");
}

#[test]
fn credential_stuffing_stays_on_the_pods_its_connections_reached() {
    use portcullis::lab::dataplane::TrafficRunner;
    use std::sync::Arc;
    use std::time::Duration;
    let snapshot = cluster(&[]);
    let m = TrafficModel {
        bursts: Bursts {
            stuffing_rps: 100.0,
            stuffing_connections: 2,
            stuffing_lifetime: Duration::from_secs(3600),
            ..Bursts::default()
        },
        default: AuthBehaviour {
            baseline: 0.0,
            ..AuthBehaviour::default()
        },
        ..model("auth", vec![])
    };
    let metrics = Arc::new(DataPlaneMetrics::new());
    let mut runner = TrafficRunner::new(m, metrics.clone(), 7);
    for _ in 0..100 {
        runner.advance(&snapshot, 0.0, Duration::from_millis(100));
    }
    let by_pod = failures_by_pod(&metrics);
    assert_eq!(by_pod.iter().sum::<u64>(), 1000, "{by_pod:?}");
    assert!(by_pod.iter().filter(|f| **f > 0).count() <= 2, "{by_pod:?}");
}
