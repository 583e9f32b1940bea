//! The `replicas` router: traffic follows ready pods. The app's Service selects stable and
//! canary pods alike, so the canary's share is its share of ready pods; the engine sizes
//! the canary for the step's weight. No objects of its own.

use super::{RouteContext, TrafficError, TrafficObservation, TrafficRouter};
use crate::engine::sizing::ready_share;
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

pub struct Replicas;

impl TrafficRouter for Replicas {
    fn services(&self, cx: &RouteContext<'_>) -> Result<Vec<Service>, TrafficError> {
        // The canary only gets traffic if the app's Service selects its pods.
        super::selector(cx.service)?;
        Ok(Vec::new())
    }

    fn route(&self, _: &RouteContext<'_>, _: &Value) -> Result<Option<Value>, TrafficError> {
        Ok(None)
    }

    fn effective_weight(&self, obs: &TrafficObservation<'_>) -> i32 {
        ready_share(obs.canary_ready, obs.stable_ready)
    }

    fn route_name(&self) -> Option<&str> {
        None
    }
}
