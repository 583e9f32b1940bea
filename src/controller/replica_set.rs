//! What the operator reads of a ReplicaSet, kept instead of the object.
//!
//! A ReplicaSet is mostly its pod template, and of the template the operator reads only
//! its revision (a hash of it) and its images: at 10,000 Rollouts the cached templates
//! were a third of the operator's memory. The one reader of a whole template, the
//! hand-back that puts the stable template back into the Deployment, reads the
//! ReplicaSet live (`act`).

use super::revision;
use crate::traffic::POD_TEMPLATE_HASH_LABEL;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::runtime::reflector::Lookup;
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaSetInfo {
    pub name: String,
    pub namespace: Option<String>,
    pub resource_version: Option<String>,
    /// Its `pod-template-hash` label: what the stable Service and pods carry.
    pub pod_template_hash: Option<String>,
    pub owner_references: Vec<OwnerReference>,
    pub ready_replicas: i32,
    /// `revision::of_template` of its template; `None` without a template.
    pub revision: Option<String>,
    pub images: Vec<String>,
}

impl From<&ReplicaSet> for ReplicaSetInfo {
    fn from(rs: &ReplicaSet) -> Self {
        let owners = rs.metadata.owner_references.as_deref().unwrap_or_default();
        let template = rs.spec.template.as_ref();
        ReplicaSetInfo {
            name: rs.metadata.name.clone().unwrap_or_default(),
            namespace: rs.metadata.namespace.clone(),
            resource_version: rs.metadata.resource_version.clone(),
            pod_template_hash: rs
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL).cloned()),
            owner_references: owners.to_vec(),
            ready_replicas: rs
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0),
            revision: template.map(revision::of_template),
            images: template.map(revision::images).unwrap_or_default(),
        }
    }
}

impl ReplicaSetInfo {
    /// Whether the object with `uid` (a Deployment) controls this ReplicaSet.
    pub fn controlled_by(&self, uid: &str) -> bool {
        self.owner_references
            .iter()
            .any(|o| o.uid == uid && o.controller == Some(true))
    }

    /// Whether the object with `uid` is among its owners.
    pub fn owned_by(&self, uid: &str) -> bool {
        self.owner_references.iter().any(|o| o.uid == uid)
    }
}

/// Lets a reflector store keep it, keyed like the ReplicaSet it stands for.
impl Lookup for ReplicaSetInfo {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        <ReplicaSet as Resource>::kind(&())
    }
    fn group(_: &()) -> Cow<'_, str> {
        <ReplicaSet as Resource>::group(&())
    }
    fn version(_: &()) -> Cow<'_, str> {
        <ReplicaSet as Resource>::version(&())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        <ReplicaSet as Resource>::plural(&())
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.name))
    }
    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.namespace.as_deref().map(Cow::Borrowed)
    }
    fn resource_version(&self) -> Option<Cow<'_, str>> {
        self.resource_version.as_deref().map(Cow::Borrowed)
    }
    fn uid(&self) -> Option<Cow<'_, str>> {
        None
    }
}
