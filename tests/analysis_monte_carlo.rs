//! Seeded Monte Carlo: healthy canaries (A/A) judged at every interval.
//!
//! Pins the judge's central promise: however often it looks, the chance of rolling back
//! a canary that is as good as stable stays ≤ α. The same traffic shows that a
//! fixed-sample test at the same α, checked as often, does not keep that promise; and
//! that bursty failures (retries on sticky connections) break it for a test that trusts
//! every attempt, but not once the evidence is divided by the spread measured on stable
//! (the judge's default), nor for distinct failing clients. `make bench` runs the large
//! version on realistic traffic.

// Shared with `make bench`, which also uses its traffic models (retries, bots, stuffing).
#[path = "../benches/support/traffic.rs"]
#[allow(dead_code)]
mod traffic;

use portcullis::analysis::judge::Counts;
use portcullis::analysis::judge::counts::RatioTest;
use portcullis::analysis::judge::dispersion::Dispersion;
use portcullis::analysis::judge::evidence::normal_quantile;
use rand::SeedableRng;
use rand::rngs::StdRng;
use traffic::{Tally, sample};

const ALPHA: f64 = 0.01;
const RUNS: usize = 300;
/// 20 minutes of readings every 10 s.
const LOOKS: usize = 120;
const INTERVAL_S: f64 = 10.0;

#[derive(Clone, Copy)]
struct Healthy {
    clients_per_s: f64,
    /// Canary share for each third of the run (the canary's steps).
    shares: [f64; 3],
    baseline: f64,
    burst: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Rule {
    Sequential {
        distinct_clients: bool,
        /// Divide the evidence by the dispersion measured on stable's counts (the
        /// judge's default) instead of trusting every count as independent.
        calibrated: bool,
    },
    /// One-sided z-test of the same null at the same α on the cumulative split, every look.
    FixedSample,
}

fn counts(t: &Tally, distinct_clients: bool) -> Counts {
    if distinct_clients {
        Counts::new(t.failed_clients, t.clients)
    } else {
        Counts::new(t.failed_attempts, t.attempts)
    }
}

/// Whether one healthy canary run is rolled back (tolerance ρ₀ = 1: A/A sits exactly on
/// the null's boundary, the hardest case for a one-sided test).
fn rolled_back(rng: &mut StdRng, h: Healthy, rule: Rule) -> bool {
    let test = RatioTest::new(0.0);
    let (mut worse, mut not_worse) = (Vec::new(), Vec::new());
    let mut spread = Vec::new();
    let (mut cum_c, mut cum_s) = (Tally::default(), Tally::default());
    let z = normal_quantile(1.0 - ALPHA);
    for look in 0..LOOKS {
        let share = h.shares[look * 3 / LOOKS];
        let n = h.clients_per_s * INTERVAL_S;
        let c = sample(rng, n * share, h.baseline, h.burst);
        let s = sample(rng, n * (1.0 - share), h.baseline, h.burst);
        cum_c.add(c);
        cum_s.add(s);
        match rule {
            Rule::Sequential {
                distinct_clients,
                calibrated,
            } => {
                let (c, s) = (counts(&c, distinct_clients), counts(&s, distinct_clients));
                test.update(&mut worse, &mut not_worse, c, s);
                let phi = if calibrated {
                    let mut d = Dispersion::new(&mut spread);
                    d.add(s);
                    d.phi()
                } else {
                    1.0
                };
                if RatioTest::worse_evidence(&worse, phi) >= 1.0 / ALPHA {
                    return true;
                }
            }
            Rule::FixedSample => {
                let (c, s) = (counts(&cum_c, false), counts(&cum_s, false));
                let f = c.failures + s.failures;
                let p0 = c.total / (c.total + s.total);
                if f > 0.0 && (c.failures - f * p0) / (f * p0 * (1.0 - p0)).sqrt() >= z {
                    return true;
                }
            }
        }
    }
    false
}

fn false_rollbacks(seed: u64, h: Healthy, rule: Rule) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..RUNS).filter(|_| rolled_back(&mut rng, h, rule)).count()
}

/// Rollbacks allowed by "rate ≤ α" within three binomial standard deviations.
fn allowed(runs: usize) -> usize {
    let n = runs as f64;
    (n * ALPHA + 3.0 * (n * ALPHA * (1.0 - ALPHA)).sqrt()).floor() as usize
}

#[test]
fn healthy_canaries_are_rolled_back_at_most_alpha_of_the_time_at_every_share_and_baseline() {
    let mut total = 0;
    let mut seed = 1;
    for shares in [[0.05; 3], [0.5; 3], [0.05, 0.25, 0.5]] {
        for baseline in [0.01, 0.2] {
            let h = Healthy {
                clients_per_s: 30.0,
                shares,
                baseline,
                burst: 1.0,
            };
            let n = false_rollbacks(
                seed,
                h,
                Rule::Sequential {
                    distinct_clients: false,
                    calibrated: false,
                },
            );
            eprintln!("A/A shares {shares:?} baseline {baseline}: {n}/{RUNS} rolled back");
            assert!(
                n <= allowed(RUNS),
                "shares {shares:?} baseline {baseline}: {n}/{RUNS}"
            );
            total += n;
            seed += 1;
        }
    }
    assert!(total <= allowed(6 * RUNS), "{total}/{}", 6 * RUNS);
}

#[test]
fn a_fixed_sample_test_checked_at_every_interval_rolls_back_healthy_canaries_far_more_than_alpha() {
    let h = Healthy {
        clients_per_s: 30.0,
        shares: [0.05, 0.25, 0.5],
        baseline: 0.05,
        burst: 1.0,
    };
    let naive = false_rollbacks(7, h, Rule::FixedSample);
    let ours = false_rollbacks(
        7,
        h,
        Rule::Sequential {
            distinct_clients: false,
            calibrated: false,
        },
    );
    eprintln!("fixed-sample test {naive}/{RUNS}, sequential {ours}/{RUNS} rolled back");
    assert!(naive > allowed(RUNS), "naive {naive}/{RUNS}");
    assert!(ours <= allowed(RUNS), "ours {ours}/{RUNS}");
    assert!(naive >= 3 * ours.max(1), "naive {naive} vs ours {ours}");
}

#[test]
fn bursts_of_retries_inflate_false_rollbacks_unless_the_test_measures_their_spread() {
    // A failing client retries 8 times on average over a connection pinned to one track.
    let h = Healthy {
        clients_per_s: 30.0,
        shares: [0.25; 3],
        baseline: 0.05,
        burst: 8.0,
    };
    let rule = |distinct_clients, calibrated| Rule::Sequential {
        distinct_clients,
        calibrated,
    };
    let trusting = false_rollbacks(11, h, rule(false, false));
    let calibrated = false_rollbacks(11, h, rule(false, true));
    let clients = false_rollbacks(11, h, rule(true, false));
    eprintln!(
        "bursts: attempts trusted {trusting}/{RUNS}, attempts calibrated {calibrated}/{RUNS}, \
         distinct clients {clients}/{RUNS} rolled back"
    );
    assert!(
        trusting > allowed(RUNS),
        "attempts trusted {trusting}/{RUNS}"
    );
    assert!(
        calibrated <= allowed(RUNS),
        "attempts calibrated {calibrated}/{RUNS}"
    );
    assert!(clients <= allowed(RUNS), "clients {clients}/{RUNS}");
}

/// Whether a canary whose failure rate is exactly `rho0` × stable's is passed early.
fn passed_early(rng: &mut StdRng, rho0: f64, share: f64, baseline: f64) -> bool {
    let test = RatioTest::new(rho0 - 1.0);
    let (mut worse, mut not_worse) = (Vec::new(), Vec::new());
    for _ in 0..LOOKS {
        let n = 30.0 * INTERVAL_S;
        let c = sample(rng, n * share, baseline * rho0, 1.0);
        let s = sample(rng, n * (1.0 - share), baseline, 1.0);
        test.update(
            &mut worse,
            &mut not_worse,
            counts(&c, false),
            counts(&s, false),
        );
        if RatioTest::not_worse_evidence(&not_worse, 1.0) >= 1.0 / ALPHA {
            return true;
        }
    }
    false
}

#[test]
fn a_canary_worse_by_exactly_the_tolerance_is_passed_early_at_most_alpha_of_the_time() {
    // The early pass's error: H₀′ (canary at least ρ₀ × stable) holds at its boundary.
    let mut rng = StdRng::seed_from_u64(13);
    for (rho0, share, baseline) in [(1.2, 0.25, 0.05), (2.0, 0.05, 0.2), (1.5, 0.5, 0.01)] {
        let n = (0..RUNS)
            .filter(|_| passed_early(&mut rng, rho0, share, baseline))
            .count();
        eprintln!("ρ = ρ₀ = {rho0}, share {share}, baseline {baseline}: {n}/{RUNS} passed early");
        assert!(n <= allowed(RUNS), "{n}/{RUNS}");
    }
}

#[test]
fn a_healthy_canary_with_a_loose_tolerance_does_pass_early() {
    // The pass is reachable, not only safe: ρ = 1 against ρ₀ = 2 at 25% share.
    let mut rng = StdRng::seed_from_u64(17);
    let test = RatioTest::new(1.0);
    let mut passed = 0;
    for _ in 0..50 {
        let (mut worse, mut not_worse) = (Vec::new(), Vec::new());
        for _ in 0..LOOKS {
            let c = sample(&mut rng, 300.0 * 0.25, 0.05, 1.0);
            let s = sample(&mut rng, 300.0 * 0.75, 0.05, 1.0);
            test.update(
                &mut worse,
                &mut not_worse,
                counts(&c, false),
                counts(&s, false),
            );
            if RatioTest::not_worse_evidence(&not_worse, 1.0) >= 1.0 / ALPHA {
                passed += 1;
                break;
            }
        }
    }
    assert!(passed >= 45, "{passed}/50 passed within {LOOKS} readings");
}
