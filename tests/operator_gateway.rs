//! The operator with the `gatewayAPI` router: exact weights and header matches written
//! into one HTTPRoute rule at each step, the user's other rules untouched.

mod operator_support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject, PostParams};
use operator_support::*;
use portcullis::api::Phase;
use portcullis::controller::observe::http_route_resource;
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

async fn route(c: &cluster::Cluster, ns: &str) -> Value {
    let api: Api<DynamicObject> =
        Api::namespaced_with(c.client.clone(), ns, &http_route_resource());
    serde_json::to_value(api.get(APP).await.unwrap()).unwrap()
}

fn weights(route: &Value, rule: &str) -> Vec<(String, i64)> {
    route["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == rule)
        .unwrap_or_else(|| panic!("rule {rule} in {route}"))["backendRefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["weight"].as_i64().unwrap_or(1),
            )
        })
        .collect()
}

fn pair(stable: i64, canary: i64) -> Vec<(String, i64)> {
    vec![
        ("auth-api-stable".into(), stable),
        ("auth-api-canary".into(), canary),
    ]
}

#[tokio::test]
async fn weights_and_header_routes_follow_the_steps_and_other_rules_stay_as_they_are() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("gateway");
    namespace(&c.client, ns).await;
    create(&c.client, ns, &deployment(&image("1.0"), 2)).await;
    create(&c.client, ns, &service()).await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(c.client.clone(), ns, &http_route_resource());
    let docs_rule = json!({"name": "docs", "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
                           "backendRefs": [{"name": "docs", "port": 8080}]});
    let user_route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": APP, "namespace": ns},
        "spec": {"parentRefs": [{"name": "public"}],
                 "rules": [{"name": "login", "matches": [{"path": {"type": "PathPrefix", "value": "/login"}}],
                            "backendRefs": [{"name": APP, "port": 80}]}, docs_rule.clone()]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &user_route)
        .await
        .expect("the HTTPRoute CRD is served");
    // As stored: the CRD's defaults filled in.
    let docs_rule = route(&c, ns).await["spec"]["rules"][1].clone();
    assert_eq!(docs_rule["name"], "docs");
    create(&c.client, ns, &rollout(json!({
        "workloadRef": {"name": APP}, "service": APP,
        "traffic": {"gatewayAPI": {"httpRoute": APP, "rule": "login",
            "headerRoutes": [{"name": "staff", "headers": [{"name": "x-canary", "value": "true"}]}]}},
        "steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]
    }))).await;
    let op = Operator::start(c.client.clone(), ns).await;
    adopted(&c.client, ns).await;

    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "10% on the canary", T, |s| {
        s.phase == Some(Phase::Paused) && s.effective_weight == 10
    })
    .await;
    let r = route(&c, ns).await;
    assert_eq!(weights(&r, "login"), pair(90, 10));
    assert_eq!(
        weights(&r, "login-portcullis-staff"),
        vec![("auth-api-canary".to_string(), 1)]
    );
    let staff = r["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "login-portcullis-staff")
        .unwrap()
        .clone();
    assert_eq!(
        staff["matches"][0]["headers"],
        json!([{"type": "Exact", "name": "x-canary", "value": "true"}])
    );
    assert!(
        r["spec"]["rules"].as_array().unwrap().contains(&docs_rule),
        "the docs rule is untouched"
    );
    let canary_svc: Service = get(&c.client, ns, "auth-api-canary")
        .await
        .expect("the canary Service");
    assert_eq!(
        canary_svc
            .spec
            .unwrap()
            .selector
            .unwrap()
            .get("portcullis.dev/track")
            .map(String::as_str),
        Some("canary")
    );

    command(&c.client, ns, "promote", "p1").await;
    until(&c.client, ns, "60% on the canary", T, |s| {
        s.phase == Some(Phase::Paused) && s.effective_weight == 60
    })
    .await;
    assert_eq!(weights(&route(&c, ns).await, "login"), pair(40, 60));

    command(&c.client, ns, "promote", "p2").await;
    let st = until(&c.client, ns, "promotion", T, phase(Phase::Succeeded)).await;
    assert_eq!(st.stable.unwrap().images, vec![image("1.1")]);
    let r = route(&c, ns).await;
    assert_eq!(weights(&r, "login"), pair(100, 0));
    assert!(
        r["spec"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["name"] != "login-portcullis-staff"),
        "header routes end with the canary"
    );
    // The stable Service now selects the new release's ReplicaSet.
    let workload: Deployment = get(&c.client, ns, APP).await.unwrap();
    let stable_svc: Service = get(&c.client, ns, "auth-api-stable").await.unwrap();
    let hash = stable_svc.spec.unwrap().selector.unwrap()["pod-template-hash"].clone();
    let rs: ReplicaSet = get(&c.client, ns, &format!("{APP}-{hash}"))
        .await
        .expect("the stable ReplicaSet");
    assert_eq!(
        rs.spec.template.unwrap().spec.unwrap().containers[0].image,
        workload.spec.template.spec.unwrap().containers[0].image
    );
    op.stop().await;
}
