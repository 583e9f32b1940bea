//! The rules the bench compares, run on one simulated canary: ours (the real judge) and
//! the Argo/Flagger-style fixed thresholds.

use crate::traffic::{Tally, sample};
use portcullis::analysis::judge::{Counts, judge_counts};
use portcullis::api::{CountsMetric, MetricResult, Verdict};
use rand::rngs::StdRng;

pub const HORIZON_S: u32 = 1800;
pub const THEIR_INTERVAL_S: u32 = 60;
pub const ALPHA_CONFIDENCE: f64 = 0.99;

#[derive(Clone, Copy, Debug)]
pub enum Bug {
    None,
    AllLogins,
    Times(f64),
    /// A share of users always fails on the canary.
    Users(f64),
}

impl Bug {
    pub fn canary_failure(self, baseline: f64) -> f64 {
        match self {
            Bug::None => baseline,
            Bug::AllLogins => 1.0,
            Bug::Times(x) => (baseline * x).min(1.0),
            Bug::Users(u) => baseline + u * (1.0 - baseline),
        }
    }
    pub fn label(self) -> String {
        match self {
            Bug::None => "healthy".into(),
            Bug::AllLogins => "100% fail".into(),
            Bug::Times(x) => format!("{x}x"),
            Bug::Users(u) => format!("{:.0}% users", u * 100.0),
        }
    }
}

#[derive(Clone, Copy)]
pub struct Scenario {
    pub rate: f64,
    pub share: f64,
    pub baseline: f64,
    pub bug: Bug,
}

/// What one rule did in one run.
#[derive(Clone, Copy, Default)]
pub struct Outcome {
    /// Seconds from canary start to traffic back on stable.
    pub rollback_s: Option<u32>,
    pub excess: f64,
}

pub struct Ours {
    metric: CountsMetric,
    result: Option<MetricResult>,
}

impl Ours {
    pub fn new() -> Self {
        Ours {
            metric: CountsMetric {
                failures: String::new(),
                total: String::new(),
                max_ratio: None,
                max_increase: Some(0.1),
                confidence: Some(ALPHA_CONFIDENCE),
                min_total: None,
            },
            result: None,
        }
    }
    pub fn read(&mut self, canary: Counts, stable: Counts) -> bool {
        let alpha = 1.0 - ALPHA_CONFIDENCE;
        let r = judge_counts(
            "logins",
            &self.metric,
            alpha,
            self.result.as_ref(),
            Ok((canary, stable)),
        );
        let fail = r.verdict == Some(Verdict::Fail);
        self.result = Some(r);
        fail
    }
}

/// A fixed-threshold rule: every 60 s, the last minute's canary failure ratio against
/// `max_ratio`. Argo-style: `failures_allowed` 2 (rolls back at the third failed
/// measurement, when failures exceed failureLimit); Flagger-style: 4 (at the fifth).
#[derive(Clone, Copy)]
pub struct Threshold {
    pub max_ratio: f64,
    pub failures_allowed: u32,
    pub failed: u32,
    pub window: Tally,
}

impl Threshold {
    pub fn new(max_ratio: f64, failures_allowed: u32) -> Self {
        Threshold {
            max_ratio,
            failures_allowed,
            failed: 0,
            window: Tally::default(),
        }
    }
    pub fn read(&mut self) -> bool {
        let w = std::mem::take(&mut self.window);
        // No logins in the window: NaN, an error measurement, not a failure.
        if w.attempts > 0.0 && w.failed_attempts / w.attempts > self.max_ratio {
            self.failed += 1;
        }
        self.failed > self.failures_allowed
    }
}

pub fn to_counts(t: &Tally) -> Counts {
    Counts::new(t.failed_attempts, t.attempts)
}

/// One canary run judged by ours (outcome 0) and every threshold rule (outcomes 1..);
/// also returns the first second whose scrape shows a canary failure.
pub fn run(rng: &mut StdRng, s: Scenario, rules: &[Threshold]) -> (Vec<Outcome>, Option<u32>) {
    let mut ours = Ours::new();
    let mut rules = rules.to_vec();
    let mut out = vec![Outcome::default(); rules.len() + 1];
    let (mut cum_c, mut cum_s) = (Tally::default(), Tally::default());
    let q = s.bug.canary_failure(s.baseline);
    let mut first_failure = None;
    for t in 1..=HORIZON_S {
        let c = sample(rng, s.rate * s.share, q, 1.0);
        let st = sample(rng, s.rate * (1.0 - s.share), s.baseline, 1.0);
        cum_c.add(c);
        cum_s.add(st);
        if first_failure.is_none() && c.failed_attempts > 0.0 {
            first_failure = Some(t);
        }
        // Second t is (t-1, t]; a canary rolled back at t still served it.
        let excess = c.failed_attempts - c.attempts * s.baseline;
        for o in out
            .iter_mut()
            .filter(|o| o.rollback_s.is_none_or(|r| t <= r))
        {
            o.excess += excess;
        }
        // A reading at t sees the scrape taken at t; the rollback lands at t + 1.
        if out[0].rollback_s.is_none() && ours.read(to_counts(&cum_c), to_counts(&cum_s)) {
            out[0].rollback_s = Some(t + 1);
        }
        for (i, rule) in rules.iter_mut().enumerate() {
            rule.window.add(c);
            if out[i + 1].rollback_s.is_none() && t % THEIR_INTERVAL_S == 0 && rule.read() {
                out[i + 1].rollback_s = Some(t + 1);
            }
        }
        if out.iter().all(|o| o.rollback_s.is_some_and(|r| t >= r)) {
            break;
        }
    }
    (out, first_failure)
}
