//! A real Prometheus (Debian's binary, 1 s scrape) scrapes the data plane's `/metrics`,
//! and `sum by (pod)` queries return the counters the data plane holds.

use k8s_openapi::api::core::v1::{Pod, Service};
use portcullis::lab::dataplane::{
    AuthBehaviour, Bursts, DataPlaneMetrics, MetricsServer, Population, Snapshot, TrafficModel,
    TrafficRunner,
};
use portcullis::lab::prometheus::Prometheus;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NS: &str = "shop";

fn snapshot() -> Snapshot {
    let pod = |name: &str, image: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "auth"}},
            "spec": {"containers": [{"name": "auth", "image": image}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    };
    let service: Service =
        serde_json::from_value(json!({"metadata": {"name": "auth", "namespace": NS}, "spec": {"selector": {"app": "auth"}}})).unwrap();
    Snapshot::from_objects(
        &[
            pod("auth-a", "auth:1"),
            pod("auth-b", "auth:1"),
            pod("auth-c", "auth:2"),
        ],
        &[service],
        &[],
    )
}

fn runner(metrics: Arc<DataPlaneMetrics>) -> TrafficRunner {
    let model = TrafficModel {
        namespace: NS.into(),
        service: "auth".into(),
        population: Population {
            users: 200,
            staff: 0,
            canary_header: ("x-canary".into(), "true".into()),
        },
        releases: vec!["auth:2=baseline:0,bug:1.0".parse().unwrap()],
        default: AuthBehaviour::default(),
        bursts: Bursts::default(),
    };
    TrafficRunner::new(model, metrics, 42)
}

/// `sum by (pod) (QUERY)` as pod → value, once Prometheus has the value `want` for every pod.
async fn query_until(
    prometheus: &Prometheus,
    query: &str,
    want: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("{}/api/v1/query", prometheus.url());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body: Value = http
            .get(&url)
            .query(&[("query", query)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let got: BTreeMap<String, u64> = body["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["metric"]["pod"].as_str().unwrap().to_string(),
                    s["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        if &got == want || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn per_pod(
    metrics: &DataPlaneMetrics,
    f: impl Fn(&DataPlaneMetrics, &str) -> u64,
) -> BTreeMap<String, u64> {
    ["auth-a", "auth-b", "auth-c"]
        .iter()
        .map(|p| (p.to_string(), f(metrics, p)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[tokio::test]
async fn prometheus_scrapes_the_per_pod_login_counters() {
    portcullis::install_crypto_provider();
    let metrics = Arc::new(DataPlaneMetrics::new());
    let server = MetricsServer::start(0, metrics.clone()).await.unwrap();
    let snapshot = snapshot();
    let mut traffic = runner(metrics.clone());
    // 60 s of simulated traffic at 50 rps, sent at once: the counters then hold still.
    assert_eq!(
        traffic.advance(&snapshot, 50.0, Duration::from_secs(60)),
        3000
    );
    let prometheus = Prometheus::start(&[server.addr().to_string()])
        .await
        .expect("prometheus starts");

    let attempts = per_pod(&metrics, |m, p| {
        m.logins(NS, p, true) + m.logins(NS, p, false)
    });
    assert_eq!(attempts.values().sum::<u64>(), 3000);
    let got = query_until(
        &prometheus,
        r#"sum by (pod) (auth_login_attempts_total{namespace="shop"})"#,
        &attempts,
    )
    .await;
    assert_eq!(got, attempts);

    let failures = per_pod(&metrics, |m, p| m.logins(NS, p, false));
    let got = query_until(
        &prometheus,
        r#"sum by (pod) (auth_login_attempts_total{namespace="shop",outcome="failure"})"#,
        &failures,
    )
    .await;
    assert_eq!(got, failures);
    assert_eq!(
        got["auth-c"], attempts["auth-c"],
        "the buggy release fails every login"
    );

    let unauthorised = per_pod(&metrics, |m, p| m.requests(NS, p, 401));
    let got = query_until(
        &prometheus,
        r#"sum by (pod) (http_requests_total{namespace="shop",code="401"})"#,
        &unauthorised,
    )
    .await;
    assert_eq!(got, unauthorised);

    // More traffic shows up at the next scrapes.
    traffic.advance(&snapshot, 50.0, Duration::from_secs(10));
    let attempts = per_pod(&metrics, |m, p| {
        m.logins(NS, p, true) + m.logins(NS, p, false)
    });
    assert_eq!(attempts.values().sum::<u64>(), 3500);
    let got = query_until(
        &prometheus,
        r#"sum by (pod) (auth_login_attempts_total{namespace="shop"})"#,
        &attempts,
    )
    .await;
    assert_eq!(got, attempts);

    let clients = per_pod(&metrics, |m, p| m.failing_clients(NS, p));
    let got = query_until(
        &prometheus,
        r#"sum by (pod) (auth_login_failing_clients_total{namespace="shop"})"#,
        &clients,
    )
    .await;
    assert_eq!(got, clients);
    assert!(got["auth-c"] <= 200, "at most one per user");
    server.stop().await;
}

#[tokio::test]
async fn the_metrics_endpoint_answers_in_the_openmetrics_text_format() {
    portcullis::install_crypto_provider();
    let metrics = Arc::new(DataPlaneMetrics::new());
    let server = MetricsServer::start(0, metrics.clone()).await.unwrap();
    runner(metrics.clone()).advance(&snapshot(), 10.0, Duration::from_secs(1));
    let url = format!("http://{}/metrics", server.addr());
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("# TYPE auth_login_attempts counter"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"auth_login_attempts_total{namespace="shop",pod="auth-c",outcome="failure"}"#
        ),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
    let missing = reqwest::get(format!("http://{}/other", server.addr()))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    server.stop().await;
    assert!(reqwest::get(&url).await.is_err(), "stopped");
}

#[tokio::test(start_paused = true)]
async fn the_runner_sends_rps_times_speedup_requests_per_real_second() {
    let metrics = Arc::new(DataPlaneMetrics::new());
    let (_tx, snapshots) = tokio::sync::watch::channel(Arc::new(snapshot()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runner(metrics.clone()).run(snapshots, 20.0, 5.0, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(());
    task.await.unwrap();
    let total: u64 = ["auth-a", "auth-b", "auth-c"]
        .iter()
        .map(|p| metrics.logins(NS, p, true) + metrics.logins(NS, p, false))
        .sum();
    // 2 s × 5 = 10 s simulated at 20 rps.
    assert!((190..=200).contains(&total), "{total}");
}
