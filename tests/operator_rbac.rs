//! The RBAC the operator documents (`controller::rbac::RULES`, turned into the chart's
//! ClusterRole) covers every request it makes through a canary, a promotion, an abort
//! and a deletion; and a standby replica writes nothing.

mod operator_support;

use operator_support::recording::{Log, denied, recording_client};
use operator_support::*;
use portcullis::api::{Phase, Verdict};
use portcullis::controller::analysis_source::Injected;
use portcullis::controller::rbac;
use portcullis::engine::AnalysisReading;
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

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

    assert!(
        log.lock().unwrap().len() > 10,
        "requests were recorded: {log:?}"
    );
    let denied = denied(&log, rbac::RULES);
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
