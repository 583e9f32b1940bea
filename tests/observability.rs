//! What a platform team watches: the chart's Grafana dashboard and Prometheus alerts
//! (`charts/portcullis/files/`) are built on the operator's own /metrics only, real
//! Prometheus loads the rules, and a rollback fires the rollback alert in a real
//! Prometheus scraping a real operator on the local cluster.

mod operator_support;

use operator_support::*;
use portcullis::api::{Phase, RolloutStatus, Verdict};
use portcullis::controller::analysis_source::Injected;
use portcullis::controller::metrics::{ErrorLabel, Metrics};
use portcullis::engine::AnalysisReading;
use portcullis::lab::prometheus::Prometheus;
use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn files() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/portcullis/files")
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(files().join("dashboard.json")).unwrap();
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

fn rules() -> Value {
    let text = std::fs::read_to_string(files().join("prometheus-rules.yaml")).unwrap();
    serde_saphyr::from_str(&text).expect("the rules are YAML")
}

/// Every sample name the operator's /metrics can show: a Metrics with every family
/// written (a Rollout mid-analysis, then aborted), encoded as Prometheus scrapes it.
fn exported() -> BTreeSet<String> {
    let m = Metrics::default();
    let status = |phase: &str| -> RolloutStatus {
        serde_json::from_value(json!({
            "phase": phase, "desiredWeight": 25, "effectiveWeight": 25,
            "waiting": {"for": "Metrics", "since": "2026-12-05T10:00:00Z",
                        "deadline": "2026-12-05T10:05:00Z"},
            "lastAbort": {"revision": {"revision": "abc"}, "reason": "analysis failed",
                          "at": "2026-12-05T10:03:00Z"},
            "history": [{"revision": {"revision": "abc"}, "outcome": "Aborted",
                         "startedAt": "2026-12-05T10:00:00Z", "endedAt": "2026-12-05T10:03:00Z"}],
            "analysis": {"verdict": "Fail", "consecutiveErrors": 1, "metrics": [{
                "name": "login-failures", "verdict": "Fail", "samples": 12,
                "canary": {"failures": 30.0, "total": 300.0, "value": 0.1},
                "stable": {"failures": 10.0, "total": 1000.0},
                "evidence": 40.0, "passEvidence": 0.1, "alpha": 0.05,
                "ratio": 10.0, "ratioLower": 5.0, "ratioUpper": 20.0}]}
        }))
        .unwrap()
    };
    m.phase("payments/auth-api", Some(Phase::Progressing));
    m.rollout("payments", "auth-api", &status("Progressing"));
    m.phase("payments/auth-api", Some(Phase::Aborted));
    m.rollout("payments", "auth-api", &status("Aborted"));
    m.errors
        .get_or_create(&ErrorLabel {
            kind: "error".into(),
        })
        .inc();
    m.leader.set(1);
    m.observe_reconcile(Duration::from_millis(3));
    let text = m.encode();
    assert!(
        text.contains("portcullis_abort_decision_seconds_count 1"),
        "the abort decision was timed: {text}"
    );
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

/// The metric names a PromQL expression reads; panics when it does not parse or a
/// selector names no metric.
fn metric_names(expr: &str) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = String;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            let name = vs.name.clone().ok_or("a selector without a metric name")?;
            self.0.insert(name);
            Ok(true)
        }
        fn post_visit(&mut self, _: &Expr) -> Result<bool, String> {
            Ok(true)
        }
    }
    let parsed =
        promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{expr:?} parses: {e}"));
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &parsed).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    names.0
}

/// A Grafana expression as Prometheus receives it: Grafana's variables filled in.
fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__range", "6h")
        .replace("$__interval", "30s")
        .replace("$namespace", ".*")
        .replace("$rollout", ".*")
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        all.push(p);
        all.extend(p["panels"].as_array().into_iter().flatten());
    }
    all
}

#[test]
fn the_dashboard_is_built_on_the_operators_metrics_only() {
    let exported = exported();
    let d = dashboard();
    assert_eq!(d["uid"], "portcullis");
    let mut used = BTreeSet::new();
    for p in panels(&d).into_iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().unwrap();
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {title:?} has queries");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            let expr = grafana_to_promql(t["expr"].as_str().unwrap());
            for name in metric_names(&expr) {
                assert!(
                    exported.contains(&name),
                    "panel {title:?} reads {name}, which the operator does not export ({exported:?})"
                );
                used.insert(name);
            }
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            // label_values(<selector>, <label>)
            let q = v["query"]["query"].as_str().unwrap();
            let selector = q
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map(|(s, _)| s)
                .unwrap_or_else(|| panic!("{q}"));
            for name in metric_names(&grafana_to_promql(selector)) {
                assert!(exported.contains(&name), "variable {}: {name}", v["name"]);
            }
        }
    }
    // What the dashboard is for: phases, the judge's numbers, rollbacks and their timing,
    // reconcile latency and errors.
    for needed in [
        "portcullis_rollouts",
        "portcullis_analysis_canary_failure_ratio",
        "portcullis_analysis_stable_failure_ratio",
        "portcullis_analysis_evidence",
        "portcullis_analysis_evidence_threshold",
        "portcullis_aborts_total",
        "portcullis_abort_decision_seconds_bucket",
        "portcullis_rollback_seconds_bucket",
        "portcullis_reconcile_duration_seconds_bucket",
        "portcullis_reconcile_errors_total",
    ] {
        assert!(used.contains(needed), "the dashboard shows {needed}");
    }
}

#[test]
fn every_alert_parses_and_reads_only_the_operators_metrics() {
    let exported = exported();
    let rules = rules();
    let mut alerts = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let alert = rule["alert"].as_str().expect("alerting rules only");
            let expr = rule["expr"].as_str().unwrap();
            for name in metric_names(expr) {
                assert!(
                    exported.contains(&name),
                    "alert {alert} reads {name}, which the operator does not export"
                );
            }
            assert!(rule["annotations"]["summary"].is_string(), "{alert}");
            assert!(rule["labels"]["severity"].is_string(), "{alert}");
            alerts.push(alert.to_string());
        }
    }
    for needed in [
        "PortcullisRolloutRolledBack",
        "PortcullisRolloutOverdue",
        "PortcullisAnalysisCannotReadMetrics",
        "PortcullisNoLeader",
    ] {
        assert!(alerts.iter().any(|a| a == needed), "{needed} in {alerts:?}");
    }
}

#[test]
fn promtool_loads_the_rules() {
    let promtool = std::env::var("PORTCULLIS_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let out = std::process::Command::new(&promtool)
        .args(["check", "rules"])
        .arg(files().join("prometheus-rules.yaml"))
        .output()
        .unwrap_or_else(|e| panic!("{promtool}: {e}; run `make deps-prometheus`"));
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool check rules: {said}");
    assert!(said.contains("SUCCESS: 5 rules found"), "{said}");
}

/// Each alert fires on the series it is for, and not before (`promtool test rules` on
/// synthetic series: tests/fixtures/prometheus-rules.test.yaml).
#[test]
fn each_alert_fires_when_it_should() {
    let promtool = std::env::var("PORTCULLIS_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let cases =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus-rules.test.yaml");
    let out = std::process::Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&cases)
        .output()
        .unwrap_or_else(|e| panic!("{promtool}: {e}; run `make deps-prometheus`"));
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool test rules: {said}");
}

/// A Rollout's per-Rollout series go away with it.
#[test]
fn a_deleted_rollouts_series_are_removed() {
    let m = Metrics::default();
    let st: RolloutStatus = serde_json::from_value(json!({
        "phase": "Progressing", "desiredWeight": 10, "effectiveWeight": 10,
        "analysis": {"metrics": [{"name": "login-failures", "verdict": "Inconclusive", "samples": 2,
                                  "canary": {"failures": 1.0, "total": 100.0}}]}
    }))
    .unwrap();
    m.phase("payments/auth-api", st.phase);
    m.rollout("payments", "auth-api", &st);
    let text = m.encode();
    for series in [
        r#"portcullis_rollout_phase{namespace="payments",rollout="auth-api",phase="Progressing"} 1"#,
        r#"portcullis_analysis_canary_failure_ratio{namespace="payments",rollout="auth-api",metric="login-failures"} 0.01"#,
        r#"portcullis_analysis_verdict{namespace="payments",rollout="auth-api",metric="login-failures",verdict="Inconclusive"} 1"#,
        r#"portcullis_rollout_canary_weight_percent{namespace="payments",rollout="auth-api"} 10"#,
    ] {
        assert!(text.contains(series), "{series} in:\n{text}");
    }
    assert!(!text.contains("portcullis_rollout_wait_deadline_timestamp_seconds{"));

    // The Rollout is deleted (its finalizer ran): nothing about it is left.
    m.phase("payments/auth-api", None);
    let text = m.encode();
    assert!(!text.contains("auth-api"), "{text}");
}

/// A standby reports no Rollouts (the leader does), so dashboards do not count them twice.
#[test]
fn a_replica_that_stops_leading_reports_no_rollouts() {
    let m = Metrics::default();
    let st: RolloutStatus =
        serde_json::from_value(json!({"phase": "Progressing", "desiredWeight": 10})).unwrap();
    m.leader.set(1);
    m.phase("payments/auth-api", st.phase);
    m.rollout("payments", "auth-api", &st);
    assert!(m.encode().contains("auth-api"));
    m.stopped_leading();
    let text = m.encode();
    assert!(text.contains("portcullis_leader 0"), "{text}");
    assert!(!text.contains("auth-api"), "{text}");
    assert!(!text.contains("portcullis_rollouts{"), "{text}");
}

/// Given a real Prometheus loading the chart's rules and scraping a real operator on the
/// local cluster, when the judge fails a canary, then PortcullisRolloutRolledBack fires
/// for that Rollout.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_fires_the_rollback_alert_in_a_real_prometheus() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("alerts");
    let spec = json!({"workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 25}, {"pause": {}}],
        "analysis": {"interval": "1s", "metrics": [{"name": "login-failures",
            "query": {"query": "vector(0)", "max": 1}}]}});
    given_app(&c.client, ns, 3, spec).await;
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let readings = Injected::default();
    readings.set(AnalysisReading::verdict(Verdict::Inconclusive));
    let op =
        Operator::start_serving(c.client.clone(), ns, false, readings.clone(), metrics_addr).await;
    let prometheus = Prometheus::start_with_rules(
        &[metrics_addr.to_string()],
        &[files().join("prometheus-rules.yaml")],
    )
    .await
    .expect("prometheus starts (make deps-prometheus)");
    adopted(&c.client, ns).await;
    release(&c.client, ns, &image("1.1")).await;
    until(&c.client, ns, "25%", Duration::from_secs(60), |s| {
        s.effective_weight == 25
    })
    .await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let alerts = || async {
        let v: Value = http
            .get(format!("{}/api/v1/alerts", prometheus.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["data"]["alerts"].as_array().cloned().unwrap_or_default()
    };
    // The operator is scraped, leads, and nothing has rolled back yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: Value = http
            .get(format!("{}/api/v1/query", prometheus.url()))
            .query(&[("query", "portcullis_leader")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["data"]["result"][0]["value"][1] == "1" {
            break;
        }
        assert!(Instant::now() < deadline, "portcullis_leader scraped: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !alerts()
            .await
            .iter()
            .any(|a| a["labels"]["alertname"] == "PortcullisRolloutRolledBack"),
        "no rollback yet"
    );

    readings.set(AnalysisReading::verdict(Verdict::Fail));
    until(
        &c.client,
        ns,
        "the rollback",
        Duration::from_secs(60),
        phase(Phase::Aborted),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let fired = loop {
        let firing = alerts().await.into_iter().find(|a| {
            a["labels"]["alertname"] == "PortcullisRolloutRolledBack" && a["state"] == "firing"
        });
        if let Some(a) = firing {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "PortcullisRolloutRolledBack fires within 30 s; alerts: {:?}",
            alerts().await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(fired["labels"]["namespace"], ns.as_str());
    assert_eq!(fired["labels"]["rollout"], APP);
    assert_eq!(fired["labels"]["severity"], "warning");
    assert!(
        fired["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("{ns}/{APP} rolled a release back")),
        "{fired}"
    );
    op.stop().await;
}
