//! The table of served resources: the built-in kinds, and the kinds of established CRDs.
use serde_json::Value;
use std::sync::Arc;

/// Where the scale subresource reads and writes replicas (JSON paths without the leading dot).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One printer column of a CRD version (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub json_path: String,
    pub priority: i64,
    pub description: Option<String>,
}

/// One served group/version/resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// `metadata.generation` is kept (bumped on changes outside metadata and status).
    pub generation: bool,
    /// A create-only review (SelfSubjectAccessReview ...): answered, never stored.
    pub review: bool,
    /// For custom resources: the version's `openAPIV3Schema` and printer columns.
    pub custom: Option<CustomInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomInfo {
    /// The owning CRD's name (`plural.group`).
    pub crd: String,
    pub schema: Option<Value>,
    pub columns: Vec<PrinterColumn>,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    /// `deployments.apps`, `configmaps`: how kube-apiserver names the resource in messages.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    /// A stored object as read through this version: custom resources convert between
    /// served versions by their apiVersion alone (conversion strategy None).
    pub fn present(&self, mut obj: serde_json::Value) -> serde_json::Value {
        if self.is_custom() && obj.get("apiVersion").is_some() {
            obj["apiVersion"] = serde_json::json!(self.api_version());
        }
        obj
    }
    pub fn is_custom(&self) -> bool {
        self.custom.is_some()
    }
}

struct Row(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

/// Built-in kinds: (group, plural, singular, kind, namespaced, short names). All are v1.
const BUILT_IN: &[Row] = &[
    Row("", "namespaces", "namespace", "Namespace", false, &["ns"]),
    Row("", "services", "service", "Service", true, &["svc"]),
    Row("", "pods", "pod", "Pod", true, &["po"]),
    Row("", "events", "event", "Event", true, &["ev"]),
    Row("", "configmaps", "configmap", "ConfigMap", true, &["cm"]),
    Row("", "secrets", "secret", "Secret", true, &[]),
    Row(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
    ),
    Row(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
    ),
    Row(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
    ),
    Row("coordination.k8s.io", "leases", "lease", "Lease", true, &[]),
    Row("events.k8s.io", "events", "event", "Event", true, &["ev"]),
    Row(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
    ),
    Row(
        "authentication.k8s.io",
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        false,
        &[],
    ),
    Row(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
        &[],
    ),
    Row(
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        false,
        &[],
    ),
];

fn built_in() -> Vec<Arc<Resource>> {
    BUILT_IN
        .iter()
        .map(|Row(group, plural, singular, kind, namespaced, short)| {
            let workload = matches!(*plural, "deployments" | "replicasets");
            Arc::new(Resource {
                group: group.to_string(),
                version: "v1".into(),
                plural: plural.to_string(),
                singular: singular.to_string(),
                kind: kind.to_string(),
                namespaced: *namespaced,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: match *plural {
                    "deployments" | "replicasets" | "pods" | "services" => vec!["all".into()],
                    "customresourcedefinitions" => vec!["api-extensions".into()],
                    _ => vec![],
                },
                status: workload
                    || matches!(
                        *plural,
                        "pods" | "services" | "namespaces" | "customresourcedefinitions"
                    ),
                scale: workload.then(|| ScalePaths {
                    spec_replicas: "spec.replicas".into(),
                    status_replicas: "status.replicas".into(),
                    label_selector: Some("status.selector".into()),
                }),
                generation: workload || matches!(*plural, "pods" | "customresourcedefinitions"),
                review: plural.ends_with("reviews"),
                custom: None,
            })
        })
        .collect()
}

/// kube-apiserver's group priority order, as `/apis` lists the groups.
const GROUP_ORDER: &[&str] = &[
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
];

/// The served resources; CRDs add and remove entries at run time.
#[derive(Debug)]
pub struct Registry {
    resources: Vec<Arc<Resource>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            resources: built_in(),
        }
    }
}

impl Registry {
    pub fn all(&self) -> &[Arc<Resource>] {
        &self.resources
    }
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }
    /// The resource stored under `group`/`plural` (its first served version).
    pub fn find_plural(&self, group: &str, plural: &str) -> Option<Arc<Resource>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .cloned()
    }
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.group == group && r.version == version)
    }
    /// Groups in kube-apiserver's priority order (custom resource groups after the
    /// built-in ones, in the order they were added), each with its versions.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups = self.groups_seen();
        let rank = |g: &str| {
            GROUP_ORDER
                .iter()
                .position(|x| *x == g)
                .unwrap_or(GROUP_ORDER.len())
        };
        groups.sort_by_key(|(g, _)| rank(g));
        groups
    }
    fn groups_seen(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.resources.iter().filter(|r| !r.group.is_empty()) {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) if !versions.contains(&r.version) => {
                    versions.push(r.version.clone())
                }
                Some(_) => {}
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }
    /// Replaces the kinds served for one CRD.
    pub fn set_custom(&mut self, crd: &str, resources: Vec<Resource>) {
        self.remove_custom(crd);
        self.resources.extend(resources.into_iter().map(Arc::new));
    }
    pub fn remove_custom(&mut self, crd: &str) {
        self.resources
            .retain(|r| r.custom.as_ref().is_none_or(|c| c.crd != crd));
    }
}
