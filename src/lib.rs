//! Portcullis: staged releases that roll back on authentication regressions.
//!
//! Module map (see README): `api` (CRD types, validation), `engine` (pure decisions),
//! `analysis` (judge: pure statistics; providers: Prometheus / HTTP probes),
//! `sim` (the local test cluster; nothing else depends on it).

pub mod analysis;
pub mod api;
pub mod engine;
pub mod sim;
