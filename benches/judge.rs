//! `make bench`: the judge against Argo Rollouts and Flagger as their users configure
//! them, on simulated login traffic read through Prometheus-like scrapes (see
//! `support/rules.rs` for each rule, `support/traffic.rs` for the traffic,
//! `support/scrape.rs` for the measurement; README, "Analysis: how Portcullis judges").
//!
//! The grid: 2/20/200 logins/s × baseline failure ratios 1/5/15% × scrapes every 15 s
//! and 5 s; every canary ramps 1% → 5% → 25% → promotion.
//! - Healthy cells (independent attempts, retries, bots, credential stuffing; ≥ 1000
//!   runs each with `--bench`) give our false-rollback rate, and calibrate the others:
//!   each of Argo (failureLimit 0, its default, and 2) and Flagger (threshold 5) gets
//!   **one** fixed maximum failure ratio for the whole grid, the smallest on [`LADDER`]
//!   whose false rollbacks are ≤ 1% in every healthy cell (what a team that sets one
//!   threshold per metric would have to pick).
//! - Incident cells (total outage; a bug failing all logins of 10%/1%/0.1% of users, who
//!   retry; a 2× failure ratio): mean excess failed logins, counted until rollback or, for
//!   a bug that is promoted or never decided, until an alert 30 minutes after the start.
//! - The outage timing: canaries starting at 5% with every login failing (20 and 200
//!   logins/s): seconds from the first scrape showing a failure to traffic on stable.
//!
//! The last line is the summary the project promises:
//! `bench: vs_argo=R1 vs_flagger=R2 worst_false_rollback=F worst_vs_oracle=O outage_rollback_s=T`.

#[path = "support/rules.rs"]
mod rules;
#[path = "support/scrape.rs"]
mod scrape;
#[path = "support/traffic.rs"]
mod traffic;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rules::{Oracle, Ours, Outcome, Rule, ScrapeOracle, Threshold, simulate};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use traffic::{Incident, Kind, World};

const RATES: [f64; 3] = [2.0, 20.0, 200.0];
const BASELINES: [f64; 3] = [0.01, 0.05, 0.15];
const SCRAPES: [f64; 2] = [15.0, 5.0];
const KINDS: [Kind; 4] = [Kind::Independent, Kind::Retries, Kind::Bots, Kind::Stuffing];
const INCIDENTS: [Incident; 5] = [
    Incident::Outage,
    Incident::Users(0.1),
    Incident::Users(0.01),
    Incident::Users(0.001),
    Incident::Times(2.0),
];
/// Maximum failure ratios tried for Argo and Flagger (1.0 never fails).
const LADDER: [f64; 19] = [
    0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95,
    0.99, 1.0,
];
const FALSE_ROLLBACK_GOAL: f64 = 0.01;
/// Their configurations: Argo failureLimit 0 and 2, Flagger.
const THEIRS: [&str; 3] = ["argo(fl=0)", "argo(fl=2)", "flagger"];

fn bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Runs per (healthy, incident, outage-timing) cell.
fn runs() -> (usize, usize, usize) {
    if bench() { (1000, 100, 200) } else { (2, 1, 2) }
}

/// A smoke run (`cargo test`, unoptimised) takes one cell per dimension's corner.
fn in_smoke(c: &Cell) -> bool {
    bench() || (c.rate == 200.0 && c.baseline == 0.05 && c.scrape == 15.0)
}

fn theirs(rng: &mut StdRng, which: usize, thresholds: Vec<f64>) -> Threshold {
    match which {
        0 => Threshold::argo(rng, 0, thresholds),
        1 => Threshold::argo(rng, 2, thresholds),
        _ => Threshold::flagger(rng, thresholds),
    }
}

/// Runs `f` over `items` on both cores; results in `items` order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { return };
                    let r = f(i, item);
                    out.lock().unwrap().push((i, r));
                }
            });
        }
    });
    let mut out = out.into_inner().unwrap();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

#[derive(Clone, Copy)]
struct Cell {
    rate: f64,
    baseline: f64,
    scrape: f64,
}

impl Cell {
    fn head(&self) -> String {
        format!(
            "{:>4}/s base {:>3} scrape {:>2}s",
            self.rate,
            format!("{:.0}%", self.baseline * 100.0),
            self.scrape
        )
    }
}

fn cells() -> Vec<Cell> {
    let mut v = vec![];
    for &rate in &RATES {
        for &baseline in &BASELINES {
            for &scrape in &SCRAPES {
                let c = Cell {
                    rate,
                    baseline,
                    scrape,
                };
                if in_smoke(&c) {
                    v.push(c);
                }
            }
        }
    }
    v
}

struct Healthy {
    ours_false: f64,
    /// Runs in which a stuffing connection reached the canary (≥ 10 attempts).
    attacked: f64,
    /// Per configuration in [`THEIRS`], per threshold on [`LADDER`]: false-rollback rate
    /// (Flagger's filled in by [`calibrate_flagger`]).
    theirs_false: [Vec<f64>; 3],
}

fn healthy(seed: u64, c: Cell, kind: Kind) -> Healthy {
    let n = runs().0;
    let mut rng = StdRng::seed_from_u64(seed);
    let world = || World::new(c.rate, c.baseline, kind, Incident::None);
    let ours_world = || world().by_pod(true);
    let mut ours = 0usize;
    let mut attacked = 0usize;
    let mut counts: [Vec<usize>; 2] = Default::default();
    for v in counts.iter_mut() {
        *v = vec![0; LADDER.len()];
    }
    for _ in 0..n {
        let mut o = Ours::new(&mut rng, 0);
        let out = simulate(&mut rng, ours_world(), &mut o, c.scrape);
        ours += out.rollback_s.is_some() as usize;
        attacked += (out.attack_on_canary >= 10.0) as usize;
        // Argo's steps are timed, not gated by its checks: every threshold is judged on
        // one run, exactly.
        for (which, v) in counts.iter_mut().enumerate() {
            let mut t = theirs(&mut rng, which, LADDER.to_vec());
            simulate(&mut rng, world(), &mut t, c.scrape);
            for (k, rolled) in t.rolled_back.iter().enumerate() {
                v[k] += *rolled as usize;
            }
        }
    }
    let rate = |k: usize| k as f64 / n as f64;
    let [a0, a2] = counts.map(|v| v.into_iter().map(rate).collect());
    Healthy {
        ours_false: rate(ours),
        attacked: rate(attacked),
        theirs_false: [a0, a2, vec![f64::NAN; LADDER.len()]],
    }
}

/// Flagger's false-rollback rate at one threshold in one healthy cell (its failed
/// checks hold the weight, so each threshold needs its own runs). Stops early once the
/// goal is clearly missed.
fn flagger_false(seed: u64, c: Cell, kind: Kind, threshold: f64) -> f64 {
    let n = runs().0;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rolled = 0;
    for _ in 0..n {
        let world = World::new(c.rate, c.baseline, kind, Incident::None);
        let mut t = theirs(&mut rng, 2, vec![threshold]);
        rolled += simulate(&mut rng, world, &mut t, c.scrape)
            .rollback_s
            .is_some() as usize;
        if rolled as f64 > FALSE_ROLLBACK_GOAL * n as f64 {
            break;
        }
    }
    rolled as f64 / n as f64
}

/// The smallest ladder index whose Flagger false rollbacks meet the goal in every
/// healthy cell (bisection: a higher maximum never fails more), with those rates.
fn calibrate_flagger(cells: &[(Cell, Kind)], reports: &mut [Healthy]) -> usize {
    let (mut lo, mut hi) = (0, LADDER.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let rates = parallel(cells, |i, (c, k)| {
            flagger_false(3000 + i as u64, *c, *k, LADDER[mid])
        });
        for (r, x) in reports.iter_mut().zip(&rates) {
            r.theirs_false[2][mid] = *x;
        }
        if rates.iter().all(|x| *x <= FALSE_ROLLBACK_GOAL) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if reports.iter().any(|r| r.theirs_false[2][lo].is_nan()) {
        let rates = parallel(cells, |i, (c, k)| {
            flagger_false(3000 + i as u64, *c, *k, LADDER[lo])
        });
        for (r, x) in reports.iter_mut().zip(&rates) {
            r.theirs_false[2][lo] = *x;
        }
    }
    lo
}

/// Mean excess and how many runs rolled back, per rule: ours, the oracle, then THEIRS.
struct IncidentReport {
    excess: [f64; 5],
    rolled: [f64; 5],
    p50_s: [Option<u32>; 5],
}

fn incident(seed: u64, c: Cell, inc: Incident, thresholds: [f64; 3]) -> IncidentReport {
    let n = runs().1;
    let mut rng = StdRng::seed_from_u64(seed);
    let world = || World::new(c.rate, c.baseline, Kind::Independent, inc);
    let mut all: [Vec<Outcome>; 5] = Default::default();
    for _ in 0..n {
        let mut rules: Vec<Box<dyn Rule>> = vec![
            Box::new(Ours::new(&mut rng, 0)),
            Box::new(Oracle::new(c.baseline, inc, c.scrape)),
        ];
        for (which, th) in thresholds.iter().enumerate() {
            rules.push(Box::new(theirs(&mut rng, which, vec![*th])));
        }
        for (i, r) in rules.iter_mut().enumerate() {
            // Ours reads stable by pod; the others read track totals.
            let w = world().by_pod(i == 0);
            all[i].push(simulate(&mut rng, w, r.as_mut(), c.scrape));
        }
    }
    let mean = |v: &Vec<Outcome>| v.iter().map(|o| o.excess).sum::<f64>() / n as f64;
    let rolled =
        |v: &Vec<Outcome>| v.iter().filter(|o| o.rollback_s.is_some()).count() as f64 / n as f64;
    let p50 = |v: &Vec<Outcome>| {
        let mut t: Vec<u32> = v.iter().map(|o| o.rollback_s.unwrap_or(u32::MAX)).collect();
        t.sort();
        Some(t[t.len() / 2]).filter(|x| *x != u32::MAX)
    };
    IncidentReport {
        excess: std::array::from_fn(|i| mean(&all[i])),
        rolled: std::array::from_fn(|i| rolled(&all[i])),
        p50_s: std::array::from_fn(|i| p50(&all[i])),
    }
}

/// Seconds from the first scrape showing a failure to traffic on stable, for canaries
/// that start at 5% with every login failing: ours, and the scrape oracle's (the bound
/// for any rule reading the same scrapes).
fn outage_times(seed: u64, c: Cell) -> (Vec<f64>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let time = |rule: &mut dyn Rule, rng: &mut StdRng| {
        let world =
            World::new(c.rate, c.baseline, Kind::Independent, Incident::Outage).by_pod(true);
        let out = simulate(rng, world, rule, c.scrape);
        match (out.rollback_s, out.first_failure_s) {
            (Some(r), Some(f)) => r as f64 - f,
            _ => f64::INFINITY,
        }
    };
    (0..runs().2)
        .map(|_| {
            let ours = time(&mut Ours::new(&mut rng, 1), &mut rng);
            let oracle = time(&mut ScrapeOracle::outage_at(1, c.baseline), &mut rng);
            (ours, oracle)
        })
        .unzip()
}

fn quantile(mut xs: Vec<f64>, q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let started = std::time::Instant::now();
    let grid = cells();
    if !bench() {
        println!("smoke run (no --bench): sample sizes too small for the numbers to mean much");
    }

    // 1. Healthy canaries: our false rollbacks, and their one threshold each.
    let healthy_cells: Vec<(Cell, Kind)> = grid
        .iter()
        .flat_map(|c| KINDS.iter().map(move |k| (*c, *k)))
        .collect();
    let mut healthy_reports =
        parallel(&healthy_cells, |i, (c, k)| healthy(1000 + i as u64, *c, *k));
    let flagger = calibrate_flagger(&healthy_cells, &mut healthy_reports);
    let chosen: [usize; 3] = std::array::from_fn(|which| {
        if which == 2 {
            return flagger;
        }
        (0..LADDER.len())
            .find(|&k| {
                healthy_reports
                    .iter()
                    .all(|h| h.theirs_false[which][k] <= FALSE_ROLLBACK_GOAL)
            })
            .unwrap_or(LADDER.len() - 1)
    });
    let thresholds: [f64; 3] = chosen.map(|k| LADDER[k]);
    println!(
        "Healthy canaries: false-rollback rates ({} runs a cell)",
        runs().0
    );
    println!(
        "{:<30} {:>10} | {:>8} {:>11} {:>11} {:>11} | {:>9}",
        "cell", "traffic", "ours", THEIRS[0], THEIRS[1], THEIRS[2], "attacked"
    );
    let (mut worst_false, mut worst_not_stuffing) = (0.0f64, 0.0f64);
    for ((c, k), h) in healthy_cells.iter().zip(&healthy_reports) {
        worst_false = worst_false.max(h.ours_false);
        if *k != Kind::Stuffing {
            worst_not_stuffing = worst_not_stuffing.max(h.ours_false);
        }
        println!(
            "{:<30} {:>10} | {:>7.2}% {:>10.2}% {:>10.2}% {:>10.2}% | {:>8}",
            c.head(),
            k.label(),
            h.ours_false * 100.0,
            h.theirs_false[0][chosen[0]] * 100.0,
            h.theirs_false[1][chosen[1]] * 100.0,
            h.theirs_false[2][chosen[2]] * 100.0,
            if *k == Kind::Stuffing {
                format!("{:.1}%", h.attacked * 100.0)
            } else {
                "-".into()
            }
        );
    }
    println!(
        "ours: worst false-rollback rate {:.2}% over every healthy cell, {:.2}% without stuffing \
         (attacked = runs in which a stuffing connection reached the canary: on track totals \
         those look like a regression)",
        worst_false * 100.0,
        worst_not_stuffing * 100.0
    );
    for (which, name) in THEIRS.iter().enumerate() {
        let forced = healthy_cells
            .iter()
            .zip(&healthy_reports)
            .filter(|(_, h)| {
                chosen[which] > 0 && h.theirs_false[which][chosen[which] - 1] > FALSE_ROLLBACK_GOAL
            })
            .map(|((c, k), _)| format!("{} {}", c.head(), k.label()))
            .next()
            .unwrap_or_else(|| "-".into());
        println!(
            "{name}: one fixed maximum failure ratio {} (the smallest with ≤ 1% false rollbacks in every healthy cell; set by: {forced})",
            thresholds[which]
        );
    }

    // 2. Incidents.
    let incident_cells: Vec<(Cell, Incident)> = grid
        .iter()
        .flat_map(|c| INCIDENTS.iter().map(move |x| (*c, *x)))
        .collect();
    let reports = parallel(&incident_cells, |i, (c, x)| {
        incident(5000 + i as u64, *c, *x, thresholds)
    });
    println!(
        "\nIncidents: mean excess failed logins (until rollback or the 30-minute alert), \
         rollback share, p50 s to rollback; {} runs a cell",
        runs().1
    );
    println!(
        "{:<30} {:>10} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20}",
        "cell", "incident", "ours", "oracle", THEIRS[0], THEIRS[1], THEIRS[2]
    );
    let mut ratios: [Vec<f64>; 3] = Default::default();
    let mut vs_oracle: Vec<f64> = vec![];
    for ((c, x), r) in incident_cells.iter().zip(&reports) {
        let col = |i: usize| {
            format!(
                "{:>8.0} {:>4.0}% {:>5}",
                r.excess[i],
                r.rolled[i] * 100.0,
                r.p50_s[i].map_or("-".into(), |s| s.to_string())
            )
        };
        println!(
            "{:<30} {:>10} | {} | {} | {} | {} | {}",
            c.head(),
            x.label(),
            col(0),
            col(1),
            col(2),
            col(3),
            col(4)
        );
        let ours = r.excess[0].max(1.0);
        for (w, v) in ratios.iter_mut().enumerate() {
            v.push(r.excess[2 + w].max(1.0) / ours);
        }
        if r.rolled[1] >= 0.95 {
            vs_oracle.push(r.excess[0] / r.excess[1].max(1.0));
        }
    }
    let median = |v: &[f64]| quantile(v.to_vec(), 0.5);
    let min = |v: &[f64]| quantile(v.to_vec(), 0.0);
    for (w, name) in THEIRS.iter().enumerate() {
        println!(
            "excess {name}/ours: median {:.1}, min {:.2} over {} incident cells",
            median(&ratios[w]),
            min(&ratios[w]),
            ratios[w].len()
        );
    }
    let worst_vs_oracle = vs_oracle.iter().copied().fold(0.0, f64::max);
    println!(
        "ours/oracle excess: mean {:.2}, worst {:.2} over {} cells the oracle detects (≥ 95% of runs)",
        vs_oracle.iter().sum::<f64>() / vs_oracle.len().max(1) as f64,
        worst_vs_oracle,
        vs_oracle.len()
    );

    // 3. Outage timing at 5%.
    let timing_cells: Vec<Cell> = grid.iter().filter(|c| c.rate >= 20.0).copied().collect();
    let (times, oracle_times): (Vec<Vec<f64>>, Vec<Vec<f64>>) =
        parallel(&timing_cells, |i, c| outage_times(9000 + i as u64, *c))
            .into_iter()
            .unzip();
    for ((c, t), o) in timing_cells.iter().zip(&times).zip(&oracle_times) {
        println!(
            "outage at 5%, {}: p50 {:.0} s, p90 {:.0} s from the first scrape showing it (scrape oracle: p50 {:.0} s, p90 {:.0} s)",
            c.head(),
            quantile(t.clone(), 0.5),
            quantile(t.clone(), 0.9),
            quantile(o.clone(), 0.5),
            quantile(o.clone(), 0.9)
        );
    }
    let outage_p90 = quantile(times.concat(), 0.9);
    println!(
        "outage at 5%, pooled p90: ours {:.0} s, scrape oracle {:.0} s",
        outage_p90,
        quantile(oracle_times.concat(), 0.9)
    );
    println!("took {:.0} s", started.elapsed().as_secs_f64());

    // Argo is judged by its weaker configuration for us: the smaller median ratio.
    let vs_argo = median(&ratios[0]).min(median(&ratios[1]));
    let label = if bench() {
        "bench"
    } else {
        "smoke run, not the bench"
    };
    println!(
        "{label}: vs_argo={vs_argo:.1} vs_flagger={:.1} worst_false_rollback={worst_false:.4} worst_vs_oracle={worst_vs_oracle:.2} outage_rollback_s={outage_p90:.0}",
        median(&ratios[2]),
    );
}
