//! Given/When/Then helpers for operator tests: a cluster (the local one, or a real one
//! named by PORTCULLIS_E2E_KUBECONFIG), the app's objects, the operator running
//! in-process with injected analysis readings, and patient waits on status.
#![allow(dead_code)]

pub mod cluster;
pub mod lab;
pub mod recording;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use portcullis::api::{Phase, Rollout, RolloutStatus};
use portcullis::controller::ControllerArgs;
use portcullis::controller::analysis_source::Injected;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub const APP: &str = "auth-api";

/// The image of release `tag`: `auth:<tag>` on the local cluster, where images are only
/// names; `$PORTCULLIS_E2E_IMAGE_REPO:<tag>` on a real cluster, where they must pull and
/// start (push tags 1.0, 1.1, 1.2, 1.2-broken of any long-running image there).
pub fn image(tag: &str) -> String {
    match std::env::var("PORTCULLIS_E2E_IMAGE_REPO") {
        Ok(repo) if std::env::var(cluster::E2E_ENV).is_ok() => format!("{repo}:{tag}"),
        _ => format!("auth:{tag}"),
    }
}

/// A running operator; stops (and releases its Lease) when dropped or `stop`ped.
pub struct Operator {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub readings: Injected,
}

impl Operator {
    pub async fn start(client: Client, namespace: &str) -> Operator {
        Self::start_with(client, namespace, false, Injected::default()).await
    }

    pub async fn start_with(
        client: Client,
        namespace: &str,
        leader_election: bool,
        readings: Injected,
    ) -> Operator {
        let any_port = "127.0.0.1:0".parse().unwrap();
        Self::start_serving(client, namespace, leader_election, readings, any_port).await
    }

    /// [`Operator::start_with`], serving `/metrics` on `metrics_addr`.
    pub async fn start_serving(
        client: Client,
        namespace: &str,
        leader_election: bool,
        readings: Injected,
        metrics_addr: std::net::SocketAddr,
    ) -> Operator {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let (stop, rx) = watch::channel(false);
        let args = ControllerArgs {
            metrics_addr,
            leader_election,
            lease_duration: 3,
            gateway_api_check_interval: Duration::from_millis(300),
            ..ControllerArgs::in_process(namespace, "http://127.0.0.1:9")
        };
        let source = Arc::new(readings.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = portcullis::controller::run_with_client(client, args, source, rx).await
            {
                panic!("operator stopped with an error: {e}");
            }
        });
        Operator {
            stop,
            task: Some(task),
            readings,
        }
    }

    /// Stops gracefully and waits (bounded) for the operator to exit.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("the operator exits within 15 s of being told to stop")
                .expect("the operator task did not panic");
        }
    }

    /// Kills it as a crash would: no graceful shutdown, no Lease release.
    pub fn kill(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A namespace name: as given on the local cluster (each test has its own), with a
/// unique suffix on a real one, where runs share the cluster.
pub fn unique(base: &str) -> String {
    if std::env::var(cluster::E2E_ENV).is_err() {
        return base.to_string();
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{base}-{}-{nanos:x}", std::process::id())
}

pub async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
}

/// Given: a namespace holding the app's Deployment (release `1.0`, `replicas` pods), its
/// Service, and a Rollout with `spec`.
pub async fn given_app(client: &Client, ns: &str, replicas: i32, spec: Value) {
    namespace(client, ns).await;
    create(client, ns, &deployment(&image("1.0"), replicas)).await;
    create(client, ns, &service()).await;
    create(client, ns, &rollout(spec)).await;
}

pub fn deployment(image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [{"name": "app", "image": image,
                                         "ports": [{"containerPort": 8080}]}]}
            }
        }
    }))
    .unwrap()
}

pub fn service() -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": APP},
        "spec": {"selector": {"app": APP}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .unwrap()
}

pub fn rollout(spec: Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": APP},
        "spec": spec
    }))
    .unwrap()
}

pub async fn create<K>(client: &Client, ns: &str, obj: &K)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), obj)
        .await
        .unwrap_or_else(|e| panic!("creating {}: {e}", obj.name_any()));
}

/// Sets the workload's image: a new release, as a CI pipeline would push it.
pub async fn release(client: &Client, ns: &str, image: &str) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
    api.patch(APP, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .expect("patching the workload's image");
}

/// Sends a command the way `kubectl annotate` does.
pub async fn command(client: &Client, ns: &str, verb: &str, id: &str) {
    let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let patch =
        json!({"metadata": {"annotations": {"portcullis.dev/command": format!("{verb}:{id}")}}});
    api.patch(APP, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("annotating the Rollout");
}

pub async fn delete_rollout(client: &Client, ns: &str) {
    let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
    api.delete(APP, &DeleteParams::default())
        .await
        .expect("deleting the Rollout");
}

pub async fn get<K>(client: &Client, ns: &str, name: &str) -> Option<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.get_opt(name)
        .await
        .expect("reading from the API server")
}

pub async fn status(client: &Client, ns: &str) -> RolloutStatus {
    get::<Rollout>(client, ns, APP)
        .await
        .and_then(|r| r.status)
        .unwrap_or_default()
}

/// Waits until `check` holds of the Rollout's status; panics with the last status seen.
pub async fn until<F>(
    client: &Client,
    ns: &str,
    what: &str,
    timeout: Duration,
    check: F,
) -> RolloutStatus
where
    F: Fn(&RolloutStatus) -> bool,
{
    let deadline = Instant::now() + timeout;
    loop {
        let st = status(client, ns).await;
        if check(&st) {
            return st;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}; last status: {}",
                serde_json::to_string_pretty(&st).unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `check` holds of anything the test can read.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn phase(p: Phase) -> impl Fn(&RolloutStatus) -> bool {
    move |st| st.phase == Some(p)
}

/// Waits until the operator adopted the running release and paused the workload, so a
/// release from now on starts a canary (one pushed before the pause would partly roll
/// out, on a real cluster too).
pub async fn adopted(client: &Client, ns: &str) -> RolloutStatus {
    let st = until(
        client,
        ns,
        "the running release adopted as stable",
        Duration::from_secs(60),
        phase(Phase::Idle),
    )
    .await;
    eventually("the workload paused", Duration::from_secs(60), || async {
        get::<Deployment>(client, ns, APP)
            .await
            .is_some_and(|d| d.spec.paused == Some(true))
    })
    .await;
    st
}
