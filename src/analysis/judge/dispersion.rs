//! How much more spread failure counts are than independent attempts would be: the
//! dispersion `φ` the count tests divide their log-evidence by.
//!
//! **Why.** Failed logins come in clusters: a person retries a wrong password, a bot
//! hammers one account, credential stuffing runs over a few connections. A cluster of
//! `K` failures lands on one track as a block, so the canary's share of failures varies
//! `φ = E[K²] / E[K]` times more than the binomial split assumes, and a test that trusts
//! every attempt as independent rolls back healthy canaries (measured: 13–23% with
//! retries, bots or stuffing at α = 1%; see `make bench`).
//!
//! **What.** A quasi-likelihood: the tests keep their log-likelihood ratios and the
//! e-value is `mean_k exp(ℓ_k / φ)`. For clusters no larger than `φ` that mixture is
//! exactly a supermartingale (each cluster's factor `p₀·r₁^(K/φ) + (1−p₀)·r₂^(K/φ) ≤ 1`
//! by convexity for `K ≤ φ`); for spread-out cluster sizes it is the classical
//! overdispersion correction, and the bench measures what it keeps.
//!
//! **Estimated from stable's own counts.** The stable track sees the same clients, the
//! same retries and the same attacks, and it has most of the traffic.
//!
//! *Across stable's pods* (when the query can be split by pod): pods running the same
//! release share one client population, so the spread of their cumulative failures
//! around the pooled ratio measures clustering directly, from the first reading and
//! however long a burst lasts: a stuffing connection pinned to one pod for ten minutes
//! makes that pod an outlier. This is the estimate that can see what the canary may
//! catch.
//!
//! *Over readings*: each reading's new
//! stable failures `f_t` out of `n_t` attempts are compared with the pooled ratio `r`:
//! Pearson's `X² = Σ (f_t − r·n_t)² / (n_t·r·(1−r))` over `d` degrees of freedom. Bursts
//! that span readings (a sticky connection lasting minutes) correlate neighbouring
//! readings, so the same is done on blocks of [`SCALES`] readings.
//!
//! The largest estimate is used. Each is shrunk toward [`PRIOR`] (worth [`PRIOR_DF`]
//! degrees of freedom; the over-readings ones toward the across-pods estimate when there
//! is one) so a first reading with nothing to compare is judged cautiously; `φ` never goes below 1 (counts less spread than binomial make the test
//! conservative, not faster). A regression on the canary does not raise `φ`: only
//! stable's counts feed it. A change in stable's own failure ratio over time (a diurnal
//! cycle) raises it, which slows the test and never speeds it.
//!
//! **Price.** Evidence needs `φ` times more failures: for a total outage that is a few
//! more seconds; for a subtle regression on bursty traffic it is proportionally longer.
//! Without per-pod counts, a cluster that outlives every block (one connection pinned to
//! the canary for a minute) looks like a regression to any test on track totals.

use super::counts::Counts;

/// Block sizes, in readings, over which the spread is measured.
pub const SCALES: [usize; 3] = [1, 4, 16];
/// The dispersion assumed before the counts say otherwise.
pub const PRIOR: f64 = 4.0;
/// How many degrees of freedom the prior is worth.
pub const PRIOR_DF: f64 = 4.0;
/// Blocks needed before a scale above one reading takes part.
const MIN_BLOCKS: f64 = 4.0;

/// Per scale: the open block's failures, attempts and readings; then over closed
/// blocks Σ f²/n, Σ f, Σ n and their number.
const FIELDS: usize = 7;

/// The running state, stored flat in status (`state.dispersion`).
#[derive(Debug)]
pub struct Dispersion<'a> {
    state: &'a mut Vec<f64>,
}

impl<'a> Dispersion<'a> {
    /// Wraps stored state, starting over when it does not match [`SCALES`].
    pub fn new(state: &'a mut Vec<f64>) -> Self {
        if state.len() != SCALES.len() * FIELDS {
            *state = vec![0.0; SCALES.len() * FIELDS];
        }
        Dispersion { state }
    }

    /// Adds one reading's new stable counts. Readings with no new attempts (no scrape in
    /// between) carry no information about spread and are skipped.
    pub fn add(&mut self, stable_new: Counts) {
        if stable_new.total <= 0.0 {
            return;
        }
        for (i, &size) in SCALES.iter().enumerate() {
            let s = &mut self.state[i * FIELDS..(i + 1) * FIELDS];
            s[0] += stable_new.failures;
            s[1] += stable_new.total;
            s[2] += 1.0;
            if s[2] >= size as f64 {
                s[3] += s[0] * s[0] / s[1];
                s[4] += s[0];
                s[5] += s[1];
                s[6] += 1.0;
                s[0] = 0.0;
                s[1] = 0.0;
                s[2] = 0.0;
            }
        }
    }

    /// The dispersion to divide log-evidence by (≥ 1), from stable's readings alone.
    pub fn phi(&self) -> f64 {
        estimate(self.state, None)
    }

    /// The same, given the spread of failures across stable's pods too.
    pub fn phi_with(&self, across_pods: Option<Spread>) -> f64 {
        estimate(self.state, across_pods)
    }
}

/// Pearson's X² of some counts against their pooled ratio, and its degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub x2: f64,
    pub df: f64,
}

/// The spread of cumulative failures across units that run the same release (stable's
/// pods): `Σ (f_i − r·n_i)² / (n_i·r·(1−r))` over `k − 1` degrees of freedom. Pods share
/// one client population, so failures spread over them like over the two tracks; a
/// retrying person, a bot or a stuffing connection lands on one pod and shows here from
/// the first reading, however long it lasts. `None` with fewer than two pods with
/// traffic or no failures at all.
pub fn across(units: &[Counts]) -> Option<Spread> {
    let units: Vec<&Counts> = units.iter().filter(|c| c.total > 0.0).collect();
    if units.len() < 2 {
        return None;
    }
    let f: f64 = units.iter().map(|c| c.failures).sum();
    let n: f64 = units.iter().map(|c| c.total).sum();
    let r = f / n;
    if r <= 0.0 || r >= 1.0 {
        return None;
    }
    let x2 = units
        .iter()
        .map(|c| (c.failures - r * c.total).powi(2) / (c.total * r * (1.0 - r)))
        .sum();
    Some(Spread {
        x2,
        df: (units.len() - 1) as f64,
    })
}

/// [`Dispersion::phi`] of stored state, without changing it (for display).
pub fn read(state: &[f64]) -> f64 {
    estimate(state, None)
}

/// The largest of the estimates that have data: across pods (shrunk toward [`PRIOR`]),
/// and over readings at each scale (shrunk toward the across-pods estimate when there is
/// one, so a first reading with pods to compare needs no caution it has no reason for).
fn estimate(state: &[f64], across_pods: Option<Spread>) -> f64 {
    let base = across_pods.map(|s| shrunk(PRIOR, s.x2, s.df));
    let prior = base.unwrap_or(PRIOR);
    let mut phi = base;
    if state.len() == SCALES.len() * FIELDS {
        for i in 0..SCALES.len() {
            let s = &state[i * FIELDS..(i + 1) * FIELDS];
            let (f2n, f, n, blocks) = (s[3], s[4], s[5], s[6]);
            if i > 0 && blocks < MIN_BLOCKS {
                continue;
            }
            let r = if n > 0.0 { f / n } else { 0.0 };
            if blocks < 2.0 || r <= 0.0 || r >= 1.0 {
                continue;
            }
            let x2 = ((f2n - f * f / n) / (r * (1.0 - r))).max(0.0);
            let at_scale = shrunk(prior, x2, blocks - 1.0);
            phi = Some(phi.map_or(at_scale, |p| p.max(at_scale)));
        }
    }
    phi.unwrap_or(PRIOR).max(1.0)
}

fn shrunk(prior: f64, x2: f64, df: f64) -> f64 {
    (prior * PRIOR_DF + x2) / (PRIOR_DF + df)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(readings: &[(f64, f64)]) -> f64 {
        let mut state = Vec::new();
        let mut d = Dispersion::new(&mut state);
        for &(f, n) in readings {
            d.add(Counts::new(f, n));
        }
        d.phi()
    }

    #[test]
    fn before_any_reading_the_prior_holds() {
        assert_eq!(fed(&[]), PRIOR);
    }

    #[test]
    fn counts_exactly_at_the_pooled_ratio_pull_it_down_to_one() {
        // 10% every time: X² = 0, so φ = PRIOR·PRIOR_DF / (PRIOR_DF + d) → 1 (the
        // longest scale, with the fewest blocks, is the last to get there).
        let steady = vec![(10.0, 100.0); 200];
        assert!(fed(&steady) < 1.1, "{}", fed(&steady));
        assert_eq!(fed(&vec![(10.0, 100.0); 2000]), 1.0);
        let few = fed(&[(10.0, 100.0); 5]);
        assert!(
            (few - PRIOR * PRIOR_DF / (PRIOR_DF + 4.0)).abs() < 1e-12,
            "{few}"
        );
    }

    #[test]
    fn clustered_counts_read_as_their_cluster_size() {
        // Alternating 0 and 20 failures out of 100: r = 0.1, each reading's residual is
        // ±10, X² per reading = 100 / 9 ≈ 11.1.
        let bursty: Vec<(f64, f64)> = (0..400)
            .map(|i| (if i % 2 == 0 { 0.0 } else { 20.0 }, 100.0))
            .collect();
        let phi = fed(&bursty);
        assert!((phi - 11.1).abs() < 0.3, "{phi}");
    }

    #[test]
    fn bursts_spanning_readings_are_seen_at_a_longer_scale() {
        // Eight readings at 0 failures, then eight at 20 (out of 100): per reading the
        // residual is ±10 (X²/d ≈ 11.1), but 4-reading blocks hold 0 or 80 out of 400,
        // residual ±40 (X²/d ≈ 44.4): the persistence is what a cumulative test feels.
        let slow: Vec<(f64, f64)> = (0..640)
            .map(|i| (if (i / 8) % 2 == 0 { 0.0 } else { 20.0 }, 100.0))
            .collect();
        let phi = fed(&slow);
        assert!((phi - 44.4).abs() < 2.0, "{phi}");
    }

    #[test]
    fn readings_without_attempts_are_skipped_and_bad_state_starts_over() {
        assert_eq!(fed(&[(0.0, 0.0); 50]), PRIOR);
        let mut state = vec![1.0, 2.0];
        let d = Dispersion::new(&mut state);
        assert_eq!(d.phi(), PRIOR);
        assert_eq!(state.len(), SCALES.len() * FIELDS);
    }

    #[test]
    fn pods_that_fail_alike_read_as_independent_and_a_pod_with_a_burst_does_not() {
        let even = vec![Counts::new(10.0, 1000.0); 20];
        let s = across(&even).unwrap();
        assert_eq!((s.x2, s.df), (0.0, 19.0));
        let mut state = Vec::new();
        let d = Dispersion::new(&mut state);
        // Before any reading, 20 even pods already say "binomial": the prior's pull
        // (16/23) falls under the floor of 1.
        assert_eq!(d.phi_with(Some(s)), 1.0);
        assert_eq!(d.phi(), PRIOR);
        // One pod carries a 300-attempt stuffing connection.
        let mut attacked = even.clone();
        attacked[3] = Counts::new(310.0, 1300.0);
        assert!(d.phi_with(across(&attacked)) > 30.0);
    }

    #[test]
    fn too_few_pods_or_no_failures_say_nothing() {
        assert_eq!(across(&[Counts::new(3.0, 100.0)]), None);
        assert_eq!(
            across(&[Counts::new(0.0, 100.0), Counts::new(0.0, 50.0)]),
            None
        );
        assert_eq!(
            across(&[Counts::new(3.0, 100.0), Counts::new(0.0, 0.0)]),
            None
        );
    }
}
