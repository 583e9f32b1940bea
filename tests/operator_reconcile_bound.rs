//! `--max-concurrent-reconciles` bounds the reconciles of every watched namespace
//! together, not each namespace's on its own.

mod operator_support;

use http::Request;
use kube::client::{Body, ClientBuilder};
use operator_support::*;
use portcullis::controller::ControllerArgs;
use portcullis::controller::analysis_source::Injected;
use serde_json::json;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Service, ServiceExt};

/// Writes in flight now and at most, counted by [`slow_writes`].
#[derive(Clone, Default)]
struct InFlight {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// A client whose every write takes 300 ms longer, counted in `writes`. Only reconciles
/// write (leader election is off), and each makes one request at a time, so the writes in
/// flight at once are a floor on the reconciles running at once.
async fn slow_writes(c: &cluster::Cluster, writes: InFlight) -> kube::Client {
    let layer = tower::layer::layer_fn(move |inner| SlowWrites {
        inner: Arc::new(tokio::sync::Mutex::new(inner)),
        writes: writes.clone(),
    });
    ClientBuilder::try_from(c.config().await)
        .unwrap()
        .with_layer(&layer)
        .build()
}

struct SlowWrites<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    writes: InFlight,
}

impl<S> Service<Request<Body>> for SlowWrites<S>
where
    S: Service<Request<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (inner, writes) = (self.inner.clone(), self.writes.clone());
        Box::pin(async move {
            let write = req.method() != http::Method::GET;
            if write {
                let now = writes.now.fetch_add(1, Ordering::SeqCst) + 1;
                writes.peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let sent = {
                let mut inner = inner.lock().await;
                inner.ready().await?.call(req)
            };
            let answer = sent.await;
            if write {
                writes.now.fetch_sub(1, Ordering::SeqCst);
            }
            answer
        })
    }
}

async fn apps(client: &kube::Client, ns: &str, count: usize) {
    namespace(client, ns).await;
    for i in 0..count {
        let name = format!("app-{i}");
        let deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": image("1.0")}]}}}
        }))
        .unwrap();
        let service = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}
        }))
        .unwrap();
        let rollout = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"workloadRef": {"name": name}, "service": name,
                "steps": [{"setWeight": 50}, {"pause": {}}]}
        }))
        .unwrap();
        create::<k8s_openapi::api::apps::v1::Deployment>(client, ns, &deployment).await;
        create::<k8s_openapi::api::core::v1::Service>(client, ns, &service).await;
        create::<portcullis::api::Rollout>(client, ns, &rollout).await;
    }
}

#[tokio::test]
async fn reconciles_of_every_watched_namespace_share_one_bound() {
    let c = cluster::Cluster::start().await;
    let (a, b) = (unique("turns-a"), unique("turns-b"));
    apps(&c.client, &a, 6).await;
    apps(&c.client, &b, 6).await;
    let writes = InFlight::default();
    let client = slow_writes(&c, writes.clone()).await;
    let args = ControllerArgs {
        namespaces: vec![a.clone(), b.clone()],
        max_concurrent_reconciles: 2,
        ..ControllerArgs::in_process(&a, "http://127.0.0.1:9")
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let operator = tokio::spawn(portcullis::controller::run_with_client(
        client,
        args,
        Arc::new(Injected::default()),
        stopped,
    ));

    eventually(
        "all 12 Rollouts have a status",
        Duration::from_secs(60),
        || {
            let client = c.client.clone();
            let (a, b) = (a.clone(), b.clone());
            async move {
                let mut with_status = 0;
                for ns in [a, b] {
                    let api: kube::Api<portcullis::api::Rollout> =
                        kube::Api::namespaced(client.clone(), &ns);
                    let list = api.list(&Default::default()).await.unwrap();
                    with_status += list.items.iter().filter(|r| r.status.is_some()).count();
                }
                with_status == 12
            }
        },
    )
    .await;
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(15), operator)
        .await
        .expect("the operator stops")
        .unwrap()
        .unwrap();

    let peak = writes.peak.load(Ordering::SeqCst);
    assert!(peak <= 2, "{peak} reconciles wrote at once");
    assert_eq!(peak, 2, "two reconciles ran at once at some point");
}
