//! The Gateway API installed after the operator started: HTTPRoutes are watched from
//! then on, so a route edited by hand is put back at once, not at the next resync.
//! (Local cluster only: a real one cannot drop the Gateway API for the test.)

mod operator_support;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use operator_support::*;
use portcullis::api::Phase;
use portcullis::controller::observe::http_route_resource;
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn login_weights(route: &Value) -> Vec<i64> {
    route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|x| x["weight"].as_i64().unwrap_or(1))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_route_edited_by_hand_is_put_back_even_when_the_gateway_api_came_after_the_operator() {
    let c = cluster::Cluster::start_without_gateway_api().await;
    let ns = &unique("gateway-later");
    namespace(&c.client, ns).await;
    let op = Operator::start(c.client.clone(), ns).await;

    c.install_gateway_api().await;
    create(&c.client, ns, &deployment(&image("1.0"), 2)).await;
    create(&c.client, ns, &service()).await;
    let routes: Api<DynamicObject> =
        Api::namespaced_with(c.client.clone(), ns, &http_route_resource());
    let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": APP, "namespace": ns},
        "spec": {"parentRefs": [{"name": "public"}],
                 "rules": [{"name": "login", "backendRefs": [{"name": APP, "port": 80}]}]}
    }))
    .unwrap();
    routes.create(&PostParams::default(), &route).await.unwrap();
    create(
        &c.client,
        ns,
        &rollout(json!({
            "workloadRef": {"name": APP}, "service": APP,
            "traffic": {"gatewayAPI": {"httpRoute": APP, "rule": "login"}},
            "steps": [{"setWeight": 10}, {"pause": {}}]
        })),
    )
    .await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "paused at 10%", T, |s| {
        s.phase == Some(Phase::Paused) && s.effective_weight == 10
    })
    .await;

    // Someone sets the route to 50/50 by hand while the canary waits for a person.
    let mut edited = serde_json::to_value(routes.get(APP).await.unwrap()).unwrap();
    assert_eq!(login_weights(&edited), vec![90, 10]);
    edited["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(50);
    edited["spec"]["rules"][0]["backendRefs"][1]["weight"] = json!(50);
    edited["metadata"]["managedFields"] = Value::Null;
    routes
        .patch(
            APP,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": edited["spec"]})),
        )
        .await
        .unwrap();
    // Put back within seconds: the next resync would be minutes away.
    eventually(
        "the route back at 90/10",
        Duration::from_secs(10),
        || async {
            let r = serde_json::to_value(routes.get(APP).await.unwrap()).unwrap();
            login_weights(&r) == vec![90, 10]
        },
    )
    .await;
    op.stop().await;
}
