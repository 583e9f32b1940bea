//! An in-memory Kubernetes API server that speaks the real REST protocol over HTTP on
//! loopback, so kube-rs programs, `kubectl` and controllers can be tested without a
//! cluster. See README.md for what it serves and how it differs from kube-apiserver.
//!
//! Three layers, each usable alone:
//! - [`objects`]: the object model (schemas, defaulting, validation, CEL rules, strategic
//!   merge and server-side apply, managed fields), pure functions over JSON;
//! - [`apiserver`]: the HTTP server on top of it (discovery, OpenAPI, CRUD, watch, patch,
//!   apply, CRDs, garbage collection, tables, protobuf), [`apiserver::start`];
//! - [`workloads`]: kube-controller-manager's Deployment and ReplicaSet controllers and a
//!   simulated kubelet, driving pods through any client of the server.

pub mod apiserver;
pub mod objects;
pub mod workloads;
