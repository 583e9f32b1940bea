//! `probe` metrics: one synthetic HTTP request to each canary pod (by pod IP, bypassing
//! Services and routers), counted as failures out of a total like `counts`. A refused
//! connection, a timeout or an unexpected status is a failure; having no pod to probe is
//! no observation. The controller calls [`Prober::round`] every `period` and sums the
//! rounds between two analysis readings into one `Observation::Probe`.

use crate::analysis::judge::Counts;
use crate::api::{ProbeMetric, metric_defaults};
use std::net::IpAddr;
use std::time::Duration;

/// How often a probe runs (`period`, default 5 s).
pub fn period(probe: &ProbeMetric) -> Duration {
    probe
        .period
        .as_ref()
        .and_then(|d| d.parse().ok())
        .unwrap_or(Duration::from_secs(metric_defaults::PROBE_PERIOD_SECS))
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error("no canary pod has an IP to probe yet")]
    NoPods,
    #[error("probe.method `{0}` is not an HTTP method")]
    Method(String),
    #[error("probe header `{0}` is not a valid HTTP header")]
    Header(String),
    #[error("cannot build the HTTP client for probes: {0}")]
    Client(String),
}

/// Sends probes; one per process is enough.
#[derive(Debug, Clone)]
pub struct Prober {
    http: reqwest::Client,
}

impl Prober {
    /// `timeout` bounds each request (a probe slower than that is a failure).
    pub fn new(timeout: Duration) -> Result<Self, ProbeError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // Probes talk to one pod, never to whatever a redirect points at.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProbeError::Client(e.to_string()))?;
        Ok(Prober { http })
    }

    /// One request to every pod; the failures and total of this round.
    pub async fn round(&self, probe: &ProbeMetric, pods: &[IpAddr]) -> Result<Counts, ProbeError> {
        if pods.is_empty() {
            return Err(ProbeError::NoPods);
        }
        let method_name = probe.method.as_deref().unwrap_or("GET");
        let method = reqwest::Method::from_bytes(method_name.as_bytes())
            .map_err(|_| ProbeError::Method(method_name.to_string()))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for h in &probe.headers {
            let name = reqwest::header::HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| ProbeError::Header(h.name.clone()))?;
            let value = reqwest::header::HeaderValue::from_str(&h.value)
                .map_err(|_| ProbeError::Header(h.name.clone()))?;
            headers.insert(name, value);
        }
        let path = if probe.path.starts_with('/') {
            probe.path.clone()
        } else {
            format!("/{}", probe.path)
        };
        let requests = pods.iter().map(|ip| {
            let host = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            let mut req = self
                .http
                .request(
                    method.clone(),
                    format!("http://{host}:{}{path}", probe.port),
                )
                .headers(headers.clone());
            if let Some(body) = &probe.body {
                req = req.body(body.clone());
            }
            async move {
                match req.send().await {
                    Ok(resp) => expected(probe, resp.status().as_u16()),
                    Err(_) => false,
                }
            }
        });
        let results = futures::future::join_all(requests).await;
        let failures = results.iter().filter(|ok| !**ok).count();
        Ok(Counts::new(failures as f64, results.len() as f64))
    }
}

fn expected(probe: &ProbeMetric, status: u16) -> bool {
    if probe.expected_statuses.is_empty() {
        (200..300).contains(&status)
    } else {
        probe.expected_statuses.contains(&i32::from(status))
    }
}
