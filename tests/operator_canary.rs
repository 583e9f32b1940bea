//! The operator against the local cluster: a canary through every step with the
//! `replicas` router, and an abort on a failed verdict.

mod operator_support;

use k8s_openapi::api::apps::v1::Deployment;
use operator_support::*;
use portcullis::api::{PauseReason, Phase, Verdict};
use portcullis::engine::AnalysisReading;
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn steps_with_a_manual_gate() -> serde_json::Value {
    json!({
        "workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "1s"}}]
    })
}

#[tokio::test]
async fn a_good_release_goes_through_every_step_and_is_promoted() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("canary-good");
    given_app(&c.client, ns, 3, steps_with_a_manual_gate()).await;
    let op = Operator::start(c.client.clone(), ns).await;

    let st = adopted(&c.client, ns).await;
    assert_eq!(st.stable.unwrap().images, vec![image("1.0")]);

    release(&c.client, ns, &image("1.1")).await;
    let st = until(
        &c.client,
        ns,
        "the canary held at the manual pause",
        T,
        |s| {
            s.phase == Some(Phase::Paused)
                && s.pause_reason == Some(PauseReason::Step)
                && s.effective_weight == 25
        },
    )
    .await;
    assert_eq!(st.canary.unwrap().images, vec![image("1.1")]);
    let workload: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(
        workload.spec.paused,
        Some(true),
        "the workload is kept paused"
    );
    let canary: Deployment = get(&c.client, ns, "auth-api-canary").await.unwrap();
    assert_eq!(
        canary.spec.replicas,
        Some(1),
        "1 canary pod of 4 ready pods is 25%"
    );

    command(&c.client, ns, "promote", "go-1").await;
    let st = until(&c.client, ns, "promotion", T, phase(Phase::Succeeded)).await;
    assert_eq!(st.stable.unwrap().images, vec![image("1.1")]);
    assert!(st.canary.is_none());
    assert_eq!(st.last_command.unwrap().id, "go-1");
    eventually("the canary Deployment removed", T, || async {
        get::<Deployment>(&c.client, ns, "auth-api-canary")
            .await
            .is_none()
    })
    .await;
    // Kubernetes rolled the new release out on the workload itself; then the workload is
    // paused again, so the next release also starts as a canary.
    let workload: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(
        workload.spec.template.spec.as_ref().unwrap().containers[0].image,
        Some(image("1.1"))
    );
    let ws = workload.status.unwrap();
    assert_eq!(
        (ws.updated_replicas, ws.available_replicas, ws.replicas),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(
        workload.spec.paused,
        Some(true),
        "held for the next release"
    );
    op.stop().await;
}

#[tokio::test]
async fn a_failed_verdict_sends_traffic_back_and_scales_the_canary_down() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("canary-bad");
    let mut spec = steps_with_a_manual_gate();
    spec["analysis"] = json!({"interval": "1s", "metrics": [{"name": "login-failures",
        "query": {"query": "vector(0)", "max": 0.1}}]});
    given_app(&c.client, ns, 3, spec).await;
    let op = Operator::start(c.client.clone(), ns).await;
    op.readings
        .set(AnalysisReading::verdict(Verdict::Inconclusive));
    adopted(&c.client, ns).await;

    release(&c.client, ns, &image("1.2-broken")).await;
    until(&c.client, ns, "the canary at 25%", T, |s| {
        s.effective_weight == 25
    })
    .await;
    op.readings.set(AnalysisReading::verdict(Verdict::Fail));
    let st = until(&c.client, ns, "the abort", T, phase(Phase::Aborted)).await;
    let abort = st.last_abort.clone().expect("the abort is recorded");
    assert_eq!(abort.revision.images, vec![image("1.2-broken")]);
    assert!(st.rejected_revisions.contains(&abort.revision.revision));
    assert_eq!(st.desired_weight, 0);
    eventually("the canary scaled to zero", T, || async {
        get::<Deployment>(&c.client, ns, "auth-api-canary")
            .await
            .is_none_or(|d| d.spec.replicas == Some(0))
    })
    .await;
    let st = until(&c.client, ns, "no traffic on the canary", T, |s| {
        s.effective_weight == 0
    })
    .await;
    assert_eq!(
        st.stable.unwrap().images,
        vec![image("1.0")],
        "stable keeps serving"
    );
    let events = c.events(ns, APP).await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "Aborted" && note.contains(&image("1.2-broken"))),
        "an Aborted event names the revision: {events:?}"
    );
    op.stop().await;
}
