//! What the engine decided: the whole desired state, never a delta.

use crate::api::{NotificationEvent, RolloutStatus};

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `None`: change nothing in the cluster (the spec is invalid, or another Rollout
    /// owns the workload) except what `hold` says.
    pub desired: Option<Desired>,
    /// With `desired: None`: keep the workload paused all the same, so that a template
    /// nobody judged cannot reach its pods while the spec is being fixed.
    pub hold: bool,
    pub status: RolloutStatus,
    pub events: Vec<Event>,
    /// Work the controller must do and then decide again (webhook gates).
    pub wants: Wants,
    /// When to look again even if nothing changes.
    pub requeue_after: Option<std::time::Duration>,
}

/// The state the cluster should be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The referenced Deployment's `spec.paused`.
    pub workload_paused: bool,
    /// The owned canary Deployment; `None` = delete it.
    pub canary: Option<CanaryDesired>,
    /// Percent of traffic on the canary.
    pub weight: i32,
    /// Header routes send matching requests to the canary.
    pub header_routes: bool,
    /// The revision the stable track serves (the gatewayAPI router's stable Service
    /// selects its pods).
    pub stable_revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryDesired {
    /// The revision (pod template) the canary runs: always the workload's current one.
    pub revision: String,
    pub replicas: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes Event to emit (and, with `notify`, a notification to send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub type_: EventType,
    pub reason: String,
    pub message: String,
    pub notify: Option<NotificationEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wants {
    /// Call the preRollout webhooks and decide again with their results.
    pub pre_rollout_gate: bool,
    /// Call the prePromotion webhooks and decide again with their results.
    pub pre_promotion_gate: bool,
}
