//! The operator's own metrics (OpenMetrics via prometheus-client) and its HTTP endpoint:
//! `/metrics`, `/healthz` (the process is alive), `/readyz` (it is reconciling: the
//! leader, or a standby ready to take over).
//!
//! Besides the operator's own counters, each Rollout the leader reconciles is exported
//! as gauges with bounded labels (`namespace`, `rollout`, and `metric` for the analysis
//! numbers: one series per metric of the spec), removed when the Rollout is deleted or
//! this replica stops leading. The chart's dashboard and alerts
//! (`charts/portcullis/files/`) are built on these names only (`tests/observability.rs`).

use crate::api::{Outcome, Phase, RolloutStatus, Verdict};
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// A request to the API server, by verb (`get`, `list`, `watch`, `create`, `patch`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabel {
    pub verb: String,
}

/// One Rollout.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    pub namespace: String,
    pub rollout: String,
}

/// One Rollout in one phase (`portcullis_rollout_phase`: 1 for the phase it is in).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutPhaseLabels {
    pub namespace: String,
    pub rollout: String,
    pub phase: String,
}

/// One Rollout waiting on one thing (`pods`, `metrics`, `gate`, `router`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaitLabels {
    pub namespace: String,
    pub rollout: String,
    pub waiting_for: String,
}

/// One analysis metric of one Rollout.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnalysisLabels {
    pub namespace: String,
    pub rollout: String,
    pub metric: String,
}

/// One analysis metric's verdict (`Pass`, `Fail`, `Inconclusive`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub namespace: String,
    pub rollout: String,
    pub metric: String,
    pub verdict: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The per-Rollout gauges (see the module doc).
#[derive(Default)]
pub struct RolloutGauges {
    pub phase: Family<RolloutPhaseLabels, Gauge>,
    pub desired_weight: Family<RolloutLabels, Gauge>,
    pub effective_weight: Family<RolloutLabels, Gauge>,
    pub wait_deadline: Family<WaitLabels, FloatGauge>,
    pub last_abort: Family<RolloutLabels, FloatGauge>,
    pub analysis_errors: Family<RolloutLabels, Gauge>,
    pub canary_failure_ratio: Family<AnalysisLabels, FloatGauge>,
    pub stable_failure_ratio: Family<AnalysisLabels, FloatGauge>,
    pub canary_value: Family<AnalysisLabels, FloatGauge>,
    pub ratio: Family<AnalysisLabels, FloatGauge>,
    pub ratio_lower: Family<AnalysisLabels, FloatGauge>,
    pub ratio_upper: Family<AnalysisLabels, FloatGauge>,
    pub evidence: Family<AnalysisLabels, FloatGauge>,
    pub pass_evidence: Family<AnalysisLabels, FloatGauge>,
    pub evidence_threshold: Family<AnalysisLabels, FloatGauge>,
    pub samples: Family<AnalysisLabels, Gauge>,
    pub verdict: Family<VerdictLabels, Gauge>,
}

impl RolloutGauges {
    fn register(&self, r: &mut Registry) {
        r.register(
            "rollout_phase",
            "1 for the phase each Rollout is in",
            self.phase.clone(),
        );
        r.register(
            "rollout_desired_weight_percent",
            "Percent of traffic the current step asks for on the canary",
            self.desired_weight.clone(),
        );
        r.register(
            "rollout_canary_weight_percent",
            "Percent of traffic the router reports on the canary",
            self.effective_weight.clone(),
        );
        r.register(
            "rollout_wait_deadline_timestamp_seconds",
            "Unix time by which what the release waits on (status.waiting) must be there; absent when it waits on nothing",
            self.wait_deadline.clone(),
        );
        r.register(
            "rollout_last_abort_timestamp_seconds",
            "Unix time of the Rollout's last abort (status.lastAbort.at)",
            self.last_abort.clone(),
        );
        r.register(
            "analysis_consecutive_errors",
            "Analysis readings in a row that could not be taken (Prometheus down, empty results)",
            self.analysis_errors.clone(),
        );
        r.register(
            "analysis_canary_failure_ratio",
            "The canary's failed/total requests (count metrics)",
            self.canary_failure_ratio.clone(),
        );
        r.register(
            "analysis_stable_failure_ratio",
            "The stable track's failed/total requests (count metrics)",
            self.stable_failure_ratio.clone(),
        );
        r.register(
            "analysis_canary_value",
            "The canary's latest value (query and maxRatio metrics)",
            self.canary_value.clone(),
        );
        r.register(
            "analysis_failure_ratio_ratio",
            "Estimate of the canary/stable failure-rate ratio",
            self.ratio.clone(),
        );
        r.register(
            "analysis_failure_ratio_ratio_lower",
            "Lower confidence bound of the canary/stable failure-rate ratio",
            self.ratio_lower.clone(),
        );
        r.register(
            "analysis_failure_ratio_ratio_upper",
            "Upper confidence bound of the canary/stable failure-rate ratio",
            self.ratio_upper.clone(),
        );
        r.register(
            "analysis_evidence",
            "The judge's evidence that the canary is worse (e-value; Fail at the threshold)",
            self.evidence.clone(),
        );
        r.register(
            "analysis_pass_evidence",
            "The judge's evidence that the canary is not worse (e-value; early Pass at the threshold)",
            self.pass_evidence.clone(),
        );
        r.register(
            "analysis_evidence_threshold",
            "1/alpha: the evidence at which the judge decides",
            self.evidence_threshold.clone(),
        );
        r.register(
            "analysis_samples",
            "Readings the judge has taken for the metric",
            self.samples.clone(),
        );
        r.register(
            "analysis_verdict",
            "1 for each analysis metric's current verdict",
            self.verdict.clone(),
        );
    }

    fn clear(&self) {
        self.phase.clear();
        self.desired_weight.clear();
        self.effective_weight.clear();
        self.wait_deadline.clear();
        self.last_abort.clear();
        self.analysis_errors.clear();
        self.clear_analysis();
    }

    fn clear_analysis(&self) {
        for f in [
            &self.canary_failure_ratio,
            &self.stable_failure_ratio,
            &self.canary_value,
            &self.ratio,
            &self.ratio_lower,
            &self.ratio_upper,
            &self.evidence,
            &self.pass_evidence,
            &self.evidence_threshold,
        ] {
            f.clear();
        }
        self.samples.clear();
        self.verdict.clear();
    }
}

/// The label sets one Rollout's gauges were last written with, to remove them later.
#[derive(Default, Clone)]
struct Exported {
    phase: Option<RolloutPhaseLabels>,
    wait: Option<WaitLabels>,
    last_abort: bool,
    metrics: Vec<AnalysisLabels>,
    verdicts: Vec<VerdictLabels>,
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
    pub abort_decision_seconds: Histogram,
    /// 1 while this replica holds the Lease (always, without leader election).
    pub leader: Gauge,
    pub per_rollout: RolloutGauges,
    /// Requests the operator sent to the API server (see `controller::counting`).
    pub api_requests: Family<VerbLabel, Counter>,
    phases: Mutex<HashMap<String, Phase>>,
    aborting: Mutex<HashMap<String, Instant>>,
    exported: Mutex<HashMap<String, Exported>>,
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
            abort_decision_seconds: Histogram::new(exponential_buckets(5.0, 2.0, 12)),
            leader: Gauge::default(),
            per_rollout: RolloutGauges::default(),
            api_requests: Family::default(),
            phases: Mutex::new(HashMap::new()),
            aborting: Mutex::new(HashMap::new()),
            exported: Mutex::new(HashMap::new()),
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
        registry.register(
            "abort_decision_seconds",
            "Time from a canary's start to the decision to abort it",
            m.abort_decision_seconds.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and reconciles",
            m.leader.clone(),
        );
        registry.register(
            "api_requests",
            "Requests sent to the Kubernetes API server, by verb (a watch counts once, when it starts)",
            m.api_requests.clone(),
        );
        m.per_rollout.register(&mut registry);
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Records a Rollout's phase after a reconcile, counting transitions into Aborted
    /// and Succeeded.
    pub fn phase(&self, key: &str, phase: Option<Phase>) {
        if phase.is_none() {
            self.forget(key);
        }
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

    /// Exports a Rollout's status after a reconcile as the per-Rollout gauges (and times
    /// the abort decision when the phase turns Aborted here).
    pub fn rollout(&self, namespace: &str, name: &str, st: &RolloutStatus) {
        let key = format!("{namespace}/{name}");
        let g = &self.per_rollout;
        let one = RolloutLabels {
            namespace: namespace.into(),
            rollout: name.into(),
        };
        let per_metric = |metric: &str| AnalysisLabels {
            namespace: namespace.into(),
            rollout: name.into(),
            metric: metric.into(),
        };
        let mut exported = self.exported.lock().expect("exported lock");
        let before = exported.remove(&key);
        let mut now = Exported::default();

        let phase = st.phase.map(|p| RolloutPhaseLabels {
            namespace: namespace.into(),
            rollout: name.into(),
            phase: p.as_str().into(),
        });
        let was_aborted = before
            .as_ref()
            .and_then(|b| b.phase.as_ref())
            .map(|p| p.phase == Phase::Aborted.as_str());
        if st.phase == Some(Phase::Aborted) && was_aborted == Some(false) {
            self.observe_abort_decision(st);
        }
        if let Some(p) = &phase {
            g.phase.get_or_create(p).set(1);
        }
        now.phase = phase;
        g.desired_weight
            .get_or_create(&one)
            .set(st.desired_weight.into());
        g.effective_weight
            .get_or_create(&one)
            .set(st.effective_weight.into());

        if let Some(w) = &st.waiting {
            let labels = WaitLabels {
                namespace: namespace.into(),
                rollout: name.into(),
                waiting_for: wait_label(w.for_).into(),
            };
            g.wait_deadline
                .get_or_create(&labels)
                .set(seconds(&w.deadline));
            now.wait = Some(labels);
        }
        if let Some(a) = &st.last_abort {
            g.last_abort.get_or_create(&one).set(seconds(&a.at));
            now.last_abort = true;
        }

        let analysis = st.analysis.as_ref();
        g.analysis_errors
            .get_or_create(&one)
            .set(analysis.map_or(0, |a| a.consecutive_errors.into()));
        for m in analysis.map(|a| a.metrics.as_slice()).unwrap_or_default() {
            let labels = per_metric(&m.name);
            let failure_ratio = |t: &Option<crate::api::TrackReading>| {
                let t = t.as_ref()?;
                let (f, n) = (t.failures?, t.total?);
                (n > 0.0).then(|| f / n)
            };
            // Set what the judge reports; remove what it no longer does, so no number is
            // left at an old value.
            for (family, v) in [
                (&g.canary_failure_ratio, failure_ratio(&m.canary)),
                (&g.stable_failure_ratio, failure_ratio(&m.stable)),
                (&g.canary_value, m.canary.as_ref().and_then(|c| c.value)),
                (&g.ratio, m.ratio),
                (&g.ratio_lower, m.ratio_lower),
                (&g.ratio_upper, m.ratio_upper),
                (&g.evidence, m.evidence),
                (&g.pass_evidence, m.pass_evidence),
                (
                    &g.evidence_threshold,
                    m.alpha.filter(|a| *a > 0.0).map(|a| 1.0 / a),
                ),
            ] {
                match v.filter(|v| v.is_finite()) {
                    Some(v) => {
                        family.get_or_create(&labels).set(v);
                    }
                    None => {
                        family.remove(&labels);
                    }
                }
            }
            g.samples.get_or_create(&labels).set(m.samples);
            if let Some(v) = m.verdict {
                let verdict = VerdictLabels {
                    namespace: namespace.into(),
                    rollout: name.into(),
                    metric: m.name.clone(),
                    verdict: verdict_label(v).into(),
                };
                g.verdict.get_or_create(&verdict).set(1);
                now.verdicts.push(verdict);
            }
            now.metrics.push(labels);
        }

        // Series of the last export that this one did not write again.
        if let Some(b) = before {
            if b.phase != now.phase
                && let Some(p) = &b.phase
            {
                g.phase.remove(p);
            }
            if b.wait != now.wait
                && let Some(w) = &b.wait
            {
                g.wait_deadline.remove(w);
            }
            if b.last_abort && !now.last_abort {
                g.last_abort.remove(&one);
            }
            for v in b.verdicts.iter().filter(|v| !now.verdicts.contains(v)) {
                g.verdict.remove(v);
            }
            for m in b.metrics.iter().filter(|m| !now.metrics.contains(m)) {
                remove_metric(g, m);
            }
        }
        exported.insert(key, now);
    }

    /// Removes every per-Rollout series of `key` (`namespace/name`).
    fn forget(&self, key: &str) {
        let Some(e) = self.exported.lock().expect("exported lock").remove(key) else {
            return;
        };
        let g = &self.per_rollout;
        let (namespace, rollout) = key.split_once('/').unwrap_or(("", key));
        let one = RolloutLabels {
            namespace: namespace.into(),
            rollout: rollout.into(),
        };
        if let Some(p) = &e.phase {
            g.phase.remove(p);
        }
        if let Some(w) = &e.wait {
            g.wait_deadline.remove(w);
        }
        g.desired_weight.remove(&one);
        g.effective_weight.remove(&one);
        g.last_abort.remove(&one);
        g.analysis_errors.remove(&one);
        for v in &e.verdicts {
            g.verdict.remove(v);
        }
        for m in &e.metrics {
            remove_metric(g, m);
        }
    }

    /// This replica stopped leading: it reports no Rollouts (the new leader does).
    pub fn stopped_leading(&self) {
        self.leader.set(0);
        self.exported.lock().expect("exported lock").clear();
        self.per_rollout.clear();
        self.phases.lock().expect("phases lock").clear();
        self.rollouts.clear();
    }

    fn observe_abort_decision(&self, st: &RolloutStatus) {
        let Some(h) = st.history.first().filter(|h| h.outcome == Outcome::Aborted) else {
            return;
        };
        if let Some(start) = &h.started_at {
            let took = seconds(&h.ended_at) - seconds(start);
            if took >= 0.0 {
                self.abort_decision_seconds.observe(took);
            }
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

fn seconds(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> f64 {
    t.0.as_millisecond() as f64 / 1000.0
}

fn wait_label(w: crate::api::WaitFor) -> &'static str {
    match w {
        crate::api::WaitFor::Pods => "pods",
        crate::api::WaitFor::Metrics => "metrics",
        crate::api::WaitFor::Gate => "gate",
        crate::api::WaitFor::Router => "router",
    }
}

fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "Pass",
        Verdict::Fail => "Fail",
        Verdict::Inconclusive => "Inconclusive",
    }
}

fn remove_metric(g: &RolloutGauges, m: &AnalysisLabels) {
    for f in [
        &g.canary_failure_ratio,
        &g.stable_failure_ratio,
        &g.canary_value,
        &g.ratio,
        &g.ratio_lower,
        &g.ratio_upper,
        &g.evidence,
        &g.pass_evidence,
        &g.evidence_threshold,
    ] {
        f.remove(m);
    }
    g.samples.remove(m);
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
