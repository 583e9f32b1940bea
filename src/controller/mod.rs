//! The operator: observe the cluster, ask the engine, make it so.
//!
//! This part holds the pure translations between Kubernetes objects and the engine's
//! terms (`revision`, `workload`); the reconcile loop builds on them.

pub mod revision;
pub mod workload;
