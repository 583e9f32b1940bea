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
//! **Overdispersion.** The count test assumes failures are independent events. Retries,
//! bots and credential stuffing put clusters of failures on one track; the judge divides
//! its evidence by the spread it measures on stable's own counts
//! ([`judge::dispersion`]), pinned by `tests/analysis_monte_carlo.rs` and measured on
//! realistic traffic by `make bench`. Bursts that outlast the test's blocks (a stuffing
//! connection pinned to the canary) are indistinguishable from a regression on track
//! totals: count distinct failing clients for those (`examples/gates/login-failing-clients.yaml`).

pub mod judge;
pub mod providers;
pub mod render;
pub mod resolve;
