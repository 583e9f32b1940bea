//! Analysis: the pure canary-vs-stable judge and the providers that feed it.
//!
//! How the controller uses it, once per `spec.analysis.interval`:
//! 1. [`resolve::resolve`] the Rollout's templates and inline metrics (on every spec
//!    change): errors go to `Observations.spec_errors` (→ `InvalidSpec`).
//! 2. For each metric, read an observation: [`providers::prometheus::PrometheusProvider::read`]
//!    for `counts` and `query` (with a [`render::RenderContext`] whose `elapsed` is the
//!    time since `status.canaryStartedAt`, and each track's pods), or the sum of
//!    [`providers::probe::Prober::round`]s since the last reading for `probe`.
//! 3. [`judge::judge`] the readings against `status.analysis.metrics` (the previous
//!    results, which hold the running evidence) → `Observations.analysis`.
//!
//! **Overdispersion.** The count test assumes failures are independent events. Retry
//! bursts on sticky connections (one client, one track, many failures) break that and
//! inflate false rollbacks; count distinct failing clients instead (a counter the app
//! increments once per client and session window, or `count(... > 0)` over a client
//! label): `examples/gates/login-failing-clients.yaml`, pinned by
//! `tests/analysis_monte_carlo.rs`.

pub mod judge;
pub mod providers;
pub mod render;
pub mod resolve;
