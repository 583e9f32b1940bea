//! Metrics outages with the default `onError: drain` and the `replicas` router, through
//! the operator binary's own analysis (Debian's real Prometheus scraping the local
//! cluster's simulated login traffic): the drained canary — which then has no pods to
//! measure — comes back on its own when Prometheus does, and an outage that outlasts
//! `deadlines.metrics` rolls the canary back. Local cluster only: the traffic is
//! simulated.

mod operator_support;

use operator_support::lab::{APP, Lab, NS, app, canary_replicas, lab, push, until};
use portcullis::api::{Phase, RolloutStatus, WaitFor};
use serde_json::{Value, json};
use std::time::Duration;

const TRAFFIC: [&str; 2] = ["--traffic-rps=100", "--traffic-baseline=0.02"];

/// The app and a Rollout analysed by `onError: drain` (the default). A new canary pod
/// has no `increase()` before its second scrape (1 s apart here), so `errorLimit` covers
/// a few readings: otherwise the canary drains before it is ever measured, and each
/// restore brings new pods that start over.
fn objects(metrics_deadline: &str) -> Vec<Value> {
    let mut objects = app(3);
    objects.push(
        json!({"apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
            "metadata": {"name": APP, "namespace": NS},
            "spec": {"workloadRef": {"name": APP}, "service": APP,
                "steps": [{"setWeight": 25}, {"pause": {}}],
                "deadlines": {"metrics": metrics_deadline},
                "analysis": {"interval": "1s", "errorLimit": 5, "metrics": [
                    {"name": "login-failure-ratio", "counts": {
                        "failures": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",outcome=\"failure\",pod=~\"{{pods}}\"}[{{elapsed}}])) or vector(0)",
                        "total": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",pod=~\"{{pods}}\"}[{{elapsed}}]))",
                        "maxIncrease": 0.5}}]}}}),
    );
    objects
}

fn draining(st: &RolloutStatus) -> bool {
    st.analysis.as_ref().is_some_and(|a| a.draining)
}

/// Pushes release 1.1 and waits for its canary at 25% with a reading taken.
async fn canary_at_25(lab: &Lab) {
    push(lab, "auth:1.1").await;
    until(
        &lab.client,
        "the canary at 25% with readings",
        Duration::from_secs(60),
        |s| {
            s.phase == Some(Phase::Paused)
                && s.effective_weight == 25
                && s.analysis
                    .as_ref()
                    .is_some_and(|a| a.metrics.iter().any(|m| m.samples > 0))
        },
    )
    .await;
}

#[tokio::test]
async fn a_drained_canary_comes_back_on_its_own_when_prometheus_does() {
    let lab = lab(&TRAFFIC, objects("10m")).await;
    canary_at_25(&lab).await;

    lab.prometheus.set(false);
    let st = until(
        &lab.client,
        "the canary drained",
        Duration::from_secs(30),
        |s| draining(s) && s.effective_weight == 0,
    )
    .await;
    assert_eq!(st.waiting.as_ref().map(|w| w.for_), Some(WaitFor::Metrics));
    assert_eq!(canary_replicas(&lab.client).await, 0, "no traffic: no pods");
    tokio::time::sleep(Duration::from_secs(3)).await;

    lab.prometheus.set(true);
    // Restored, then measured again: the canary's new pods need two scrapes first, which
    // errorLimit (5 readings a second apart) leaves time for.
    let st = until(
        &lab.client,
        "canary traffic restored and measured after Prometheus came back",
        Duration::from_secs(30),
        |s| !draining(s) && s.effective_weight == 25 && s.waiting.is_none(),
    )
    .await;
    assert_eq!(st.analysis.and_then(|a| a.drained_since), None);
    assert_eq!(
        st.phase,
        Some(Phase::Paused),
        "back where it was: the pause step"
    );
    assert!(st.last_abort.is_none());
    let _ = lab.stop.send(true);
}

#[tokio::test]
async fn an_outage_past_the_metrics_deadline_rolls_the_canary_back() {
    let lab = lab(&TRAFFIC, objects("6s")).await;
    canary_at_25(&lab).await;
    lab.prometheus.set(false);
    let st = until(
        &lab.client,
        "the abort at the metrics deadline",
        Duration::from_secs(40),
        |s| s.phase == Some(Phase::Aborted),
    )
    .await;
    let reason = st.last_abort.unwrap().reason;
    assert!(reason.contains("waited 6s for metrics"), "{reason}");
    assert_eq!(st.effective_weight, 0);
    let _ = lab.stop.send(true);
}
