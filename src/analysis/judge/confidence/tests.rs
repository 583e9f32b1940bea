//! The sequences cover the truth at every reading at once, and pay for it in width.

use super::*;
use crate::analysis::judge::evidence::normal_quantile;
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Poisson};

const RUNS: usize = 300;
const READINGS: usize = 60;

/// Runs allowed to miss by "rate ≤ α" within three binomial standard deviations.
fn allowed(alpha: f64) -> usize {
    let n = RUNS as f64;
    (n * alpha + 3.0 * (n * alpha * (1.0 - alpha)).sqrt()).floor() as usize
}

fn binomial(rng: &mut StdRng, n: f64, p: f64) -> f64 {
    rng.sample(Binomial::new(n as u64, p.min(1.0)).unwrap()) as f64
}

/// Fixed-sample Wilson interval of `k / n` at two-sided level `1 − alpha`: what the
/// status showed before, and what the sequences are compared with.
fn wilson(k: f64, n: f64, alpha: f64) -> (f64, f64) {
    let z = normal_quantile(1.0 - alpha / 2.0);
    let p = k / n;
    let z2n = z * z / n;
    let centre = (p + z2n / 2.0) / (1.0 + z2n);
    let half = z * (p * (1.0 - p) / n + z2n / (4.0 * n)).sqrt() / (1.0 + z2n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One canary whose failure rate is `rho` × stable's, read `READINGS` times while its
/// share grows 5% → 25% → 50%: does the sequence ever leave out `rho`?
fn ratio_ever_missed(rng: &mut StdRng, rho: f64, alpha: f64) -> bool {
    let mut likelihood = Vec::new();
    for reading in 0..READINGS {
        let share = [0.05, 0.25, 0.5][reading * 3 / READINGS];
        let n: f64 = rng.sample(Poisson::new(300.0).unwrap());
        let (nc, ns) = ((n * share).round(), (n * (1.0 - share)).round());
        let c = Counts::new(binomial(rng, nc, 0.05 * rho), nc);
        let s = Counts::new(binomial(rng, ns, 0.05), ns);
        add_ratio_interval(&mut likelihood, c, s);
        if let Some((lo, hi)) = ratio_sequence(&likelihood, 1.0, alpha)
            && !(lo <= rho && rho <= hi)
        {
            return true;
        }
    }
    false
}

#[test]
fn the_ratio_sequence_holds_the_true_ratio_at_every_reading_in_all_but_alpha_of_runs() {
    let alpha = 0.05;
    let mut rng = StdRng::seed_from_u64(21);
    // 1.0 and 1.7 fall between grid points, 2.048 = 1e-3 × 1.25^34 is one.
    for rho in [1.0, 1.7, 2.048, 4.0] {
        let missed = (0..RUNS)
            .filter(|_| ratio_ever_missed(&mut rng, rho, alpha))
            .count();
        eprintln!("rate ratio {rho}: the 95% sequence ever missed it in {missed}/{RUNS} runs");
        assert!(missed <= allowed(alpha), "ρ = {rho}: {missed}/{RUNS}");
    }
}

#[test]
fn the_failure_ratio_bound_holds_at_every_reading_in_all_but_alpha_of_runs() {
    let alpha = 0.05;
    let mut rng = StdRng::seed_from_u64(22);
    for q in [0.002, 0.05, 0.4] {
        let missed = (0..RUNS)
            .filter(|_| {
                let mut c = Counts::default();
                (0..READINGS).any(|_| {
                    let n = 50.0;
                    c = Counts::new(c.failures + binomial(&mut rng, n, q), c.total + n);
                    failure_ratio_upper(c, 1.0, alpha).unwrap() < q
                })
            })
            .count();
        eprintln!(
            "failure ratio {q}: the 95% upper bound ever fell below it in {missed}/{RUNS} runs"
        );
        assert!(missed <= allowed(alpha), "q = {q}: {missed}/{RUNS}");
    }
}

#[test]
fn the_ratio_sequence_is_wider_than_the_wilson_interval_at_the_same_counts() {
    // One reading: the cumulative split is the only interval, so both see the same data.
    // Wilson's interval of the canary's share of failures, mapped to a rate ratio.
    for (c, s) in [
        (Counts::new(20.0, 1000.0), Counts::new(10.0, 1000.0)),
        (Counts::new(10.0, 100.0), Counts::new(10.0, 900.0)),
        (Counts::new(849.0, 850.0), Counts::new(68.0, 3398.0)),
        (Counts::new(50.0, 10_000.0), Counts::new(950.0, 190_000.0)),
    ] {
        let mut likelihood = Vec::new();
        add_ratio_interval(&mut likelihood, c, s);
        let (lo, hi) = ratio_sequence(&likelihood, 1.0, 0.01).unwrap();
        let (wlo, whi) = wilson(c.failures, c.failures + s.failures, 0.01);
        let odds = |p: f64| p / (1.0 - p) * s.total / c.total;
        let (wlo, whi) = (odds(wlo), odds(whi));
        eprintln!("{c:?} vs {s:?}: sequence [{lo:.3}, {hi:.3}], Wilson [{wlo:.3}, {whi:.3}]");
        assert!(
            lo < wlo && whi < hi,
            "[{lo}, {hi}] vs Wilson [{wlo}, {whi}]"
        );
    }
}

#[test]
fn the_failure_ratio_bound_is_above_the_one_sided_wilson_bound_at_the_same_counts() {
    for c in [
        Counts::new(10.0, 100.0),
        Counts::new(2.0, 1000.0),
        Counts::new(849.0, 850.0),
        Counts::new(0.0, 300.0),
    ] {
        let bound = failure_ratio_upper(c, 1.0, 0.01).unwrap();
        let (_, wilson_upper) = wilson(c.failures, c.total, 0.02);
        assert!(
            bound > wilson_upper,
            "{c:?}: {bound} vs Wilson {wilson_upper}"
        );
        assert!(bound > c.ratio().unwrap());
    }
}

#[test]
fn the_ratio_sequence_narrows_around_the_truth_as_readings_accrue() {
    let mut rng = StdRng::seed_from_u64(23);
    let mut likelihood = Vec::new();
    assert_eq!(ratio_sequence(&likelihood, 1.0, 0.01), None);
    let mut widths = Vec::new();
    for _ in 0..200 {
        let c = Counts::new(binomial(&mut rng, 500.0, 0.1), 500.0);
        let s = Counts::new(binomial(&mut rng, 1500.0, 0.05), 1500.0);
        add_ratio_interval(&mut likelihood, c, s);
        let (lo, hi) = ratio_sequence(&likelihood, 1.0, 0.01).unwrap();
        widths.push(hi / lo);
    }
    let (lo, hi) = ratio_sequence(&likelihood, 1.0, 0.01).unwrap();
    assert!(lo > 1.5 && hi < 2.7, "[{lo}, {hi}]");
    assert!(
        widths[199] < widths[0] / 1.5,
        "{} vs {}",
        widths[199],
        widths[0]
    );
}

#[test]
fn spread_failures_widen_the_ratio_sequence() {
    let mut likelihood = Vec::new();
    add_ratio_interval(
        &mut likelihood,
        Counts::new(10.0, 100.0),
        Counts::new(10.0, 900.0),
    );
    let (lo, hi) = ratio_sequence(&likelihood, 1.0, 0.01).unwrap();
    let (wide_lo, wide_hi) = ratio_sequence(&likelihood, 4.0, 0.01).unwrap();
    assert!(
        wide_lo < lo && hi < wide_hi,
        "[{wide_lo}, {wide_hi}] vs [{lo}, {hi}]"
    );
}

#[test]
fn the_ratio_grid_reaches_past_the_reported_range_by_one_more_than_the_largest_offset() {
    // Bounds between grid points read the point after each alternative.
    assert_eq!(OFFSETS.iter().max().map(|m| m + 1), Some(PAD));
    assert!((ratio_at(PAD) - RATIO_MIN).abs() < 1e-15);
    assert!(ratio_at(PAD + REPORTED - 1) > 9e3);
}

#[test]
fn bounds_are_refined_between_grid_points() {
    // Concavity lets a bound move into the grid step next to it: tighter than the grid
    // point, by less than a step (and still wider than Wilson's, tested above).
    let mut likelihood = Vec::new();
    add_ratio_interval(
        &mut likelihood,
        Counts::new(849.0, 850.0),
        Counts::new(68.0, 3398.0),
    );
    let (lo, hi) = ratio_sequence(&likelihood, 1.0, 0.01).unwrap();
    // The grid-only bounds of this split are 28.70 and 87.58 (one step coarser).
    assert!(lo > 28.70 && lo < 28.70 * RATIO_STEP, "{lo}");
    assert!(hi < 87.58 && hi > 87.58 / RATIO_STEP, "{hi}");
}
