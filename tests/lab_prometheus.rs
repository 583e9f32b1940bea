//! The Prometheus launcher starts Debian's real server, scrapes a target every second,
//! and stops it when dropped.

use portcullis::lab::prometheus::Prometheus;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal exporter: answers every request with a fixed counter in the text format.
async fn exporter() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let body = "# TYPE logins_total counter\nlogins_total{pod=\"auth-1\",namespace=\"payments\"} 42\n";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn scrapes_a_target_and_keeps_its_labels() {
    portcullis::install_crypto_provider();
    let target = exporter().await;
    let prometheus = Prometheus::start(&[target])
        .await
        .expect("prometheus starts");
    let http = reqwest::Client::new();
    let query = format!("{}/api/v1/query", prometheus.url());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body: serde_json::Value = http
            .get(&query)
            .query(&[("query", "logins_total")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(sample) = body["data"]["result"].as_array().and_then(|r| r.first()) {
            assert_eq!(sample["metric"]["pod"], "auth-1");
            assert_eq!(sample["metric"]["namespace"], "payments");
            assert_eq!(sample["value"][1], "42");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no sample scraped within 20 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_stopped_prometheus_refuses_connections() {
    portcullis::install_crypto_provider();
    let mut prometheus = Prometheus::start(&[]).await.expect("prometheus starts");
    let url = format!("{}/-/ready", prometheus.url());
    prometheus.stop();
    let err = reqwest::get(&url)
        .await
        .expect_err("nothing listens any more");
    assert!(err.is_connect(), "{err}");
}
