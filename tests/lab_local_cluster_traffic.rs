//! `portcullis local-cluster` with its simulated pods and traffic, as a user runs it:
//! a Deployment gets Ready pods, logins reach them through the Service, and each pod's
//! counters show on /metrics.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn pods_become_ready_and_their_login_counters_show_on_metrics() {
    portcullis::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let metrics_port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("local-cluster")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--pod-start-delay=100ms", "--pod-readiness-delay=100ms"])
        .args(["--traffic-service=payments/auth", "--traffic-rps=200"])
        .args(["--release=auth:2=baseline:0,bug:1.0"])
        .arg(format!("--metrics-port={metrics_port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready: http://127.0.0.1:"), "{line}");

    let client = portcullis::controller::client(Some(&kubeconfig))
        .await
        .unwrap();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "payments"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "auth"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "auth"}},
                 "template": {"metadata": {"labels": {"app": "auth"}},
                              "spec": {"containers": [{"name": "app", "image": "auth:2"}]}}}
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "payments")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": "auth"},
        "spec": {"selector": {"app": "auth"}, "ports": [{"port": 80}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), "payments")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();

    // A release whose logins all fail: every counted attempt on both pods is a failure.
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let start = Instant::now();
    let body = loop {
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let pods_failing = body
            .lines()
            .filter(|l| {
                l.starts_with("auth_login_attempts_total") && l.contains("outcome=\"failure\"")
            })
            .count();
        if pods_failing == 2 {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "two pods serving logins:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !body
            .lines()
            .any(|l| l.starts_with("auth_login_attempts_total")
                && l.contains("outcome=\"success\"")
                && !l.ends_with(" 0")),
        "no login succeeds on a release with a 100% bug:\n{body}"
    );
    let d = Api::<Deployment>::namespaced(client, "payments")
        .get("auth")
        .await
        .unwrap();
    assert_eq!(d.status.unwrap().ready_replicas, Some(2));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "stops on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
