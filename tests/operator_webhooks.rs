//! Webhook gates hold a canary until they answer 2xx; notifications tell a webhook what
//! happened, and a dead notification endpoint never holds up a rollback.

mod operator_support;

use operator_support::*;
use portcullis::api::{Phase, Verdict};
use portcullis::controller::analysis_source::Injected;
use portcullis::engine::AnalysisReading;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(60);

/// A webhook on loopback answering `status`, keeping the JSON bodies it received.
struct Hook {
    url: String,
    status: Arc<AtomicU16>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn hook(status: u16) -> Hook {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let answer = Arc::new(AtomicU16::new(status));
    let bodies: Arc<Mutex<Vec<Value>>> = Default::default();
    let (a, b) = (answer.clone(), bodies.clone());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (a, b) = (a.clone(), b.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read headers and the Content-Length body.
                loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            if let Ok(v) = serde_json::from_slice(&buf[end + 4..end + 4 + len]) {
                                b.lock().unwrap().push(v);
                            }
                            break;
                        }
                    }
                }
                let code = a.load(Ordering::Relaxed);
                let resp = format!(
                    "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
                );
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    });
    Hook {
        url,
        status: answer,
        bodies,
    }
}

#[tokio::test]
async fn a_pre_rollout_gate_holds_the_canary_until_it_answers_2xx() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("gates");
    let gate = hook(503).await;
    given_app(
        &c.client,
        ns,
        2,
        json!({
            "workloadRef": {"name": APP}, "service": APP,
            "steps": [{"setWeight": 50}, {"pause": {}}],
            "gates": {"preRollout": [{"name": "change-freeze", "url": gate.url}]}
        }),
    )
    .await;
    let op = Operator::start(c.client.clone(), ns).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    let st = until(&c.client, ns, "the gate blocking", T, phase(Phase::Blocked)).await;
    assert!(
        st.message.unwrap().contains("change-freeze"),
        "the message names the webhook"
    );
    let body = gate.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["rollout"], APP);
    assert_eq!(body["kind"], "preRollout");
    gate.status.store(200, Ordering::Relaxed);
    until(
        &c.client,
        ns,
        "the canary once the gate passes",
        Duration::from_secs(90),
        phase(Phase::Paused),
    )
    .await;
    op.stop().await;
}

#[tokio::test]
async fn notifications_tell_of_the_abort_and_a_dead_endpoint_does_not_delay_it() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("notify");
    let chat = hook(200).await;
    given_app(&c.client, ns, 2, json!({
        "workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 50}, {"pause": {}}],
        "analysis": {"interval": "1s", "metrics": [{"name": "m", "query": {"query": "vector(0)", "max": 1}}]},
        "notifications": [
            {"name": "dead", "url": "http://127.0.0.1:9/none", "timeout": "2s"},
            {"name": "chat", "url": chat.url, "events": ["aborted"]}
        ]
    })).await;
    let readings = Injected::default();
    readings.set(AnalysisReading::verdict(Verdict::Inconclusive));
    let op = Operator::start_with(c.client.clone(), ns, false, readings.clone()).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.2-broken")).await;
    until(&c.client, ns, "the canary", T, |s| s.effective_weight == 50).await;
    readings.set(AnalysisReading::verdict(Verdict::Fail));
    until(
        &c.client,
        ns,
        "the abort",
        Duration::from_secs(10),
        phase(Phase::Aborted),
    )
    .await;
    eventually(
        "the chat webhook told of the abort",
        Duration::from_secs(10),
        || async {
            chat.bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| b["event"] == "aborted")
        },
    )
    .await;
    let bodies = chat.bodies.lock().unwrap().clone();
    assert!(
        bodies.iter().all(|b| b["event"] == "aborted"),
        "chat subscribed to aborts only: {bodies:?}"
    );
    assert!(
        bodies[0]["message"]
            .as_str()
            .unwrap()
            .contains(&image("1.2-broken"))
    );
    op.stop().await;
}
