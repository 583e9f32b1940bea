//! The operator (`portcullis controller`): observe the cluster, ask the engine, make it so.
//!
//! - `observe` reads what a Rollout points to; `workload`/`revision` translate it into the
//!   engine's terms; `reconcile` runs observe → engine → status → act; `act` writes;
//!   `status`, `events`, `webhooks` report; `metrics` serves the operator's own metrics;
//!   `leader` runs the controllers only while this replica holds the Lease.
//! - The only module of the crate that holds a `kube::Client` for writing.

pub mod act;
pub mod analysis_source;
pub mod api_client;
pub mod cache;
pub mod counting;
mod error;
pub mod events;
pub mod finalizer;
pub mod leader;
pub mod measure;
pub mod metrics;
pub mod observe;
pub mod rbac;
pub mod reconcile;
pub mod replica_set;
pub mod revision;
mod run;
pub mod status;
pub mod webhooks;
pub mod workload;

pub use error::Error;
pub use run::{
    ControllerArgs, LogFormat, RunError, client, operator_client, run, run_with, run_with_client,
};
