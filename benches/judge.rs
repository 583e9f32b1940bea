//! `make bench`: the judge against Argo- and Flagger-style threshold rules on simulated
//! login traffic (see README, "Analysis: how Portcullis judges a canary").
//!
//! Each run simulates one canary for up to 30 minutes at 1-second resolution: Prometheus
//! scrapes every second; every rule sees the same traffic. A rollback takes effect one
//! second after the reading that decides it.
//! - ours: the real `judge_counts` every 5 s on cumulative counts, maxIncrease 0.1,
//!   confidence 0.99;
//! - Argo-style: every 60 s, the last minute's canary failure ratio against a fixed
//!   maximum (2 × the baseline ratio); rolls back when failed measurements exceed
//!   failureLimit 2 (the third one);
//! - Flagger-style: the same check every 60 s; rolls back at 5 failed checks.
//!
//! Printed per scenario: median and p90 time to rollback (s, from canary start), mean
//! excess failed logins before rollback (canary failures beyond the baseline rate), and
//! for healthy canaries the false-rollback rate.

#[path = "support/traffic.rs"]
mod traffic;

use portcullis::analysis::judge::{Counts, judge_counts};
use portcullis::api::{CountsMetric, MetricResult, Verdict};
use rand::SeedableRng;
use rand::rngs::StdRng;
use traffic::{Tally, sample};

const HORIZON_S: u32 = 1800;
const OUR_INTERVAL_S: u32 = 5;
const THEIR_INTERVAL_S: u32 = 60;
const BUG_RUNS: usize = 60;
const HEALTHY_RUNS: usize = 400;
const ALPHA_CONFIDENCE: f64 = 0.99;

#[derive(Clone, Copy, Debug)]
enum Bug {
    None,
    AllLogins,
    Times(f64),
    /// A share of users always fails on the canary.
    Users(f64),
}

impl Bug {
    fn canary_failure(self, baseline: f64) -> f64 {
        match self {
            Bug::None => baseline,
            Bug::AllLogins => 1.0,
            Bug::Times(x) => (baseline * x).min(1.0),
            Bug::Users(u) => baseline + u * (1.0 - baseline),
        }
    }
    fn label(self) -> String {
        match self {
            Bug::None => "healthy".into(),
            Bug::AllLogins => "100% fail".into(),
            Bug::Times(x) => format!("{x}x"),
            Bug::Users(u) => format!("{:.0}% users", u * 100.0),
        }
    }
}

#[derive(Clone, Copy)]
struct Scenario {
    rate: f64,
    share: f64,
    baseline: f64,
    bug: Bug,
}

/// What one rule did in one run.
#[derive(Clone, Copy, Default)]
struct Outcome {
    /// Seconds from canary start to traffic back on stable.
    rollback_s: Option<u32>,
    excess: f64,
}

struct Ours {
    metric: CountsMetric,
    result: Option<MetricResult>,
}

impl Ours {
    fn new() -> Self {
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
    fn read(&mut self, canary: Counts, stable: Counts) -> bool {
        let alpha = 1.0 - ALPHA_CONFIDENCE;
        let r = judge_counts("logins", &self.metric, alpha, self.result.as_ref(), Ok((canary, stable)));
        let fail = r.verdict == Some(Verdict::Fail);
        self.result = Some(r);
        fail
    }
}

/// Argo (`limit` 2, rolls back when failures exceed it) and Flagger (`limit` 4: at the
/// fifth failed check) as one fixed-threshold rule.
struct Threshold {
    max_ratio: f64,
    failures_allowed: u32,
    failed: u32,
    window: Tally,
}

impl Threshold {
    fn read(&mut self) -> bool {
        let w = std::mem::take(&mut self.window);
        // No logins in the window: NaN, an error measurement, not a failure.
        if w.attempts > 0.0 && w.failed_attempts / w.attempts > self.max_ratio {
            self.failed += 1;
        }
        self.failed > self.failures_allowed
    }
}

fn to_counts(t: &Tally) -> Counts {
    Counts::new(t.failed_attempts, t.attempts)
}

/// One canary run; returns (ours, argo, flagger, first second a scrape shows a canary
/// failure).
fn run(rng: &mut StdRng, s: Scenario) -> ([Outcome; 3], Option<u32>) {
    let mut ours = Ours::new();
    let threshold = |allowed| Threshold {
        max_ratio: 2.0 * s.baseline,
        failures_allowed: allowed,
        failed: 0,
        window: Tally::default(),
    };
    let mut theirs = [threshold(2), threshold(4)];
    let mut out = [Outcome::default(); 3];
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
        let excess = c.failed_attempts - c.attempts * s.baseline;
        for o in out.iter_mut().filter(|o| o.rollback_s.is_none()) {
            o.excess += excess;
        }
        // Readings at t see the scrape taken at t; the rollback lands at t + 1.
        if out[0].rollback_s.is_none()
            && t % OUR_INTERVAL_S == 0
            && ours.read(to_counts(&cum_c), to_counts(&cum_s))
        {
            out[0].rollback_s = Some(t + 1);
        }
        for (i, rule) in theirs.iter_mut().enumerate() {
            rule.window.add(c);
            if out[i + 1].rollback_s.is_none() && t % THEIR_INTERVAL_S == 0 && rule.read() {
                out[i + 1].rollback_s = Some(t + 1);
            }
        }
        if out.iter().all(|o| o.rollback_s.is_some()) {
            break;
        }
    }
    (out, first_failure)
}

fn quantile(mut xs: Vec<f64>, q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    Some(xs[((xs.len() - 1) as f64 * q).round() as usize])
}

fn fmt_time(xs: &[Option<u32>], q: f64) -> String {
    let n = xs.len();
    // Runs never rolled back count as +∞ so the quantile stays honest.
    let mut v: Vec<f64> = xs.iter().map(|x| x.map_or(f64::INFINITY, |s| s as f64)).collect();
    v.truncate(n);
    match quantile(v, q) {
        Some(x) if x.is_finite() => format!("{x:.0}"),
        _ => "never".into(),
    }
}

fn main() {
    let mut rng = StdRng::seed_from_u64(2026);
    let mut ratios_argo = Vec::new();
    let mut ratios_flagger = Vec::new();
    let mut worst_false = 0.0f64;
    let mut outage_times = Vec::new();
    println!(
        "{:>5} {:>5} {:>5} {:>10} | {:>14} {:>9} | {:>14} {:>9} | {:>14} {:>9}",
        "rate", "share", "base", "bug", "ours p50/p90 s", "excess", "argo p50/p90 s", "excess", "flagger p50/p90", "excess"
    );
    for rate in [20.0, 200.0] {
        for share in [0.05, 0.25] {
            for baseline in [0.01, 0.05] {
                for bug in [Bug::None, Bug::AllLogins, Bug::Times(2.0), Bug::Times(1.2), Bug::Users(0.1)] {
                    let s = Scenario { rate, share, baseline, bug };
                    let runs = if matches!(bug, Bug::None) { HEALTHY_RUNS } else { BUG_RUNS };
                    let mut times: [Vec<Option<u32>>; 3] = Default::default();
                    let mut excess = [0.0f64; 3];
                    for _ in 0..runs {
                        let (out, first) = run(&mut rng, s);
                        for i in 0..3 {
                            times[i].push(out[i].rollback_s);
                            excess[i] += out[i].excess / runs as f64;
                        }
                        if matches!(bug, Bug::AllLogins) && share == 0.05 {
                            if let (Some(r), Some(f)) = (out[0].rollback_s, first) {
                                outage_times.push((r - f) as f64);
                            } else {
                                outage_times.push(f64::INFINITY);
                            }
                        }
                    }
                    let cell = |i: usize| {
                        if matches!(bug, Bug::None) {
                            let rate = times[i].iter().filter(|t| t.is_some()).count() as f64 / runs as f64;
                            format!("{:>14} {:>9}", format!("false {:.2}%", rate * 100.0), "")
                        } else {
                            format!(
                                "{:>14} {:>9.0}",
                                format!("{}/{}", fmt_time(&times[i], 0.5), fmt_time(&times[i], 0.9)),
                                excess[i]
                            )
                        }
                    };
                    println!(
                        "{rate:>5} {:>5} {:>5} {:>10} | {} | {} | {}",
                        format!("{:.0}%", share * 100.0),
                        format!("{:.0}%", baseline * 100.0),
                        bug.label(),
                        cell(0),
                        cell(1),
                        cell(2)
                    );
                    if matches!(bug, Bug::None) {
                        let f = times[0].iter().filter(|t| t.is_some()).count() as f64 / runs as f64;
                        worst_false = worst_false.max(f);
                    } else {
                        let ours = excess[0].max(1.0);
                        ratios_argo.push(excess[1] / ours);
                        ratios_flagger.push(excess[2] / ours);
                    }
                }
            }
        }
    }
    let outage = quantile(outage_times, 0.9).unwrap_or(f64::INFINITY);
    println!(
        "bench: vs_argo={:.1} vs_flagger={:.1} false_rollback={:.4} outage_rollback_s={:.0}",
        quantile(ratios_argo, 0.5).unwrap_or(0.0),
        quantile(ratios_flagger, 0.5).unwrap_or(0.0),
        worst_false,
        outage
    );
}
