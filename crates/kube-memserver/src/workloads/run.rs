//! The thin loop: watch Deployments, ReplicaSets and pods through the API, run the cores
//! over what changed whenever something changes (over the whole cluster when a core asked
//! to look again, after a relist, and every [`RESYNC`]), and apply their writes with plain
//! API calls, as kube-controller-manager and the kubelet do.
//!
//! Like kube-controller-manager's work queues, a round after a watch event reconciles only
//! the objects it concerns: the object itself and its controller (a pod's ReplicaSet, a
//! ReplicaSet's Deployment). With thousands of Deployments, rounds over every object after
//! every event kept a core busy in the simulation instead of in the program under test.

use super::view::View;
use super::writes::Write;
use super::{WorkloadOptions, deployment, kubelet, replicaset};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Wait this long after a change before reconciling, so a burst is handled once.
const SETTLE: Duration = Duration::from_millis(20);
/// Reconcile every object at least this often even without events.
const RESYNC: Duration = Duration::from_secs(30);

/// What the next round must look at: objects (by uid) whose watch reported a change,
/// with their controllers, and objects whose write failed; `all` after a (re)list.
#[derive(Debug, Default)]
struct Dirty {
    all: bool,
    uids: HashSet<String>,
}

impl Dirty {
    /// An object changed: it and its controllers need a look.
    fn touch(&mut self, meta: &ObjectMeta) {
        if let Some(uid) = &meta.uid {
            self.uids.insert(uid.clone());
        }
        for r in meta.owner_references.iter().flatten() {
            if r.controller == Some(true) {
                self.uids.insert(r.uid.clone());
            }
        }
    }
}

type Changes = Arc<Mutex<Dirty>>;

fn note<K: kube::Resource>(changes: &Changes, event: &Result<watcher::Event<K>, watcher::Error>) {
    let mut dirty = changes.lock().unwrap_or_else(|e| e.into_inner());
    match event {
        Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o)) => {
            dirty.touch(o.meta())
        }
        // A (re)list may have replaced anything; an error is followed by one.
        Ok(watcher::Event::Init | watcher::Event::InitDone) | Err(_) => dirty.all = true,
    }
}

fn watch<K>(
    client: &kube::Client,
    changed: Arc<Notify>,
    changes: Changes,
) -> (View<K>, tokio::task::JoinHandle<()>)
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
                // The reflector has stored the event before yielding it.
                note(&changes, &event);
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
    let changes = Changes::default();
    let (deployments, t1) = watch::<Deployment>(&client, changed.clone(), changes.clone());
    let (replica_sets, t2) = watch::<ReplicaSet>(&client, changed.clone(), changes.clone());
    let (pods, t3) = watch::<Pod>(&client, changed.clone(), changes.clone());
    let mut views = Views {
        deployments,
        replica_sets,
        pods,
    };
    tokio::pin!(shutdown);
    // The next round over everything: a core's requeue, or the resync.
    let mut full_at = Instant::now() + RESYNC;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = changed.notified() => tokio::time::sleep(SETTLE).await,
            _ = tokio::time::sleep_until(full_at) => {}
        }
        let dirty = std::mem::take(&mut *changes.lock().unwrap_or_else(|e| e.into_inner()));
        let full = dirty.all || Instant::now() >= full_at;
        let selected =
            |m: &ObjectMeta| full || m.uid.as_deref().is_some_and(|u| dirty.uids.contains(u));
        let (deployments, rss, pods) = (
            views.deployments.objects(),
            views.replica_sets.objects(),
            views.pods.objects(),
        );
        let round = reconcile_selected(
            &refs(&deployments),
            &refs(&rss),
            &refs(&pods),
            &selected,
            Some(&options),
            Timestamp::now(),
        );
        for e in &round.errors {
            tracing::warn!(error = %e, "cannot reconcile Deployment");
        }
        for w in round.writes {
            let concerns = concerns(&w);
            if !apply(&client, &mut views, w).await {
                // Look again next round, as a real controller requeues a failed sync.
                let mut dirty = changes.lock().unwrap_or_else(|e| e.into_inner());
                match concerns {
                    Some(uids) => dirty.uids.extend(uids),
                    None => dirty.all = true,
                }
            }
        }
        let after = round.requeue_after.unwrap_or(RESYNC).clamp(SETTLE, RESYNC);
        full_at = if full {
            Instant::now() + after
        } else {
            full_at.min(Instant::now() + after)
        };
    }
    for t in [t1, t2, t3] {
        t.abort();
    }
}

/// `ns/name` order (the order rounds have always visited objects in), without allocating.
fn key_order(a: &ObjectMeta, b: &ObjectMeta) -> Ordering {
    fn key(m: &ObjectMeta) -> impl Iterator<Item = u8> + '_ {
        let ns = m.namespace.as_deref().unwrap_or_default().bytes();
        ns.chain(std::iter::once(b'/'))
            .chain(m.name.as_deref().unwrap_or_default().bytes())
    }
    key(a).cmp(key(b))
}

/// The objects of `picked` in `ns/name` order.
fn sorted<'a, K: kube::Resource>(picked: impl Iterator<Item = &'a K>) -> Vec<&'a K> {
    let mut v: Vec<&K> = picked.collect();
    v.sort_by(|a, b| key_order(a.meta(), b.meta()));
    v
}

fn refs<K>(objects: &[Arc<K>]) -> Vec<&K> {
    objects.iter().map(|o| o.as_ref()).collect()
}

/// The uids whose next round must retry a failed write; None: no uid to name.
fn concerns(w: &Write) -> Option<Vec<String>> {
    let mut dirty = Dirty::default();
    match w {
        Write::CreateReplicaSet(rs)
        | Write::ReplaceReplicaSet(rs)
        | Write::ReplaceReplicaSetStatus(rs) => dirty.touch(&rs.metadata),
        Write::ReplaceDeploymentStatus(d) => dirty.touch(&d.metadata),
        Write::CreatePod(p) | Write::ReplacePodStatus(p) => dirty.touch(&p.metadata),
        Write::DeleteReplicaSet { .. } | Write::DeletePod { .. } => return None,
    }
    Some(dirty.uids.into_iter().collect())
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
    reconcile_selected(
        &deployments.iter().collect::<Vec<_>>(),
        &replica_sets.iter().collect::<Vec<_>>(),
        &pods.iter().collect::<Vec<_>>(),
        &|_| true,
        kubelet,
        now,
    )
}

/// Objects by the uid of each of their controllers.
fn by_controller<'a, K: kube::Resource>(objects: &[&'a K]) -> HashMap<&'a str, Vec<&'a K>> {
    let mut index: HashMap<&str, Vec<&K>> = HashMap::new();
    for &o in objects {
        for r in o.meta().owner_references.iter().flatten() {
            if r.controller != Some(true) {
                continue;
            }
            let owned = index.entry(r.uid.as_str()).or_default();
            // Two references to one controller still make one object.
            if !owned.last().is_some_and(|last| std::ptr::eq(*last, o)) {
                owned.push(o);
            }
        }
    }
    index
}

/// What `meta`'s object controls, in `ns/name` order.
fn owned_by<'a, K: kube::Resource>(
    index: &HashMap<&str, Vec<&'a K>>,
    meta: &ObjectMeta,
) -> Vec<&'a K> {
    let owned = meta.uid.as_deref().and_then(|u| index.get(u));
    sorted(owned.into_iter().flatten().copied())
}

/// [`reconcile_all`] over the objects `selected` picks, visited in `ns/name` order; each
/// core still sees every object its decision depends on (a Deployment all its
/// ReplicaSets, a ReplicaSet all its pods), found through an index rather than by
/// scanning the cluster once per object.
fn reconcile_selected(
    deployments: &[&Deployment],
    replica_sets: &[&ReplicaSet],
    pods: &[&Pod],
    selected: &dyn Fn(&ObjectMeta) -> bool,
    kubelet: Option<&WorkloadOptions>,
    now: Timestamp,
) -> Round {
    let mut round = Round::default();
    let wake = |r: &mut Round, after: Option<Duration>| {
        if let Some(a) = after {
            r.requeue_after = Some(r.requeue_after.map_or(a, |q| q.min(a)));
        }
    };
    let rs_index = by_controller(replica_sets);
    for d in sorted(
        deployments
            .iter()
            .copied()
            .filter(|d| selected(&d.metadata)),
    ) {
        let rss = owned_by(&rs_index, &d.metadata);
        match deployment::reconcile_among(d, rss, now) {
            Ok(sync) => {
                wake(&mut round, sync.requeue_after);
                round.writes.extend(sync.writes);
            }
            Err(e) => round.errors.push(e),
        }
    }
    let pod_index = by_controller(pods);
    for rs in sorted(
        replica_sets
            .iter()
            .copied()
            .filter(|rs| selected(&rs.metadata)),
    ) {
        let sync = replicaset::reconcile_among(rs, owned_by(&pod_index, &rs.metadata), now);
        wake(&mut round, sync.requeue_after);
        round.writes.extend(sync.writes);
    }
    if let Some(options) = kubelet {
        for pod in sorted(pods.iter().copied().filter(|p| selected(&p.metadata))) {
            let sync = kubelet::reconcile(pod, &options.behaviour(pod), now);
            wake(&mut round, sync.requeue_after);
            round.writes.extend(sync.write);
        }
    }
    round
}

fn params(manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(manager.to_string()),
        ..PostParams::default()
    }
}

/// One write through the API; false when it failed. A conflict or a vanished object only
/// means the cache was behind: the next round starts from the watch again.
async fn apply(client: &kube::Client, views: &mut Views, write: Write) -> bool {
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
        Ok(()) => return true,
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {
            tracing::debug!(reason = %s.reason, "write based on a stale read; retrying next round");
        }
        Err(e) => tracing::warn!(error = %e, "write failed; retrying next round"),
    }
    false
}
