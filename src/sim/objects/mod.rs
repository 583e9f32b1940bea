//! Pure object manipulation the API server needs: strategic merge patch, server-side
//! apply with managed fields, and structural OpenAPI schema validation and pruning.
//! No I/O: JSON in, JSON out, so each rule is pinned by unit tests against what a real
//! kube-apiserver answered.

pub mod apply;
pub mod builtin_types;
pub mod fieldset;
mod managed;
pub mod schema;
pub mod strategic;
pub mod types;
mod validation;
mod walk;

/// Where the shape of lists (merge keys, sets, atomic lists) comes from.
#[derive(Debug, Clone, Copy)]
pub enum TypeInfo<'a> {
    /// A built-in kind (group `""` for core), whose list semantics come from a table of
    /// the Kubernetes `patchMergeKey` / `listType` markers.
    BuiltIn { group: &'a str, kind: &'a str },
    /// A custom resource: its version's `openAPIV3Schema` (`x-kubernetes-list-type`,
    /// `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`).
    Schema(&'a serde_json::Value),
}
