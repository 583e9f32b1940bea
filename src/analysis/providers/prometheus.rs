//! Prometheus: instant queries per track through `prometheus-http-query`, with an HTTP
//! timeout per query, optional bearer or basic credentials, and TLS verification on
//! unless the template opts out. Anything that is not one finite number (an error, an
//! empty result, NaN, several series) is no observation. Stable's `counts` are read split
//! by pod when the query allows it (`by_pod`), for the judge's measure of burstiness.
//! With [`PrometheusProvider::batching`], count queries of many readings (one provider
//! shared by every Rollout) go out together (`batch`, `coalesce`).

use super::batch::{self, Sample, TrackQuery};
use super::by_pod::{POD_LABEL, by_pod};
use super::coalesce::{Coalescer, Samples};
use crate::analysis::judge::{Counts, Observation};
use crate::analysis::render::{RenderContext, TrackContext, render};
use crate::api::{Metric, PrometheusSource, metric_defaults};
use base64::Engine;
use prometheus_http_query::{Client, Error as PhqError};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use std::sync::Arc;
use std::time::Duration;

/// Credentials the controller read from the Secret named in `prometheus.auth`.
#[derive(Clone, PartialEq)]
pub enum Credentials {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

impl Credentials {
    fn header(&self) -> Result<HeaderValue, ConfigError> {
        let value = match self {
            Credentials::Bearer(token) => format!("Bearer {}", token.trim()),
            Credentials::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
        };
        let mut v = HeaderValue::from_str(&value).map_err(|_| ConfigError::Credentials)?;
        v.set_sensitive(true);
        Ok(v)
    }
}

/// Where and how to query.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// e.g. `http://prometheus.monitoring:9090`.
    pub address: String,
    pub credentials: Option<Credentials>,
    /// HTTP timeout of each query (also sent as PromQL's server-side timeout).
    pub timeout: Duration,
    pub insecure_skip_tls_verify: bool,
}

impl PrometheusConfig {
    pub fn new(address: &str) -> Self {
        PrometheusConfig {
            address: address.to_string(),
            credentials: None,
            timeout: Duration::from_secs(metric_defaults::QUERY_TIMEOUT_SECS),
            insecure_skip_tls_verify: false,
        }
    }

    /// From a template's `prometheus` block and the credentials its Secret holds.
    pub fn from_source(
        source: &PrometheusSource,
        credentials: Option<Credentials>,
    ) -> Result<Self, ConfigError> {
        let timeout = match &source.timeout {
            Some(d) => d
                .parse()
                .map_err(|e| ConfigError::Timeout(format!("{d}: {e}")))?,
            None => Duration::from_secs(metric_defaults::QUERY_TIMEOUT_SECS),
        };
        Ok(PrometheusConfig {
            address: source.address.clone(),
            credentials,
            timeout,
            insecure_skip_tls_verify: source.insecure_skip_tls_verify,
        })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("prometheus.address `{address}` is not an http(s) URL: {reason}")]
    Address { address: String, reason: String },
    #[error("prometheus.timeout {0}")]
    Timeout(String),
    #[error("the Prometheus credentials contain characters not allowed in an HTTP header")]
    Credentials,
    #[error("cannot build the HTTP client for Prometheus: {0}")]
    Client(String),
}

/// Why a query gave no observation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    #[error("query to Prometheus at {address} failed: {detail}")]
    Failed { address: String, detail: String },
    #[error("Prometheus rejected `{query}`: {detail}")]
    Rejected { query: String, detail: String },
    #[error("`{query}` returned no series (no traffic yet, or a selector that matches nothing)")]
    Empty { query: String },
    #[error("`{query}` returned NaN (0/0: no traffic in the window)")]
    NotANumber { query: String },
    #[error(
        "`{query}` returned {series} series; aggregate it to one value per track (e.g. sum(...))"
    )]
    ManySeries { query: String, series: usize },
    #[error("`{query}` returned a range vector; use an instant query")]
    Matrix { query: String },
}

/// A Prometheus server to read metrics from.
#[derive(Clone)]
pub struct PrometheusProvider {
    client: Client,
    address: String,
    timeout: Duration,
    /// Evaluation time (unix seconds) of every query; `None`: now.
    at: Option<i64>,
    batches: Option<Arc<Coalescer>>,
}

impl std::fmt::Debug for PrometheusProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusProvider")
            .field("address", &self.address)
            .field("timeout", &self.timeout)
            .field("at", &self.at)
            .field("batching", &self.batches.is_some())
            .finish()
    }
}

impl PrometheusProvider {
    /// Installs the process-wide TLS provider if nobody has yet (see `install_crypto_provider`).
    pub fn new(config: &PrometheusConfig) -> Result<Self, ConfigError> {
        crate::install_crypto_provider();
        let bad = |reason: &str| ConfigError::Address {
            address: config.address.clone(),
            reason: reason.to_string(),
        };
        if !(config.address.starts_with("http://") || config.address.starts_with("https://")) {
            return Err(bad("it must start with http:// or https://"));
        }
        let mut headers = HeaderMap::new();
        if let Some(c) = &config.credentials {
            headers.insert(AUTHORIZATION, c.header()?);
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .default_headers(headers)
            .danger_accept_invalid_certs(config.insecure_skip_tls_verify)
            .build()
            .map_err(|e| ConfigError::Client(chain(&e)))?;
        let client = Client::from(http, &config.address).map_err(|e| bad(&e.to_string()))?;
        Ok(PrometheusProvider {
            client,
            address: config.address.clone(),
            timeout: config.timeout,
            at: None,
            batches: None,
        })
    }

    /// Sends batchable count queries together with those of other readings through this
    /// provider (or its clones) that arrive within `window`; zero: each alone.
    pub fn batching(mut self, window: Duration) -> Self {
        self.batches = (!window.is_zero()).then(|| Arc::new(Coalescer::new(window)));
        self
    }

    /// Evaluates every query at `unix_secs` instead of now (tests, replays).
    pub fn at(mut self, unix_secs: i64) -> Self {
        self.at = Some(unix_secs);
        self
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// One instant query's samples with their `pod` and batch-arm labels (`post` for
    /// long queries).
    pub(super) async fn answer(&self, query: &str, post: bool) -> Result<Vec<Sample>, ReadError> {
        let mut builder = self
            .client
            .query(query)
            .timeout(self.timeout.as_millis() as i64);
        if let Some(t) = self.at {
            builder = builder.at(t);
        }
        let result = if post {
            builder.post().await
        } else {
            builder.get().await
        };
        let result = result.map_err(|e| match e {
            PhqError::Prometheus(p) => ReadError::Rejected {
                query: query.to_string(),
                detail: p.to_string(),
            },
            other => ReadError::Failed {
                address: self.address.clone(),
                detail: chain(&other),
            },
        })?;
        match result.data() {
            prometheus_http_query::response::Data::Vector(v) => Ok(v
                .iter()
                .map(|s| Sample {
                    arm: s.metric().get(batch::ARM_LABEL).cloned(),
                    pod: s.metric().get(POD_LABEL).cloned(),
                    value: s.sample().value(),
                })
                .collect()),
            prometheus_http_query::response::Data::Scalar(s) => Ok(vec![Sample {
                arm: None,
                pod: None,
                value: s.value(),
            }]),
            prometheus_http_query::response::Data::Matrix(_) => Err(ReadError::Matrix {
                query: query.to_string(),
            }),
        }
    }

    /// One instant query's series: each one's `pod` label (if any) and finite value.
    async fn samples(&self, query: &str) -> Result<Samples, ReadError> {
        let samples = self.answer(query, false).await?;
        finite(
            query,
            samples.into_iter().map(|s| (s.pod, s.value)).collect(),
        )
    }

    /// One instant query that must return exactly one finite number.
    pub async fn value(&self, query: &str) -> Result<f64, ReadError> {
        match self.samples(query).await?.as_slice() {
            [] => Err(ReadError::Empty {
                query: query.to_string(),
            }),
            [(_, one)] => Ok(*one),
            many => Err(ReadError::ManySeries {
                query: query.to_string(),
                series: many.len(),
            }),
        }
    }

    /// A track's counts, split by pod when both queries can be ([`by_pod`]); the
    /// track's totals are then the sums over pods.
    async fn track_counts(
        &self,
        failures: &str,
        total: &str,
    ) -> Result<(Counts, Vec<Counts>), String> {
        let v = |r: Result<f64, ReadError>| r.map_err(|e| e.to_string());
        let (Some(fq), Some(tq)) = (by_pod(failures), by_pod(total)) else {
            let (f, t) = futures::join!(self.value(failures), self.value(total));
            return Ok((Counts::new(v(f)?, v(t)?), vec![]));
        };
        let (f, t) = futures::join!(self.samples(&fq), self.samples(&tq));
        tally(f, t, &tq).map_err(|e| e.to_string())
    }

    /// A track's counts and its pods', through a batch when both of its queries can
    /// share one; `None` when they cannot.
    async fn batched_counts(
        &self,
        c: &crate::api::CountsMetric,
        ctx: &RenderContext,
        track: &TrackContext,
    ) -> Option<Result<(Counts, Vec<Counts>), String>> {
        let batches = self.batches.as_ref()?;
        let request = |template: &str| TrackQuery {
            template: template.to_string(),
            ctx: ctx.clone(),
            track: track.clone(),
        };
        let (fq, tq) = (request(&c.failures), request(&c.total));
        let (fs, ts) = (batch::slot(&fq)?, batch::slot(&tq)?);
        let own = render(&c.total, ctx, track).unwrap_or_default();
        let (f, t) = futures::join!(batches.request(self, fq, fs), batches.request(self, tq, ts));
        let check = |r: Result<Samples, ReadError>| r.and_then(|s| finite(&own, s));
        Some(tally(check(f), check(t), &own).map_err(|e| e.to_string()))
    }

    /// Reads a `counts` or `query` metric for both tracks (probes are not Prometheus's).
    pub async fn read(
        &self,
        metric: &Metric,
        ctx: &RenderContext,
        canary: &TrackContext,
        stable: &TrackContext,
    ) -> Result<Observation, String> {
        let q = |template: &str, track: &TrackContext| {
            render(template, ctx, track).map_err(|e| format!("{}: {e}", track.track))
        };
        if let Some(c) = &metric.counts
            && let (Some(canary), Some(stable)) = futures::join!(
                self.batched_counts(c, ctx, canary),
                self.batched_counts(c, ctx, stable)
            )
        {
            // The canary's pods are judged whole (as unbatched below).
            let ((canary, _), (stable, stable_pods)) = (canary?, stable?);
            return Ok(Observation::Counts {
                canary,
                stable,
                stable_pods,
            });
        }
        if let Some(c) = &metric.counts {
            let (cf, ct) = (q(&c.failures, canary)?, q(&c.total, canary)?);
            let (sf, st) = (q(&c.failures, stable)?, q(&c.total, stable)?);
            let v = |r: Result<f64, ReadError>| r.map_err(|e| e.to_string());
            // Stable's pods tell how bursty failures are; the canary's few pods are
            // what is being judged, so they are read whole.
            let (cf, ct, stable) = futures::join!(
                self.value(&cf),
                self.value(&ct),
                self.track_counts(&sf, &st)
            );
            let (stable, stable_pods) = stable?;
            return Ok(Observation::Counts {
                canary: Counts::new(v(cf)?, v(ct)?),
                stable,
                stable_pods,
            });
        }
        if let Some(m) = &metric.query {
            // Stable's value is read even without `compareToStable`: an absolute bound is
            // judged against stable's breaches too (`judge::query`).
            let canary_q = q(&m.query, canary)?;
            let stable_q = q(&m.query, stable)?;
            let (c, s) = futures::join!(self.value(&canary_q), self.value(&stable_q));
            return Ok(Observation::Value {
                canary: c.map_err(|e| e.to_string())?,
                stable: Some(s.map_err(|e| e.to_string())?),
            });
        }
        Err(format!(
            "metric `{}` is not read from Prometheus",
            metric.name
        ))
    }
}

/// `samples` unless one is NaN (`query` names them in the error).
fn finite(query: &str, samples: Samples) -> Result<Samples, ReadError> {
    if samples.iter().any(|(_, v)| v.is_nan()) {
        return Err(ReadError::NotANumber {
            query: query.to_string(),
        });
    }
    Ok(samples)
}

/// A track's counts from its failures and totals split by pod; no total series at all
/// is no observation (`total_query` names it).
fn tally(
    failures: Result<Samples, ReadError>,
    total: Result<Samples, ReadError>,
    total_query: &str,
) -> Result<(Counts, Vec<Counts>), ReadError> {
    let (f, t) = (failures?, total?);
    if t.is_empty() {
        return Err(ReadError::Empty {
            query: total_query.to_string(),
        });
    }
    let sum = |xs: &[(Option<String>, f64)]| xs.iter().map(|(_, x)| x).sum::<f64>();
    let pods = t
        .iter()
        .filter_map(|(pod, total)| {
            let pod = pod.as_ref()?;
            let failed = f
                .iter()
                .filter(|(p, _)| p.as_ref() == Some(pod))
                .map(|(_, x)| x)
                .sum();
            Some(Counts::new(failed, *total))
        })
        .collect();
    Ok((Counts::new(sum(&f), sum(&t)), pods))
}

/// An error with its sources, so "failed to send request" says why.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
