//! How many canary pods a traffic weight needs.

use crate::api::Traffic;

/// Canary replicas for `weight` percent, given the stable track's `stable_replicas`.
///
/// `replicas` router: traffic follows ready pods, and the stable track keeps its full size
/// (so an abort loses no capacity); the canary count is the one whose share
/// `c / (stable + c)` is closest to the weight, at least one pod for any weight above 0.
/// `gatewayAPI` router: weights are exact, so the canary only needs capacity for its
/// share: `ceil(stable × weight / 100)`, at least one pod while a canary runs (header
/// routes reach it even at weight 0).
pub fn canary_replicas(traffic: &Traffic, stable_replicas: i32, weight: i32) -> i32 {
    let stable = stable_replicas.max(1) as i64;
    let w = weight.clamp(0, 100) as i64;
    if traffic.gateway_api.is_some() {
        return ((stable * w + 99) / 100).max(1) as i32;
    }
    if w == 0 {
        return 0;
    }
    if w >= 100 {
        // Unreachable while stable pods serve; validation rejects setWeight 100 here.
        return (stable * 99) as i32;
    }
    // The exact solution of c/(s+c) = w/100, then the nearer integer neighbour.
    let exact = stable as f64 * w as f64 / (100 - w) as f64;
    let candidates = [exact.floor() as i64, exact.ceil() as i64];
    candidates
        .into_iter()
        .filter(|c| *c >= 1)
        .min_by(|a, b| {
            let err = |c: i64| (100.0 * c as f64 / (stable + c) as f64 - w as f64).abs();
            err(*a).total_cmp(&err(*b))
        })
        .unwrap_or(1) as i32
}

/// The share of traffic ready pods receive, in whole percent.
pub fn ready_share(canary_ready: i32, stable_ready: i32) -> i32 {
    let total = canary_ready.max(0) + stable_ready.max(0);
    if total == 0 {
        return 0;
    }
    ((100 * canary_ready.max(0) as i64 + total as i64 / 2) / total as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GatewayApiRouter, Traffic};

    fn gateway() -> Traffic {
        Traffic {
            replicas: None,
            gateway_api: Some(GatewayApiRouter {
                http_route: "r".into(),
                rule: None,
                header_routes: vec![],
            }),
        }
    }

    #[test]
    fn replica_router_picks_the_closest_share() {
        let t = Traffic::default();
        assert_eq!(canary_replicas(&t, 10, 0), 0);
        assert_eq!(canary_replicas(&t, 10, 5), 1); // 1/11 = 9%, nearest reachable
        assert_eq!(canary_replicas(&t, 10, 50), 10); // 10/20
        assert_eq!(canary_replicas(&t, 4, 20), 1); // 1/5
        assert_eq!(canary_replicas(&t, 3, 25), 1); // 1/4
        assert_eq!(ready_share(1, 3), 25);
    }

    #[test]
    fn gateway_router_sizes_the_canary_for_its_share() {
        let t = gateway();
        assert_eq!(canary_replicas(&t, 10, 0), 1);
        assert_eq!(canary_replicas(&t, 10, 5), 1);
        assert_eq!(canary_replicas(&t, 10, 25), 3);
        assert_eq!(canary_replicas(&t, 10, 100), 10);
    }
}
