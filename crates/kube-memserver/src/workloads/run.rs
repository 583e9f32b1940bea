//! The thin loop: watch Deployments, ReplicaSets and pods through the API, run the cores
//! over the whole cluster whenever something changes (or a core asked to look again), and
//! apply their writes with plain API calls, as kube-controller-manager and the kubelet do.

use super::view::View;
use super::writes::Write;
use super::{WorkloadOptions, deployment, kubelet, replicaset};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Wait this long after a change before reconciling, so a burst is handled once.
const SETTLE: Duration = Duration::from_millis(20);
/// Reconcile at least this often even without events.
const RESYNC: Duration = Duration::from_secs(30);

fn watch<K>(client: &kube::Client, changed: Arc<Notify>) -> (View<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff();
    let task = tokio::spawn(async move {
        stream
            .for_each(|event| {
                if let Err(e) = &event {
                    tracing::warn!(error = %e, "watch failed; retrying");
                }
                changed.notify_one();
                async {}
            })
            .await;
    });
    (View::new(store), task)
}

struct Views {
    deployments: View<Deployment>,
    replica_sets: View<ReplicaSet>,
    pods: View<Pod>,
}

/// Runs the deployment and replicaset controllers and the kubelet until `shutdown`.
pub async fn run(
    client: kube::Client,
    options: WorkloadOptions,
    shutdown: impl Future<Output = ()>,
) {
    let changed = Arc::new(Notify::new());
    let (deployments, t1) = watch::<Deployment>(&client, changed.clone());
    let (replica_sets, t2) = watch::<ReplicaSet>(&client, changed.clone());
    let (pods, t3) = watch::<Pod>(&client, changed.clone());
    let mut views = Views {
        deployments,
        replica_sets,
        pods,
    };
    tokio::pin!(shutdown);
    let mut next = RESYNC;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = changed.notified() => tokio::time::sleep(SETTLE).await,
            _ = tokio::time::sleep(next) => {}
        }
        let (deployments, rss, pods) = (
            views.deployments.objects(),
            views.replica_sets.objects(),
            views.pods.objects(),
        );
        let round = reconcile_all(&deployments, &rss, &pods, Some(&options), Timestamp::now());
        for e in &round.errors {
            tracing::warn!(error = %e, "cannot reconcile Deployment");
        }
        for w in round.writes {
            apply(&client, &mut views, w).await;
        }
        next = round.requeue_after.unwrap_or(RESYNC).clamp(SETTLE, RESYNC);
    }
    for t in [t1, t2, t3] {
        t.abort();
    }
}

/// What every core asks for over the whole cluster in one round.
#[derive(Debug, Default)]
pub struct Round {
    pub writes: Vec<Write>,
    /// The earliest time a core asked to look again.
    pub requeue_after: Option<Duration>,
    /// Deployments that cannot be reconciled (their spec is invalid or unsupported).
    pub errors: Vec<deployment::DeploymentError>,
}

/// Runs every core over every object: the deployment and replicaset controllers, and the
/// kubelet when `kubelet` is given. Pure; shared by this loop and the in-memory cluster.
pub fn reconcile_all(
    deployments: &[Deployment],
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    kubelet: Option<&WorkloadOptions>,
    now: Timestamp,
) -> Round {
    let mut round = Round::default();
    let wake = |r: &mut Round, after: Option<Duration>| {
        if let Some(a) = after {
            r.requeue_after = Some(r.requeue_after.map_or(a, |q| q.min(a)));
        }
    };
    for d in deployments {
        match deployment::reconcile(d, replica_sets, now) {
            Ok(sync) => {
                wake(&mut round, sync.requeue_after);
                round.writes.extend(sync.writes);
            }
            Err(e) => round.errors.push(e),
        }
    }
    for rs in replica_sets {
        let sync = replicaset::reconcile(rs, pods, now);
        wake(&mut round, sync.requeue_after);
        round.writes.extend(sync.writes);
    }
    for (pod, options) in pods.iter().filter_map(|p| Some((p, kubelet?))) {
        let sync = kubelet::reconcile(pod, &options.behaviour(pod), now);
        wake(&mut round, sync.requeue_after);
        round.writes.extend(sync.write);
    }
    round
}

fn params(manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(manager.to_string()),
        ..PostParams::default()
    }
}

/// One write through the API. A conflict or a vanished object only means the cache was
/// behind: the next round starts from the watch again.
async fn apply(client: &kube::Client, views: &mut Views, write: Write) {
    const KCM: &str = "kube-controller-manager";
    let ns = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.namespace.clone().unwrap_or_default()
    };
    let name = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.name.clone().unwrap_or_default()
    };
    let result: Result<(), kube::Error> = async {
        match write {
            Write::CreateReplicaSet(rs) => {
                let api = Api::<ReplicaSet>::namespaced(client.clone(), &ns(&rs.metadata));
                views
                    .replica_sets
                    .wrote(api.create(&params(KCM), &rs).await?);
            }
            Write::ReplaceReplicaSet(rs) => {
                let api = Api::<ReplicaSet>::namespaced(client.clone(), &ns(&rs.metadata));
                views
                    .replica_sets
                    .wrote(api.replace(&name(&rs.metadata), &params(KCM), &rs).await?);
            }
            Write::ReplaceReplicaSetStatus(rs) => {
                let api = Api::<ReplicaSet>::namespaced(client.clone(), &ns(&rs.metadata));
                views.replica_sets.wrote(
                    api.replace_status(&name(&rs.metadata), &params(KCM), &rs)
                        .await?,
                );
            }
            Write::DeleteReplicaSet { namespace, name } => {
                let api = Api::<ReplicaSet>::namespaced(client.clone(), &namespace);
                api.delete(&name, &DeleteParams::background()).await?;
                views.replica_sets.deleted(&namespace, &name);
            }
            Write::ReplaceDeploymentStatus(d) => {
                let api = Api::<Deployment>::namespaced(client.clone(), &ns(&d.metadata));
                views.deployments.wrote(
                    api.replace_status(&name(&d.metadata), &params(KCM), &d)
                        .await?,
                );
            }
            Write::CreatePod(pod) => {
                let api = Api::<Pod>::namespaced(client.clone(), &ns(&pod.metadata));
                views.pods.wrote(api.create(&params(KCM), &pod).await?);
            }
            Write::DeletePod {
                namespace,
                name,
                grace_period_seconds,
            } => {
                let api = Api::<Pod>::namespaced(client.clone(), &namespace);
                let dp = DeleteParams {
                    grace_period_seconds: grace_period_seconds.map(|g| g as u32),
                    ..DeleteParams::default()
                };
                // The pod while it terminates, or a Status once it is gone.
                match api.delete(&name, &dp).await?.left() {
                    Some(pod) => views.pods.wrote(pod),
                    None => views.pods.deleted(&namespace, &name),
                }
            }
            Write::ReplacePodStatus(pod) => {
                let api = Api::<Pod>::namespaced(client.clone(), &ns(&pod.metadata));
                views.pods.wrote(
                    api.replace_status(&name(&pod.metadata), &params("kubelet"), &pod)
                        .await?,
                );
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {}
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {
            tracing::debug!(reason = %s.reason, "write based on a stale read; retrying next round");
        }
        Err(e) => tracing::warn!(error = %e, "write failed; retrying next round"),
    }
}
