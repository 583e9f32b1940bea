//! The RBAC the operator documents (`controller::rbac::RULES`, turned into the chart's
//! ClusterRole) covers every request it makes through a canary, a promotion, an abort
//! and a deletion; and a standby replica writes nothing.

mod operator_support;

use http::Request;
use kube::client::{Body, ClientBuilder};
use operator_support::*;
use portcullis::api::{Phase, Verdict};
use portcullis::controller::analysis_source::Injected;
use portcullis::controller::rbac;
use portcullis::engine::AnalysisReading;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::util::MapRequestLayer;

const T: Duration = Duration::from_secs(60);

type Log = Arc<Mutex<Vec<(String, String, String)>>>;

/// A client that notes the method, path and query of every request it sends.
async fn recording_client(c: &cluster::Cluster, log: Log) -> kube::Client {
    let config = c.config().await;
    let layer = MapRequestLayer::new(move |req: Request<Body>| {
        let uri = req.uri();
        log.lock().unwrap().push((
            req.method().to_string(),
            uri.path().to_string(),
            uri.query().unwrap_or_default().to_string(),
        ));
        req
    });
    ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build()
}

#[tokio::test]
async fn every_request_the_operator_makes_is_allowed_by_its_documented_rbac() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("rbac");
    given_app(&c.client, ns, 2, json!({
        "workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 50}, {"pause": {"duration": "1s"}}],
        "analysis": {"interval": "1s", "metrics": [{"name": "m", "query": {"query": "vector(0)", "max": 1}}]}
    })).await;
    let log: Log = Default::default();
    let readings = Injected::default();
    readings.set(AnalysisReading::verdict(Verdict::Pass));
    let client = recording_client(&c, log.clone()).await;
    let op = Operator::start_with(client, ns, true, readings.clone()).await;
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "promotion", T, phase(Phase::Succeeded)).await;
    readings.set(AnalysisReading::verdict(Verdict::Fail));
    release(&c.client, ns, &image("1.2")).await;
    until(&c.client, ns, "abort", T, phase(Phase::Aborted)).await;
    delete_rollout(&c.client, ns).await;
    eventually("the finalizer done", T, || async {
        get::<portcullis::api::Rollout>(&c.client, ns, APP)
            .await
            .is_none()
    })
    .await;
    op.stop().await;

    let log = log.lock().unwrap().clone();
    assert!(log.len() > 10, "requests were recorded: {log:?}");
    let mut denied: Vec<String> = log
        .iter()
        .filter_map(|(m, p, q)| {
            let (g, r, v) = rbac::required(m, p, q)?;
            (!rbac::allows(&g, &r, &v)).then(|| format!("{v} {g}/{r} ({m} {p})"))
        })
        .collect();
    denied.sort();
    denied.dedup();
    assert!(
        denied.is_empty(),
        "requests outside the documented RBAC: {denied:#?}"
    );
}

#[tokio::test]
async fn a_standby_replica_writes_nothing() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("standby");
    given_app(&c.client, ns, 2, json!({
        "workloadRef": {"name": APP}, "service": APP, "steps": [{"setWeight": 50}, {"pause": {}}]
    })).await;
    let leader = Operator::start_with(c.client.clone(), ns, true, Injected::default()).await;
    adopted(&c.client, ns).await;
    let log: Log = Default::default();
    let standby = Operator::start_with(
        recording_client(&c, log.clone()).await,
        ns,
        true,
        Injected::default(),
    )
    .await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "the pause", T, phase(Phase::Paused)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writes: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, p, _)| m != "GET" && !p.contains("/leases"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "the standby wrote: {writes:?}");
    standby.stop().await;
    leader.stop().await;
}
