//! Seeded Monte Carlo: `query` metrics (a p99 latency per track) judged at every reading.
//!
//! Pins what issue 11 asked of them: a healthy canary whose values are as noisy as
//! stable's is rolled back at most α of the time however long it runs (the old rule,
//! `failureLimit` bad readings in a row, is shown on the same traffic to do far worse),
//! also when the values persist over a few readings (a window longer than the interval),
//! and a canary twice as slow is still rolled back. Values persisting much longer are the
//! documented limit.

use portcullis::analysis::judge::{Observation, judge, query, signs};
use portcullis::api::{Metric, MetricResult, QueryMetric, StableComparison, Verdict};
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::StandardNormal;

const CONFIDENCE: f64 = 0.99;
const ALPHA: f64 = 1.0 - CONFIDENCE;
const RUNS: usize = 400;
/// Ten minutes of readings every 5 s.
const LOOKS: usize = 120;

/// `examples/gates/login-latency.yaml`'s bounds: p99 under 0.5 s and at most 30% above
/// stable's; `failure_limit` as given.
fn latency_metric(failure_limit: i32) -> Metric {
    Metric {
        name: "login-p99-seconds".into(),
        counts: None,
        query: Some(QueryMetric {
            query: "q".into(),
            min: None,
            max: Some(0.5),
            compare_to_stable: Some(StableComparison { max_increase: 0.3 }),
            failure_limit: Some(failure_limit),
            confidence: Some(CONFIDENCE),
        }),
        probe: None,
    }
}

/// One track's p99 over a run: `median × exp(σ·x_t)` with `x_t` an AR(1) of lag-one
/// correlation `persist` and unit variance (0 = independent readings; near 1 = the
/// noise of a window several readings long).
struct Track {
    x: f64,
    persist: f64,
}

impl Track {
    fn new(rng: &mut StdRng, persist: f64) -> Self {
        Track {
            x: rng.sample(StandardNormal),
            persist,
        }
    }
    fn next(&mut self, rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
        let e: f64 = rng.sample(StandardNormal);
        self.x = self.persist * self.x + (1.0 - self.persist * self.persist).sqrt() * e;
        median * (sigma * self.x).exp()
    }
}

#[derive(Clone, Copy)]
struct Traffic {
    median: f64,
    sigma: f64,
    persist: f64,
    /// The canary's p99 is this many times stable's (1 = healthy).
    slower: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Rule {
    /// The judge (`judge::judge`), as the controller runs it.
    Judge,
    /// The same sign test trusting every reading as independent (no persistence).
    Untempered,
    /// The old rule: fail after `failureLimit` out-of-bounds readings in a row.
    InARow(i32),
}

/// The reading at which one run is rolled back, if it is.
fn rolled_back_at(rng: &mut StdRng, t: Traffic, rule: Rule) -> Option<usize> {
    let metric = [latency_metric(1)];
    let q = metric[0].query.as_ref().unwrap();
    let (mut canary, mut stable) = (Track::new(rng, t.persist), Track::new(rng, t.persist));
    let mut previous: Vec<MetricResult> = Vec::new();
    let (mut components, mut in_a_row) = (Vec::new(), 0);
    for look in 0..LOOKS {
        let c = t.slower * canary.next(rng, t.median, t.sigma);
        let s = stable.next(rng, t.median, t.sigma);
        let failed = match rule {
            Rule::Judge => {
                let r = judge(
                    &metric,
                    &previous,
                    vec![Ok(Observation::Value {
                        canary: c,
                        stable: Some(s),
                    })],
                );
                previous = r.metrics;
                r.verdict == Some(Verdict::Fail)
            }
            Rule::Untempered => {
                if let Some(alone) = query::check(q, c, Some(s)).unwrap().alone() {
                    signs::update(&mut components, alone);
                }
                signs::evidence(&components, 1.0) >= 1.0 / ALPHA
            }
            Rule::InARow(limit) => {
                in_a_row = query::consecutive(in_a_row, &query::check(q, c, Some(s)).unwrap());
                in_a_row >= limit
            }
        };
        if failed {
            return Some(look);
        }
    }
    None
}

fn rollbacks(seed: u64, t: Traffic, rule: Rule, runs: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..runs)
        .filter_map(|_| rolled_back_at(&mut rng, t, rule))
        .collect()
}

/// Rollbacks allowed by "rate ≤ α" within three binomial standard deviations.
fn allowed(runs: usize) -> usize {
    let n = runs as f64;
    (n * ALPHA + 3.0 * (n * ALPHA * (1.0 - ALPHA)).sqrt()).floor() as usize
}

/// p99 around 200 ms, each reading ±25% (one σ of its log) independently of the last.
const NOISY: Traffic = Traffic {
    median: 0.2,
    sigma: 0.25,
    persist: 0.0,
    slower: 1.0,
};

#[test]
fn a_healthy_canary_with_a_noisy_latency_is_rolled_back_at_most_alpha_of_the_time() {
    let ours = rollbacks(1, NOISY, Rule::Judge, RUNS).len();
    // Near the absolute bound too: the p99 sits at 0.4 s, max is 0.5 s.
    let near_max = Traffic {
        median: 0.4,
        ..NOISY
    };
    let near = rollbacks(2, near_max, Rule::Judge, RUNS).len();
    // The old rule on the same traffic, at the example's failureLimit 3.
    let old = rollbacks(1, NOISY, Rule::InARow(3), RUNS).len();
    eprintln!(
        "healthy, noisy p99: judge {ours}/{RUNS} rolled back ({near}/{RUNS} near max); \
         3 bad readings in a row {old}/{RUNS}"
    );
    assert!(ours <= allowed(RUNS), "{ours}/{RUNS}");
    assert!(near <= allowed(RUNS), "near max: {near}/{RUNS}");
    assert!(old > 10 * allowed(RUNS), "the old rule: {old}/{RUNS}");
}

/// Healthy runs rolled back out of `RUNS`, by the judge and by the same sign test
/// trusting every reading, at lag-one correlation `persist`.
fn persistent(seed: u64, persist: f64) -> (usize, usize) {
    let t = Traffic { persist, ..NOISY };
    (
        rollbacks(seed, t, Rule::Judge, RUNS).len(),
        rollbacks(seed, t, Rule::Untempered, RUNS).len(),
    )
}

#[test]
fn values_that_persist_over_a_few_readings_are_tempered_by_stable_s_own_persistence() {
    // A window about four readings long (a 20 s rate read every 5 s) correlates
    // neighbouring readings by about 0.75: signs come in runs, and a test trusting every
    // reading rolls healthy canaries back; the judge, measuring stable's persistence,
    // does not.
    for (seed, persist) in [(3, 0.5), (5, 0.8)] {
        let (ours, trusting) = persistent(seed, persist);
        eprintln!(
            "healthy, persistence {persist}: judge {ours}/{RUNS}, untempered {trusting}/{RUNS}"
        );
        assert!(
            ours <= allowed(RUNS),
            "persistence {persist}: {ours}/{RUNS}"
        );
        assert!(trusting > allowed(RUNS), "untempered {trusting}/{RUNS}");
    }
}

#[test]
fn values_that_persist_much_longer_than_a_few_readings_are_outside_the_guarantee() {
    // The documented limit (README, `judge::query`): with a window ten and more readings
    // long, 120 readings are too few to measure stable's persistence, and the judge rolls
    // back more than α of healthy canaries, if far fewer than a test trusting every
    // reading. Pinned so a change to the correction shows here.
    let (ours, trusting) = persistent(7, 0.9);
    eprintln!("healthy, persistence 0.9: judge {ours}/{RUNS}, untempered {trusting}/{RUNS}");
    assert!(ours < trusting / 4, "{ours} vs {trusting}");
    assert!(ours <= 8 * allowed(RUNS), "{ours}/{RUNS}");
}

#[test]
fn a_canary_twice_as_slow_is_rolled_back() {
    let slow = Traffic {
        slower: 2.0,
        ..NOISY
    };
    let runs = 100;
    let mut at = rollbacks(4, slow, Rule::Judge, runs);
    at.sort();
    eprintln!(
        "2× p99: {}/{runs} rolled back, median at reading {}, slowest {}",
        at.len(),
        at[at.len() / 2],
        at[at.len() - 1]
    );
    assert_eq!(at.len(), runs);
    // Half of them within 40 readings (3⅓ minutes of 5 s readings): at least 9
    // readings of the canary alone out of bounds, times stable's persistence, which
    // starts out cautious (a prior of 7) and falls as stable's values show themselves.
    assert!(at[at.len() / 2] < 40, "median {}", at[at.len() / 2]);
}
