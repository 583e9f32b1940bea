//! `AnalysisTemplate` / `ClusterAnalysisTemplate`: reusable measurements that judge a
//! canary against its stable release.

use super::duration::Duration;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A namespaced set of analysis metrics.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "portcullis.dev",
    version = "v1alpha1",
    kind = "AnalysisTemplate",
    namespaced,
    shortname = "at"
)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    /// Overrides the controller's default Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    #[x_kube(validation = Rule::new("size(self) > 0").message("a template needs at least one metric"))]
    pub metrics: Vec<Metric>,
}

/// The same as an AnalysisTemplate, usable from every namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "portcullis.dev",
    version = "v1alpha1",
    kind = "ClusterAnalysisTemplate",
    shortname = "cat"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAnalysisTemplateSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    #[x_kube(validation = Rule::new("size(self) > 0").message("a template needs at least one metric"))]
    pub metrics: Vec<Metric>,
}

impl From<ClusterAnalysisTemplateSpec> for AnalysisTemplateSpec {
    fn from(c: ClusterAnalysisTemplateSpec) -> Self {
        AnalysisTemplateSpec {
            args: c.args,
            prometheus: c.prometheus,
            metrics: c.metrics,
        }
    }
}

/// A template argument: declared in a template (value = default), given in a Rollout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct Arg {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Arg {
    pub fn new(name: &str, value: &str) -> Self {
        Arg {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// Where to read metrics.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSource {
    /// e.g. `http://prometheus.monitoring:9090`.
    pub address: String,
    /// Credentials read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<PrometheusAuth>,
    /// Per-query HTTP timeout. Default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// TLS verification is on unless this is true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_tls_verify: bool,
}

/// A Secret holding a bearer token or a username and password.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.bearerTokenKey) != (has(self.usernameKey) && has(self.passwordKey))").message("use either bearerTokenKey or usernameKey and passwordKey"))]
pub struct PrometheusAuth {
    pub secret_name: String,
    /// Default: the Rollout's namespace (for a ClusterAnalysisTemplate, the controller's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_key: Option<String>,
}

/// One measurement: exactly one of `counts`, `query`, `probe`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("(has(self.counts) ? 1 : 0) + (has(self.query) ? 1 : 0) + (has(self.probe) ? 1 : 0) == 1").message("each metric must have exactly one of counts, query, probe"))]
pub struct Metric {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<CountsMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeMetric>,
}

/// Failures out of a total, per track, judged by a sequential canary-vs-stable test.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountsMetric {
    /// PromQL: failures since the canary started (cumulative), per track.
    pub failures: String,
    /// PromQL: all attempts since the canary started (cumulative), per track.
    pub total: String,
    /// Absolute ceiling on the canary's failure ratio (checked with a confidence bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_ratio: Option<f64>,
    /// Tolerated relative increase over stable (0.2 = 20% worse). Default 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_increase: Option<f64>,
    /// 1 − the tolerated false-rollback probability. Default 0.99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 1.0").message("confidence must be strictly between 0 and 1"))]
    pub confidence: Option<f64>,
    /// No verdict before the canary has this many attempts. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_total: Option<i64>,
}

/// One value per track, with bounds. A reading is out of bounds for a track when its
/// value is below `min`, above `max` or (with `compareToStable`) more than `maxIncrease`
/// above the other track's. The canary is rolled back on evidence that it is out of
/// bounds alone more often than stable is (a sequential sign test within the
/// `confidence` budget), never on one reading.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryMetric {
    /// PromQL returning one value per track.
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Also out of bounds when canary > stable × (1 + maxIncrease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_to_stable: Option<StableComparison>,
    /// The verdict fails only when the last this many readings were out of bounds for
    /// the canary, besides the evidence. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_limit: Option<i32>,
    /// 1 − the tolerated false-rollback probability. Default 0.99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 1.0").message("confidence must be strictly between 0 and 1"))]
    pub confidence: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StableComparison {
    #[schemars(range(min = 0.0))]
    pub max_increase: f64,
}

/// A synthetic HTTP request sent straight to canary pods, counted like `counts`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeMetric {
    /// Default `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub path: String,
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ProbeHeader>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Statuses that count as success. Default: any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_statuses: Vec<i32>,
    /// Default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Duration>,
    /// Ceiling on the failing share of probes. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 1.0").message("confidence must be strictly between 0 and 1"))]
    pub confidence: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct ProbeHeader {
    pub name: String,
    pub value: String,
}

/// Defaults applied when a field is absent.
pub mod metric_defaults {
    pub const MAX_INCREASE: f64 = 0.2;
    pub const CONFIDENCE: f64 = 0.99;
    pub const QUERY_TIMEOUT_SECS: u64 = 5;
    pub const PROBE_PERIOD_SECS: u64 = 5;
}
