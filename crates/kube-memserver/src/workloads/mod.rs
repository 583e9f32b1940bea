//! Simulated kube-controller-manager and kubelet: Deployments, ReplicaSets and pods.
//!
//! Each controller is a pure core (objects in, [`Write`]s out, time passed in) and a thin
//! loop ([`run()`]) that watches the API server and applies the writes through the API, as
//! the real controllers do. The cores are exact where the recorded kube-controller-manager
//! transcript pins behaviour; each module lists where it differs. [`memory`] runs the same
//! cores over an in-memory store with a clock that moves only when told (accelerated
//! time for tests; no API server).
//!
//! In a command line (e.g. `portcullis local-cluster`): flatten [`WorkloadOptions`] into its arguments and spawn
//! [`run()`] with a client of the local API server.

mod access;
pub mod deployment;
pub mod fenceposts;
pub mod hash;
pub mod kubelet;
pub mod memory;
mod options;
pub mod replicaset;
pub mod run;
mod view;
mod writes;

pub use options::{ImageFailure, ImageFailureError, WorkloadOptions};
pub use run::run;
pub use writes::Write;
