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

/// Not a rule anyone can run: the sequential probability ratio test that knows the
/// stable failure ratio and the bug's exact canary failure ratio, rejecting when the
/// likelihood ratio of "bug" to "healthy" on the canary's own counts reaches 1/α.
/// Among tests with false rollbacks ≤ α it needs about the fewest logins to reject
/// (Wald–Wolfowitz), so its excess is a floor for ours and a ceiling on the ratio any
/// valid test can reach against the threshold rules.
pub struct Oracle {
    log_lr: f64,
    per_failure: f64,
    per_success: f64,
}

impl Oracle {
    pub fn new(baseline: f64, canary_failure: f64) -> Self {
        Oracle {
            log_lr: 0.0,
            per_failure: (canary_failure / baseline).ln(),
            per_success: ((1.0 - canary_failure) / (1.0 - baseline)).ln(),
        }
    }
    pub fn read(&mut self, c: &Tally) -> bool {
        let successes = c.attempts - c.failed_attempts;
        self.log_lr += c.failed_attempts * self.per_failure;
        // A success is impossible when every login fails (per_success = −∞).
        if successes > 0.0 {
            self.log_lr += successes * self.per_success;
        }
        self.log_lr >= (1.0 / (1.0 - ALPHA_CONFIDENCE)).ln()
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

/// Outcome indices in [`run`]'s answer: ours, the oracle bound, then the threshold rules.
pub const OURS: usize = 0;
pub const ORACLE: usize = 1;
pub const RULES: usize = 2;

/// One canary run judged by ours, the oracle (only when there is a bug: on a healthy
/// canary it has nothing to look for and never rolls back) and every threshold rule;
/// also returns the first second whose scrape shows a canary failure.
pub fn run(rng: &mut StdRng, s: Scenario, rules: &[Threshold]) -> (Vec<Outcome>, Option<u32>) {
    let mut ours = Ours::new();
    let q = s.bug.canary_failure(s.baseline);
    let mut oracle = (q > s.baseline).then(|| Oracle::new(s.baseline, q));
    let mut rules = rules.to_vec();
    let mut out = vec![Outcome::default(); rules.len() + RULES];
    let (mut cum_c, mut cum_s) = (Tally::default(), Tally::default());
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
        if out[OURS].rollback_s.is_none() && ours.read(to_counts(&cum_c), to_counts(&cum_s)) {
            out[OURS].rollback_s = Some(t + 1);
        }
        if let Some(o) = oracle.as_mut()
            && out[ORACLE].rollback_s.is_none()
            && o.read(&c)
        {
            out[ORACLE].rollback_s = Some(t + 1);
        }
        for (i, rule) in rules.iter_mut().enumerate() {
            rule.window.add(c);
            if out[RULES + i].rollback_s.is_none() && t % THEIR_INTERVAL_S == 0 && rule.read() {
                out[RULES + i].rollback_s = Some(t + 1);
            }
        }
        // Runs end when every rule that can still act has rolled back.
        let done = |(i, o): (usize, &Outcome)| {
            (i == ORACLE && oracle.is_none()) || o.rollback_s.is_some_and(|r| t >= r)
        };
        if out.iter().enumerate().all(done) {
            break;
        }
    }
    (out, first_failure)
}
