//! Confidence sequences: the intervals shown next to the verdicts, valid at whatever
//! reading they are looked at (a fixed-sample interval read at a data-dependent time is
//! not).
//!
//! Each is the set of parameter values the tests' own kind of mixture does not reject:
//! a value `θ` is ruled out when a mixture of likelihood ratios of alternatives on one
//! side of `θ` against `θ` reaches `1/α` (for a two-sided sequence, each side at `α/2`).
//! Each such mixture is a supermartingale whenever the true value is on the other side,
//! so by Ville the true value is ruled out at *any* reading with probability ≤ α.
//!
//! **One test per bound, not one per grid point.** The log-likelihoods are concave in
//! the natural parameter (log rate ratio, log odds), so a component's log-ratio for a
//! fixed offset moves monotonically with `θ` and the values ruled out from below form a
//! down-set (from above, an up-set). The bound is that set's edge, and the sequence
//! misses the truth only if the one test *at the truth* (never computed, but a
//! supermartingale all the same) rejects: probability ≤ α/2 per side, with no
//! multiplicity over the grid. Between grid points the e-value is bounded from below by
//! concavity (chords and secants), so the bounds found there are conservative too.
//!
//! **Price.** Wider than a fixed-sample interval at the same counts (the cost of being
//! valid at every reading), and, for the rate ratio, rounded outward to 1/16 of a grid
//! step of [`RATIO_STEP`] (about 1.4%).
//!
//! - Rate ratio (count metrics): the failure split depends on each interval's
//!   exposures, so the log-likelihood of every grid point is kept in status
//!   (`state.ratioLikelihood`) and updated each reading.
//! - Canary failure ratio: binomial, so cumulative counts suffice; the upper bound is
//!   found by bisection against the `maxRatio` test's "below" mixture
//!   ([`super::ceiling::BELOW`]).

use super::ceiling::{self, BELOW};
use super::counts::{Counts, canary_share};

/// Grid step of the rate ratio, as a factor.
pub const RATIO_STEP: f64 = 1.25;
/// Lowest and highest rate ratio the bounds are reported at; beyond, the lower bound is
/// 0 and the upper [`UNBOUNDED`].
pub const RATIO_MIN: f64 = 1e-3;
const REPORTED: usize = 73; // RATIO_MIN × 1.25^72 ≈ 9.5e3
/// Alternatives, in grid steps to either side (×1.25 … ×18).
pub const OFFSETS: [usize; 6] = [1, 2, 3, 5, 8, 13];
/// One step more than the largest offset: bounds between grid points need the next point.
const PAD: usize = 14;
/// Bounds are refined within a grid step to this fraction of it.
const SUBSTEPS: usize = 16;
/// Length of `state.ratioLikelihood`: the reported points and the alternatives' padding.
pub const RATIO_GRID: usize = REPORTED + 2 * PAD;
/// The upper bound when no ratio above is ruled out yet (status is JSON: no infinity).
pub const UNBOUNDED: f64 = 1e12;

/// The rate ratio at stored index `i` (index `PAD` is [`RATIO_MIN`]).
pub fn ratio_at(i: usize) -> f64 {
    RATIO_MIN * RATIO_STEP.powi(i as i32 - PAD as i32)
}

/// Adds one interval's new counts to the log-likelihood of every grid point: the
/// canary's share of the interval's failures is `Binomial(f, p(ρ))`. The values are
/// kept relative to their maximum (only differences matter) so they stay small, and
/// rounded to 1e-6 so they read back from status' JSON exactly (a restarted controller
/// must show the same bounds).
pub fn add_ratio_interval(likelihood: &mut Vec<f64>, canary: Counts, stable: Counts) {
    if likelihood.len() != RATIO_GRID {
        *likelihood = vec![0.0; RATIO_GRID];
    }
    if canary.failures + stable.failures <= 0.0 || canary.total <= 0.0 || stable.total <= 0.0 {
        return;
    }
    for (i, l) in likelihood.iter_mut().enumerate() {
        let p = canary_share(ratio_at(i), canary.total, stable.total);
        *l += canary.failures * p.ln() + stable.failures * (1.0 - p).ln();
    }
    let top = likelihood.iter().cloned().fold(f64::MIN, f64::max);
    likelihood
        .iter_mut()
        .for_each(|l| *l = ((*l - top) * 1e6).round() / 1e6);
}

/// Mixture e-value against "ρ = ρ_i" with alternatives `direction` steps away.
fn ratio_evidence(likelihood: &[f64], i: usize, up: bool, phi: f64) -> f64 {
    let at = |m: usize| if up { i + m } else { i - m };
    OFFSETS
        .iter()
        .map(|&m| ((likelihood[at(m)] - likelihood[i]) / phi).exp())
        .sum::<f64>()
        / OFFSETS.len() as f64
}

/// A lower bound on the mixture e-value at the ratio a fraction `t` of a step above grid
/// point `i` (alternatives `up` or down, at the same fraction of their steps): the
/// log-likelihood is concave, so at the alternatives it is above its chords, and at the
/// point itself below the extensions of both neighbouring secants.
fn ratio_evidence_between(likelihood: &[f64], i: usize, t: f64, up: bool, phi: f64) -> f64 {
    let l = likelihood;
    let chord = |k: usize| (1.0 - t) * l[k] + t * l[k + 1];
    let at_point = (l[i] + t * (l[i] - l[i - 1])).min(l[i + 1] - (1.0 - t) * (l[i + 2] - l[i + 1]));
    OFFSETS
        .iter()
        .map(|&m| {
            let k = if up { i + m } else { i - m };
            ((chord(k) - at_point) / phi).exp()
        })
        .sum::<f64>()
        / OFFSETS.len() as f64
}

/// The fractions of a step, `1/SUBSTEPS` to `(SUBSTEPS − 1)/SUBSTEPS`.
fn fractions() -> impl DoubleEndedIterator<Item = f64> {
    (1..SUBSTEPS).map(|k| k as f64 / SUBSTEPS as f64)
}

/// The `1 − alpha` confidence sequence of the rate ratio, for failures as spread as
/// `phi` (the count test's dispersion). `None` before any failure.
pub fn ratio_sequence(likelihood: &[f64], phi: f64, alpha: f64) -> Option<(f64, f64)> {
    if likelihood.len() != RATIO_GRID || likelihood.iter().all(|l| *l == 0.0) {
        return None;
    }
    let phi = phi.max(1.0);
    let bar = 2.0 / alpha;
    let reported = PAD..PAD + REPORTED;
    // Ruled out from below: a down-set; the lower bound is its top, refined into the
    // step above it.
    let lower = reported
        .clone()
        .take_while(|&i| ratio_evidence(likelihood, i, true, phi) >= bar)
        .last()
        .map_or(0.0, |j| {
            fractions()
                .rev()
                .find(|&t| ratio_evidence_between(likelihood, j, t, true, phi) >= bar)
                .map_or(ratio_at(j), |t| ratio_at(j) * RATIO_STEP.powf(t))
        });
    // Ruled out from above: an up-set; the upper bound is its bottom, refined into the
    // step below it.
    let upper = reported
        .rev()
        .take_while(|&i| ratio_evidence(likelihood, i, false, phi) >= bar)
        .last()
        .map_or(UNBOUNDED, |j| {
            fractions()
                .find(|&t| ratio_evidence_between(likelihood, j - 1, t, false, phi) >= bar)
                .map_or(ratio_at(j), |t| ratio_at(j - 1) * RATIO_STEP.powf(t))
        });
    Some((lower, upper))
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The mixture e-value against "the failure ratio is `q`" with alternatives below it
/// (the `maxRatio` test's early-pass mixture, at `q`).
fn below_evidence(c: Counts, q: f64, phi: f64) -> f64 {
    BELOW
        .iter()
        .map(|&k| (ceiling::log_lr(c, q, ceiling::with_odds(q, k)) / phi).exp())
        .sum::<f64>()
        / BELOW.len() as f64
}

/// Upper `1 − alpha` confidence-sequence bound on the canary's failure ratio, from its
/// cumulative counts, for failures as spread as `phi`. `None` without attempts.
pub fn failure_ratio_upper(c: Counts, phi: f64, alpha: f64) -> Option<f64> {
    if c.total <= 0.0 {
        return None;
    }
    let phi = phi.max(1.0);
    let ruled_out = |logit: f64| below_evidence(c, logistic(logit), phi) >= 1.0 / alpha;
    // Bisection on the log odds, where the ruled-out set is an up-set.
    let (mut lo, mut hi) = (-30.0, 30.0);
    if !ruled_out(hi) {
        return Some(1.0);
    }
    if ruled_out(lo) {
        return Some(logistic(lo));
    }
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if ruled_out(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(logistic(hi))
}

#[cfg(test)]
mod tests;
