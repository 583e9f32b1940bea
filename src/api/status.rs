//! What Portcullis reports about a Rollout. Everything the engine needs to resume after a
//! restart lives here, so the controller holds no state of its own.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// One sentence on what is happening and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Progressing`, `Paused`, `Analysis`, `Valid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The release serving users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<Revision>,
    /// The release under test, while there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Revision>,
    /// Index into `spec.steps` of the step in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<i32>,
    /// `N/M` for `kubectl get` (1-based; `M/M` while promoting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_started_at: Option<Time>,
    /// Percent of traffic the current step asks for.
    #[serde(default)]
    pub desired_weight: i32,
    /// Percent of traffic the router reports on the canary.
    #[serde(default)]
    pub effective_weight: i32,
    /// What the release waits on outside Portcullis, and until when; absent when it
    /// waits on nothing (or on a person: see `pauseReason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Wait>,
    /// Why the rollout is paused, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<PauseReason>,
    /// Where promotion stands, while promoting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_stage: Option<PromotionStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_abort: Option<AbortRecord>,
    /// Revisions that failed and are not retried until a `retry` command or a new template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_revisions: Vec<String>,
    /// Past revisions, newest first, at most `spec.historyLimit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// The last command seen, and what was done with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_command: Option<CommandAck>,
    /// A revision allowed to start inside a freeze window by an explicit command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_override: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum Phase {
    /// Stable release serving, nothing in flight.
    Idle,
    /// A new release waits: freeze window, a gate, or a rejected revision.
    Blocked,
    Progressing,
    Paused,
    Promoting,
    Succeeded,
    Aborted,
    InvalidSpec,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Idle => "Idle",
            Phase::Blocked => "Blocked",
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::Promoting => "Promoting",
            Phase::Succeeded => "Succeeded",
            Phase::Aborted => "Aborted",
            Phase::InvalidSpec => "InvalidSpec",
        }
    }
}

/// A release: Portcullis' hash of the pod template, and its images.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Revision {
    pub revision: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

/// `<revision> (<image>, ...)`: how messages, events and the CLI name a release. The
/// revision is cut to 10 characters, the length Portcullis' own hashes have.
impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r: String = self.revision.chars().take(10).collect();
        if self.images.is_empty() {
            f.write_str(&r)
        } else {
            write!(f, "{r} ({})", self.images.join(", "))
        }
    }
}

/// A wait on something outside Portcullis, with its deadline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Wait {
    #[serde(rename = "for")]
    pub for_: WaitFor,
    pub since: Time,
    /// When the release is rolled back if the wait has not ended.
    pub deadline: Time,
}

/// What a release waits on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum WaitFor {
    /// Ready canary pods, or Kubernetes rolling the promoted template out
    /// (`spec.progressDeadline`).
    Pods,
    /// Metrics that can be read (`spec.deadlines.metrics`).
    Metrics,
    /// A webhook gate that refuses (`spec.deadlines.gates`).
    Gate,
    /// The traffic router's API (`spec.deadlines.router`).
    Router,
}

impl WaitFor {
    pub fn as_str(&self) -> &'static str {
        match self {
            WaitFor::Pods => "pods",
            WaitFor::Metrics => "metrics",
            WaitFor::Gate => "a gate",
            WaitFor::Router => "the traffic router",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum PauseReason {
    /// A `pause` step without duration: waits for `promote`.
    Step,
    /// The `pause` command: waits for `resume`.
    User,
    /// Metrics could not be read and `onError: pause`: waits for `resume`.
    AnalysisError,
    /// An analysis step ran out of time without enough evidence: waits for `promote`.
    AnalysisInconclusive,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum PromotionStage {
    /// The canary grows to full size; the stable track is untouched.
    ScalingCanary,
    /// The workload is unpaused and Kubernetes rolls it out.
    RollingOut,
    /// Rolled out; traffic moves to the new stable and the canary is removed.
    Finalizing,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Verdict {
    /// Enough evidence that the canary is not worse than the tolerance.
    Pass,
    /// Evidence that the canary is worse: abort.
    Fail,
    /// Not enough evidence either way yet.
    Inconclusive,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStatus {
    /// Combined verdict over all metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Readings in a row that failed (Prometheus down, empty results, ...).
    #[serde(default)]
    pub consecutive_errors: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Traffic is drained (weight 0) until metrics can be read again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// When the canary was first drained for unreadable metrics, kept until the canary is
    /// measured again: the metrics deadline runs from here, through any restore and
    /// drain again, so a canary that never reports cannot come and go for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_since: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reading_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricResult>,
}

/// One metric's latest numbers and verdict, so a human can see why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<TrackReading>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<TrackReading>,
    /// Readings taken.
    #[serde(default)]
    pub samples: i64,
    /// The test statistic: an e-value against "the canary is no worse" (count, probe and
    /// query metrics); the metric fails at ≥ 1/alpha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Canary/stable failure-rate ratio estimate (count metrics), with `ratioLower` and
    /// `ratioUpper`: a 1 − alpha confidence sequence, which holds the true ratio at every
    /// reading at once with probability ≥ 1 − alpha, so it may be read at any time
    /// (`ratioUpper` is 1e12 when nothing above is ruled out yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_lower: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_upper: Option<f64>,
    /// Readings in a row in which the canary was out of bounds (query metrics).
    #[serde(default)]
    pub consecutive_failures: i32,
    #[serde(default)]
    pub errors: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The early-pass statistic: e-value against "the canary is worse than the
    /// tolerance"; the metric passes at ≥ 1/alpha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_evidence: Option<f64>,
    /// Upper 1 − alpha bound on the canary's failure ratio (count and probe metrics): a
    /// confidence sequence, valid at whatever reading it is looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_ratio_upper: Option<f64>,
    /// How many times more spread than independent attempts stable's failure counts
    /// are (count metrics), or how persistent stable's value is, about the length of its
    /// runs on one side of its mean (query metrics); the log-evidence is divided by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispersion: Option<f64>,
    /// The judge's running state, so a restart loses no evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SequentialState>,
}

impl MetricResult {
    /// A new weight step: evidence that the canary is *not worse* was gathered under
    /// less load and must be earned again, so a regression that shows only under more
    /// traffic cannot ride on an earlier pass. Evidence that it *is* worse carries on
    /// (one test over the whole canary keeps false rollbacks within α). The numbers
    /// shown stay those of the last reading; the next one starts from here.
    pub fn forget_pass_evidence(&mut self) {
        if let Some(s) = self.state.as_mut() {
            s.not_worse.clear();
            s.below_ceiling.clear();
        }
    }
}

/// Log-evidence of each mixture component of the sequential tests (see
/// `analysis::judge`), accumulated over every reading since the canary started.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequentialState {
    /// Against "canary ≤ (1 + maxIncrease) × stable": large means the canary is worse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worse: Vec<f64>,
    /// Against "canary ≥ (1 + maxIncrease) × stable": large means the canary is fine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_worse: Vec<f64>,
    /// Against "canary failure ratio ≤ maxRatio".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub above_ceiling: Vec<f64>,
    /// Against "canary failure ratio ≥ maxRatio".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub below_ceiling: Vec<f64>,
    /// The `ρ₀ = 1 + maxIncrease` that `worse`/`notWorse` were computed for; when the spec
    /// changes it, those tests start over from the next reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// The ceiling that `aboveCeiling`/`belowCeiling` were computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<f64>,
    /// How spread stable's failure counts (or, for query metrics, how persistent
    /// stable's value) are (running sums; see `analysis::judge::dispersion`): the tests
    /// divide their log-evidence by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dispersion: Vec<f64>,
    /// Log-likelihood of the rate ratio at each point of a fixed grid, up to a constant
    /// (count metrics; see `analysis::judge::confidence`): the confidence sequence shown
    /// as `ratioLower`/`ratioUpper`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ratio_likelihood: Vec<f64>,
    /// A query metric's tally (see `analysis::judge::query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryState>,
}

/// What a query metric's sign test has counted so far.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryState {
    /// Readings in which the canary alone was out of bounds.
    #[serde(default)]
    pub canary_alone: i64,
    /// Readings in which stable alone was out of bounds.
    #[serde(default)]
    pub stable_alone: i64,
    /// Stable's mean value so far, and over how many readings: the reference that
    /// tells how long stable's value stays on one side (its persistence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_mean: Option<f64>,
    #[serde(default)]
    pub stable_readings: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
pub struct TrackReading {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbortRecord {
    pub revision: Revision,
    pub reason: String,
    pub at: Time,
    /// Failed requests on the canary beyond what the stable rate predicts, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_failed_requests: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Outcome {
    Promoted,
    Aborted,
    Superseded,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub revision: Revision,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    pub ended_at: Time,
}

/// Acknowledgement of a command (see `api::command`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandAck {
    pub id: String,
    pub verb: String,
    /// False when the command did not apply in the current state (the message says why).
    pub accepted: bool,
    pub message: String,
    pub at: Time,
}
