//! The scale bench (`make bench-scale`) at a small N, so the scenario cannot rot: the
//! operator binary against the local cluster, with the same measurements. Only sanity
//! bounds here; the targets are the bench's.

#[path = "../benches/scale/scenario.rs"]
mod scenario;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_rollouts_get_a_status_and_idle_reconciles_ask_the_api_server_nothing() {
    let report = scenario::run(scenario::Options {
        rollouts: 20,
        replicas: 1,
        operator: env!("CARGO_BIN_EXE_portcullis").into(),
        kubeconfig: None,
        namespace: "portcullis-scale".into(),
        concurrency: 4,
        interval: Duration::from_secs(2),
        status_timeout: Duration::from_secs(90),
        operator_env: Vec::new(),
        soak: Duration::ZERO,
    })
    .await
    .unwrap_or_else(|e| panic!("the scenario ran: {e}"));
    let line = report.line();
    assert!(line.starts_with("scale: rollouts=20 "), "{line}");
    assert!(report.peak_connections >= 1, "connections seen: {line}");
    assert!(
        report.peak_connections <= 4 + 12,
        "at most one connection per concurrent reconcile plus the watches: {line}"
    );
    assert_eq!(
        report.requests_per_idle_reconcile, 0.0,
        "an idle reconcile reads caches only: {line}"
    );
    assert!(
        report.prom_queries_per_interval > 0.0,
        "the canary is analysed: {line}"
    );
}
