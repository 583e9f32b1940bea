//! A stand-in Prometheus for the scale bench: answers every instant query (GET or POST)
//! and counts the queries, the windows (arms) batched ones select
//! (`analysis::providers::batch`) and the pods they select. Every selected pod has
//! counted 1 failure out of 1 attempt: a batch gets one sample per pod and arm, a
//! `sum by (pod)` one sample per pod, a plain `sum` one sample, the number of its pods,
//! so every reading gets the same counts however it is sent. A batch is answered with one
//! sample per pod and arm, so every reading gets counts of its own; a single query with
//! one unlabelled sample.

use http_body_util::BodyExt;
use portcullis::analysis::providers::batch::ARM_LABEL;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct Counters {
    queries: AtomicU64,
    arms: AtomicU64,
    pods: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub queries: u64,
    pub arms: u64,
    pub pods: u64,
}

pub struct StandIn {
    pub url: String,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        Counts {
            queries: c.queries.load(Ordering::Relaxed),
            arms: c.arms.load(Ordering::Relaxed),
            pods: c.pods.load(Ordering::Relaxed),
        }
    }

    pub async fn start() -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let url = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let c = c.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(c.clone(), req));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Ok(StandIn {
            url,
            counters,
            task,
        })
    }
}

async fn answer(
    c: Arc<Counters>,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    let in_url = req.uri().query().unwrap_or_default().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let query = form_urlencoded::parse(in_url.as_bytes())
        .chain(form_urlencoded::parse(&body))
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    c.queries.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let result: Vec<Value> = if query.contains(ARM_LABEL) {
        let arms = arms(&query);
        c.arms.fetch_add(arms.len() as u64, Ordering::Relaxed);
        let pods: usize = arms.iter().map(|(_, p)| p.len()).sum();
        c.pods.fetch_add(pods as u64, Ordering::Relaxed);
        arms.iter()
            .flat_map(|(arm, pods)| {
                pods.iter().map(
                    move |pod| json!({"metric": {"pod": pod, ARM_LABEL: arm}, "value": [now, "1"]}),
                )
            })
            .collect()
    } else {
        let pods = pods(&query);
        c.pods.fetch_add(pods.len() as u64, Ordering::Relaxed);
        if query.starts_with("sum by (pod)") {
            pods.iter()
                .map(|pod| json!({"metric": {"pod": pod}, "value": [now, "1"]}))
                .collect()
        } else {
            vec![json!({"metric": {}, "value": [now, pods.len().max(1).to_string()]})]
        }
    };
    let body = json!({"status": "success", "data": {"resultType": "vector", "result": result}});
    Ok(http::Response::builder()
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .expect("a response"))
}

/// Each arm of a batched query: its label value and the pods its selector names.
fn arms(query: &str) -> Vec<(String, Vec<String>)> {
    query
        .split("label_replace(")
        .skip(1)
        .filter_map(|arm| {
            let label = arm
                .split(&format!(r#""{ARM_LABEL}", ""#))
                .nth(1)?
                .split('"')
                .next()?;
            Some((label.to_string(), pods(arm)))
        })
        .collect()
}

/// The pods the first `pod=~"(?:a|b)"` selector of `query` names.
fn pods(query: &str) -> Vec<String> {
    query
        .split(r#"pod=~"(?:"#)
        .nth(1)
        .and_then(|rest| rest.split(r#")""#).next())
        .map(|pods| pods.split('|').map(|p| p.replace('\\', "")).collect())
        .unwrap_or_default()
}
