//! The whole lab in one process for operator tests that need real analysis: the local
//! cluster with simulated login traffic (`TrafficArgs` flags), Debian's Prometheus
//! scraping it behind a switch that can cut it, the app and a Rollout, and the operator
//! reading Prometheus.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use kube_memserver::workloads::WorkloadOptions;
use portcullis::api::{Rollout, RolloutStatus};
use portcullis::controller::ControllerArgs;
use portcullis::controller::measure::PrometheusAnalysis;
use portcullis::lab::stack::{self, Stack};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const NS: &str = "payments";
pub use super::APP;

/// A TCP proxy to Prometheus that can be cut: while down it refuses to relay, as an
/// unreachable Prometheus would.
pub struct Switch {
    up: Arc<AtomicBool>,
    pub url: String,
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
                let (target, flag) = (target.clone(), flag.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    // An outage also cuts the connections already open (a client's
                    // keep-alive pool must not outlive the server).
                    let down = async {
                        while flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down => {}
                    }
                });
            }
        });
        Switch { up, url }
    }

    pub fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

pub struct Lab {
    pub client: Client,
    pub prometheus: Switch,
    pub stop: watch::Sender<bool>,
    _stack: Stack,
}

/// The app: Deployment `auth-api` (image `auth:1.0`, `replicas` pods) and its Service.
pub fn app(replicas: i32) -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": APP, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                     "template": {"metadata": {"labels": {"app": APP}},
                                  "spec": {"containers": [{"name": "app", "image": "auth:1.0"}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": NS},
            "spec": {"selector": {"app": APP}, "ports": [{"port": 80, "targetPort": 8080}]}}),
    ]
}

/// The local cluster with login traffic (`traffic` flags, on top of the Service), Prometheus
/// behind a switch, `objects` created in namespace `payments`, and the operator running.
pub async fn lab(traffic: &[&str], objects: Vec<Value>) -> Lab {
    let traffic = stack::traffic(NS, APP, traffic.iter().copied()).unwrap();
    let options = WorkloadOptions {
        start_delay: Duration::from_millis(100),
        readiness_delay: Duration::from_millis(300),
        failures: Vec::new(),
    };
    let lab = Stack::start(options, &traffic).await.unwrap();
    let client = lab.client.clone();
    let prometheus = Switch::to(lab.prometheus.url()).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    for obj in objects {
        create(&client, obj).await;
    }
    let (stop, rx) = watch::channel(false);
    let args = ControllerArgs::in_process(NS, &prometheus.url);
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
        _stack: lab,
    }
}

pub async fn create(client: &Client, obj: Value) {
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

pub async fn status(client: &Client) -> RolloutStatus {
    let api: Api<Rollout> = Api::namespaced(client.clone(), NS);
    api.get_opt(APP)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.status)
        .unwrap_or_default()
}

pub async fn until(
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

pub async fn canary_replicas(client: &Client) -> i32 {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    api.get_opt(&format!("{APP}-canary"))
        .await
        .unwrap()
        .map_or(0, |d| d.spec.replicas.unwrap_or(0))
}

/// Waits for adoption, then pushes `image`, once the workload is held paused (or the push
/// would partly roll out before the canary starts).
pub async fn push(lab: &Lab, image: &str) {
    until(&lab.client, "adoption", Duration::from_secs(30), |s| {
        s.phase == Some(portcullis::api::Phase::Idle)
    })
    .await;
    let api: Api<Deployment> = Api::namespaced(lab.client.clone(), NS);
    let start = Instant::now();
    while api.get(APP).await.unwrap().spec.paused != Some(true) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the workload paused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
    api.patch(
        APP,
        &Default::default(),
        &kube::api::Patch::Strategic(patch),
    )
    .await
    .unwrap();
}
