//! Paces the traffic model: `rps` requests per second of simulated time, simulated time
//! running at `speedup` × real time (1 for the demo and anything Prometheus scrapes).

use super::bursts::Stuffing;
use super::metrics::DataPlaneMetrics;
use super::snapshot::Snapshot;
use super::traffic::TrafficModel;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often the real-time loop sends the requests that fell due.
const TICK: Duration = Duration::from_millis(100);

pub struct TrafficRunner {
    pub model: TrafficModel,
    pub metrics: Arc<DataPlaneMetrics>,
    rng: StdRng,
    /// Fraction of a request carried over to the next step.
    carry: f64,
    stuffing: Stuffing,
}

impl TrafficRunner {
    pub fn new(model: TrafficModel, metrics: Arc<DataPlaneMetrics>, seed: u64) -> Self {
        TrafficRunner {
            model,
            metrics,
            rng: StdRng::seed_from_u64(seed),
            carry: 0.0,
            stuffing: Stuffing::default(),
        }
    }

    /// Sends the requests due in `elapsed` of simulated time at `rps`; returns how many.
    pub fn advance(&mut self, snapshot: &Snapshot, rps: f64, elapsed: Duration) -> u64 {
        let due = rps * elapsed.as_secs_f64() + self.carry;
        let n = due.floor();
        self.carry = due - n;
        self.model
            .serve_many(snapshot, &self.metrics, n as u64, &mut self.rng);
        let target = (self.model.namespace.as_str(), self.model.service.as_str());
        self.stuffing.advance(
            &self.model.bursts,
            snapshot,
            &self.metrics,
            target,
            elapsed,
            &mut self.rng,
        );
        n as u64
    }

    /// Runs until `shutdown` resolves, always routing over the latest snapshot.
    pub async fn run(
        mut self,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        rps: f64,
        speedup: f64,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            let now = Instant::now();
            let elapsed = now.duration_since(last).mul_f64(speedup);
            last = now;
            let snapshot = snapshots.borrow().clone();
            self.advance(&snapshot, rps, elapsed);
        }
    }
}
