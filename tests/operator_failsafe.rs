//! The gate fails safe: whatever happens to the Rollout, the router or the operator, a
//! pod template Portcullis has not promoted never reaches the Deployment's own pods, a
//! rejected release stays rejected, and waits on the outside end at a deadline.

mod operator_support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use operator_support::*;
use portcullis::api::{Phase, Rollout, RolloutStatus, WaitFor};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn one_pause() -> serde_json::Value {
    json!({"workloadRef": {"name": APP}, "service": APP,
           "steps": [{"setWeight": 25}, {"pause": {}}]})
}

/// Images of the Deployment's own pods (the canary's carry the track label).
async fn workload_images(client: &Client, ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("app={APP}"));
    pods.list(&lp)
        .await
        .expect("listing pods")
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !p.labels().contains_key(portcullis::traffic::TRACK_LABEL))
        .flat_map(|p| p.spec.iter().flat_map(|s| s.containers.iter()))
        .filter_map(|c| c.image.clone())
        .collect()
}

/// Asserts for `secs` seconds that every pod of the Deployment runs `image`.
async fn only_ever(client: &Client, ns: &str, image: &str, secs: u64) {
    for _ in 0..secs * 4 {
        let images = workload_images(client, ns).await;
        assert!(
            images.iter().all(|i| i == image),
            "the Deployment's pods run {images:?}; only {image} may run"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn template_image(d: &Deployment) -> String {
    d.spec.template.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

async fn status_of(client: &Client, ns: &str, name: &str) -> RolloutStatus {
    get::<Rollout>(client, ns, name)
        .await
        .and_then(|r| r.status)
        .unwrap_or_default()
}

async fn gone(client: &Client, ns: &str) {
    eventually("the Rollout gone after its finalizer ran", T, || async {
        get::<Rollout>(client, ns, APP).await.is_none()
    })
    .await;
}

/// Given a release `1.1` rolled back by command.
async fn rolled_back(c: &cluster::Cluster, ns: &str) -> RolloutStatus {
    given_app(&c.client, ns, 3, one_pause()).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "the canary at 25%", T, |s| {
        s.effective_weight == 25
    })
    .await;
    command(&c.client, ns, "abort", "stop").await;
    until(&c.client, ns, "traffic back on stable", T, |s| {
        s.phase == Some(Phase::Aborted) && s.effective_weight == 0
    })
    .await
}

#[tokio::test]
async fn deleting_a_rollout_after_a_rollback_puts_the_stable_template_back() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("failsafe-delete");
    let op = Operator::start(c.client.clone(), ns).await;
    let st = rolled_back(&c, ns).await;
    let rejected = st.last_abort.unwrap().revision.revision;

    delete_rollout(&c.client, ns).await;
    gone(&c.client, ns).await;
    let d: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(
        template_image(&d),
        image("1.0"),
        "the stable template is back"
    );
    assert_ne!(d.spec.paused, Some(true), "handed back to Kubernetes");
    let annotations = d.annotations();
    assert!(
        annotations["portcullis.dev/rejected-revisions"].contains(&rejected),
        "the rejection is recorded on the Deployment: {annotations:?}"
    );
    assert!(!annotations.contains_key("portcullis.dev/rollout"));
    only_ever(&c.client, ns, &image("1.0"), 4).await;
    let events = c.events(ns, APP).await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "RolloutDeleted" && n.contains("stable pod template was put back")),
        "the Deployment's events say what happened: {events:?}"
    );
    op.stop().await;
}

/// The operator caches no ReplicaSet templates: the hand-back reads the stable one live
/// and puts it back only if it still is the stable release.
#[tokio::test]
async fn deleting_a_rollout_whose_stable_replica_set_was_edited_keeps_the_deployment_paused() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("failsafe-rs-edit");
    let op = Operator::start(c.client.clone(), ns).await;
    rolled_back(&c, ns).await;
    // A ReplicaSet's template can be edited; its pods stay as they are.
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), ns);
    let lp = ListParams::default().labels(&format!("app={APP}"));
    let stable = sets
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|rs| {
            rs.spec.template.as_ref().is_some_and(|t| {
                t.spec.as_ref().unwrap().containers[0].image.as_deref() == Some(&*image("1.0"))
            })
        })
        .expect("the stable ReplicaSet");
    let edit = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": image("6.6-unjudged")}]}}}});
    sets.patch(
        &stable.name_any(),
        &Default::default(),
        &kube::api::Patch::Strategic(edit),
    )
    .await
    .unwrap();

    delete_rollout(&c.client, ns).await;
    gone(&c.client, ns).await;
    let d: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(
        d.spec.paused,
        Some(true),
        "nothing to put back: kept paused"
    );
    assert_ne!(template_image(&d), image("6.6-unjudged"));
    only_ever(&c.client, ns, &image("1.0"), 4).await;
    let events = c.events(ns, APP).await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "RolloutDeleted" && n.contains("stays paused")),
        "the Deployment's events say why: {events:?}"
    );
    op.stop().await;
}

#[tokio::test]
async fn a_rollout_created_again_still_refuses_the_rejected_release() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("failsafe-recreate");
    let op = Operator::start(c.client.clone(), ns).await;
    let st = rolled_back(&c, ns).await;
    let rejected = st.last_abort.unwrap().revision.revision;
    delete_rollout(&c.client, ns).await;
    gone(&c.client, ns).await;

    create(&c.client, ns, &rollout(one_pause())).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    let st = until(&c.client, ns, "the rejected release refused", T, |s| {
        s.phase == Some(Phase::Blocked)
    })
    .await;
    assert!(st.rejected_revisions.contains(&rejected));
    assert!(st.message.unwrap().contains("rejected earlier"));
    assert!(st.canary.is_none(), "no canary for a rejected release");
    only_ever(&c.client, ns, &image("1.0"), 2).await;

    // `retry` is the way back.
    command(&c.client, ns, "retry", "again").await;
    until(&c.client, ns, "the release retried as a canary", T, |s| {
        s.effective_weight == 25
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn deleting_a_rollout_mid_canary_ships_nothing_unjudged() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("failsafe-midway");
    given_app(&c.client, ns, 3, one_pause()).await;
    let op = Operator::start(c.client.clone(), ns).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "the canary at 25%", T, |s| {
        s.effective_weight == 25
    })
    .await;
    delete_rollout(&c.client, ns).await;
    gone(&c.client, ns).await;
    let d: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(template_image(&d), image("1.0"));
    only_ever(&c.client, ns, &image("1.0"), 3).await;
    op.stop().await;
}

#[tokio::test]
async fn a_second_rollout_for_the_same_deployment_is_refused_and_changes_nothing() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("failsafe-owners");
    given_app(&c.client, ns, 3, one_pause()).await;
    let op = Operator::start(c.client.clone(), ns).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "the canary at 25%", T, |s| {
        s.effective_weight == 25
    })
    .await;

    let mut second = rollout(one_pause());
    second.metadata.name = Some("auth-api-again".into());
    let api: Api<Rollout> = Api::namespaced(c.client.clone(), ns);
    api.create(&PostParams::default(), &second).await.unwrap();
    let mut refused = RolloutStatus::default();
    eventually("the second Rollout refused", T, || async {
        let st = status_of(&c.client, ns, "auth-api-again").await;
        st.phase == Some(Phase::InvalidSpec)
    })
    .await;
    refused.clone_from(&status_of(&c.client, ns, "auth-api-again").await);
    let message = refused.message.unwrap();
    assert!(
        message.contains("already managed by Rollout `auth-api`"),
        "{message}"
    );
    assert!(refused.stable.is_none(), "it adopted nothing");

    // Deleting it leaves the Deployment to its owner: paused, canary untouched.
    api.delete("auth-api-again", &Default::default())
        .await
        .unwrap();
    eventually("the second Rollout gone", T, || async {
        get::<Rollout>(&c.client, ns, "auth-api-again")
            .await
            .is_none()
    })
    .await;
    let d: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(d.spec.paused, Some(true));
    assert_eq!(d.annotations()["portcullis.dev/rollout"], APP);
    only_ever(&c.client, ns, &image("1.0"), 2).await;
    let st = status(&c.client, ns).await;
    assert_eq!(st.phase, Some(Phase::Paused), "the owner carries on");
    assert_eq!(st.effective_weight, 25);
    op.stop().await;
}

#[tokio::test]
async fn without_the_router_api_the_workload_is_paused_said_why_and_the_release_rejected_at_the_deadline()
 {
    if std::env::var(cluster::E2E_ENV).is_ok() {
        eprintln!("skipped on a real cluster: it cannot drop the Gateway API for the test");
        return;
    }
    let c = cluster::Cluster::start_without_gateway_api().await;
    let ns = &unique("failsafe-router");
    let spec = json!({"workloadRef": {"name": APP}, "service": APP,
        "traffic": {"gatewayAPI": {"httpRoute": APP}},
        "deadlines": {"router": "4s"},
        "steps": [{"setWeight": 10}, {"pause": {}}]});
    given_app(&c.client, ns, 3, spec).await;
    let op = Operator::start(c.client.clone(), ns).await;
    let st = adopted(&c.client, ns).await;
    let condition = st
        .conditions
        .iter()
        .find(|c| c.type_ == "RouterUnavailable")
        .expect("a RouterUnavailable condition");
    assert_eq!(condition.status, "True");
    assert!(condition.message.contains("HTTPRoute API"), "{condition:?}");
    let events = c.events(ns, APP).await;
    assert!(
        events.iter().any(|(r, _)| r == "RouterUnavailable"),
        "{events:?}"
    );

    release(&c.client, ns, &image("1.1")).await;
    let st = until(&c.client, ns, "the release waiting on the router", T, |s| {
        s.phase == Some(Phase::Blocked) && s.waiting.is_some()
    })
    .await;
    let waiting = st.waiting.unwrap();
    assert_eq!(waiting.for_, WaitFor::Router);
    assert_eq!(
        waiting.deadline.0.duration_since(waiting.since.0).as_secs(),
        4
    );
    let st = until(
        &c.client,
        ns,
        "the release rejected at the deadline",
        T,
        |s| !s.rejected_revisions.is_empty(),
    )
    .await;
    let abort = st.last_abort.unwrap();
    assert!(
        abort.reason.contains("waited 4s for the traffic router"),
        "{}",
        abort.reason
    );
    let d: Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(d.spec.paused, Some(true));
    only_ever(&c.client, ns, &image("1.0"), 2).await;
    op.stop().await;
}

#[tokio::test]
async fn a_release_pushed_while_the_operator_is_down_waits_for_it() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("failsafe-down");
    given_app(&c.client, ns, 3, one_pause()).await;
    let op = Operator::start(c.client.clone(), ns).await;
    adopted(&c.client, ns).await;
    op.kill();
    release(&c.client, ns, &image("1.1")).await;
    only_ever(&c.client, ns, &image("1.0"), 3).await;
    let op = Operator::start(c.client.clone(), ns).await;
    until(
        &c.client,
        ns,
        "the canary once the operator is back",
        T,
        |s| s.effective_weight == 25,
    )
    .await;
    only_ever(&c.client, ns, &image("1.0"), 1).await;
    op.stop().await;
}
