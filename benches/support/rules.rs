//! The rules the bench compares, each driving its own canary through the same ramp of
//! weights (1% → 5% → 25% → promotion) on its own simulated traffic:
//! - ours: the real `judge_counts` (defaults: maxIncrease 0.2, confidence 0.99) every
//!   10 s on `increase(x[elapsed])`, stable read `by (pod)` over its 10 pods as the
//!   provider does; an analysis step at each weight advances on a pass
//!   earned at that weight; a Fail rolls back;
//! - Argo Rollouts as configured in practice: steps setWeight 1/5/25 with 5-minute
//!   pauses, a background analysis every minute of `failures/total` over `[1m]` against
//!   one fixed maximum; rolls back when failed measurements exceed `failureLimit`;
//!   promotes when the steps end;
//! - Flagger as configured in practice: `stepWeights` 1/5/25, a check every minute
//!   against one fixed maximum; a failed check halts advancement, the fifth rolls back
//!   (threshold 5); after a passing check at the last weight, promotion;
//! - the oracle: not a rule anyone can run. Wald's SPRT that knows the baseline and the
//!   incident's per-client failure probability exactly, reading true per-client counts
//!   at every scrape, at the same α: about the fewest failures any valid test needs.
//!
//! A window with no attempts (0/0) is no measurement for Argo and Flagger (neither a
//! failure nor a pass): generous to them, as their NaN handling varies by query.

use crate::scrape::{Prometheus, Track};
use crate::traffic::{Incident, STABLE_PODS, Second, World};
use portcullis::analysis::judge::{Counts, CountsReading, judge_counts};
use portcullis::api::{CountsMetric, MetricResult, Verdict, metric_defaults};
use rand::RngExt;
use rand::rngs::StdRng;

/// A missed bug keeps failing until an alert fires this long after the canary started.
pub const HORIZON_S: u32 = 1800;
pub const RAMP: [f64; 3] = [0.01, 0.05, 0.25];
pub const READ_EVERY_S: u32 = 10;
/// The canary's pods start (and are scraped at 0) this long before they take traffic at
/// t = 0: readiness of a login service. `{{elapsed}}` counts from their start.
pub const STARTUP_S: i64 = 20;
const THEIR_INTERVAL_S: f64 = 60.0;
const ARGO_PAUSE_S: u32 = 300;
const FLAGGER_THRESHOLD: u32 = 5;
pub const ALPHA: f64 = 1.0 - metric_defaults::CONFIDENCE;

pub enum Act {
    Rollback,
    Promote,
}

pub trait Rule {
    /// The canary's share of traffic now (0 after rollback, 1 after promotion).
    fn weight(&self) -> f64;
    /// Called every second after the traffic of `(t-1, t]`.
    fn at(&mut self, t: u32, prom: &Prometheus, truth: &Second) -> Option<Act>;
}

/// What one rule did in one run.
#[derive(Clone, Copy, Default, Debug)]
pub struct Outcome {
    /// Seconds from canary start to traffic back on stable.
    pub rollback_s: Option<u32>,
    pub promoted_s: Option<u32>,
    /// Canary failed attempts beyond the baseline ratio, until rollback or the alert.
    pub excess: f64,
    /// The first scrape showing a canary failure.
    pub first_failure_s: Option<f64>,
    /// Credential-stuffing attempts that landed on the canary before a decision.
    pub attack_on_canary: f64,
}

/// One canary judged by `rule` on its own traffic, scraped every `scrape_s` at a random
/// phase. A healthy run stops at promotion (nothing more to learn).
pub fn simulate(rng: &mut StdRng, mut world: World, rule: &mut dyn Rule, scrape_s: f64) -> Outcome {
    let phase = rng.random::<f64>() * scrape_s;
    let mut prom = Prometheus::new(scrape_s, phase, -(STARTUP_S as f64));
    if world.pods {
        prom = prom.with_pods(STABLE_PODS);
    }
    let mut out = Outcome::default();
    let healthy = world.incident == Incident::None;
    for t in (1 - STARTUP_S)..=0 {
        let s = world.second(rng, 0.0);
        prom.tick(t as f64, s.canary, s.stable, &s.stable_pods);
    }
    for t in 1..=HORIZON_S {
        let s = world.second(rng, rule.weight());
        out.excess += s.canary.failed_attempts - s.canary.attempts * world.baseline;
        prom.tick(t as f64, s.canary, s.stable, &s.stable_pods);
        if out.rollback_s.is_some() {
            break; // the second after the decision was still served
        }
        if out.promoted_s.is_some() {
            continue;
        }
        match rule.at(t, &prom, &s) {
            Some(Act::Rollback) => out.rollback_s = Some(t + 1),
            Some(Act::Promote) if healthy => {
                out.promoted_s = Some(t);
                break;
            }
            Some(Act::Promote) => out.promoted_s = Some(t),
            None => {}
        }
    }
    out.first_failure_s = prom.first_canary_failure();
    out.attack_on_canary = world.attack_on_canary;
    out
}

pub struct Ours {
    metric: CountsMetric,
    result: Option<MetricResult>,
    step: usize,
    state: State,
    /// Start at this step of [`RAMP`] (the outage timing starts at 5%).
    first_read: u32,
}

#[derive(PartialEq)]
enum State {
    Running,
    Promoted,
    RolledBack,
}

impl Ours {
    pub fn new(rng: &mut StdRng, start_step: usize) -> Self {
        Ours {
            metric: CountsMetric {
                failures: String::new(),
                total: String::new(),
                max_ratio: None,
                max_increase: None,
                confidence: None,
                min_total: None,
            },
            result: None,
            step: start_step,
            state: State::Running,
            first_read: rng.random_range(1..=READ_EVERY_S),
        }
    }
}

impl Rule for Ours {
    fn weight(&self) -> f64 {
        match self.state {
            State::Running => RAMP[self.step],
            State::Promoted => 1.0,
            State::RolledBack => 0.0,
        }
    }

    fn at(&mut self, t: u32, prom: &Prometheus, _: &Second) -> Option<Act> {
        if t < self.first_read || !(t - self.first_read).is_multiple_of(READ_EVERY_S) {
            return None;
        }
        let at = t as f64;
        // `sum(increase(failures[elapsed])) or vector(0)`, `sum(increase(total[elapsed]))`.
        let read = |track| prom.increase(track, at, at + STARTUP_S as f64);
        let reading = match (read(Track::Canary), read(Track::Stable)) {
            (Some(c), Some(s)) => Ok(CountsReading {
                canary: Counts::new(c.0, c.1),
                stable: Counts::new(s.0, s.1),
                stable_pods: prom
                    .stable_pods(at, at + STARTUP_S as f64)
                    .into_iter()
                    .map(|(f, n)| Counts::new(f, n))
                    .collect(),
            }),
            _ => Err("no samples yet".to_string()),
        };
        let alpha = ALPHA;
        let r = judge_counts("logins", &self.metric, alpha, self.result.as_ref(), reading);
        let verdict = r.verdict;
        self.result = Some(r);
        match verdict {
            Some(Verdict::Fail) => {
                self.state = State::RolledBack;
                Some(Act::Rollback)
            }
            Some(Verdict::Pass) => {
                // The next weight earns its own pass (as the engine does).
                if let Some(r) = self.result.as_mut() {
                    r.forget_pass_evidence();
                }
                self.step += 1;
                if self.step == RAMP.len() {
                    self.state = State::Promoted;
                    return Some(Act::Promote);
                }
                None
            }
            _ => None,
        }
    }
}

/// Wald's SPRT on true per-client counts of the canary, rolling back at `1/α`.
pub struct Oracle {
    now: u32,
    per_failure: f64,
    per_success: f64,
    log_lr: f64,
    scrape_s: u32,
    pending: (f64, f64),
}

impl Oracle {
    pub fn new(baseline: f64, incident: Incident, scrape_s: f64) -> Self {
        let q = incident.client_failure(baseline);
        Oracle {
            now: 0,
            per_failure: (q / baseline).ln(),
            per_success: ((1.0 - q) / (1.0 - baseline)).ln(),
            log_lr: 0.0,
            scrape_s: scrape_s as u32,
            pending: (0.0, 0.0),
        }
    }
}

impl Rule for Oracle {
    /// It stays at each weight for an Argo-like 5 minutes and never promotes.
    fn weight(&self) -> f64 {
        RAMP[((self.now / ARGO_PAUSE_S) as usize).min(RAMP.len() - 1)]
    }
    fn at(&mut self, t: u32, _: &Prometheus, truth: &Second) -> Option<Act> {
        self.now = t;
        self.pending.0 += truth.canary.failed_clients;
        self.pending.1 += truth.canary.clients;
        if !t.is_multiple_of(self.scrape_s) {
            return None;
        }
        let (f, n) = std::mem::take(&mut self.pending);
        self.log_lr += f * self.per_failure;
        if n - f > 0.0 {
            self.log_lr += (n - f) * self.per_success;
        }
        (self.log_lr >= (1.0 / ALPHA).ln()).then_some(Act::Rollback)
    }
}

/// The fastest any rule reading the scrapes could be on an outage at a fixed weight:
/// Wald's SPRT on the canary's scraped counters (knowing every login fails and the
/// stable ratio exactly), deciding at the instant a scrape lands, at the same `1/α`.
pub struct ScrapeOracle {
    weight: f64,
    per_failure: f64,
    seen: usize,
    last: (f64, f64),
    log_lr: f64,
}

impl ScrapeOracle {
    pub fn outage_at(step: usize, baseline: f64) -> Self {
        ScrapeOracle {
            weight: RAMP[step],
            per_failure: (1.0 / baseline).ln(),
            seen: 0,
            last: (0.0, 0.0),
            log_lr: 0.0,
        }
    }
}

impl Rule for ScrapeOracle {
    fn weight(&self) -> f64 {
        self.weight
    }
    fn at(&mut self, t: u32, prom: &Prometheus, _: &Second) -> Option<Act> {
        for (at, f, n) in prom.canary_scrapes().skip(self.seen) {
            if at > t as f64 {
                break;
            }
            self.seen += 1;
            let (df, dn) = (f - self.last.0, n - self.last.1);
            self.last = (f, n);
            // Every attempt fails in an outage: a success would end the test for good.
            if dn > df {
                self.log_lr = f64::NEG_INFINITY;
            }
            self.log_lr += df * self.per_failure;
        }
        (self.log_lr >= (1.0 / ALPHA).ln()).then_some(Act::Rollback)
    }
}

/// A fixed-threshold rule on the last minute's canary failure ratio. With several
/// thresholds (calibration), every one is judged on the same traffic and
/// [`Threshold::rolled_back`] says which would have rolled back; the weights follow
/// the ramp as if every check passed.
pub struct Threshold {
    pub argo: bool,
    /// Argo's failureLimit (ignored for Flagger).
    pub limit: u32,
    pub thresholds: Vec<f64>,
    failed: Vec<u32>,
    pub rolled_back: Vec<bool>,
    step: usize,
    next_read: f64,
    done: bool,
}

impl Threshold {
    pub fn argo(rng: &mut StdRng, limit: u32, thresholds: Vec<f64>) -> Self {
        Self::new(rng, true, limit, thresholds)
    }
    pub fn flagger(rng: &mut StdRng, thresholds: Vec<f64>) -> Self {
        Self::new(rng, false, 0, thresholds)
    }
    fn new(rng: &mut StdRng, argo: bool, limit: u32, thresholds: Vec<f64>) -> Self {
        let n = thresholds.len();
        Threshold {
            argo,
            limit,
            thresholds,
            failed: vec![0; n],
            rolled_back: vec![false; n],
            step: 0,
            next_read: rng.random::<f64>() * THEIR_INTERVAL_S,
            done: false,
        }
    }
    fn calibrating(&self) -> bool {
        self.thresholds.len() > 1
    }
}

impl Rule for Threshold {
    fn weight(&self) -> f64 {
        match self.step {
            s if s < RAMP.len() => RAMP[s],
            _ => 1.0,
        }
    }

    fn at(&mut self, t: u32, prom: &Prometheus, _: &Second) -> Option<Act> {
        if self.done {
            return None;
        }
        if self.argo && t >= ARGO_PAUSE_S * (self.step as u32 + 1) {
            self.step += 1;
            if self.step == RAMP.len() {
                self.done = true;
                return Some(Act::Promote);
            }
        }
        let at = t as f64;
        if at < self.next_read {
            return None;
        }
        self.next_read += THEIR_INTERVAL_S;
        let (f, n) = prom.increase(Track::Canary, at, THEIR_INTERVAL_S)?;
        if n <= 0.0 {
            return None;
        }
        let allowed = if self.argo {
            self.limit
        } else {
            FLAGGER_THRESHOLD - 1
        };
        let mut all_passed = true;
        for i in 0..self.thresholds.len() {
            if f / n > self.thresholds[i] {
                all_passed = false;
                self.failed[i] += 1;
                if self.failed[i] > allowed {
                    self.rolled_back[i] = true;
                }
            }
        }
        if !self.calibrating() && self.rolled_back[0] {
            self.done = true;
            return Some(Act::Rollback);
        }
        if !self.argo && (all_passed || self.calibrating()) {
            self.step += 1;
            if self.step == RAMP.len() {
                self.done = true;
                return Some(Act::Promote);
            }
        }
        None
    }
}
