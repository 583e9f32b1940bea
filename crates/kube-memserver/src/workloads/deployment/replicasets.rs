//! Finding and creating the new ReplicaSet, revisions and annotations, history cleanup
//! (`getNewReplicaSet`, `SetNewReplicaSetAnnotations`, `cleanupDeployment`).

use super::status::{PROGRESSING, new_condition, set_condition};
use super::{DeploymentError, Pass, Working};
use crate::workloads::access::{self, set_annotation};
use crate::workloads::hash::{POD_TEMPLATE_HASH_LABEL, pod_template_hash};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";

/// Deployment annotations that are not copied to its ReplicaSets (`annotationsToSkip`).
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

/// A template without the hash label, for `EqualIgnoreHash`.
fn without_hash(template: Option<&PodTemplateSpec>) -> PodTemplateSpec {
    let mut t = template.cloned().unwrap_or_default();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    if let Some(meta) = t.metadata.as_mut()
        && meta.labels.as_ref().is_some_and(|l| l.is_empty())
    {
        meta.labels = None;
    }
    t
}

fn revision(rs: &ReplicaSet) -> i64 {
    access::annotation(&rs.metadata, REVISION_ANNOTATION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

impl Pass {
    /// Working ReplicaSets oldest first (`ReplicaSetsByCreationTimestamp`); one created in
    /// this pass has no timestamp yet and sorts last.
    pub(super) fn by_age(&self, mut indices: Vec<usize>) -> Vec<usize> {
        indices.sort_by(|a, b| {
            let key = |i: &usize| {
                let meta = &self.rss[*i].rs.metadata;
                (
                    access::created_at(meta).is_none(),
                    access::created_at(meta),
                    access::name(meta).to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        indices
    }

    /// `FindNewReplicaSet`: the oldest ReplicaSet whose template equals the Deployment's.
    fn find_new(&self) -> Option<usize> {
        let template = without_hash(Some(&self.d.spec.template));
        let all = self.by_age(
            (0..self.rss.len())
                .filter(|i| !self.rss[*i].delete)
                .collect(),
        );
        all.into_iter()
            .find(|i| without_hash(self.rss[*i].rs.spec.template.as_ref()) == template)
    }

    /// `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when `create`), its
    /// revision and annotations brought up to date, the Deployment's revision annotation
    /// set, and a Progressing condition recorded for a ReplicaSet created or first found.
    pub(super) fn sync_revision(&mut self, create: bool) -> Result<Option<usize>, DeploymentError> {
        let existing = self.find_new();
        let max_old = self
            .old_indices(existing)
            .iter()
            .map(|i| revision(&self.rss[*i].rs))
            .max()
            .unwrap_or(0);
        let new_revision = (max_old + 1).to_string();
        let has_deadline = self.spec.progress_deadline_seconds.is_some();
        if let Some(i) = existing {
            let d_meta = self.d.metadata.clone();
            self.set_new_annotations_into(&d_meta, i, &new_revision, true);
            let min_ready = self.spec.min_ready_seconds;
            let spec = &mut self.rss[i].rs.spec;
            if spec.min_ready_seconds.unwrap_or(0) != min_ready {
                spec.min_ready_seconds = Some(min_ready).filter(|s| *s != 0);
            }
            let rs_revision = access::annotation(&self.rss[i].rs.metadata, REVISION_ANNOTATION)
                .unwrap_or_default()
                .to_string();
            set_annotation(&mut self.d.metadata, REVISION_ANNOTATION, &rs_revision);
            let status = self.d.status.get_or_insert_default();
            if has_deadline
                && !status
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_.as_deref() == Some(PROGRESSING))
            {
                let message = format!(
                    "Found new replica set {:?}",
                    access::name(&self.rss[i].rs.metadata)
                );
                set_condition(
                    status,
                    new_condition(PROGRESSING, "True", "FoundNewReplicaSet", message, self.now),
                );
            }
            self.note_early_write();
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }
        let i = self.create_new_replica_set(&new_revision);
        let message = format!(
            "Created new replica set {:?}",
            access::name(&self.rss[i].rs.metadata)
        );
        set_annotation(&mut self.d.metadata, REVISION_ANNOTATION, &new_revision);
        if has_deadline {
            let status = self.d.status.get_or_insert_default();
            set_condition(
                status,
                new_condition(
                    PROGRESSING,
                    "True",
                    "NewReplicaSetCreated",
                    message,
                    self.now,
                ),
            );
        }
        self.note_early_write();
        Ok(Some(i))
    }

    /// The ReplicaSet `<deployment>-<pod-template-hash>` for the current template. A name
    /// taken by a ReplicaSet with another template is a hash collision: `collisionCount`
    /// goes up and the hash changes, as in kube-controller-manager.
    /// Returns its index among the working ReplicaSets.
    fn create_new_replica_set(&mut self, revision: &str) -> usize {
        let spec = self.d.spec.clone();
        let (name, hash) = loop {
            let collisions = self.d.status.as_ref().and_then(|s| s.collision_count);
            let hash = pod_template_hash(&spec.template, collisions);
            let name = format!("{}-{hash}", self.name());
            if !self
                .rss
                .iter()
                .any(|w| access::name(&w.rs.metadata) == name)
            {
                break (name, hash);
            }
            let status = self.d.status.get_or_insert_default();
            status.collision_count = Some(collisions.unwrap_or(0) + 1);
        };
        let mut template = spec.template.clone();
        let labels = template
            .metadata
            .get_or_insert_default()
            .labels
            .get_or_insert_default();
        labels.insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
        let labels = labels.clone();
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_default()
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash);
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: self.d.metadata.namespace.clone(),
                labels: Some(labels),
                owner_references: Some(vec![access::controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.d.metadata,
                )]),
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                // Go's omitempty: zero is not written.
                min_ready_seconds: Some(self.spec.min_ready_seconds).filter(|s| *s != 0),
                selector,
                template: Some(template),
            },
            status: None,
        };
        self.rss.push(Working {
            rs,
            original: None,
            delete: false,
        });
        let i = self.rss.len() - 1;
        let replicas = self.new_rs_new_replicas(i);
        self.rss[i].rs.spec.replicas = Some(replicas);
        let d_meta = self.d.metadata.clone();
        self.set_new_annotations_into(&d_meta, i, revision, false);
        i
    }

    /// `SetNewReplicaSetAnnotations`: copy the Deployment's annotations, raise the revision
    /// (keeping the old one in the history on a rollback), and on creation the replica counts.
    fn set_new_annotations_into(
        &mut self,
        d_meta: &ObjectMeta,
        i: usize,
        new_revision: &str,
        exists: bool,
    ) {
        let (replicas, max_replicas) =
            (self.spec.replicas, self.spec.replicas + self.spec.max_surge);
        let meta = &mut self.rss[i].rs.metadata;
        for (k, v) in d_meta.annotations.iter().flatten() {
            if !NOT_COPIED.contains(&k.as_str()) {
                set_annotation(meta, k, v);
            }
        }
        let old = access::annotation(meta, REVISION_ANNOTATION).map(str::to_string);
        let old_number: i64 = old.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0);
        if old_number < new_revision.parse().unwrap_or(0) {
            set_annotation(meta, REVISION_ANNOTATION, new_revision);
            if let Some(old) = old {
                let history = match access::annotation(meta, REVISION_HISTORY_ANNOTATION) {
                    Some(h) if !h.is_empty() => format!("{h},{old}"),
                    _ => old,
                };
                set_annotation(meta, REVISION_HISTORY_ANNOTATION, &history);
            }
        }
        if !exists {
            set_annotation(meta, DESIRED_REPLICAS_ANNOTATION, &replicas.to_string());
            set_annotation(meta, MAX_REPLICAS_ANNOTATION, &max_replicas.to_string());
        }
    }

    /// `cleanupDeployment`: delete the oldest fully scaled-down old ReplicaSets beyond
    /// `revisionHistoryLimit`.
    pub(super) fn cleanup(&mut self, new: Option<usize>) {
        let mut cleanable: Vec<usize> = self
            .old_indices(new)
            .into_iter()
            .filter(|i| {
                let w = &self.rss[*i];
                w.original.is_some()
                    && w.rs.metadata.deletion_timestamp.is_none()
                    && access::spec_replicas(&w.rs) == 0
                    && access::status_replicas(&w.rs) == 0
            })
            .collect();
        let excess = cleanable.len() as i64 - i64::from(self.spec.revision_history_limit);
        if excess <= 0 {
            return;
        }
        cleanable.sort_by_key(|i| {
            (
                revision(&self.rss[*i].rs),
                access::created_at(&self.rss[*i].rs.metadata),
            )
        });
        for i in cleanable.into_iter().take(excess as usize) {
            let rs = &self.rss[i].rs;
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rs.metadata.generation.unwrap_or(0) <= observed {
                self.rss[i].delete = true;
            }
        }
    }
}
