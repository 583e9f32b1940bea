//! Where analysis readings come from. The controller asks for a reading when the engine
//! says one is due; the source measures and judges. Behind a trait so tests (and the
//! operator's own end-to-end tests) can inject verdicts without a Prometheus.

use super::observe::ResolvedMetric;
use crate::api::{Metric, Rollout};
use crate::engine::AnalysisReading;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// What a source needs for one reading.
#[derive(Debug, Clone)]
pub struct ReadingRequest<'a> {
    pub rollout: &'a Rollout,
    /// Metrics of the referenced templates and the inline ones.
    pub metrics: &'a [Metric],
    /// The same metrics with the args and Prometheus of the template each came from.
    pub resolved: &'a [ResolvedMetric],
    /// Regexes matching each track's pods (for `{{pods}}`).
    pub canary_pods: &'a str,
    pub stable_pods: &'a str,
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
