//! What the operator writes says who wrote it and what happened: each abort is its own
//! Event naming its own revision and cause (only an identical repeat folds into a
//! series), and every write carries the field manager `portcullis`.

mod operator_support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use operator_support::recording::{Log, recording_client};
use operator_support::*;
use portcullis::api::{PauseReason, Phase, Rollout, Verdict};
use portcullis::controller::analysis_source::Injected;
use portcullis::controller::events::{self, Recorder};
use portcullis::controller::observe::http_route_resource;
use portcullis::engine::{AnalysisReading, EventType};
use serde_json::json;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// The events.k8s.io/v1 Events about `name` with `reason`, as the API serves them.
async fn events_about(c: &cluster::Cluster, ns: &str, name: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(c.client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("listing events.k8s.io/v1 Events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

fn note(e: &Event) -> &str {
    e.note.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn two_aborts_give_two_aborted_events_each_naming_its_own_revision_and_cause() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("events-aborts");
    given_app(&c.client, ns, 3, json!({
        "workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 25}, {"pause": {}}],
        "analysis": {"interval": "1s", "metrics": [{"name": "m", "query": {"query": "vector(0)", "max": 1}}]}
    }))
    .await;
    let readings = Injected::default();
    readings.set(AnalysisReading::verdict(Verdict::Pass));
    let op = Operator::start_with(c.client.clone(), ns, false, readings.clone()).await;
    adopted(&c.client, ns).await;

    // 1.1 is aborted by command...
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "1.1 paused at 25%", T, |s| {
        s.pause_reason == Some(PauseReason::Step) && s.effective_weight == 25
    })
    .await;
    command(&c.client, ns, "abort", "stop-1.1").await;
    until(&c.client, ns, "1.1 aborted", T, |s| {
        s.phase == Some(Phase::Aborted) && s.effective_weight == 0
    })
    .await;

    // ...then 1.2 by a failed analysis, a minute later at most.
    readings.set(AnalysisReading::verdict(Verdict::Fail));
    release(&c.client, ns, &image("1.2")).await;
    until(&c.client, ns, "1.2 aborted", T, |s| {
        s.phase == Some(Phase::Aborted)
            && s.last_abort
                .as_ref()
                .is_some_and(|a| a.revision.images == vec![image("1.2")])
    })
    .await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let aborted = loop {
        let aborted = events_about(&c, ns, APP, "Aborted").await;
        if aborted.len() >= 2 || Instant::now() > deadline {
            break aborted;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let notes: Vec<&str> = aborted.iter().map(note).collect();
    assert_eq!(aborted.len(), 2, "one Event per abort: {notes:#?}");
    let first = aborted
        .iter()
        .find(|e| note(e).contains(&image("1.1")))
        .unwrap_or_else(|| panic!("an Aborted event names 1.1: {notes:#?}"));
    assert!(
        note(first).contains("aborted by command"),
        "{}",
        note(first)
    );
    let second = aborted
        .iter()
        .find(|e| note(e).contains(&image("1.2")))
        .unwrap_or_else(|| panic!("an Aborted event names 1.2: {notes:#?}"));
    assert!(
        !note(second).contains("aborted by command"),
        "the analysis aborted 1.2, not a command: {}",
        note(second)
    );
    assert_ne!(first.metadata.name, second.metadata.name);
    op.stop().await;
}

#[tokio::test]
async fn the_same_event_again_is_one_event_counted_twice_on_any_object() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("events-series");
    namespace(&c.client, ns).await;
    create(&c.client, ns, &deployment(&image("1.0"), 1)).await;
    let workload: Deployment = get(&c.client, ns, APP).await.unwrap();
    let regarding = workload.object_ref(&());
    let recorder = Recorder::new(c.client.clone(), events::reporter());
    let said = "the Rollout auth-api was deleted: the workload is unpaused";
    for _ in 0..2 {
        events::publish_about(&recorder, &regarding, EventType::Normal, "Released", said).await;
    }
    let other = "the Rollout auth-api was deleted mid-canary";
    events::publish_about(&recorder, &regarding, EventType::Normal, "Released", other).await;

    let released = events_about(&c, ns, APP, "Released").await;
    assert_eq!(released.len(), 2, "{released:#?}");
    let repeated = released.iter().find(|e| note(e) == said).unwrap();
    assert_eq!(
        repeated.series.as_ref().map(|s| s.count),
        Some(2),
        "{repeated:#?}"
    );
    let once = released.iter().find(|e| note(e) == other).unwrap();
    assert!(once.series.is_none(), "{once:#?}");
    assert_eq!(once.reporting_controller.as_deref(), Some("portcullis"));
    assert_eq!(once.type_.as_deref(), Some("Normal"));
    let regarding = once.regarding.as_ref().unwrap();
    assert_eq!(
        (regarding.kind.as_deref(), regarding.name.as_deref()),
        (Some("Deployment"), Some(APP))
    );
    for e in &released {
        let managers: Vec<_> = e
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.as_deref())
            .collect();
        assert_eq!(managers, vec!["portcullis"], "{e:#?}");
    }
}

/// Whether the query string holds `fieldManager=portcullis`.
fn names_portcullis(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "fieldManager" && v == "portcullis")
}

#[tokio::test]
async fn every_write_the_operator_makes_names_portcullis_as_its_field_manager() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("events-managers");
    namespace(&c.client, ns).await;
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
    routes
        .create(&PostParams::default(), &route)
        .await
        .expect("the HTTPRoute CRD is served");
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
    let log: Log = Default::default();
    let client = recording_client(&c, log.clone()).await;
    // With leader election, as deployed.
    let op = Operator::start_with(client, ns, true, Injected::default()).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "10% on the canary", T, |s| {
        s.phase == Some(Phase::Paused) && s.effective_weight == 10
    })
    .await;
    command(&c.client, ns, "abort", "stop").await;
    until(&c.client, ns, "the abort carried out", T, |s| {
        s.phase == Some(Phase::Aborted) && s.effective_weight == 0
    })
    .await;
    delete_rollout(&c.client, ns).await;
    eventually("the Rollout gone after its finalizer ran", T, || async {
        get::<Rollout>(&c.client, ns, APP).await.is_none()
    })
    .await;
    op.stop().await;

    let log = log.lock().unwrap().clone();
    // Writes that can name a field manager (DELETE cannot: DeleteOptions has none),
    // the leader Lease's included.
    let writes: Vec<_> = log
        .iter()
        .filter(|(m, _, _)| matches!(m.as_str(), "POST" | "PUT" | "PATCH"))
        .collect();
    let unnamed: Vec<_> = writes
        .iter()
        .filter(|(_, _, q)| !names_portcullis(q))
        .map(|(m, p, q)| format!("{m} {p}?{q}"))
        .collect();
    assert!(
        unnamed.is_empty(),
        "writes without fieldManager=portcullis: {unnamed:#?}"
    );
    // The run covered the writes this is about.
    let wrote = |method: &str, path_end: &str| {
        writes
            .iter()
            .filter(|(m, p, _)| m == method && p.ends_with(path_end))
            .count()
    };
    let rollout_path = format!("/rollouts/{APP}");
    assert!(
        wrote("PUT", &format!("/httproutes/{APP}")) >= 2,
        "{writes:#?}"
    );
    assert!(
        wrote("PATCH", &rollout_path) >= 2,
        "the finalizer added and removed: {writes:#?}"
    );
    assert!(wrote("PATCH", "/status") >= 1, "{writes:#?}");
    assert!(wrote("POST", "/events") >= 1, "{writes:#?}");
    assert!(
        wrote("PATCH", &format!("/deployments/{APP}")) >= 1,
        "{writes:#?}"
    );
}
