//! The operator survives what clusters do to it: restarts mid-canary, invalid specs,
//! a Rollout deleted mid-canary, two replicas with one leader.

mod operator_support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::Api;
use operator_support::*;
use portcullis::api::{Outcome, PauseReason, Phase, Verdict};
use portcullis::controller::analysis_source::Injected;
use portcullis::engine::AnalysisReading;
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn two_pauses() -> serde_json::Value {
    json!({"workloadRef": {"name": APP}, "service": APP,
           "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]})
}

#[tokio::test]
async fn killed_and_restarted_mid_canary_the_operator_resumes_without_repeating_itself() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("restart");
    given_app(&c.client, ns, 3, two_pauses()).await;
    let op = Operator::start(c.client.clone(), ns).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "the first pause", T, |s| {
        s.pause_reason == Some(PauseReason::Step)
    })
    .await;

    // Killed while paused; the promote arrives while no operator runs.
    op.kill();
    command(&c.client, ns, "promote", "while-down").await;
    let op = Operator::start(c.client.clone(), ns).await;
    let st = until(&c.client, ns, "the second pause", T, |s| {
        s.pause_reason == Some(PauseReason::Step) && s.current_step == Some(3)
    })
    .await;
    assert_eq!(st.last_command.as_ref().unwrap().id, "while-down");
    // Killed again, then restarted twice over: the same command is not applied again.
    op.kill();
    let op = Operator::start(c.client.clone(), ns).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    op.kill();
    let op = Operator::start(c.client.clone(), ns).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = status(&c.client, ns).await;
    assert_eq!(
        st.current_step,
        Some(3),
        "a restart neither advances nor rewinds"
    );
    let canaries: Vec<Deployment> = c
        .deployments(ns)
        .await
        .into_iter()
        .filter(|d| {
            d.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.contains("canary"))
        })
        .collect();
    assert_eq!(canaries.len(), 1, "one canary, never two");

    command(&c.client, ns, "promote", "final").await;
    let st = until(&c.client, ns, "promotion", T, phase(Phase::Succeeded)).await;
    let promoted: Vec<_> = st
        .history
        .iter()
        .filter(|h| h.outcome == Outcome::Promoted)
        .collect();
    assert_eq!(promoted.len(), 1, "promoted exactly once: {:?}", st.history);
    op.stop().await;
}

#[tokio::test]
async fn an_abort_decided_before_a_crash_is_carried_out_after_it() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("restart-abort");
    let mut spec = two_pauses();
    spec["analysis"] = json!({"interval": "1s", "metrics": [{"name": "m", "query": {"query": "vector(0)", "max": 1}}]});
    given_app(&c.client, ns, 3, spec).await;
    let readings = Injected::default();
    readings.set(AnalysisReading::verdict(Verdict::Inconclusive));
    let op = Operator::start_with(c.client.clone(), ns, false, readings.clone()).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "25%", T, |s| s.effective_weight == 25).await;
    readings.set(AnalysisReading::verdict(Verdict::Fail));
    until(&c.client, ns, "the abort decided", T, phase(Phase::Aborted)).await;
    op.kill();
    let op = Operator::start_with(c.client.clone(), ns, false, readings).await;
    let st = until(&c.client, ns, "traffic back on stable", T, |s| {
        s.effective_weight == 0
    })
    .await;
    assert_eq!(
        st.phase,
        Some(Phase::Aborted),
        "an abort is never undone by a restart"
    );
    op.stop().await;
}

#[tokio::test]
async fn an_invalid_spec_starts_nothing_holds_the_workload_and_names_the_field() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("invalid");
    let mut spec = two_pauses();
    spec["service"] = json!("no-such-service");
    given_app(&c.client, ns, 3, spec).await;
    let op = Operator::start(c.client.clone(), ns).await;
    let st = until(&c.client, ns, "InvalidSpec", T, phase(Phase::InvalidSpec)).await;
    assert!(st.message.unwrap().contains("spec.service"));
    // The Deployment is held, so a release pushed meanwhile reaches no pod unjudged.
    eventually("the workload paused", T, || async {
        get::<Deployment>(&c.client, ns, APP)
            .await
            .is_some_and(|d| d.spec.paused == Some(true))
    })
    .await;
    release(&c.client, ns, &image("1.1")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        get::<Deployment>(&c.client, ns, "auth-api-canary")
            .await
            .is_none(),
        "no canary for an invalid spec"
    );
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), ns);
    let running: Vec<_> = rs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|r| r.status.as_ref().is_some_and(|s| s.replicas > 0))
        .flat_map(|r| r.spec.template.and_then(|t| t.spec))
        .map(|s| s.containers[0].image.clone().unwrap_or_default())
        .collect();
    assert_eq!(running, vec![image("1.0")], "only the stable release runs");
    op.stop().await;
}

#[tokio::test]
async fn deleting_a_rollout_mid_canary_leaves_the_app_serving_on_stable() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("delete");
    given_app(&c.client, ns, 3, two_pauses()).await;
    let op = Operator::start(c.client.clone(), ns).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "the canary", T, |s| s.effective_weight == 25).await;
    delete_rollout(&c.client, ns).await;
    eventually("the Rollout gone after its finalizer ran", T, || async {
        get::<portcullis::api::Rollout>(&c.client, ns, APP)
            .await
            .is_none()
    })
    .await;
    let workload: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_ne!(
        workload.spec.paused,
        Some(true),
        "unpaused: Kubernetes owns the workload again"
    );
    let images: Vec<_> = workload
        .spec
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.image.unwrap_or_default())
        .collect();
    assert_eq!(
        images,
        vec![image("1.0")],
        "with the stable template: the unjudged one is not rolled out"
    );
    eventually("the canary Deployment gone", T, || async {
        get::<Deployment>(&c.client, ns, "auth-api-canary")
            .await
            .is_none()
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn of_two_replicas_only_the_leader_acts_and_the_other_takes_over_when_it_dies() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("leader");
    given_app(&c.client, ns, 3, two_pauses()).await;
    let a = Operator::start_with(c.client.clone(), ns, true, Injected::default()).await;
    adopted(&c.client, ns).await;
    let b = Operator::start_with(c.client.clone(), ns, true, Injected::default()).await;
    let holder = c.lease_holder(ns, "portcullis-controller").await;
    assert!(holder.is_some(), "the Lease has a holder");
    // The leader dies without releasing: the other takes over within the lease duration.
    a.kill();
    release(&c.client, ns, &image("1.1")).await;
    until(
        &c.client,
        ns,
        "the second replica to act",
        Duration::from_secs(30),
        |s| s.pause_reason == Some(PauseReason::Step),
    )
    .await;
    assert_ne!(c.lease_holder(ns, "portcullis-controller").await, holder);
    b.stop().await;
}
