//! Pure object manipulation the API server needs: strategic merge patch, server-side
//! apply with managed fields, and structural OpenAPI schema validation and pruning.
//! No I/O: JSON in, JSON out, so each rule is pinned by unit tests against what a real
//! kube-apiserver answered (`tests/objects_*.rs` replay the recorded transcripts).
//!
//! Layout: [`builtin_types`] describes the built-in kinds' list/map markers, [`types`]
//! walks either that table or a CRD schema, [`strategic`] is strategic merge patch,
//! [`apply`] is server-side apply and managedFields (with `fieldset`, `walk` and
//! `managed` underneath), [`schema`] prunes, defaults and validates custom resources,
//! [`cel`] evaluates their CRDs' CEL rules.
//!
//! Known differences from kube-apiserver:
//! - CEL rules (`x-kubernetes-validations`) are evaluated by [`cel`] with the standard
//!   library and string extensions only (see its known differences).
//! - `allOf`/`anyOf`/`oneOf`/`not` and `uniqueItems` are not checked; of the string
//!   formats only `date-time`, `date`, `uuid` and `byte` are, of the integer formats
//!   `int32`/`int64`. A `Duplicate value` of an object is printed as JSON, not Go syntax.
//! - managedFields: no cap on the number of Update entries (kube-apiserver folds the
//!   oldest beyond 10 into `ancient-changes`); one version per kind, so no conversion
//!   of field sets between versions.
//! - The built-in table covers the kinds the project touches (Deployment, ReplicaSet,
//!   StatefulSet, DaemonSet, Pod, PodTemplate, Service, ConfigMap, Secret, Namespace,
//!   Event, Lease and ObjectMeta everywhere); fields it does not describe are plain
//!   structs and atomic lists (a strategic merge patch replaces such a list).

pub mod apply;
pub mod builtin_types;
pub mod cel;
pub mod duplicates;
pub mod fieldset;
mod managed;
pub mod schema;
pub mod strategic;
mod typecheck;
pub mod types;
pub mod unknown_fields;
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
