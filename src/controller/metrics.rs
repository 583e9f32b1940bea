//! The operator's own metrics (OpenMetrics via prometheus-client) and its HTTP endpoint:
//! `/metrics`, `/healthz` (the process is alive), `/readyz` (it is reconciling: the
//! leader, or a standby ready to take over).

use crate::api::Phase;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub kind: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub errors: Family<ErrorLabel, Counter>,
    pub duration: Histogram,
    pub rollouts: Family<PhaseLabel, Gauge>,
    pub aborts: Counter,
    pub promotions: Counter,
    pub rollback_seconds: Histogram,
    phases: Mutex<HashMap<String, Phase>>,
    aborting: Mutex<HashMap<String, Instant>>,
    pub ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let m = Metrics {
            reconciles: Counter::default(),
            errors: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            rollouts: Family::default(),
            aborts: Counter::default(),
            promotions: Counter::default(),
            rollback_seconds: Histogram::new(exponential_buckets(0.1, 2.0, 12)),
            phases: Mutex::new(HashMap::new()),
            aborting: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register("reconciles", "Reconciles run", m.reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by kind",
            m.errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            m.duration.clone(),
        );
        registry.register("rollouts", "Rollouts by phase", m.rollouts.clone());
        registry.register("aborts", "Canaries aborted", m.aborts.clone());
        registry.register("promotions", "Canaries promoted", m.promotions.clone());
        registry.register(
            "rollback_seconds",
            "Time from the first failing verdict to traffic back on stable",
            m.rollback_seconds.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Records a Rollout's phase after a reconcile, counting transitions into Aborted
    /// and Succeeded.
    pub fn phase(&self, key: &str, phase: Option<Phase>) {
        let mut phases = self.phases.lock().expect("phases lock");
        let before = match phase {
            Some(p) => phases.insert(key.to_string(), p),
            None => phases.remove(key),
        };
        if before == phase {
            return;
        }
        if let Some(b) = before {
            self.rollouts.get_or_create(&label(b)).dec();
        }
        if let Some(p) = phase {
            self.rollouts.get_or_create(&label(p)).inc();
            if p == Phase::Aborted {
                self.aborts.inc();
            } else if p == Phase::Succeeded {
                self.promotions.inc();
            }
        }
    }

    /// A failing verdict was acted on for `key`: the rollback clock starts.
    pub fn rollback_started(&self, key: &str, at: Instant) {
        self.aborting
            .lock()
            .expect("aborting lock")
            .entry(key.to_string())
            .or_insert(at);
    }

    /// The canary of `key` serves no traffic any more: the rollback clock stops.
    pub fn traffic_restored(&self, key: &str, at: Instant) {
        if let Some(start) = self.aborting.lock().expect("aborting lock").remove(key) {
            self.rollback_seconds
                .observe(at.duration_since(start).as_secs_f64());
        }
    }

    pub fn observe_reconcile(&self, took: Duration) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

fn label(p: Phase) -> PhaseLabel {
    PhaseLabel {
        phase: p.as_str().to_string(),
    }
}

/// Serves `/metrics`, `/healthz`, `/readyz` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&req, &metrics)) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn answer(req: &Request<hyper::body::Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok".into()),
        "/readyz" if metrics.ready.load(Ordering::Relaxed) => {
            (StatusCode::OK, "text/plain", "ok".into())
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "starting".into(),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found".into()),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a response from valid parts")
}
