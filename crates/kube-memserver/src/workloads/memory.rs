//! An in-memory cluster that runs the controller cores without an API server: the store
//! does what kube-apiserver does for these writes (uids, resourceVersions, generation on
//! spec changes, generated names, 409 on a stale write, background deletion of owned
//! objects) and time advances only when told. For tests and accelerated runs; the real
//! local cluster goes through the API ([`super::run()`]).

use super::access::{self, whole_seconds};
use super::run::reconcile_all;
use super::writes::Write;
use super::{WorkloadOptions, deployment};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    #[error("{0}: the object has been modified; reconcile from a fresh read")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("the controllers were still writing after {0} rounds ({1} writes in the last)")]
    NotSettled(usize, usize),
    #[error(transparent)]
    Deployment(#[from] deployment::DeploymentError),
}

fn key(meta: &ObjectMeta) -> String {
    format!("{}/{}", access::namespace(meta), access::name(meta))
}

/// Deployments, ReplicaSets and pods, and a clock.
#[derive(Debug, Clone)]
pub struct MemoryCluster {
    pub deployments: BTreeMap<String, Deployment>,
    pub replica_sets: BTreeMap<String, ReplicaSet>,
    pub pods: BTreeMap<String, Pod>,
    pub options: WorkloadOptions,
    /// False: pods stay Pending, as in a cluster with no scheduler or kubelet.
    pub kubelet: bool,
    now: Timestamp,
    serial: u64,
}

impl MemoryCluster {
    pub fn new(options: WorkloadOptions, now: Timestamp) -> Self {
        MemoryCluster {
            deployments: BTreeMap::new(),
            replica_sets: BTreeMap::new(),
            pods: BTreeMap::new(),
            options,
            kubelet: true,
            now: whole_seconds(now),
            serial: 0,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += SignedDuration::try_from(by).expect("a test-sized duration");
    }

    fn stamp(&mut self, meta: &mut ObjectMeta) {
        self.serial += 1;
        meta.resource_version = Some(self.serial.to_string());
    }

    fn admit(&mut self, meta: &mut ObjectMeta) {
        self.stamp(meta);
        meta.uid = Some(format!("00000000-0000-0000-0000-{:012}", self.serial));
        meta.creation_timestamp = Some(Time(self.now));
        meta.generation = Some(1);
        meta.namespace.get_or_insert_with(|| "default".into());
    }

    /// Creates a Deployment as the API server would store it.
    pub fn create_deployment(&mut self, mut d: Deployment) -> Result<(), MemoryError> {
        let k = key(&d.metadata);
        if self.deployments.contains_key(&k) {
            return Err(MemoryError::AlreadyExists(k));
        }
        self.admit(&mut d.metadata);
        self.deployments.insert(k, d);
        Ok(())
    }

    /// Changes a Deployment's spec as a client would; `generation` goes up if it changed.
    pub fn edit_deployment(
        &mut self,
        namespace: &str,
        name: &str,
        edit: impl FnOnce(&mut Deployment),
    ) -> Result<(), MemoryError> {
        let k = format!("{namespace}/{name}");
        let mut d = self
            .deployments
            .get(&k)
            .cloned()
            .ok_or_else(|| MemoryError::NotFound(k.clone()))?;
        let before = d.spec.clone();
        edit(&mut d);
        if d.spec != before {
            d.metadata.generation = Some(d.metadata.generation.unwrap_or(0) + 1);
        }
        self.stamp(&mut d.metadata);
        self.deployments.insert(k, d);
        Ok(())
    }

    /// Applies one write as the API server would.
    pub fn apply(&mut self, write: Write) -> Result<(), MemoryError> {
        match write {
            Write::CreateReplicaSet(mut rs) => {
                let k = key(&rs.metadata);
                if self.replica_sets.contains_key(&k) {
                    return Err(MemoryError::AlreadyExists(k));
                }
                self.admit(&mut rs.metadata);
                rs.status = Some(ReplicaSetStatus::default());
                self.replica_sets.insert(k, rs);
            }
            Write::ReplaceReplicaSet(mut rs) => {
                let stored = self.current(&self.replica_sets, &rs.metadata)?;
                if stored.spec != rs.spec {
                    rs.metadata.generation = Some(stored.metadata.generation.unwrap_or(0) + 1);
                }
                rs.status = stored.status.clone();
                self.stamp(&mut rs.metadata);
                self.replica_sets.insert(key(&rs.metadata), rs);
            }
            Write::ReplaceReplicaSetStatus(rs) => {
                let mut stored = self.current(&self.replica_sets, &rs.metadata)?.clone();
                stored.status = rs.status;
                self.stamp(&mut stored.metadata);
                self.replica_sets.insert(key(&stored.metadata), stored);
            }
            Write::DeleteReplicaSet { namespace, name } => {
                let k = format!("{namespace}/{name}");
                let rs = self
                    .replica_sets
                    .remove(&k)
                    .ok_or(MemoryError::NotFound(k))?;
                // Background propagation: the garbage collector deletes the pods.
                let uid = rs.metadata.uid.unwrap_or_default();
                self.pods
                    .retain(|_, p| !access::controlled_by(&p.metadata, &uid));
            }
            Write::ReplaceDeploymentStatus(d) => {
                let mut stored = self.current(&self.deployments, &d.metadata)?.clone();
                stored.status = d.status;
                stored.metadata.annotations = d.metadata.annotations;
                self.stamp(&mut stored.metadata);
                self.deployments.insert(key(&stored.metadata), stored);
            }
            Write::CreatePod(mut pod) => {
                let prefix = pod.metadata.generate_name.clone().unwrap_or_default();
                let suffix: String = format!("{:05}", self.serial % 100_000)
                    .bytes()
                    .map(|b| b"bcdfghjklmnpqrstvwxz2456789"[usize::from(b) % 27] as char)
                    .collect();
                pod.metadata.name = Some(format!("{prefix}{suffix}"));
                self.admit(&mut pod.metadata);
                pod.status = Some(PodStatus {
                    phase: Some("Pending".into()),
                    qos_class: Some("BestEffort".into()),
                    ..PodStatus::default()
                });
                self.pods.insert(key(&pod.metadata), pod);
            }
            Write::DeletePod {
                namespace,
                name,
                grace_period_seconds,
            } => {
                let k = format!("{namespace}/{name}");
                let pod = self
                    .pods
                    .get_mut(&k)
                    .ok_or_else(|| MemoryError::NotFound(k.clone()))?;
                if grace_period_seconds == Some(0) {
                    self.pods.remove(&k);
                } else if pod.metadata.deletion_timestamp.is_none() {
                    // Graceful deletion: the kubelet confirms the pod is gone.
                    pod.metadata.deletion_timestamp = Some(Time(self.now));
                    pod.metadata.deletion_grace_period_seconds = Some(30);
                    let mut meta = pod.metadata.clone();
                    self.stamp(&mut meta);
                    self.pods.get_mut(&k).expect("present").metadata = meta;
                }
            }
            Write::ReplacePodStatus(pod) => {
                let mut stored = self.current(&self.pods, &pod.metadata)?.clone();
                stored.status = pod.status;
                self.stamp(&mut stored.metadata);
                self.pods.insert(key(&stored.metadata), stored);
            }
        }
        Ok(())
    }

    fn current<'a, T>(
        &self,
        map: &'a BTreeMap<String, T>,
        meta: &ObjectMeta,
    ) -> Result<&'a T, MemoryError>
    where
        T: k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        let k = key(meta);
        let stored = map
            .get(&k)
            .ok_or_else(|| MemoryError::NotFound(k.clone()))?;
        match &meta.resource_version {
            Some(rv) if Some(rv) != stored.metadata().resource_version.as_ref() => {
                Err(MemoryError::Conflict(k))
            }
            _ => Ok(stored),
        }
    }

    /// One round: every controller looks at every object once; their writes are applied
    /// in order (a conflicting one is dropped, as the real controller would retry).
    /// Returns the writes that were applied.
    pub fn round(&mut self) -> Result<Vec<Write>, MemoryError> {
        let deployments: Vec<Deployment> = self.deployments.values().cloned().collect();
        let rss: Vec<ReplicaSet> = self.replica_sets.values().cloned().collect();
        let pods: Vec<Pod> = self.pods.values().cloned().collect();
        let kubelet = self.kubelet.then_some(&self.options);
        let round = reconcile_all(&deployments, &rss, &pods, kubelet, self.now);
        if let Some(e) = round.errors.into_iter().next() {
            return Err(e.into());
        }
        let mut applied = Vec::new();
        for w in round.writes {
            match self.apply(w.clone()) {
                Ok(()) => applied.push(w),
                Err(
                    MemoryError::Conflict(_)
                    | MemoryError::NotFound(_)
                    | MemoryError::AlreadyExists(_),
                ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(applied)
    }

    /// Rounds until nobody writes; `inspect` sees the cluster after each round.
    pub fn settle_with(
        &mut self,
        mut inspect: impl FnMut(&MemoryCluster),
    ) -> Result<usize, MemoryError> {
        const MAX_ROUNDS: usize = 100;
        for n in 0..MAX_ROUNDS {
            let applied = self.round()?;
            inspect(self);
            if applied.is_empty() {
                return Ok(n);
            }
        }
        Err(MemoryError::NotSettled(MAX_ROUNDS, self.round()?.len()))
    }

    pub fn settle(&mut self) -> Result<usize, MemoryError> {
        self.settle_with(|_| {})
    }

    /// Advances the clock `total` in steps of `step`, settling after each.
    pub fn run_for(
        &mut self,
        total: Duration,
        step: Duration,
        mut inspect: impl FnMut(&MemoryCluster),
    ) -> Result<(), MemoryError> {
        let mut elapsed = Duration::ZERO;
        self.settle_with(&mut inspect)?;
        while elapsed < total {
            self.advance(step);
            elapsed += step;
            self.settle_with(&mut inspect)?;
        }
        Ok(())
    }

    pub fn deployment(&self, namespace: &str, name: &str) -> Option<&Deployment> {
        self.deployments.get(&format!("{namespace}/{name}"))
    }

    /// The ReplicaSets of a namespace, oldest first.
    pub fn replica_sets_in(&self, namespace: &str) -> Vec<&ReplicaSet> {
        let mut rss: Vec<&ReplicaSet> = self
            .replica_sets
            .values()
            .filter(|rs| access::namespace(&rs.metadata) == namespace)
            .collect();
        rss.sort_by_key(|rs| {
            (
                access::created_at(&rs.metadata),
                rs.metadata.resource_version.clone(),
            )
        });
        rss
    }

    pub fn pods_in(&self, namespace: &str) -> Vec<&Pod> {
        self.pods
            .values()
            .filter(|p| access::namespace(&p.metadata) == namespace)
            .collect()
    }
}
