//! The judge on bursty authentication traffic, end to end: the operator binary's own
//! analysis reads Debian's real Prometheus scraping the local cluster's simulated logins,
//! where failures cluster as they do in production (`--traffic-retries`,
//! `--traffic-stuffing-*`). A healthy release under credential stuffing on both tracks is
//! not rolled back; a release failing the logins of 1% of users, who retry, is.

mod operator_support;

use operator_support::lab::{APP, NS};
use operator_support::lab::{app, lab, push, until};
use portcullis::api::Phase;
use serde_json::{Value, json};
use std::time::Duration;

/// One lab at a time: each runs traffic, Prometheus and the operator, and on two cores a
/// second one slows the first's scrapes enough to add noise the judge (rightly) discounts.
static ONE_LAB: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The app (6 pods, so stable keeps 3 to compare at 50%) and a Rollout judging the
/// example login gate's queries at 50% for `pause`.
fn objects(pause: &str) -> Vec<Value> {
    let mut objects = app(6);
    objects.push(
        json!({"apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
            "metadata": {"name": APP, "namespace": NS},
            "spec": {"workloadRef": {"name": APP}, "service": APP,
                "steps": [{"setWeight": 50}, {"pause": {"duration": pause}}],
                "analysis": {"interval": "1s", "metrics": [
                    {"name": "login-failure-ratio", "counts": {
                        "failures": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",outcome=\"failure\",pod=~\"{{pods}}\"}[{{elapsed}}])) or vector(0)",
                        "total": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",pod=~\"{{pods}}\"}[{{elapsed}}]))"}}]}}}),
    );
    objects
}

#[tokio::test]
async fn a_healthy_release_under_credential_stuffing_on_both_tracks_is_promoted() {
    let _one = ONE_LAB.lock().await;
    // 100 logins/s, 2% wrong passwords, people retry; and 60 failing attempts/s of
    // credential stuffing over 4 sticky connections re-dialled every 20 s on average.
    let lab = lab(
        &[
            "--traffic-rps=100",
            "--traffic-baseline=0.02",
            "--traffic-retries=3",
            "--traffic-stuffing-rps=60",
            "--traffic-stuffing-connections=4",
            "--traffic-stuffing-lifetime=20",
        ],
        objects("60s"),
    )
    .await;
    push(&lab, "auth:1.1").await;
    // The judge's last numbers while it judged (status drops them once promoted).
    let seen = std::sync::Mutex::new(None);
    let st = until(
        &lab.client,
        "the release promoted",
        Duration::from_secs(180),
        |s| {
            if let Some(m) = s.analysis.as_ref().and_then(|a| a.metrics.first()) {
                *seen.lock().unwrap() = Some(m.clone());
            }
            s.phase == Some(Phase::Succeeded) || s.phase == Some(Phase::Aborted)
        },
    )
    .await;
    let m = seen.into_inner().unwrap().expect("readings were taken");
    assert_eq!(
        st.phase,
        Some(Phase::Succeeded),
        "rolled back: {:?}; {m:?}",
        st.last_abort
    );
    assert!(m.samples > 30, "judged all along: {m:?}");
    assert!(
        m.dispersion.is_some_and(|d| d > 2.0),
        "the bursts were measured: {m:?}"
    );
    let _ = lab.stop.send(true);
}

#[tokio::test]
async fn a_release_failing_one_percent_of_users_who_retry_is_rolled_back() {
    let _one = ONE_LAB.lock().await;
    // 200 logins/s by 10 000 people, 1% wrong passwords; release 1.1 fails every login
    // of 1% of them. Everyone who fails retries (3 attempts on average).
    let lab = lab(
        &[
            "--traffic-rps=200",
            "--traffic-users=10000",
            "--traffic-baseline=0.01",
            "--traffic-retries=3",
            "--release=auth:1.1=baseline:0.01,bug:1.0,bug-users:0.01",
        ],
        objects("10m"),
    )
    .await;
    push(&lab, "auth:1.1").await;
    let st = until(
        &lab.client,
        "the release rolled back and its traffic on stable",
        Duration::from_secs(300),
        |s| {
            (s.phase == Some(Phase::Aborted) && s.effective_weight == 0)
                || s.phase == Some(Phase::Succeeded)
        },
    )
    .await;
    assert_eq!(st.phase, Some(Phase::Aborted), "{st:?}");
    let abort = st.last_abort.unwrap();
    assert!(
        abort.reason.contains("login-failure-ratio"),
        "{}",
        abort.reason
    );
    assert_eq!(st.effective_weight, 0);
    let _ = lab.stop.send(true);
}
