//! The analysis source the operator runs with: Prometheus queries and HTTP probes, judged
//! by `analysis::judge` against the evidence already in status.
//!
//! Probes: one round (a request to each canary pod) per reading, so a probe's `period`
//! is the analysis interval here.
//!
//! With a batch window (`--prometheus-batch-window`, 500 ms by default), one provider per
//! Prometheus (address, credentials, timeout) serves every Rollout, so its HTTP
//! connections are reused and count queries of readings that fall within the window go
//! out as one query per template and namespace (`analysis::providers::batch`). With `0s`,
//! each reading builds its own provider: a fresh connection per reading.

use super::analysis_source::{AnalysisSource, ReadingRequest};
use crate::analysis::judge::{self, Observation};
use crate::analysis::providers::probe::Prober;
use crate::analysis::providers::prometheus::{Credentials, PrometheusConfig, PrometheusProvider};
use crate::analysis::render::{RenderContext, TrackContext};
use crate::api::{Metric, PrometheusAuth, PrometheusSource, Rollout};
use crate::engine::AnalysisReading;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::{Api, Client, ResourceExt};
use std::sync::Mutex;
use std::time::Duration;

/// How long a count query waits for others to share its Prometheus query
/// (`--prometheus-batch-window`'s default): short next to any analysis interval, long
/// enough that readings due in the same half second share one query.
pub const DEFAULT_BATCH_WINDOW: Duration = Duration::from_millis(500);
/// Providers kept (one per distinct Prometheus configuration); the oldest goes first.
const MAX_PROVIDERS: usize = 64;

pub struct PrometheusAnalysis {
    client: Client,
    default: PrometheusConfig,
    prober: Option<Prober>,
    batch_window: Duration,
    providers: Mutex<Vec<(PrometheusConfig, PrometheusProvider)>>,
}

impl PrometheusAnalysis {
    /// `default_url` serves templates that name no Prometheus of their own.
    pub fn new(client: Client, default_url: &str) -> Self {
        PrometheusAnalysis {
            client,
            default: PrometheusConfig::new(default_url),
            prober: Prober::new(Duration::from_secs(5)).ok(),
            batch_window: DEFAULT_BATCH_WINDOW,
            providers: Mutex::default(),
        }
    }

    /// How long count queries wait to share one Prometheus query; zero: never.
    pub fn batch_window(mut self, window: Duration) -> Self {
        self.batch_window = window;
        self
    }

    async fn credentials(
        &self,
        ro: &Rollout,
        auth: &PrometheusAuth,
    ) -> Result<Credentials, String> {
        let ns = auth
            .secret_namespace
            .clone()
            .or_else(|| ro.namespace())
            .unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        let secret = api
            .get(&auth.secret_name)
            .await
            .map_err(|e| format!("reading Secret {ns}/{}: {e}", auth.secret_name))?;
        let key = |k: &str| -> Result<String, String> {
            let bytes = secret
                .data
                .as_ref()
                .and_then(|d| d.get(k))
                .ok_or_else(|| format!("Secret {ns}/{} has no key `{k}`", auth.secret_name))?;
            String::from_utf8(bytes.0.clone()).map_err(|_| format!("key `{k}` is not UTF-8"))
        };
        match (
            &auth.bearer_token_key,
            &auth.username_key,
            &auth.password_key,
        ) {
            (Some(t), _, _) => Ok(Credentials::Bearer(key(t)?)),
            (None, Some(u), Some(p)) => Ok(Credentials::Basic {
                username: key(u)?,
                password: key(p)?,
            }),
            _ => Err("prometheus.auth needs bearerTokenKey, or usernameKey and passwordKey".into()),
        }
    }

    async fn provider(
        &self,
        ro: &Rollout,
        source: Option<&PrometheusSource>,
    ) -> Result<PrometheusProvider, String> {
        let config = match source {
            None => self.default.clone(),
            Some(s) => {
                let creds = match &s.auth {
                    Some(a) => Some(self.credentials(ro, a).await?),
                    None => None,
                };
                PrometheusConfig::from_source(s, creds).map_err(|e| e.to_string())?
            }
        };
        if self.batch_window.is_zero() {
            return PrometheusProvider::new(&config).map_err(|e| e.to_string());
        }
        let mut providers = self.providers.lock().expect("providers lock");
        if let Some((_, p)) = providers.iter().find(|(c, _)| *c == config) {
            return Ok(p.clone());
        }
        let p = PrometheusProvider::new(&config)
            .map_err(|e| e.to_string())?
            .batching(self.batch_window);
        if providers.len() >= MAX_PROVIDERS {
            providers.remove(0);
        }
        providers.push((config, p.clone()));
        Ok(p)
    }

    async fn observe(
        &self,
        r: &ReadingRequest<'_>,
        m: &crate::analysis::resolve::ResolvedMetric,
    ) -> Result<Observation, String> {
        let ro = r.rollout;
        if let Some(p) = &m.metric.probe {
            let prober = self.prober.as_ref().ok_or("no HTTP client for probes")?;
            return prober
                .round(p, &r.canary_ips)
                .await
                .map(Observation::Probe)
                .map_err(|e| e.to_string());
        }
        let st = ro.status.clone().unwrap_or_default();
        let started = st
            .canary_started_at
            .map(|t| t.0)
            .unwrap_or_else(Timestamp::now);
        let elapsed = Timestamp::now().duration_since(started).unsigned_abs();
        let ctx = RenderContext {
            namespace: ro.namespace().unwrap_or_default(),
            rollout: ro.name_any(),
            workload: ro.spec.workload_ref.name.clone(),
            args: m.args.clone(),
            // At least one scrape interval, so `increase(...[{{elapsed}}])` has samples.
            elapsed: elapsed.max(Duration::from_secs(1)),
        };
        let track =
            |name: &str, pods: &[String], rev: Option<&crate::api::Revision>| TrackContext {
                track: name.into(),
                pods: pods.to_vec(),
                revision: rev.map(|r| r.revision.clone()).unwrap_or_default(),
            };
        let stable = track("stable", &r.stable_pods, st.stable.as_ref());
        // Checking readability only: the stable track stands in for the drained canary.
        let canary = if r.readability_only {
            stable.clone()
        } else {
            track("canary", &r.canary_pods, st.canary.as_ref())
        };
        let provider = self.provider(ro, m.prometheus.as_ref()).await?;
        provider.read(&m.metric, &ctx, &canary, &stable).await
    }
}

impl PrometheusAnalysis {
    /// Whether every Prometheus metric can be read again (probes need canary pods and
    /// are left to the readings that follow).
    async fn readable(&self, r: &ReadingRequest<'_>) -> AnalysisReading {
        for m in r.metrics.iter().filter(|m| m.metric.probe.is_none()) {
            if let Err(e) = self.observe(r, m).await {
                return AnalysisReading::error(&format!("{}: {e}", m.metric.name));
            }
        }
        AnalysisReading::readable()
    }
}

impl AnalysisSource for PrometheusAnalysis {
    fn read<'a>(&'a self, r: ReadingRequest<'a>) -> BoxFuture<'a, AnalysisReading> {
        Box::pin(async move {
            if r.readability_only {
                return self.readable(&r).await;
            }
            let mut readings = Vec::with_capacity(r.metrics.len());
            for m in r.metrics {
                readings.push(self.observe(&r, m).await);
            }
            let metrics: Vec<Metric> = r.metrics.iter().map(|m| m.metric.clone()).collect();
            let previous = r
                .rollout
                .status
                .as_ref()
                .and_then(|s| s.analysis.as_ref())
                .map(|a| a.metrics.clone())
                .unwrap_or_default();
            judge::judge(&metrics, &previous, readings)
        })
    }
}
