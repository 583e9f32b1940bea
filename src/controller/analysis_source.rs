//! Where analysis readings come from. The controller asks for a reading when the engine
//! says one is due; the source measures and judges. Behind a trait so tests (and the
//! operator's own end-to-end tests) can inject verdicts without a Prometheus.

use crate::analysis::resolve::ResolvedMetric;
use crate::api::Rollout;
use crate::engine::AnalysisReading;
use futures::future::BoxFuture;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// What a source needs for one reading.
#[derive(Debug, Clone)]
pub struct ReadingRequest<'a> {
    pub rollout: &'a Rollout,
    /// The metrics of the referenced templates and the inline ones, resolved.
    pub metrics: &'a [ResolvedMetric],
    /// Names of each track's pods (for `{{pods}}`), and the canary's IPs (for probes).
    pub canary_pods: Vec<String>,
    pub stable_pods: Vec<String>,
    pub canary_ips: Vec<IpAddr>,
    /// The canary is drained and has no pods: only check that metrics can be read
    /// (answer [`AnalysisReading::readable`] or an error), judge nothing.
    pub readability_only: bool,
}

pub trait AnalysisSource: Send + Sync {
    fn read<'a>(&'a self, request: ReadingRequest<'a>) -> BoxFuture<'a, AnalysisReading>;
}

/// A source whose readings are set from outside: for tests that pin what the controller
/// does with a verdict, not how the verdict is reached.
#[derive(Clone, Default)]
pub struct Injected {
    next: Arc<Mutex<Option<AnalysisReading>>>,
}

impl Injected {
    /// Every reading from now on is `reading`.
    pub fn set(&self, reading: AnalysisReading) {
        *self.next.lock().expect("injected reading lock") = Some(reading);
    }
}

impl AnalysisSource for Injected {
    fn read<'a>(&'a self, _: ReadingRequest<'a>) -> BoxFuture<'a, AnalysisReading> {
        let reading = self
            .next
            .lock()
            .expect("injected reading lock")
            .clone()
            .unwrap_or_else(|| AnalysisReading::error("no reading injected yet"));
        Box::pin(async move { reading })
    }
}
