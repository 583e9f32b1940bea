//! The simulated data plane: login traffic over the ready pods behind a Service, or as an
//! HTTPRoute's weighted backendRefs and header matches send it; each release (by image)
//! answers with its own authentication failure behaviour; failures cluster as real ones do
//! ([`bursts`]: retries, bots, credential stuffing); per-pod counters on `/metrics`.
//!
//! The model is pure ([`TrafficModel`] over a [`Snapshot`], with a seeded random source);
//! [`runner`] paces it in real or accelerated time, [`server`] serves the counters,
//! [`watch`] keeps the snapshot in step with the API server and [`DataPlane`] runs them
//! together for `portcullis local-cluster` ([`TrafficArgs`]).

mod args;
pub mod bursts;
pub mod metrics;
pub mod release;
pub mod routing;
pub mod runner;
mod running;
pub mod server;
pub mod snapshot;
pub mod traffic;
pub mod watch;

pub use args::{Header, ServiceRef, TrafficArgError, TrafficArgs};
pub use bursts::Bursts;
pub use metrics::DataPlaneMetrics;
pub use release::{AuthBehaviour, Release, ReleaseError};
pub use runner::TrafficRunner;
pub use running::DataPlane;
pub use server::MetricsServer;
pub use snapshot::Snapshot;
pub use traffic::{Population, Served, TrafficModel};
