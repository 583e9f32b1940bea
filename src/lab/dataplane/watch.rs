//! Keeps a [`Snapshot`] of one namespace in step with the API server: pods, Services and
//! Gateway API HTTPRoutes (absent CRD: no routes), rebuilt on every change.

use super::snapshot::Snapshot;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector;
use kube::runtime::reflector::{Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

fn httproute() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

fn reflect<K>(
    api: Api<K>,
    dyntype: K::DynamicType,
    changed: Arc<Notify>,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Send + Sync,
{
    let writer = Writer::new(dyntype);
    let store = writer.as_reader();
    let stream = reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    let task = tokio::spawn(async move {
        stream
            .for_each(|event| {
                if let Err(e) = &event {
                    tracing::debug!(error = %e, "data plane watch failed; retrying");
                }
                changed.notify_one();
                async {}
            })
            .await;
    });
    (store, task)
}

/// Publishes a new snapshot of `namespace` on `tx` after each change, until `shutdown`.
pub async fn run(
    client: kube::Client,
    namespace: String,
    tx: watch::Sender<Arc<Snapshot>>,
    shutdown: impl Future<Output = ()>,
) {
    let changed = Arc::new(Notify::new());
    let (pods, t1) = reflect(
        Api::<Pod>::namespaced(client.clone(), &namespace),
        (),
        changed.clone(),
    );
    let (services, t2) = reflect(
        Api::<Service>::namespaced(client.clone(), &namespace),
        (),
        changed.clone(),
    );
    let ar = httproute();
    let routes_api = Api::<DynamicObject>::namespaced_with(client, &namespace, &ar);
    let (routes, t3) = reflect(routes_api, ar, changed.clone());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = changed.notified() => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        let pods: Vec<Pod> = pods.state().iter().map(|p| (**p).clone()).collect();
        let services: Vec<Service> = services.state().iter().map(|s| (**s).clone()).collect();
        let routes: Vec<serde_json::Value> = routes
            .state()
            .iter()
            .filter_map(|r| serde_json::to_value(&**r).ok())
            .collect();
        tx.send_replace(Arc::new(Snapshot::from_objects(&pods, &services, &routes)));
    }
    for t in [t1, t2, t3] {
        t.abort();
    }
}
