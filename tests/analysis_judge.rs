//! The judge on known cases: hand-computed statistics (see the Python one-liners in the
//! comments), verdicts, state that survives a restart, and no-observation readings.

use portcullis::analysis::judge::dispersion::{self, Dispersion};
use portcullis::analysis::judge::evidence::tempered_mixture;
use portcullis::analysis::judge::{Counts, Observation, alphas, judge};
use portcullis::api::{
    AnalysisStatus, CountsMetric, Metric, MetricResult, ProbeMetric, QueryMetric, SequentialState,
    StableComparison, Verdict,
};
use portcullis::engine::AnalysisReading;

fn counts_metric(name: &str, max_increase: f64, confidence: f64) -> Metric {
    Metric {
        name: name.into(),
        counts: Some(CountsMetric {
            failures: "f".into(),
            total: "t".into(),
            max_ratio: None,
            max_increase: Some(max_increase),
            confidence: Some(confidence),
            min_total: None,
        }),
        query: None,
        probe: None,
    }
}

fn obs(cf: f64, ct: f64, sf: f64, st: f64) -> Result<Observation, String> {
    Ok(Observation::Counts {
        canary: Counts::new(cf, ct),
        stable: Counts::new(sf, st),
        stable_pods: vec![],
    })
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

/// The e-value of the stored components if every attempt were independent (φ = 1):
/// what the hand computations below are of.
fn raw(components: &[f64]) -> f64 {
    tempered_mixture(components, 1.0)
}

/// A metric's previous result whose only history is stable's spread: `n` readings of
/// binomial-looking counts (exactly stable's pooled ratio), so φ ≈ 1.
fn with_binomial_history(name: &str, n: usize) -> MetricResult {
    let mut spread = Vec::new();
    let mut d = Dispersion::new(&mut spread);
    for _ in 0..n {
        d.add(Counts::new(10.0, 900.0));
    }
    MetricResult {
        name: name.into(),
        state: Some(SequentialState {
            dispersion: spread,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn ten_failures_in_a_hundred_against_ten_in_nine_hundred_is_rejected_at_99_percent() {
    // Mixture over ρ₁ = 1.2·{1.1 … 1000} of the binomial split 10 : 10 with
    // p(ρ) = 100ρ / (100ρ + 900): e-value 1077.95 ≥ 1/0.01, once stable's counts have
    // shown themselves as spread as independent attempts (φ = 1).
    let m = [counts_metric("logins", 0.2, 0.99)];
    let previous = [with_binomial_history("logins", 2000)];
    let r = judge(&m, &previous, vec![obs(10.0, 100.0, 10.0, 900.0)]);
    let res = &r.metrics[0];
    assert!(
        close(res.dispersion.unwrap(), 1.0, 1e-9),
        "{:?}",
        res.dispersion
    );
    assert_eq!(r.verdict, Some(Verdict::Fail));
    assert!(
        close(res.evidence.unwrap(), 1077.9519, 1e-6),
        "{:?}",
        res.evidence
    );
    assert!(
        close(res.pass_evidence.unwrap(), 0.109711, 1e-5),
        "{:?}",
        res.pass_evidence
    );
    assert!(close(res.alpha.unwrap(), 0.01, 1e-9));
    assert!(close(res.ratio.unwrap(), 9.0, 1e-12));
    let (lo, hi) = (res.ratio_lower.unwrap(), res.ratio_upper.unwrap());
    assert!(lo < 9.0 && 9.0 < hi && lo > 1.2, "[{lo}, {hi}]");
    let msg = res.message.as_deref().unwrap();
    assert!(msg.contains("canary 10/100 failed (10.00%)"), "{msg}");
    assert!(msg.contains("stable 10/900 failed (1.11%)"), "{msg}");
    assert!(msg.contains("dispersion 1.0"), "{msg}");
    assert!(msg.contains("fails more often than tolerated"), "{msg}");
}

#[test]
fn a_first_reading_knows_nothing_of_stable_spread_and_is_judged_as_bursty() {
    // The same split with no history: φ is the prior (4), the e-value the mixture of
    // exp(ℓ/4): far below 1077.95, so no rollback on one reading of possibly clustered
    // failures.
    let m = [counts_metric("logins", 0.2, 0.99)];
    let r = judge(&m, &[], vec![obs(10.0, 100.0, 10.0, 900.0)]);
    let res = &r.metrics[0];
    let state = res.state.as_ref().unwrap();
    assert!(close(raw(&state.worse), 1077.9519, 1e-6));
    assert_eq!(res.dispersion, Some(dispersion::PRIOR));
    assert!(close(
        res.evidence.unwrap(),
        tempered_mixture(&state.worse, dispersion::PRIOR),
        1e-12
    ));
    assert!(res.evidence.unwrap() < 100.0);
    assert_eq!(r.verdict, Some(Verdict::Inconclusive));
}

#[test]
fn bursty_stable_counts_slow_the_verdict_down() {
    // Stable's failures alternate 0 and 20 per 900: spread ≈ 11 times binomial; the same
    // 10 : 10 split then carries a ninth of the log-evidence.
    let mut spread = Vec::new();
    let mut d = Dispersion::new(&mut spread);
    for i in 0..400 {
        d.add(Counts::new(if i % 2 == 0 { 0.0 } else { 20.0 }, 900.0));
    }
    let previous = [MetricResult {
        name: "logins".into(),
        state: Some(SequentialState {
            dispersion: spread,
            ..Default::default()
        }),
        ..Default::default()
    }];
    let m = [counts_metric("logins", 0.2, 0.99)];
    let r = judge(&m, &previous, vec![obs(10.0, 100.0, 10.0, 900.0)]);
    let res = &r.metrics[0];
    assert!(res.dispersion.unwrap() > 9.0, "{:?}", res.dispersion);
    assert_eq!(r.verdict, Some(Verdict::Inconclusive));
}

#[test]
fn evidence_accumulates_across_readings_with_changing_exposure() {
    // Second interval: 5/200 canary vs 20/800 stable (ρ̂ = 1) pulls the (independent-
    // attempts) e-value down to 5.1587: the product of per-interval ratios, each with its
    // own exposure.
    let m = [counts_metric("logins", 0.2, 0.99)];
    let first = judge(&m, &[], vec![obs(10.0, 100.0, 10.0, 900.0)]);
    assert_eq!(first.verdict, Some(Verdict::Inconclusive));
    let second = judge(&m, &first.metrics, vec![obs(15.0, 300.0, 30.0, 1700.0)]);
    let res = &second.metrics[0];
    let state = res.state.as_ref().unwrap();
    assert!(close(raw(&state.worse), 5.158679, 1e-5), "{state:?}");
    assert!(close(
        res.evidence.unwrap(),
        tempered_mixture(&state.worse, res.dispersion.unwrap()),
        1e-12
    ));
    assert_eq!(res.samples, 2);
    assert_eq!(second.verdict, Some(Verdict::Inconclusive));
}

#[test]
fn a_canary_clearly_within_a_loose_tolerance_passes_early() {
    // maxIncrease 1.0 (ρ₀ = 2), canary 100/10000 vs stable 1900/190000 (ρ̂ = 1):
    // not-worse e-value 3.1828e11, worse e-value 8.06e-6 for independent attempts; even
    // at the cautious first-reading φ = 4 that passes.
    let m = [counts_metric("logins", 1.0, 0.99)];
    let r = judge(&m, &[], vec![obs(100.0, 10_000.0, 1900.0, 190_000.0)]);
    assert_eq!(r.verdict, Some(Verdict::Pass));
    let state = r.metrics[0].state.as_ref().unwrap();
    assert!(close(raw(&state.not_worse), 3.18279e11, 1e-4));
    assert!(close(raw(&state.worse), 8.0563e-6, 1e-3));
}

#[test]
fn the_state_in_status_survives_a_json_round_trip_and_gives_the_same_verdicts() {
    // A restarted controller reads status back from the API server.
    let m = [counts_metric("logins", 0.2, 0.9999)];
    let first = judge(&m, &[], vec![obs(10.0, 100.0, 10.0, 900.0)]);
    let status = AnalysisStatus {
        metrics: first.metrics.clone(),
        ..Default::default()
    };
    let back: AnalysisStatus =
        serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
    let a = judge(&m, &first.metrics, vec![obs(15.0, 300.0, 30.0, 1700.0)]);
    let b = judge(&m, &back.metrics, vec![obs(15.0, 300.0, 30.0, 1700.0)]);
    assert_eq!(a, b);
}

#[test]
fn errors_nan_and_inconsistent_counts_are_no_observation_and_keep_the_evidence() {
    let m = [counts_metric("logins", 0.2, 0.9999)];
    let first = judge(&m, &[], vec![obs(10.0, 100.0, 10.0, 900.0)]);
    for bad in [
        Err("Prometheus: connection refused".to_string()),
        obs(f64::NAN, 100.0, 10.0, 900.0),
        obs(150.0, 100.0, 10.0, 900.0), // more canary failures than attempts
    ] {
        let r = judge(&m, &first.metrics, vec![bad]);
        assert_eq!(r.verdict, None, "{r:?}");
        assert!(
            r.error.as_deref().unwrap().starts_with("logins: "),
            "{:?}",
            r.error
        );
        let res = &r.metrics[0];
        assert_eq!(res.errors, 1);
        assert_eq!(res.state, first.metrics[0].state);
        assert_eq!(res.canary, first.metrics[0].canary);
        assert_eq!(res.samples, 1);
    }
}

#[test]
fn min_total_withholds_any_verdict_but_not_the_evidence() {
    let mut m = counts_metric("logins", 0.2, 0.99);
    m.counts.as_mut().unwrap().min_total = Some(500);
    let r = judge(
        std::slice::from_ref(&m),
        &[],
        vec![obs(10.0, 100.0, 10.0, 900.0)],
    );
    assert_eq!(r.verdict, Some(Verdict::Inconclusive));
    assert!(raw(&r.metrics[0].state.as_ref().unwrap().worse) > 1000.0);
    assert!(
        r.metrics[0]
            .message
            .as_deref()
            .unwrap()
            .contains("minTotal")
    );
}

#[test]
fn max_ratio_fails_on_a_confident_ceiling_breach_even_when_stable_is_as_bad() {
    // Both tracks at 10%: no ratio evidence, but 10% is far above a 2% ceiling.
    let mut m = counts_metric("logins", 0.2, 0.99);
    m.counts.as_mut().unwrap().max_ratio = Some(0.02);
    let r = judge(&[m], &[], vec![obs(100.0, 1000.0, 1900.0, 19_000.0)]);
    assert_eq!(r.verdict, Some(Verdict::Fail));
    let res = &r.metrics[0];
    assert!(
        res.message.as_deref().unwrap().contains("above maxRatio"),
        "{:?}",
        res.message
    );
    // The ratio test and the ceiling share α: each at 0.005.
    assert!(
        res.message.as_deref().unwrap().contains("α = 5.0e-3"),
        "{:?}",
        res.message
    );
    assert!(res.canary_ratio_upper.unwrap() > 0.1);
}

#[test]
fn one_failure_above_the_ceiling_in_a_small_sample_is_not_enough() {
    // 1/20 = 5% > 2%, but a point value is not evidence.
    let mut m = counts_metric("logins", 5.0, 0.99);
    m.counts.as_mut().unwrap().max_ratio = Some(0.02);
    let r = judge(&[m], &[], vec![obs(1.0, 20.0, 10.0, 1000.0)]);
    assert_eq!(r.verdict, Some(Verdict::Inconclusive));
}

fn query_metric(name: &str, max: Option<f64>, max_increase: Option<f64>) -> Metric {
    Metric {
        name: name.into(),
        counts: None,
        query: Some(QueryMetric {
            query: "q".into(),
            min: None,
            max,
            compare_to_stable: max_increase.map(|max_increase| StableComparison { max_increase }),
            failure_limit: None,
            confidence: None,
        }),
        probe: None,
    }
}

fn value(canary: f64, stable: f64) -> Result<Observation, String> {
    Ok(Observation::Value {
        canary,
        stable: Some(stable),
    })
}

/// Feeds readings one after another, as the controller does; the last reading's result.
fn feed(
    m: &[Metric],
    readings: impl IntoIterator<Item = Result<Observation, String>>,
) -> Vec<AnalysisReading> {
    let mut out: Vec<AnalysisReading> = Vec::new();
    for r in readings {
        let previous = out.last().map(|x| x.metrics.clone()).unwrap_or_default();
        out.push(judge(m, &previous, vec![r]));
    }
    out
}

#[test]
fn alpha_is_split_between_every_metric_query_metrics_included() {
    // A query metric used to sit outside the budget; now the Rollout's false-rollback
    // probability is at most Σ αᵢ = 0.01/3 + 0.02/3 + 0.01/3 ≤ 0.02.
    let a = alphas(&[
        counts_metric("a", 0.2, 0.99),
        counts_metric("b", 0.2, 0.98),
        query_metric("latency", Some(1.0), None),
    ]);
    assert!(close(a[0], 0.01 / 3.0, 1e-9), "{a:?}");
    assert!(close(a[1], 0.02 / 3.0, 1e-9), "{a:?}");
    assert!(close(a[2], 0.01 / 3.0, 1e-9), "{a:?}");
    let r = judge(
        &[
            counts_metric("a", 0.2, 0.99),
            query_metric("latency", Some(1.0), None),
        ],
        &[],
        vec![obs(1.0, 100.0, 9.0, 900.0), value(0.5, 0.5)],
    );
    assert!(close(r.metrics[1].alpha.unwrap(), 0.005, 1e-9));
}

#[test]
fn a_failing_metric_fails_the_reading_even_when_another_cannot_be_read() {
    let m = [counts_metric("a", 0.2, 0.99), counts_metric("b", 0.2, 0.99)];
    let r = judge(
        &m,
        &[],
        vec![obs(30.0, 100.0, 10.0, 900.0), Err("timeout".into())],
    );
    assert_eq!(r.verdict, Some(Verdict::Fail));
    let r = judge(
        &m,
        &[],
        vec![obs(1.0, 100.0, 9.0, 900.0), Err("timeout".into())],
    );
    assert_eq!(r.verdict, None);
    assert_eq!(r.error.as_deref(), Some("b: timeout"));
}

#[test]
fn a_query_metric_is_not_rolled_back_by_a_few_readings_out_of_bounds() {
    // Before, two readings in a row above max (failureLimit 2) failed the canary: a
    // threshold with no error rate. Now a reading out of bounds is one sign of a
    // sequential test; two are far from evidence.
    let mut m = query_metric("p99", Some(0.5), Some(0.2));
    m.query.as_mut().unwrap().failure_limit = Some(2);
    let m = [m];
    let r = feed(
        &m,
        [
            value(0.4, 0.2),
            value(0.3, 0.3),
            value(0.6, 0.5),
            value(0.7, 0.5),
        ],
    );
    assert_eq!(r[0].verdict, Some(Verdict::Inconclusive));
    assert_eq!(r[0].metrics[0].consecutive_failures, 1);
    assert_eq!(r[1].verdict, Some(Verdict::Pass), "within bounds");
    let last = &r[3].metrics[0];
    assert_eq!(r[3].verdict, Some(Verdict::Inconclusive));
    assert_eq!(last.consecutive_failures, 2);
    let tally = last.state.as_ref().unwrap().query.as_ref().unwrap();
    assert_eq!((tally.canary_alone, tally.stable_alone), (3, 0));
    let msg = last.message.as_deref().unwrap();
    assert!(msg.contains("canary 0.7 > max 0.5"), "{msg}");
    assert!(msg.contains("2 of 2 readings in a row"), "{msg}");
    assert!(
        msg.contains("out of bounds alone: canary 3, stable 0"),
        "{msg}"
    );
    assert!(msg.contains("not enough evidence yet"), "{msg}");
}

#[test]
fn a_canary_out_of_bounds_alone_reading_after_reading_is_rolled_back() {
    // Twice stable's p99 at every reading, stable steady: the canary alone is above
    // 1.2 × stable each time. Nine such readings reach 1/α = 100 for independent
    // readings; before stable's value has shown how persistent it is, the evidence is
    // divided by up to 7 (the prior), so it takes a few times that.
    let m = [query_metric("p99", None, Some(0.2))];
    let stable = |i: usize| 0.2 + 0.01 * ((i * 7) % 5) as f64;
    let r = feed(&m, (0..100).map(|i| value(2.0 * stable(i), stable(i))));
    let failed = r
        .iter()
        .position(|x| x.verdict == Some(Verdict::Fail))
        .expect("rolled back within 100 readings");
    assert!((9..60).contains(&failed), "failed at reading {failed}");
    let res = &r[failed].metrics[0];
    assert!(res.evidence.unwrap() >= 100.0);
    assert!(res.dispersion.unwrap() >= 1.0);
    let msg = res.message.as_deref().unwrap();
    assert!(
        msg.contains("out of bounds more often than stable"),
        "{msg}"
    );
    assert!(
        r[..failed]
            .iter()
            .all(|x| x.verdict == Some(Verdict::Inconclusive))
    );
}

#[test]
fn a_bound_both_tracks_breach_is_no_evidence_against_the_canary() {
    // Load or an upstream incident puts both tracks above max: no rollback, however long,
    // but no pass either (an analysis step waits).
    let m = [query_metric("p99", Some(0.5), Some(0.3))];
    let r = feed(&m, (0..200).map(|_| value(0.8, 0.75)));
    assert!(r.iter().all(|x| x.verdict == Some(Verdict::Inconclusive)));
    let last = &r[199].metrics[0];
    assert_eq!(last.evidence, Some(1.0));
    assert_eq!(last.consecutive_failures, 200);
    let msg = last.message.as_deref().unwrap();
    assert!(msg.contains("stable is out of these bounds too"), "{msg}");
}

#[test]
fn an_absolute_bound_breached_by_the_canary_alone_is_evidence() {
    // No compareToStable: the max is still judged against stable's breaches.
    let m = [query_metric("p99", Some(0.5), None)];
    let r = feed(
        &m,
        (0..100).map(|i| value(0.7, 0.3 + 0.01 * (i % 3) as f64)),
    );
    assert!(r.iter().any(|x| x.verdict == Some(Verdict::Fail)));
    // And a query metric without stable's value is no observation.
    let r = judge(
        &m,
        &[],
        vec![Ok(Observation::Value {
            canary: 0.7,
            stable: None,
        })],
    );
    assert_eq!(r.verdict, None);
    assert!(
        r.error.as_deref().unwrap().contains("stable"),
        "{:?}",
        r.error
    );
}

#[test]
fn failure_limit_still_asks_for_the_last_readings_to_be_bad() {
    // Evidence enough, but the canary is back within bounds on every other reading:
    // with failureLimit 3 it is never rolled back, and never passes while the evidence
    // says it is worse.
    let mut m = query_metric("p99", None, Some(0.2));
    m.query.as_mut().unwrap().failure_limit = Some(3);
    let m = [m];
    let r = feed(
        &m,
        (0..200).map(|i| {
            if i % 3 == 2 {
                value(0.2, 0.2)
            } else {
                value(0.5, 0.2)
            }
        }),
    );
    assert!(r.iter().all(|x| x.verdict != Some(Verdict::Fail)));
    let last = &r[199].metrics[0];
    assert!(last.evidence.unwrap() >= 100.0, "{:?}", last.evidence);
    assert_eq!(
        r[197].verdict,
        Some(Verdict::Inconclusive),
        "in bounds, but evidently worse"
    );
    let msg = r[198].metrics[0].message.as_deref().unwrap();
    assert!(msg.contains("waiting for failureLimit"), "{msg}");
}

#[test]
fn probes_fail_on_repeated_failures_and_pass_on_a_clean_record() {
    let m = [Metric {
        name: "login-probe".into(),
        counts: None,
        query: None,
        probe: Some(ProbeMetric {
            method: None,
            path: "/login".into(),
            port: 8080,
            headers: vec![],
            body: None,
            expected_statuses: vec![],
            period: None,
            max_ratio: Some(0.1),
            confidence: Some(0.99),
        }),
    }];
    let round = |f: f64, t: f64| Ok(Observation::Probe(Counts::new(f, t)));
    let mut prev: Vec<MetricResult> = vec![];
    let mut verdict = None;
    for _ in 0..3 {
        let r = judge(&m, &prev, vec![round(3.0, 3.0)]);
        verdict = r.verdict;
        prev = r.metrics;
    }
    assert_eq!(verdict, Some(Verdict::Fail));
    assert_eq!(prev[0].canary.as_ref().unwrap().total, Some(9.0));

    let mut prev: Vec<MetricResult> = vec![];
    let mut rounds = 0;
    while verdict != Some(Verdict::Pass) && rounds < 100 {
        let r = judge(&m, &prev, vec![round(0.0, 3.0)]);
        verdict = r.verdict;
        prev = r.metrics;
        rounds += 1;
    }
    assert_eq!(verdict, Some(Verdict::Pass));
    // Confirming "below 10%" at 99% takes a few dozen clean probes, not one.
    assert!((5..40).contains(&rounds), "{rounds}");
}

#[test]
fn reading_the_same_cumulative_counts_again_adds_no_evidence() {
    // A re-run of a reading (or a reading before Prometheus scraped again) is harmless.
    let m = [counts_metric("logins", 0.2, 0.9999)];
    let first = judge(&m, &[], vec![obs(10.0, 100.0, 10.0, 900.0)]);
    let again = judge(&m, &first.metrics, vec![obs(10.0, 100.0, 10.0, 900.0)]);
    assert_eq!(again.metrics[0].state, first.metrics[0].state);
    assert_eq!(again.metrics[0].evidence, first.metrics[0].evidence);
    assert_eq!(again.verdict, first.verdict);
}

#[test]
fn after_a_counter_reset_one_reading_is_lost_and_counting_resumes_from_the_new_values() {
    // A stable pod was replaced mid-canary: its series left `{{pods}}`, stable's
    // cumulative counts drop. That reading is no observation; the next one counts on.
    let m = [counts_metric("logins", 0.2, 0.9999)];
    let first = judge(&m, &[], vec![obs(10.0, 100.0, 20.0, 2000.0)]);
    let reset = judge(&m, &first.metrics, vec![obs(12.0, 150.0, 5.0, 500.0)]);
    assert_eq!(reset.verdict, None);
    assert!(
        reset.error.as_deref().unwrap().contains("went down"),
        "{:?}",
        reset.error
    );
    assert_eq!(
        reset.metrics[0].state, first.metrics[0].state,
        "evidence kept"
    );
    let next = judge(&m, &reset.metrics, vec![obs(14.0, 200.0, 10.0, 1000.0)]);
    assert!(next.verdict.is_some(), "{:?}", next.error);
    let s = next.metrics[0].stable.as_ref().unwrap();
    assert_eq!((s.failures, s.total), (Some(10.0), Some(1000.0)));
}

#[test]
fn changing_max_increase_mid_canary_starts_that_test_over() {
    // Evidence gathered against ρ₀ = 1.2 is not evidence against ρ₀ = 2.
    let strict = [counts_metric("logins", 0.2, 0.9999)];
    let loose = [counts_metric("logins", 1.0, 0.9999)];
    let first = judge(&strict, &[], vec![obs(10.0, 100.0, 10.0, 900.0)]);
    let next = judge(&loose, &first.metrics, vec![obs(10.0, 100.0, 10.0, 900.0)]);
    // No new counts since the change: the new test has no evidence yet.
    assert_eq!(next.metrics[0].evidence, Some(1.0));
    assert_eq!(next.metrics[0].state.as_ref().unwrap().tolerance, Some(2.0));
    let same = judge(&strict, &first.metrics, vec![obs(10.0, 100.0, 10.0, 900.0)]);
    assert_eq!(same.metrics[0].evidence, first.metrics[0].evidence);
}
