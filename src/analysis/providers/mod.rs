//! I/O that turns metrics into observations for the judge: Prometheus queries and HTTP
//! probes. Thin adapters; every decision is the judge's.

pub mod batch;
pub mod by_pod;
pub mod coalesce;
pub mod probe;
pub mod prometheus;
