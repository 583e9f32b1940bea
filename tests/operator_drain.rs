//! Metrics outages with the default `onError: drain` and the `replicas` router, through
//! the operator binary's own analysis (Debian's real Prometheus scraping the local
//! cluster's simulated login traffic): the drained canary — which then has no pods to
//! measure — comes back on its own when Prometheus does, and an outage that outlasts
//! `deadlines.metrics` rolls the canary back. Local cluster only: the traffic is
//! simulated.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use portcullis::api::{Phase, Rollout, RolloutStatus, WaitFor};
use portcullis::controller::measure::PrometheusAnalysis;
use portcullis::controller::{ControllerArgs, LogFormat};
use portcullis::sim::cluster::Simulation;
use portcullis::sim::dataplane::TrafficArgs;
use portcullis::sim::prometheus::Prometheus;
use portcullis::sim::workloads::WorkloadOptions;
use portcullis::sim::{apiserver, setup};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const NS: &str = "payments";
const APP: &str = "auth-api";

/// A TCP proxy to Prometheus that can be cut: while down it refuses to relay, as an
/// unreachable Prometheus would.
struct Switch {
    up: Arc<AtomicBool>,
    url: String,
}

impl Switch {
    async fn to(target: &str) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let target = target.trim_start_matches("http://").to_string();
        let flag = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Switch { up, url }
    }

    fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

struct Lab {
    client: Client,
    prometheus: Switch,
    stop: watch::Sender<bool>,
    _server: apiserver::LocalApiServer,
    _sim: Simulation,
    _prom: Prometheus,
}

#[derive(clap::Parser)]
struct TrafficCli {
    #[command(flatten)]
    traffic: TrafficArgs,
}

/// The local cluster with login traffic, Prometheus behind a switch, the app and a
/// Rollout analysed by `onError: drain` (the default), and the operator running.
async fn lab(metrics_deadline: &str) -> Lab {
    use clap::Parser;
    portcullis::install_crypto_provider();
    let server = apiserver::start(apiserver::Config::default())
        .await
        .unwrap();
    let client = server.client().await.unwrap();
    setup::install_crds(&client, portcullis::api::crds())
        .await
        .unwrap();
    let traffic = TrafficCli::try_parse_from([
        "traffic".to_string(),
        format!("--traffic-service={NS}/{APP}"),
        "--traffic-rps=100".into(),
        "--traffic-baseline=0.02".into(),
    ])
    .unwrap()
    .traffic;
    let options = WorkloadOptions {
        start_delay: Duration::from_millis(100),
        readiness_delay: Duration::from_millis(300),
        failures: Vec::new(),
    };
    let sim = Simulation::start(client.clone(), options, &traffic)
        .await
        .unwrap();
    let prom = Prometheus::start(&[sim.metrics_addr().to_string()])
        .await
        .expect("Debian's prometheus starts (make deps-prometheus)");
    let prometheus = Switch::to(prom.url()).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    for obj in objects(metrics_deadline) {
        create(&client, obj).await;
    }
    let (stop, rx) = watch::channel(false);
    let args = ControllerArgs {
        kubeconfig: None,
        namespaces: vec![NS.into()],
        prometheus_url: prometheus.url.clone(),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        leader_election: false,
        lease_namespace: NS.into(),
        lease_name: "portcullis-controller".into(),
        lease_duration: 15,
        log_format: LogFormat::Text,
        gateway_api_check_interval: Duration::from_secs(30),
        max_concurrent_reconciles: 64,
        api_qps: 0.0,
        api_burst: 100,
        resync_interval: portcullis::controller::reconcile::RESYNC,
    };
    let analysis = Arc::new(PrometheusAnalysis::new(client.clone(), &prometheus.url));
    tokio::spawn(portcullis::controller::run_with_client(
        client.clone(),
        args,
        analysis,
        rx,
    ));
    Lab {
        client,
        prometheus,
        stop,
        _server: server,
        _sim: sim,
        _prom: prom,
    }
}

fn objects(metrics_deadline: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": APP, "namespace": NS},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": APP}},
                     "template": {"metadata": {"labels": {"app": APP}},
                                  "spec": {"containers": [{"name": "app", "image": "auth:1.0"}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": NS},
            "spec": {"selector": {"app": APP}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        json!({"apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
            "metadata": {"name": APP, "namespace": NS},
            "spec": {"workloadRef": {"name": APP}, "service": APP,
                "steps": [{"setWeight": 25}, {"pause": {}}],
                "deadlines": {"metrics": metrics_deadline},
                "analysis": {"interval": "1s", "errorLimit": 1, "metrics": [
                    {"name": "login-failure-ratio", "counts": {
                        "failures": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",outcome=\"failure\",pod=~\"{{pods}}\"}[{{elapsed}}])) or vector(0)",
                        "total": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",pod=~\"{{pods}}\"}[{{elapsed}}]))",
                        "maxIncrease": 0.5}}]}}}),
    ]
}

async fn create(client: &Client, obj: Value) {
    let (group, version) = match obj["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), "v1".to_string()),
    };
    let kind = obj["kind"].as_str().unwrap().to_string();
    let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &kind);
    let plural = format!("{}s", kind.to_lowercase());
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, &plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &ar);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(obj).unwrap(),
    )
    .await
    .unwrap_or_else(|e| panic!("creating a {kind}: {e}"));
}

async fn status(client: &Client) -> RolloutStatus {
    let api: Api<Rollout> = Api::namespaced(client.clone(), NS);
    api.get_opt(APP)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.status)
        .unwrap_or_default()
}

async fn until(
    client: &Client,
    what: &str,
    limit: Duration,
    check: impl Fn(&RolloutStatus) -> bool,
) -> RolloutStatus {
    let start = Instant::now();
    loop {
        let st = status(client).await;
        if check(&st) {
            return st;
        }
        assert!(
            start.elapsed() < limit,
            "no {what} within {limit:?}; last status: {}",
            serde_json::to_string_pretty(&st).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn canary_replicas(client: &Client) -> i32 {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    api.get_opt(&format!("{APP}-canary"))
        .await
        .unwrap()
        .map_or(0, |d| d.spec.replicas.unwrap_or(0))
}

fn draining(st: &RolloutStatus) -> bool {
    st.analysis.as_ref().is_some_and(|a| a.draining)
}

/// Pushes release 1.1 and waits for its canary at 25% with a reading taken.
async fn canary_at_25(lab: &Lab) {
    until(&lab.client, "adoption", Duration::from_secs(30), |s| {
        s.phase == Some(Phase::Idle)
    })
    .await;
    let api: Api<Deployment> = Api::namespaced(lab.client.clone(), NS);
    // Paused first, or the push would partly roll out before the canary starts.
    let start = Instant::now();
    while api.get(APP).await.unwrap().spec.paused != Some(true) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the workload paused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "auth:1.1"}]}}}});
    api.patch(
        APP,
        &Default::default(),
        &kube::api::Patch::Strategic(patch),
    )
    .await
    .unwrap();
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
    let lab = lab("10m").await;
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
    let st = until(
        &lab.client,
        "canary traffic restored after Prometheus came back",
        Duration::from_secs(30),
        |s| !draining(s) && s.effective_weight == 25,
    )
    .await;
    assert_eq!(
        st.phase,
        Some(Phase::Paused),
        "back where it was: the pause step"
    );
    assert!(st.waiting.is_none(), "waiting on nothing: {:?}", st.waiting);
    assert!(st.last_abort.is_none());
    let _ = lab.stop.send(true);
}

#[tokio::test]
async fn an_outage_past_the_metrics_deadline_rolls_the_canary_back() {
    let lab = lab("6s").await;
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
