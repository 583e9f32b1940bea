//! One metric's reading folded into its stored result: the running evidence, the
//! verdict and the numbers behind it.

use super::ceiling::CeilingTest;
use super::confidence;
use super::counts::{self, CountError, Counts, RatioTest};
use super::dispersion::{self, Dispersion};
use super::{query, signs};
use crate::api::{
    CountsMetric, MetricResult, ProbeMetric, QueryMetric, QueryState, SequentialState,
    TrackReading, Verdict, metric_defaults,
};

fn start(name: &str, previous: Option<&MetricResult>) -> MetricResult {
    let mut r = previous.cloned().unwrap_or_default();
    r.name = name.to_string();
    r
}

/// A reading that could not be taken: the evidence stays as it was.
fn no_observation(mut r: MetricResult, error: &str) -> MetricResult {
    r.errors += 1;
    r.message = Some(format!("no observation: {error}"));
    r
}

fn stored(t: &Option<TrackReading>) -> Counts {
    t.as_ref().map_or(Counts::default(), |t| {
        Counts::new(t.failures.unwrap_or(0.0), t.total.unwrap_or(0.0))
    })
}

fn track(c: Counts) -> Option<TrackReading> {
    Some(TrackReading {
        failures: Some(c.failures),
        total: Some(c.total),
        value: None,
    })
}

fn pct(c: Counts) -> String {
    match c.ratio() {
        Some(r) => format!("{}/{} failed ({:.2}%)", c.failures, c.total, r * 100.0),
        None => "no traffic".into(),
    }
}

fn sci(x: f64) -> String {
    if (0.01..1e4).contains(&x) {
        format!("{x:.2}")
    } else {
        format!("{x:.1e}")
    }
}

/// `0.9999` → `99.99`, `0.99` → `99`.
fn percent(x: f64) -> String {
    let s = format!("{:.4}", x * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// After a reset (a pod's counter series left the query), later increments count from
/// the new, lower cumulative values: one reading is lost, not every reading until the
/// counts climb back. The evidence is kept.
fn rebaseline(r: &mut MetricResult, canary: Counts, stable: Counts) {
    let valid = |c: Counts| {
        [c.failures, c.total]
            .iter()
            .all(|x| x.is_finite() && *x >= 0.0)
    };
    if valid(canary) && valid(stable) {
        let round = |c: Counts| Counts::new(c.failures.round(), c.total.round());
        r.canary = track(round(canary));
        r.stable = track(round(stable));
    }
}

/// What a `counts` metric read: cumulative counts of both tracks since the canary
/// started, and of each stable pod (empty when the query cannot be split by pod).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CountsReading {
    pub canary: Counts,
    pub stable: Counts,
    pub stable_pods: Vec<Counts>,
}

impl CountsReading {
    pub fn new(canary: Counts, stable: Counts) -> Self {
        CountsReading {
            canary,
            stable,
            stable_pods: vec![],
        }
    }
}

/// A `counts` metric: cumulative failures and totals of both tracks since the canary
/// started. `alpha` is this metric's share of the rollout's false-rollback budget.
pub fn judge_counts(
    name: &str,
    m: &CountsMetric,
    alpha: f64,
    previous: Option<&MetricResult>,
    reading: Result<CountsReading, String>,
) -> MetricResult {
    let mut r = start(name, previous);
    r.alpha = Some(alpha);
    let (canary_now, stable_now, pods) = match reading {
        Ok(x) => (x.canary, x.stable, x.stable_pods),
        Err(e) => return no_observation(r, &e),
    };
    let advanced = counts::advance("canary", stored(&r.canary), canary_now)
        .and_then(|c| counts::advance("stable", stored(&r.stable), stable_now).map(|s| (c, s)));
    let ((c, c_new), (s, s_new)) = match advanced {
        Ok(x) => x,
        Err(e) => {
            if matches!(e, CountError::Decreased { .. }) {
                rebaseline(&mut r, canary_now, stable_now);
            }
            return no_observation(r, &e.to_string());
        }
    };
    let state = r.state.get_or_insert_with(SequentialState::default);
    let phi = {
        let mut d = Dispersion::new(&mut state.dispersion);
        d.add(s_new);
        d.phi_with(dispersion::across(&pods))
    };
    let test = RatioTest::new(m.max_increase.unwrap_or(metric_defaults::MAX_INCREASE));
    // Evidence against another hypothesis says nothing about this one: a changed spec
    // starts that test over (still anytime-valid from its new start).
    if state.tolerance != Some(test.rho0) {
        state.tolerance = Some(test.rho0);
        state.worse.clear();
        state.not_worse.clear();
    }
    test.update(&mut state.worse, &mut state.not_worse, c_new, s_new);
    // The rate ratio's confidence sequence does not depend on the tolerance: never reset.
    confidence::add_ratio_interval(&mut state.ratio_likelihood, c_new, s_new);
    // With a ceiling, the ratio test and the ceiling test share the metric's α.
    let ceiling = m.max_ratio.map(CeilingTest::new);
    if state.ceiling != ceiling.map(|t| t.q0) {
        state.ceiling = ceiling.map(|t| t.q0);
        state.above_ceiling.clear();
        state.below_ceiling.clear();
    }
    let a = if ceiling.is_some() {
        alpha / 2.0
    } else {
        alpha
    };
    if let Some(t) = &ceiling {
        t.update(&mut state.above_ceiling, &mut state.below_ceiling, c_new);
    }
    let worse = RatioTest::worse_evidence(&state.worse, phi);
    let not_worse = RatioTest::not_worse_evidence(&state.not_worse, phi);
    let above = CeilingTest::above_evidence(&state.above_ceiling, phi);
    let below = CeilingTest::below_evidence(&state.below_ceiling, phi);

    let min_total = m.min_total.unwrap_or(0) as f64;
    let enough = c.total >= min_total;
    let fail_ratio = worse >= 1.0 / a;
    let fail_ceiling = ceiling.is_some() && above >= 1.0 / a;
    let pass = not_worse >= 1.0 / a && (ceiling.is_none() || below >= 1.0 / a);
    let verdict = match () {
        _ if !enough => Verdict::Inconclusive,
        _ if fail_ratio || fail_ceiling => Verdict::Fail,
        _ if pass => Verdict::Pass,
        _ => Verdict::Inconclusive,
    };

    let point = counts::ratio_point(c, s);
    let ci = confidence::ratio_sequence(&state.ratio_likelihood, phi, a);
    let mut message = format!(
        "canary {}, stable {}; rate ratio {}",
        pct(c),
        pct(s),
        point.map_or("n/a".into(), sci)
    );
    if let Some((lo, hi)) = ci {
        message += &format!(
            " ({}% confidence sequence {}–{})",
            percent(1.0 - a),
            sci(lo),
            sci(hi)
        );
    }
    message += &format!(
        "; evidence worse {} / not worse {} vs 1/α = {} (α = {}, tolerance {}×, dispersion {:.1})",
        sci(worse),
        sci(not_worse),
        sci(1.0 / a),
        sci(a),
        test.rho0,
        phi
    );
    if let Some(t) = &ceiling {
        message += &format!(
            "; ceiling {}: evidence above {} / below {}",
            t.q0,
            sci(above),
            sci(below)
        );
    }
    message += match verdict {
        _ if !enough => ": fewer canary attempts than minTotal, no verdict yet",
        Verdict::Fail if fail_ratio => ": the canary fails more often than tolerated",
        Verdict::Fail => ": the canary's failure ratio is above maxRatio",
        Verdict::Pass => ": the canary is not worse than tolerated",
        Verdict::Inconclusive => ": not enough evidence either way yet",
    };

    r.verdict = Some(verdict);
    r.canary_ratio_upper = confidence::failure_ratio_upper(c, phi, a);
    r.canary = track(c);
    r.stable = track(s);
    r.samples += 1;
    r.evidence = Some(worse);
    r.pass_evidence = Some(not_worse);
    r.dispersion = Some(phi);
    r.ratio = point;
    r.ratio_lower = ci.map(|x| x.0);
    r.ratio_upper = ci.map(|x| x.1);
    r.message = Some(message);
    r
}

/// A `probe` metric: this round's probe results, added to the canary's totals and judged
/// against the probe's ceiling.
pub fn judge_probe(
    name: &str,
    m: &ProbeMetric,
    alpha: f64,
    previous: Option<&MetricResult>,
    reading: Result<Counts, String>,
) -> MetricResult {
    let mut r = start(name, previous);
    r.alpha = Some(alpha);
    let new = match reading {
        Ok(n) if n.failures.is_finite() && n.total >= n.failures && n.failures >= 0.0 => n,
        Ok(n) => return no_observation(r, &format!("probe counts {n:?} are not counts")),
        Err(e) => return no_observation(r, &e),
    };
    let before = stored(&r.canary);
    let c = Counts::new(before.failures + new.failures, before.total + new.total);
    let state = r.state.get_or_insert_with(SequentialState::default);
    let test = CeilingTest::new(m.max_ratio.unwrap_or(0.0));
    if state.ceiling != Some(test.q0) {
        state.ceiling = Some(test.q0);
        state.above_ceiling.clear();
        state.below_ceiling.clear();
    }
    test.update(&mut state.above_ceiling, &mut state.below_ceiling, new);
    // Probes are independent requests: no dispersion.
    let above = CeilingTest::above_evidence(&state.above_ceiling, 1.0);
    let below = CeilingTest::below_evidence(&state.below_ceiling, 1.0);
    let verdict = if above >= 1.0 / alpha {
        Verdict::Fail
    } else if below >= 1.0 / alpha {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    };
    r.verdict = Some(verdict);
    r.canary_ratio_upper = confidence::failure_ratio_upper(c, 1.0, alpha);
    r.canary = track(c);
    r.samples += 1;
    r.evidence = Some(above);
    r.pass_evidence = Some(below);
    r.message = Some(format!(
        "probes {}; ceiling {}: evidence above {} / below {} vs 1/α = {}{}",
        pct(c),
        m.max_ratio.unwrap_or(0.0),
        sci(above),
        sci(below),
        sci(1.0 / alpha),
        match verdict {
            Verdict::Fail => ": probes fail more often than allowed",
            Verdict::Pass => ": probes pass",
            Verdict::Inconclusive => ": not enough probes yet",
        }
    ));
    r
}

/// A `query` metric: both tracks' values, judged by the sign test of [`query`] at the
/// metric's share `alpha` of the rollout's false-rollback budget.
pub fn judge_query(
    name: &str,
    m: &QueryMetric,
    alpha: f64,
    previous: Option<&MetricResult>,
    reading: Result<(f64, Option<f64>), String>,
) -> MetricResult {
    let mut r = start(name, previous);
    r.alpha = Some(alpha);
    let (canary, stable) = match reading {
        Ok(x) => x,
        Err(e) => return no_observation(r, &e),
    };
    let check = match query::check(m, canary, stable) {
        Ok(c) => c,
        Err(e) => return no_observation(r, &e.to_string()),
    };
    let stable = stable.unwrap_or_default();
    let state = r.state.get_or_insert_with(SequentialState::default);
    let tally = state.query.get_or_insert_with(QueryState::default);
    let phi = query::persistence(tally, &mut state.dispersion, stable);
    match check.alone() {
        Some(true) => tally.canary_alone += 1,
        Some(false) => tally.stable_alone += 1,
        None => {}
    }
    let (canary_alone, stable_alone) = (tally.canary_alone, tally.stable_alone);
    if let Some(c) = check.alone() {
        signs::update(&mut state.worse, c);
    }
    let worse = signs::evidence(&state.worse, phi);
    r.consecutive_failures = query::consecutive(r.consecutive_failures, &check);
    let limit = query::failure_limit(m);
    let evident = worse >= 1.0 / alpha;
    let verdict = if evident && r.consecutive_failures >= limit {
        Verdict::Fail
    } else if check.ok() && !evident {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    };
    let reading = if check.ok() {
        format!("canary {canary} within bounds (stable {stable})")
    } else {
        format!(
            "{} (stable {stable}{}; {} of {limit} readings in a row)",
            check.violations.join(", "),
            if check.stable_out {
                ", out of bounds too"
            } else {
                ""
            },
            r.consecutive_failures
        )
    };
    let mut message = format!(
        "{reading}; out of bounds alone: canary {canary_alone}, stable {stable_alone}; \
         evidence worse {} vs 1/α = {} (α = {}, persistence {phi:.1})",
        sci(worse),
        sci(1.0 / alpha),
        sci(alpha),
    );
    message += match verdict {
        Verdict::Fail => ": the canary is out of bounds more often than stable",
        Verdict::Pass => "",
        Verdict::Inconclusive if evident => {
            ": enough evidence, waiting for failureLimit readings in a row"
        }
        Verdict::Inconclusive if check.alone().is_none() => {
            ": stable is out of these bounds too, no evidence against the canary"
        }
        Verdict::Inconclusive => ": not enough evidence yet",
    };
    r.verdict = Some(verdict);
    r.samples += 1;
    r.evidence = Some(worse);
    r.dispersion = Some(phi);
    r.canary = Some(TrackReading {
        value: Some(canary),
        ..Default::default()
    });
    r.stable = Some(TrackReading {
        value: Some(stable),
        ..Default::default()
    });
    r.message = Some(message);
    r
}
