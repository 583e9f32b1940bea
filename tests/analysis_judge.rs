//! The judge on known cases: hand-computed statistics (see the Python one-liners in the
//! comments), verdicts, state that survives a restart, and no-observation readings.

use portcullis::analysis::judge::dispersion::{self, Dispersion};
use portcullis::analysis::judge::evidence::tempered_mixture;
use portcullis::analysis::judge::{Counts, Observation, alphas, judge};
use portcullis::api::{
    AnalysisStatus, CountsMetric, Metric, MetricResult, ProbeMetric, QueryMetric, SequentialState,
    StableComparison, Verdict,
};

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

#[test]
fn alpha_is_split_between_statistical_metrics_only() {
    let q = Metric {
        name: "latency".into(),
        counts: None,
        query: Some(QueryMetric {
            query: "q".into(),
            min: None,
            max: Some(1.0),
            compare_to_stable: None,
            failure_limit: None,
        }),
        probe: None,
    };
    let a = alphas(&[
        counts_metric("a", 0.2, 0.99),
        counts_metric("b", 0.2, 0.98),
        q,
    ]);
    assert!(
        close(a[0].unwrap(), 0.005, 1e-9) && close(a[1].unwrap(), 0.01, 1e-9),
        "{a:?}"
    );
    assert_eq!(a[2], None);
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
fn query_metrics_fail_after_failure_limit_readings_in_a_row() {
    let m = [Metric {
        name: "p99".into(),
        counts: None,
        query: Some(QueryMetric {
            query: "q".into(),
            min: None,
            max: Some(0.5),
            compare_to_stable: Some(StableComparison { max_increase: 0.2 }),
            failure_limit: Some(2),
        }),
        probe: None,
    }];
    let v = |c: f64, s: f64| {
        Ok(Observation::Value {
            canary: c,
            stable: Some(s),
        })
    };
    let r1 = judge(&m, &[], vec![v(0.4, 0.2)]);
    assert_eq!(r1.verdict, Some(Verdict::Inconclusive));
    assert_eq!(r1.metrics[0].consecutive_failures, 1);
    let r2 = judge(&m, &r1.metrics, vec![v(0.3, 0.3)]);
    assert_eq!(r2.verdict, Some(Verdict::Pass));
    let r3 = judge(&m, &r2.metrics, vec![v(0.6, 0.5)]);
    let r4 = judge(&m, &r3.metrics, vec![v(0.7, 0.5)]);
    assert_eq!(r4.verdict, Some(Verdict::Fail));
    assert!(
        r4.metrics[0].message.as_deref().unwrap().contains("2 of 2"),
        "{:?}",
        r4.metrics[0].message
    );
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
