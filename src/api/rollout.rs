//! `Rollout`: how one Deployment's new releases reach users, in stages, and when they stop.

use super::duration::Duration;
use super::status::RolloutStatus;
use super::template::{Arg, Metric};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A staged release of one Deployment: canary steps, analysis gates, and automatic rollback.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "portcullis.dev",
    version = "v1alpha1",
    kind = "Rollout",
    namespaced,
    status = "RolloutStatus",
    shortname = "ro",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Step","type":"string","jsonPath":".status.stepLabel"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".status.effectiveWeight","description":"share of traffic on the canary, percent"}"#,
    printcolumn = r#"{"name":"Stable","type":"string","jsonPath":".status.stable.revision"}"#,
    printcolumn = r#"{"name":"Canary","type":"string","jsonPath":".status.canary.revision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// The Deployment (same namespace) holding the desired release. It stays the source of
    /// truth; Portcullis keeps it paused and runs a new pod template as a canary first.
    pub workload_ref: WorkloadRef,
    /// The app's Service (the one clients use).
    #[x_kube(validation = Rule::new("self != ''").message("service must name the app's Service"))]
    pub service: String,
    /// How traffic is split between stable and canary. Default: `replicas: {}`.
    #[serde(default)]
    pub traffic: Traffic,
    /// The stages of a release, in order.
    #[x_kube(validation = Rule::new("size(self) > 0").message("steps must not be empty"))]
    pub steps: Vec<Step>,
    /// Measurements that judge the canary against the stable release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
    /// Conditions that must hold before a canary starts or is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Gates>,
    /// How long the canary may take to become ready at a step before the rollout aborts.
    /// Default `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline: Option<Duration>,
    /// How long a release may wait on something outside Portcullis (the router's API,
    /// metrics, webhook gates) before it is rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadlines: Option<Deadlines>,
    /// Webhooks told about rollout events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
    /// How many past revisions `status.history` keeps. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub history_limit: Option<i32>,
}

/// Deadlines for waits on things outside Portcullis. A release that waits past one is
/// rolled back (a canary aborted, a release not yet started rejected), with the reason.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deadlines {
    /// The traffic router's API (e.g. HTTPRoute) missing or failing. Default `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Duration>,
    /// Metrics that cannot be read (the canary is drained meanwhile). Default `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Duration>,
    /// A preRollout or prePromotion webhook that keeps refusing. Default `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Duration>,
}

/// The referenced workload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct WorkloadRef {
    /// Name of an apps/v1 Deployment in the Rollout's namespace.
    #[x_kube(validation = Rule::new("self != ''").message("workloadRef.name must name a Deployment"))]
    pub name: String,
}

/// Exactly one traffic router.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.replicas) != has(self.gatewayAPI)").message("set exactly one traffic router: replicas or gatewayAPI"))]
pub struct Traffic {
    /// Split by the share of ready canary pods behind the app's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<ReplicasRouter>,
    /// Exact weights on a Gateway API HTTPRoute.
    #[serde(
        default,
        rename = "gatewayAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub gateway_api: Option<GatewayApiRouter>,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            replicas: Some(ReplicasRouter {}),
            gateway_api: None,
        }
    }
}

/// The replica-share router has no settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, KubeSchema)]
pub struct ReplicasRouter {}

/// Weights written into one rule of an HTTPRoute, between `<service>-stable` and
/// `<service>-canary` Services that Portcullis owns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayApiRouter {
    /// Name of the HTTPRoute (same namespace).
    #[x_kube(validation = Rule::new("self != ''").message("httpRoute must name an HTTPRoute"))]
    pub http_route: String,
    /// Name of the rule to manage (`spec.rules[].name`); default: the first rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Requests matching these send only to the canary (e.g. staff or synthetic logins),
    /// whatever the weight, while a canary runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_routes: Vec<HeaderRoute>,
}

/// A set of header matches that all must hold (AND).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct HeaderRoute {
    pub name: String,
    #[x_kube(validation = Rule::new("size(self) > 0").message("a header route needs at least one header match"))]
    pub headers: Vec<HeaderMatch>,
}

/// One HTTP header match, as in Gateway API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
    /// `Exact` (default) or `RegularExpression`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub match_type: Option<HeaderMatchType>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum HeaderMatchType {
    Exact,
    RegularExpression,
}

/// One stage: exactly one of `setWeight`, `pause`, `analysis`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1").message("each step must have exactly one of setWeight, pause, analysis"))]
pub struct Step {
    /// Percent of traffic to send to the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub set_weight: Option<i32>,
    /// Hold: for `duration`, or until promoted when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// Hold until the analysis has enough evidence that the canary is not worse (or rejects it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
}

impl Step {
    pub fn set_weight(w: i32) -> Self {
        Step {
            set_weight: Some(w),
            pause: None,
            analysis: None,
        }
    }
    pub fn pause(duration: Option<&str>) -> Self {
        Step {
            set_weight: None,
            pause: Some(Pause {
                duration: duration.map(Duration::from),
            }),
            analysis: None,
        }
    }
    pub fn analysis() -> Self {
        Step {
            set_weight: None,
            pause: None,
            analysis: Some(AnalysisStep::default()),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
pub struct Pause {
    /// Absent: wait until promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStep {
    /// If the evidence is still inconclusive after this long, the rollout pauses for a
    /// human (it never promotes on missing evidence). Default `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
}

/// What to do when metrics cannot be read.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum OnError {
    /// Weight 0, canary kept, until metrics return (then the step's weight is restored).
    #[default]
    Drain,
    /// Hold the current weight and wait for `resume`.
    Pause,
    /// Abort the canary.
    Abort,
}

/// Analysis that runs in the background from `startingStep` and backs `analysis` steps.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    /// How often metrics are read. Default `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Index of the first step during which analysis runs. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub starting_step: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateRef>,
    /// Metrics defined inline, same shape as in an AnalysisTemplate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// Default `drain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnError>,
    /// Consecutive failed readings tolerated before `onError` applies. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub error_limit: Option<i32>,
}

/// A reference to an AnalysisTemplate (or a ClusterAnalysisTemplate with `clusterScope`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cluster_scope: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
}

impl TemplateRef {
    /// The kind it points to, as messages name it.
    pub fn kind(&self) -> &'static str {
        if self.cluster_scope {
            "ClusterAnalysisTemplate"
        } else {
            "AnalysisTemplate"
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Gates {
    /// Periods in which no new canary starts (unless a command overrides it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze_windows: Vec<FreezeWindow>,
    /// Webhooks that must answer 2xx before a canary starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_rollout: Vec<Webhook>,
    /// Webhooks that must answer 2xx before the canary is promoted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_promotion: Vec<Webhook>,
}

/// Either an absolute period (`start`/`end`, RFC 3339) or a weekly one in UTC
/// (`days` plus `from`/`to` as `HH:MM`; `to` before `from` spans midnight).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.start) && has(self.end)) != (has(self.days) && has(self.from) && has(self.to))").message("a freeze window is either start/end or days/from/to"))]
pub struct FreezeWindow {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Weekdays: Mon, Tue, Wed, Thu, Fri, Sat, Sun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// An HTTP check: POST of a JSON document describing the rollout; 2xx passes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub name: String,
    pub url: String,
    /// Default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// The rollout events a notification can subscribe to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NotificationEvent {
    Started,
    Step,
    Paused,
    Aborted,
    Promoted,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub name: String,
    pub url: String,
    /// Empty: all events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<NotificationEvent>,
    /// Default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Defaults the engine applies when a field is absent.
pub mod defaults {
    pub const PROGRESS_DEADLINE_SECS: u64 = 600;
    pub const ROUTER_DEADLINE_SECS: u64 = 300;
    pub const METRICS_DEADLINE_SECS: u64 = 600;
    pub const GATES_DEADLINE_SECS: u64 = 1800;
    /// An analysis step without `maxDuration` pauses for a human after this long.
    pub const ANALYSIS_STEP_MAX_SECS: u64 = 3600;
    pub const ANALYSIS_INTERVAL_SECS: u64 = 10;
    pub const ERROR_LIMIT: i32 = 3;
    pub const HISTORY_LIMIT: usize = 10;
    pub const WEBHOOK_TIMEOUT_SECS: u64 = 5;
}
