//! Probes go straight to each pod IP on the probe's port and count failures.

use portcullis::analysis::judge::{self, Counts, Observation};
use portcullis::analysis::providers::probe::{ProbeError, Prober, period};
use portcullis::api::{Duration as ApiDuration, Metric, ProbeHeader, ProbeMetric, Verdict};
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A pod on `ip:port` answering `status` to POST /login with the right header, 404 else.
async fn pod(ip: &str, port: u16, status: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind((ip, port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                let code = if req.starts_with("post /login ") && req.contains("x-synthetic: yes") {
                    status
                } else {
                    404
                };
                let resp =
                    format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    });
    port
}

fn probe(port: u16) -> ProbeMetric {
    ProbeMetric {
        method: Some("POST".into()),
        path: "/login".into(),
        port: port as i32,
        headers: vec![ProbeHeader {
            name: "X-Synthetic".into(),
            value: "yes".into(),
        }],
        body: Some(r#"{"user":"probe"}"#.into()),
        expected_statuses: vec![],
        period: Some(ApiDuration::from("2s")),
        max_ratio: Some(0.0),
        confidence: Some(0.99),
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

#[tokio::test]
async fn each_pod_ip_gets_one_request_and_bad_statuses_count_as_failures() {
    // Two "pods" on different loopback IPs, same port, like pods in a cluster.
    let port = pod("127.0.0.1", 0, 200).await;
    pod("127.0.0.2", port, 503).await;
    let prober = Prober::new(Duration::from_secs(2)).unwrap();
    let p = probe(port);
    let c = prober
        .round(&p, &ips(&["127.0.0.1", "127.0.0.2"]))
        .await
        .unwrap();
    assert_eq!(c, Counts::new(1.0, 2.0));
    let c = prober.round(&p, &ips(&["127.0.0.1"])).await.unwrap();
    assert_eq!(c, Counts::new(0.0, 1.0));
    // 503 becomes a success when it is listed as expected.
    let mut p503 = p.clone();
    p503.expected_statuses = vec![503];
    assert_eq!(
        prober.round(&p503, &ips(&["127.0.0.2"])).await.unwrap(),
        Counts::new(0.0, 1.0)
    );
    assert_eq!(period(&p), Duration::from_secs(2));
}

#[tokio::test]
async fn a_pod_that_refuses_connections_is_a_failure_and_no_pods_is_no_observation() {
    let port = pod("127.0.0.1", 0, 200).await;
    let prober = Prober::new(Duration::from_secs(2)).unwrap();
    // Nothing listens on 127.0.0.3 at that port.
    let c = prober
        .round(&probe(port), &ips(&["127.0.0.1", "127.0.0.3"]))
        .await
        .unwrap();
    assert_eq!(c, Counts::new(1.0, 2.0));
    assert_eq!(
        prober.round(&probe(port), &[]).await,
        Err(ProbeError::NoPods)
    );
}

#[tokio::test]
async fn failing_probes_fail_the_metric() {
    let port = pod("127.0.0.1", 0, 500).await;
    let prober = Prober::new(Duration::from_secs(2)).unwrap();
    let metric = [Metric {
        name: "login-probe".into(),
        counts: None,
        query: None,
        probe: Some(probe(port)),
    }];
    let mut prev = vec![];
    let mut verdicts = vec![];
    for _ in 0..3 {
        let c = prober
            .round(metric[0].probe.as_ref().unwrap(), &ips(&["127.0.0.1"]))
            .await
            .unwrap();
        let r = judge::judge(&metric, &prev, vec![Ok(Observation::Probe(c))]);
        verdicts.push(r.verdict);
        prev = r.metrics;
    }
    assert_eq!(verdicts.last(), Some(&Some(Verdict::Fail)), "{verdicts:?}");
}
