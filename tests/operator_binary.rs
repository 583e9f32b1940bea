//! `portcullis controller` as platform teams run it: flags, `/healthz`, `/readyz`,
//! `/metrics`, and a SIGTERM that ends it promptly (releasing its Lease).

mod operator_support;

use operator_support::*;
use portcullis::api::Phase;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let r = reqwest::get(url).await.ok()?;
    Some((r.status().as_u16(), r.text().await.unwrap_or_default()))
}

#[tokio::test]
async fn the_controller_binary_serves_health_and_metrics_and_stops_on_sigterm() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("binary");
    namespace(&c.client, ns).await;
    create(
        &c.client,
        ns,
        &rollout(json!({
            "workloadRef": {"name": "missing"}, "service": APP, "steps": [{"setWeight": 10}]
        })),
    )
    .await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["controller", "--log-format", "json", "--namespace", ns])
        .arg("--kubeconfig")
        .arg(c.kubeconfig_path())
        .arg(format!("--metrics-addr=127.0.0.1:{port}"))
        .arg(format!("--lease-namespace={ns}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let base = format!("http://127.0.0.1:{port}");
    eventually("/healthz answers", Duration::from_secs(20), || async {
        get(&format!("{base}/healthz"))
            .await
            .is_some_and(|(s, _)| s == 200)
    })
    .await;
    assert_eq!(get(&format!("{base}/readyz")).await.unwrap().0, 200);
    let st = until(
        &c.client,
        ns,
        "InvalidSpec for the missing Deployment",
        Duration::from_secs(30),
        phase(Phase::InvalidSpec),
    )
    .await;
    assert!(st.message.unwrap().contains("not found"));
    let (code, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("portcullis_reconciles_total"), "{metrics}");
    assert!(
        metrics.contains("portcullis_rollouts{phase=\"InvalidSpec\"} 1"),
        "{metrics}"
    );
    let holder = c.lease_holder(ns, "portcullis-controller").await;
    assert!(holder.is_some(), "the binary holds the Lease");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "exits within 15 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "a clean exit on SIGTERM");
    // Released: no holder, so a standby takes over at once.
    eventually("the Lease released", Duration::from_secs(5), || async {
        c.lease_holder(ns, "portcullis-controller").await.is_none()
    })
    .await;
}
