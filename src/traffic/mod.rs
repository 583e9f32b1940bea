//! Traffic routers: turn the engine's desired weight into the objects that make it so,
//! and read back the weight actually in effect. One router per file behind one trait;
//! adding a router touches nothing else.
//!
//! Routers are pure: they get the live objects they need and return the objects to
//! write. The controller does the I/O.

mod gateway_api;
mod replicas;

pub use gateway_api::GatewayApi;
pub use replicas::Replicas;

use crate::api::RolloutSpec;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::Value;
use std::collections::BTreeMap;

/// Pod label that marks canary pods (and selects them in the canary Service).
pub const TRACK_LABEL: &str = "portcullis.dev/track";
pub const CANARY_TRACK: &str = "canary";
/// Kubernetes' label on the pods of one ReplicaSet.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// What a router needs to know to build its objects.
#[derive(Debug, Clone)]
pub struct RouteContext<'a> {
    pub namespace: &'a str,
    /// The app's Service (`spec.service`), as it is in the cluster.
    pub service: &'a Service,
    /// `pod-template-hash` of the stable ReplicaSet, when known.
    pub stable_pod_template_hash: Option<&'a str>,
    /// Owner reference to the Rollout, so owned objects go when it goes.
    pub owner: &'a OwnerReference,
    /// Percent of traffic for the canary.
    pub weight: i32,
    /// Send requests matching the spec's header routes to the canary.
    pub header_routes: bool,
    /// The Rollout is being deleted, or has no canary: route everything back to the
    /// app's Service.
    pub restore: bool,
}

/// What the router reports as in effect.
#[derive(Debug, Clone, Default)]
pub struct TrafficObservation<'a> {
    pub canary_ready: i32,
    pub stable_ready: i32,
    /// The live HTTPRoute, for routers that use one.
    pub route: Option<&'a Value>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrafficError {
    #[error(
        "HTTPRoute `{route}` has no rule named `{rule}`; set spec.traffic.gatewayAPI.rule to one of: {known}"
    )]
    NoSuchRule {
        route: String,
        rule: String,
        known: String,
    },
    #[error("HTTPRoute `{0}` has no rules; add one that sends traffic to the app's Service")]
    NoRules(String),
    #[error(
        "Service `{0}` has no selector; Portcullis needs one to tell stable and canary pods apart"
    )]
    NoSelector(String),
    #[error("Service `{0}` has no ports")]
    NoPorts(String),
}

/// One way of splitting traffic between the stable and canary tracks.
pub trait TrafficRouter: Send + Sync {
    /// Services this router owns, to be server-side applied (empty: none).
    fn services(&self, cx: &RouteContext<'_>) -> Result<Vec<Service>, TrafficError>;
    /// The HTTPRoute as it should be, given the live one (`None`: the router uses none).
    fn route(&self, cx: &RouteContext<'_>, live: &Value) -> Result<Option<Value>, TrafficError>;
    /// Percent of traffic on the canary right now.
    fn effective_weight(&self, obs: &TrafficObservation<'_>) -> i32;
    /// Name of the HTTPRoute the router edits, if any (the controller watches it).
    fn route_name(&self) -> Option<&str>;
}

/// The router the spec asks for.
pub fn router_for(spec: &RolloutSpec) -> Box<dyn TrafficRouter> {
    match &spec.traffic.gateway_api {
        Some(g) => Box::new(GatewayApi::new(&spec.service, g.clone())),
        None => Box::new(Replicas),
    }
}

/// The app Service's selector, or an error naming the Service.
pub(crate) fn selector(service: &Service) -> Result<BTreeMap<String, String>, TrafficError> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TrafficError::NoSelector(name_of(service)))
}

pub(crate) fn name_of(service: &Service) -> String {
    service.metadata.name.clone().unwrap_or_default()
}
