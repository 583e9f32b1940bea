//! Portcullis: staged releases that roll back on authentication regressions.
//!
//! Module map (see README): `api` (CRD types, validation), `engine` (pure decisions),
//! `analysis` (judge: pure statistics; providers: Prometheus / HTTP probes),
//! `traffic` (routers: weights → objects), `cli` (commands for people and pipelines), and,
//! with the `lab` feature, `lab` (the local cluster on crates/kube-memserver, simulated
//! login traffic, the Prometheus harness, the demo; nothing else depends on it).

pub mod analysis;
pub mod api;
pub mod cli;
pub mod controller;
pub mod engine;
#[cfg(feature = "lab")]
pub mod lab;
pub mod traffic;

/// Selects rustls' ring provider for the whole process. kube and prometheus-http-query share
/// rustls built without a default provider; every entry point that builds an HTTP client
/// calls this first. Idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
