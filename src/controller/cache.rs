//! Watch caches: what a reconcile reads instead of asking the API server, and the indexes
//! that turn a Deployment/ReplicaSet/Service/HTTPRoute event into the Rollouts that name
//! it without scanning every Rollout.
//!
//! Cached objects lose what the operator never reads (`managedFields`, kubectl's
//! last-applied annotation): most of a cached object's bytes at 10k Rollouts. Anything
//! written back whole (the Deployment at hand-back) is read live, never from here.

use super::replica_set::ReplicaSetInfo;
use crate::api::{AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use futures::{Stream, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher::watcher};
use kube::{Resource, ResourceExt};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// kubectl's copy of the last applied manifest: often the largest annotation, never read.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How long a reconcile waits for the caches' first list before it gives up (and retries).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Drops what the operator never reads from an object kept in a cache.
pub fn trim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// A (namespace, name) pair.
type Key = (String, String);

/// Which sources (by name) point at which targets, within a namespace: e.g. Rollouts by
/// the Deployment they manage. Fed the source's watch events, relists included.
#[derive(Default)]
pub struct Relation {
    maps: RwLock<Maps>,
}

#[derive(Default)]
struct Maps {
    /// Source → the targets it names (to undo on update/delete).
    targets: HashMap<Key, Vec<String>>,
    /// Target → the sources naming it.
    sources: HashMap<Key, BTreeSet<String>>,
    /// During a relist: what it has listed so far (swapped in at `InitDone`).
    relisting: Option<Vec<(Key, Vec<String>)>>,
}

impl Maps {
    fn remove(&mut self, source: &Key) {
        for t in self.targets.remove(source).unwrap_or_default() {
            let key = (source.0.clone(), t);
            if let Some(s) = self.sources.get_mut(&key) {
                s.remove(&source.1);
                if s.is_empty() {
                    self.sources.remove(&key);
                }
            }
        }
    }

    fn insert(&mut self, source: Key, targets: Vec<String>) {
        self.remove(&source);
        for t in &targets {
            self.sources
                .entry((source.0.clone(), t.clone()))
                .or_default()
                .insert(source.1.clone());
        }
        if !targets.is_empty() {
            self.targets.insert(source, targets);
        }
    }
}

impl Relation {
    /// Applies one watch event of a source; `names` says which targets it points at.
    pub fn apply<K: Resource>(&self, event: &Event<K>, names: impl Fn(&K) -> Vec<String>) {
        let key = |o: &K| (o.namespace().unwrap_or_default(), o.name_any());
        let mut m = self.maps.write().expect("relation lock");
        match event {
            Event::Apply(o) => m.insert(key(o), names(o)),
            Event::Delete(o) => m.remove(&key(o)),
            Event::Init => m.relisting = Some(Vec::new()),
            Event::InitApply(o) => {
                if let Some(r) = m.relisting.as_mut() {
                    r.push((key(o), names(o)));
                }
            }
            Event::InitDone => {
                let listed = m.relisting.take().unwrap_or_default();
                m.targets.clear();
                m.sources.clear();
                for (k, t) in listed {
                    m.insert(k, t);
                }
            }
        }
    }

    /// Names of the sources in `namespace` that point at `target`.
    pub fn sources(&self, namespace: &str, target: &str) -> Vec<String> {
        let m = self.maps.read().expect("relation lock");
        m.sources
            .get(&(namespace.to_string(), target.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Every index the controller keeps.
#[derive(Default)]
pub struct Indexes {
    /// Rollouts by `spec.workloadRef.name`.
    pub by_workload: Relation,
    /// Rollouts by `spec.service`.
    pub by_service: Relation,
    /// Rollouts by their HTTPRoute.
    pub by_route: Relation,
    /// ReplicaSets by the Deployments owning them.
    pub replica_sets: Relation,
}

impl Indexes {
    pub fn rollout_event(&self, e: &Event<Rollout>) {
        self.by_workload
            .apply(e, |r| vec![r.spec.workload_ref.name.clone()]);
        self.by_service.apply(e, |r| vec![r.spec.service.clone()]);
        self.by_route.apply(e, |r| {
            r.spec
                .traffic
                .gateway_api
                .iter()
                .map(|g| g.http_route.clone())
                .collect()
        });
    }

    /// Rollouts that name `target` through `relation`, as references.
    pub fn rollouts(relation: &Relation, ns: &str, target: &str) -> Vec<ObjectRef<Rollout>> {
        relation
            .sources(ns, target)
            .into_iter()
            .map(|n| ObjectRef::new(&n).within(ns))
            .collect()
    }
}

/// The caches a reconcile reads from.
#[derive(Clone)]
pub struct Caches {
    pub rollouts: Store<Rollout>,
    pub deployments: Store<Deployment>,
    /// ReplicaSets as the operator reads them: no pod templates.
    pub replica_sets: Store<ReplicaSetInfo>,
    pub services: Store<Service>,
    /// `None` while the Gateway API is not served.
    pub routes: Option<Store<DynamicObject>>,
    pub templates: Store<AnalysisTemplate>,
    pub cluster_templates: Store<ClusterAnalysisTemplate>,
    pub index: Arc<Indexes>,
}

/// Why the caches could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the watch caches did not finish their first list within {0:?}")]
pub struct NotReady(pub Duration);

impl Caches {
    /// Waits until every cache has listed once: reading an empty cache would make every
    /// Deployment look missing.
    pub async fn ready(&self) -> Result<(), NotReady> {
        let all = async {
            let _ = self.rollouts.wait_until_ready().await;
            let _ = self.deployments.wait_until_ready().await;
            let _ = self.replica_sets.wait_until_ready().await;
            let _ = self.services.wait_until_ready().await;
            let _ = self.templates.wait_until_ready().await;
            let _ = self.cluster_templates.wait_until_ready().await;
            if let Some(r) = &self.routes {
                let _ = r.wait_until_ready().await;
            }
        };
        tokio::time::timeout(READY_TIMEOUT, all)
            .await
            .map_err(|_| NotReady(READY_TIMEOUT))
    }

    pub fn deployment(&self, ns: &str, name: &str) -> Option<Arc<Deployment>> {
        self.deployments.get(&ObjectRef::new(name).within(ns))
    }

    /// ReplicaSets in `ns` owned by the Deployment `owner` (name and uid).
    pub fn replica_sets_of(&self, ns: &str, owner: &str, uid: &str) -> Vec<ReplicaSetInfo> {
        self.index
            .replica_sets
            .sources(ns, owner)
            .iter()
            .filter_map(|n| self.replica_sets.get(&ObjectRef::new(n).within(ns)))
            .filter(|r| r.owned_by(uid))
            .map(|r| r.as_ref().clone())
            .collect()
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<Arc<Service>> {
        self.services.get(&ObjectRef::new(name).within(ns))
    }

    pub fn rollout_exists(&self, ns: &str, name: &str) -> bool {
        self.rollouts
            .get(&ObjectRef::new(name).within(ns))
            .is_some()
    }
}

/// A watch of `api` feeding `writer`, trimmed, with `index` seeing every event first.
pub fn cached<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
    index: impl Fn(&Event<K>) + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    watcher(api, config)
        .default_backoff()
        .modify(trim::<K>)
        .reflect(writer)
        .inspect_ok(move |e| index(e))
        .touched_objects()
}

/// A watch of ReplicaSets feeding `writer` with what the operator reads of them, `index`
/// seeing every event first; yields the ReplicaSets touched, as [`cached`] does.
pub fn cached_replica_sets(
    api: Api<ReplicaSet>,
    config: watcher::Config,
    mut writer: reflector::store::Writer<ReplicaSetInfo>,
    index: impl Fn(&Event<ReplicaSet>) + Send + 'static,
) -> impl Stream<Item = Result<ReplicaSet, watcher::Error>> + Send {
    watcher(api, config)
        .default_backoff()
        .inspect_ok(move |e| {
            index(e);
            writer.apply_watcher_event(&project(e));
        })
        .touched_objects()
}

/// The same event with the ReplicaSet's [`ReplicaSetInfo`].
fn project(e: &Event<ReplicaSet>) -> Event<ReplicaSetInfo> {
    match e {
        Event::Apply(rs) => Event::Apply(rs.into()),
        Event::Delete(rs) => Event::Delete(rs.into()),
        Event::Init => Event::Init,
        Event::InitApply(rs) => Event::InitApply(rs.into()),
        Event::InitDone => Event::InitDone,
    }
}

/// [`cached`] for a dynamic type (HTTPRoutes).
pub fn cached_dynamic(
    api: Api<DynamicObject>,
    config: watcher::Config,
    writer: reflector::store::Writer<DynamicObject>,
) -> impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send {
    watcher(api, config)
        .default_backoff()
        .modify(|o: &mut DynamicObject| o.metadata.managed_fields = None)
        .reflect(writer)
        .touched_objects()
}

/// The owner names of a ReplicaSet, for [`Indexes::replica_sets`].
pub fn owner_names(rs: &ReplicaSet) -> Vec<String> {
    rs.owner_references()
        .iter()
        .map(|o| o.name.clone())
        .collect()
}

/// The Rollout that controls `obj` (a canary Deployment, a Service the router made).
pub fn controlling_rollout<K: Resource>(obj: &K) -> Option<ObjectRef<Rollout>> {
    let ns = obj.meta().namespace.clone()?;
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Rollout" && o.api_version.starts_with("portcullis.dev/"))
        .map(|o| ObjectRef::new(&o.name).within(&ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, owners: &[&str]) -> ReplicaSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "pay",
                "ownerReferences": owners.iter().map(|o| serde_json::json!({
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": o, "uid": o
                })).collect::<Vec<_>>()}
        }))
        .unwrap()
    }

    #[test]
    fn a_relation_follows_updates_deletes_and_relists() {
        let r = Relation::default();
        r.apply(&Event::Apply(rs("a-1", &["a"])), owner_names);
        r.apply(&Event::Apply(rs("a-2", &["a"])), owner_names);
        assert_eq!(r.sources("pay", "a"), ["a-1", "a-2"]);
        assert!(r.sources("other", "a").is_empty());
        r.apply(&Event::Apply(rs("a-2", &["b"])), owner_names);
        assert_eq!(r.sources("pay", "a"), ["a-1"]);
        assert_eq!(r.sources("pay", "b"), ["a-2"]);
        r.apply(&Event::Delete(rs("a-1", &["a"])), owner_names);
        assert!(r.sources("pay", "a").is_empty());
        // A relist replaces everything with what it listed: a delete missed meanwhile goes.
        r.apply(&Event::Init, owner_names);
        r.apply(&Event::InitApply(rs("c-1", &["c"])), owner_names);
        assert_eq!(
            r.sources("pay", "b"),
            ["a-2"],
            "kept until the relist is done"
        );
        r.apply(&Event::<ReplicaSet>::InitDone, owner_names);
        assert!(r.sources("pay", "b").is_empty());
        assert_eq!(r.sources("pay", "c"), ["c-1"]);
    }

    #[test]
    fn trimming_drops_what_is_never_read_and_keeps_the_rest() {
        let mut d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a", "annotations": {
                LAST_APPLIED: "{...}", "portcullis.dev/rollout": "a"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"selector": {}, "template": {}}
        }))
        .unwrap();
        trim(&mut d);
        assert!(d.metadata.managed_fields.is_none());
        assert_eq!(
            d.annotations().keys().collect::<Vec<_>>(),
            ["portcullis.dev/rollout"]
        );
    }
}
