//! Traffic routers turn a weight into objects and read the weight back.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use portcullis::api::{GatewayApiRouter, HeaderMatch, HeaderMatchType, HeaderRoute, Traffic};
use portcullis::traffic::{GatewayApi, Replicas, RouteContext, TrafficObservation, TrafficRouter};
use serde_json::{Value, json};

fn app_service() -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "auth-api", "namespace": "payments"},
        "spec": {"selector": {"app": "auth-api"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap()
}

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "portcullis.dev/v1alpha1".into(),
        kind: "Rollout".into(),
        name: "auth-api".into(),
        uid: "u-1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn cx<'a>(service: &'a Service, owner: &'a OwnerReference, weight: i32) -> RouteContext<'a> {
    RouteContext {
        namespace: "payments",
        service,
        stable_pod_template_hash: Some("5d8f7c9b4"),
        owner,
        weight,
        header_routes: true,
        restore: false,
    }
}

/// A route with two rules: the app's, and an unrelated one that must never change.
fn route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "auth-api", "namespace": "payments", "resourceVersion": "42"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [
                {"name": "login",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/login"}}],
                 "filters": [{"type": "RequestHeaderModifier",
                              "requestHeaderModifier": {"set": [{"name": "x-env", "value": "prod"}]}}],
                 "backendRefs": [{"name": "auth-api", "port": 80}]},
                {"name": "docs", "backendRefs": [{"name": "docs", "port": 8080}]}
            ]
        },
        "status": {"parents": []}
    })
}

fn gateway(rule: Option<&str>) -> GatewayApi {
    GatewayApi::new(
        "auth-api",
        GatewayApiRouter {
            http_route: "auth-api".into(),
            rule: rule.map(Into::into),
            header_routes: vec![HeaderRoute {
                name: "staff".into(),
                headers: vec![HeaderMatch {
                    name: "x-canary".into(),
                    value: "true".into(),
                    match_type: None,
                }],
            }],
        },
    )
}

#[test]
fn replicas_router_reports_the_ready_pod_share_and_owns_nothing() {
    let svc = app_service();
    let o = owner();
    let r = Replicas;
    assert!(r.services(&cx(&svc, &o, 25)).unwrap().is_empty());
    let obs = TrafficObservation {
        canary_ready: 1,
        stable_ready: 3,
        route: None,
    };
    assert_eq!(r.effective_weight(&obs), 25);
}

#[test]
fn replicas_router_needs_a_service_that_selects_pods() {
    let mut svc = app_service();
    svc.spec.as_mut().unwrap().selector = None;
    let o = owner();
    let err = Replicas.services(&cx(&svc, &o, 5)).unwrap_err();
    assert!(err.to_string().contains("auth-api"), "{err}");
}

#[test]
fn gateway_router_owns_a_stable_service_by_template_hash_and_a_canary_service_by_track() {
    let svc = app_service();
    let o = owner();
    let services = gateway(None).services(&cx(&svc, &o, 5)).unwrap();
    let v: Vec<Value> = services
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    assert_eq!(v[0]["metadata"]["name"], "auth-api-stable");
    assert_eq!(
        v[0]["spec"]["selector"],
        json!({"app": "auth-api", "pod-template-hash": "5d8f7c9b4"})
    );
    assert_eq!(v[1]["metadata"]["name"], "auth-api-canary");
    assert_eq!(
        v[1]["spec"]["selector"],
        json!({"app": "auth-api", "portcullis.dev/track": "canary"})
    );
    for s in &v {
        assert_eq!(s["metadata"]["ownerReferences"][0]["kind"], "Rollout");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
    }
}

#[test]
fn gateway_router_writes_exact_weights_into_the_managed_rule_only() {
    let svc = app_service();
    let o = owner();
    let g = gateway(Some("login"));
    let mut c = cx(&svc, &o, 25);
    c.header_routes = false;
    let out = g.route(&c, &route()).unwrap().unwrap();
    let rules = out["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0]["backendRefs"],
        json!([{"name": "auth-api-stable", "port": 80, "weight": 75},
               {"name": "auth-api-canary", "port": 80, "weight": 25}])
    );
    // Everything else of the user's route is kept: other rules, filters, parents, status.
    assert_eq!(rules[0]["filters"], route()["spec"]["rules"][0]["filters"]);
    assert_eq!(rules[1], route()["spec"]["rules"][1]);
    assert_eq!(out["spec"]["parentRefs"], route()["spec"]["parentRefs"]);
    assert_eq!(out["metadata"]["resourceVersion"], "42");
    let obs = TrafficObservation {
        route: Some(&out),
        ..Default::default()
    };
    assert_eq!(g.effective_weight(&obs), 25);
}

#[test]
fn header_routes_send_matching_requests_to_the_canary_in_a_rule_of_their_own() {
    let svc = app_service();
    let o = owner();
    let g = gateway(None);
    let out = g.route(&cx(&svc, &o, 5), &route()).unwrap().unwrap();
    let rules = out["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0]["name"], "login-portcullis-staff");
    assert_eq!(
        rules[0]["matches"],
        json!([{"path": {"type": "PathPrefix", "value": "/login"},
                "headers": [{"type": "Exact", "name": "x-canary", "value": "true"}]}])
    );
    assert_eq!(
        rules[0]["backendRefs"],
        json!([{"name": "auth-api-canary", "port": 80, "weight": 1}])
    );
    assert_eq!(rules[1]["name"], "login");
    // Deciding again from the route it wrote gives the same route: no duplicate rules.
    let again = g.route(&cx(&svc, &o, 5), &out).unwrap().unwrap();
    assert_eq!(again, out);
    // Header routes off (drained, or promoted): the extra rule goes.
    let mut off = cx(&svc, &o, 0);
    off.header_routes = false;
    let drained = g.route(&off, &out).unwrap().unwrap();
    assert_eq!(drained["spec"]["rules"].as_array().unwrap().len(), 2);
}

#[test]
fn regular_expression_header_matches_keep_their_type() {
    let svc = app_service();
    let o = owner();
    let g = GatewayApi::new(
        "auth-api",
        GatewayApiRouter {
            http_route: "auth-api".into(),
            rule: None,
            header_routes: vec![HeaderRoute {
                name: "synthetic".into(),
                headers: vec![HeaderMatch {
                    name: "user-agent".into(),
                    value: "^synthetic-.*".into(),
                    match_type: Some(HeaderMatchType::RegularExpression),
                }],
            }],
        },
    );
    let out = g.route(&cx(&svc, &o, 5), &route()).unwrap().unwrap();
    assert_eq!(
        out["spec"]["rules"][0]["matches"][0]["headers"][0]["type"],
        "RegularExpression"
    );
}

#[test]
fn restoring_sends_everything_back_to_the_app_service() {
    let svc = app_service();
    let o = owner();
    let g = gateway(None);
    let during = g.route(&cx(&svc, &o, 50), &route()).unwrap().unwrap();
    let mut c = cx(&svc, &o, 0);
    c.restore = true;
    let restored = g.route(&c, &during).unwrap().unwrap();
    assert_eq!(restored, route());
}

#[test]
fn a_missing_rule_is_an_error_that_lists_the_rules_there_are() {
    let svc = app_service();
    let o = owner();
    let err = gateway(Some("signup"))
        .route(&cx(&svc, &o, 5), &route())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "HTTPRoute `auth-api` has no rule named `signup`; set spec.traffic.gatewayAPI.rule to one of: login, docs"
    );
}

#[test]
fn the_spec_picks_the_router() {
    let mut spec: portcullis::api::RolloutSpec = serde_json::from_value(json!({
        "workloadRef": {"name": "auth-api"}, "service": "auth-api",
        "steps": [{"setWeight": 5}]
    }))
    .unwrap();
    assert_eq!(portcullis::traffic::router_for(&spec).route_name(), None);
    spec.traffic = Traffic {
        replicas: None,
        gateway_api: Some(GatewayApiRouter {
            http_route: "edge".into(),
            rule: None,
            header_routes: vec![],
        }),
    };
    assert_eq!(
        portcullis::traffic::router_for(&spec).route_name(),
        Some("edge")
    );
}
