//! What the controller observed, in the engine's terms (no Kubernetes types).

use crate::api::validate::FieldError;
use crate::api::{MetricResult, Revision, Verdict};

/// Everything the engine needs to know about the world for one decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// The referenced Deployment; `None` when it does not exist.
    pub workload: Option<WorkloadObservation>,
    /// The owned `<name>-canary` Deployment; `None` when absent.
    pub canary: Option<CanaryObservation>,
    /// Percent of traffic the router reports on the canary (for `replicas`: the ready-pod
    /// share; for `gatewayAPI`: the canary backend's weight in the HTTPRoute rule).
    pub routed_weight: i32,
    /// A fresh analysis reading, when one was taken for this decision.
    pub analysis: Option<AnalysisReading>,
    /// The raw value of the command annotation, if present.
    pub command: Option<String>,
    /// Webhook gate results, when the controller called them for this decision.
    pub gates: GateResults,
    /// Problems only the controller can see: a missing template, an unknown arg, PromQL
    /// that does not parse, a missing HTTPRoute.
    pub spec_errors: Vec<FieldError>,
    /// The traffic router's API is not served or fails (what, in a sentence). The
    /// workload stays paused and nothing new starts until it is back or the router
    /// deadline passes.
    pub router_unavailable: Option<String>,
    /// Another Rollout (named) already manages the workload: this one changes nothing.
    pub owner_conflict: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkloadObservation {
    /// Portcullis' hash of the Deployment's pod template, and its images.
    pub revision: Revision,
    /// `spec.replicas` of the Deployment (the stable track's size).
    pub replicas: i32,
    pub paused: bool,
    /// Kubernetes finished rolling the current template out: every replica updated and
    /// available, no old pods left, status observed for the latest generation.
    pub rolled_out: bool,
    pub ready_replicas: i32,
    /// While the template is not rolled out: the release of the ReplicaSet that serves
    /// the most ready pods besides it (what ran before the template changed), if any.
    pub serving: Option<Revision>,
    /// Pods of the current template (Kubernetes' `status.updatedReplicas`).
    pub updated_replicas: i32,
    /// Revisions recorded as rejected on the Deployment itself, so a Rollout created
    /// again still refuses them.
    pub rejected_revisions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CanaryObservation {
    pub revision: String,
    pub replicas: i32,
    pub ready_replicas: i32,
}

/// One reading of all metrics, already judged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalysisReading {
    /// `None` when the metrics could not be read (see `error`): no observation, never a
    /// pass or a fail.
    pub verdict: Option<Verdict>,
    pub error: Option<String>,
    pub metrics: Vec<MetricResult>,
    /// Only checked that metrics can be read again (a drained canary has no pods to
    /// measure): no verdict, and the judge's evidence is untouched.
    pub readability_only: bool,
}

impl AnalysisReading {
    pub fn verdict(verdict: Verdict) -> Self {
        AnalysisReading {
            verdict: Some(verdict),
            ..Default::default()
        }
    }
    pub fn error(message: &str) -> Self {
        AnalysisReading {
            verdict: None,
            error: Some(message.to_string()),
            metrics: Vec::new(),
            readability_only: false,
        }
    }
    /// Metrics can be read again (see `readability_only`).
    pub fn readable() -> Self {
        AnalysisReading {
            readability_only: true,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateResults {
    pub pre_rollout: Option<GateOutcome>,
    pub pre_promotion: Option<GateOutcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GateOutcome {
    Passed,
    /// Which webhook refused, and what it said.
    Failed(String),
}
