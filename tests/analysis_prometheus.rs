//! The Prometheus provider and the judge against Debian's real Prometheus (1 s scrape),
//! scraping an exporter the test controls: login counters per pod and outcome.

mod support;

use portcullis::analysis::judge::{self, Observation};
use portcullis::analysis::providers::prometheus::{PrometheusConfig, PrometheusProvider};
use portcullis::analysis::render::{RenderContext, TrackContext};
use portcullis::api::{
    ClusterAnalysisTemplate, Metric, OnError, Phase, QueryMetric, StableComparison, Step, Verdict,
};
use portcullis::engine::AnalysisReading;
use portcullis::lab::prometheus::Prometheus;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STABLE_PODS: [&str; 2] = ["auth-api-6b7c9-aaaaa", "auth-api-6b7c9-bbbbb"];
const CANARY_POD: &str = "auth-api-canary-9f8e7-ccccc";

/// Login counters that grow every 100 ms: each stable pod 100 attempts (2 failing), the
/// canary pod 50 attempts of which `canary_failing` fail.
#[derive(Default)]
struct Logins {
    counters: BTreeMap<(String, &'static str), u64>,
}

impl Logins {
    fn tick(&mut self, canary_failing: u64) {
        for pod in STABLE_PODS {
            *self.counters.entry((pod.into(), "failure")).or_default() += 2;
            *self.counters.entry((pod.into(), "success")).or_default() += 98;
        }
        *self
            .counters
            .entry((CANARY_POD.into(), "failure"))
            .or_default() += canary_failing;
        *self
            .counters
            .entry((CANARY_POD.into(), "success"))
            .or_default() += 50 - canary_failing;
    }

    fn exposition(&self) -> String {
        let mut s = String::from("# TYPE auth_login_attempts_total counter\n");
        for ((pod, outcome), v) in &self.counters {
            s += &format!(
                "auth_login_attempts_total{{app=\"auth-api\",namespace=\"payments\",pod=\"{pod}\",outcome=\"{outcome}\"}} {v}\n"
            );
        }
        s
    }
}

/// Serves `/metrics` and ticks the counters; returns its `host:port`.
async fn exporter(canary_failing: u64) -> String {
    let logins = Arc::new(Mutex::new(Logins::default()));
    let ticking = logins.clone();
    tokio::spawn(async move {
        loop {
            ticking.lock().unwrap().tick(canary_failing);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    serve(move |_| {
        let body = logins.lock().unwrap().exposition();
        (200, "text/plain; version=0.0.4", body)
    })
    .await
}

/// A one-response-per-connection HTTP server; `answer` gets the raw request.
async fn serve(
    answer: impl Fn(&str) -> (u16, &'static str, String) + Send + Sync + 'static,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let (code, kind, body) = answer(&String::from_utf8_lossy(&buf[..n]));
                let resp = format!(
                    "HTTP/1.1 {code} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

/// The library's login gate (examples/20-login-failures.yaml) with the given tolerance,
/// narrowed to the pods of one app by an `app` arg (so a test can name an app that does
/// not exist, or one whose name tries to escape the quotes).
fn login_metric(max_increase: f64) -> Metric {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/20-login-failures.yaml"
    );
    let yaml = std::fs::read_to_string(path).unwrap();
    let t: ClusterAnalysisTemplate = serde_saphyr::from_str(&yaml).unwrap();
    let mut m = t.spec.metrics[0].clone();
    let counts = m.counts.as_mut().unwrap();
    counts.max_increase = Some(max_increase);
    for q in [&mut counts.failures, &mut counts.total] {
        *q = q.replace("{namespace=", "{app=\"{{args.app}}\",namespace=");
    }
    m
}

fn tracks() -> (TrackContext, TrackContext) {
    let canary = TrackContext {
        track: "canary".into(),
        pods: vec![CANARY_POD.into()],
        revision: "9f8e7".into(),
    };
    let stable = TrackContext {
        track: "stable".into(),
        pods: STABLE_PODS.iter().map(|p| p.to_string()).collect(),
        revision: "6b7c9".into(),
    };
    (canary, stable)
}

fn context(app: &str, started: Instant) -> RenderContext {
    RenderContext {
        namespace: "payments".into(),
        rollout: "auth-api".into(),
        workload: "auth-api".into(),
        args: BTreeMap::from([("app".to_string(), app.to_string())]),
        elapsed: started.elapsed(),
    }
}

struct Setup {
    prometheus: Prometheus,
    provider: PrometheusProvider,
    started: Instant,
}

async fn setup(canary_failing: u64) -> Setup {
    portcullis::install_crypto_provider();
    let started = Instant::now();
    let target = exporter(canary_failing).await;
    let prometheus = Prometheus::start(&[target])
        .await
        .expect("prometheus starts");
    let provider = PrometheusProvider::new(&PrometheusConfig::new(prometheus.url())).unwrap();
    Setup {
        prometheus,
        provider,
        started,
    }
}

impl Setup {
    async fn reading(
        &self,
        metric: &Metric,
        app: &str,
        previous: &[portcullis::api::MetricResult],
    ) -> AnalysisReading {
        let (canary, stable) = tracks();
        let obs = self
            .provider
            .read(metric, &context(app, self.started), &canary, &stable)
            .await;
        judge::judge(std::slice::from_ref(metric), previous, vec![obs])
    }

    /// Reads every second until `stop` says so or `limit` passes; returns every reading.
    async fn watch(
        &self,
        metric: &Metric,
        limit: Duration,
        stop: impl Fn(&AnalysisReading) -> bool,
    ) -> Vec<AnalysisReading> {
        let mut readings: Vec<AnalysisReading> = Vec::new();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let previous = readings
                .last()
                .map(|r| r.metrics.clone())
                .unwrap_or_default();
            let r = self.reading(metric, "auth-api", &previous).await;
            let done = stop(&r);
            readings.push(r);
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        readings
    }
}

#[tokio::test]
async fn a_healthy_canary_passes_and_is_never_rejected() {
    // Canary and stable both fail 2% of logins; tolerance 2× so a pass comes quickly.
    let s = setup(1).await;
    let metric = login_metric(1.0);
    let readings = s
        .watch(&metric, Duration::from_secs(60), |r| {
            r.verdict == Some(Verdict::Pass)
        })
        .await;
    assert!(readings.iter().all(|r| r.verdict != Some(Verdict::Fail)));
    let last = readings.last().unwrap();
    assert_eq!(
        last.verdict,
        Some(Verdict::Pass),
        "{:?}",
        last.metrics[0].message
    );
    let m = &last.metrics[0];
    let ratio = m.ratio.unwrap();
    assert!(
        (0.5..2.0).contains(&ratio),
        "ratio {ratio}: {:?}",
        m.message
    );
}

#[tokio::test]
async fn a_canary_failing_every_login_is_rejected_within_a_few_scrapes() {
    let s = setup(50).await;
    let metric = login_metric(0.2);
    let readings = s
        .watch(&metric, Duration::from_secs(60), |r| {
            r.verdict == Some(Verdict::Fail)
        })
        .await;
    let first_data = readings
        .iter()
        .position(|r| r.verdict.is_some())
        .expect("some data");
    let failed = readings
        .iter()
        .position(|r| r.verdict == Some(Verdict::Fail))
        .expect("rejected");
    assert!(
        failed - first_data <= 3,
        "rejected {} readings after the first with data",
        failed - first_data
    );
    let m = &readings[failed].metrics[0];
    let c = m.canary.as_ref().unwrap();
    // increase() extrapolates each series on its own: equal up to rounding.
    let (f, t) = (c.failures.unwrap(), c.total.unwrap());
    assert!(f >= 0.99 * t, "every canary login failed: {:?}", m.message);
    assert!(m.evidence.unwrap() >= 100.0);
}

#[tokio::test]
async fn prometheus_down_is_an_error_reading_and_the_engine_drains_the_canary() {
    let mut s = setup(1).await;
    let metric = login_metric(0.2);
    let good = s
        .watch(&metric, Duration::from_secs(30), |r| r.verdict.is_some())
        .await;
    let good = good.last().unwrap().clone();
    assert!(good.verdict.is_some());
    s.prometheus.stop();
    let down = s.reading(&metric, "auth-api", &good.metrics).await;
    assert_eq!(down.verdict, None);
    let error = down.error.clone().unwrap();
    assert!(error.contains("failed"), "{error}");
    assert_eq!(
        down.metrics[0].state, good.metrics[0].state,
        "evidence kept"
    );

    // The engine applies onError (drain) once errorLimit readings in a row have failed.
    let steps = vec![Step::set_weight(20), Step::analysis()];
    let mut spec = support::with_analysis(support::spec(steps));
    let analysis = spec.analysis.as_mut().unwrap();
    analysis.metrics = vec![metric.clone()];
    analysis.error_limit = Some(1);
    analysis.on_error = Some(OnError::Drain);
    let mut w = support::World::new(spec, support::rev("v1", "auth:1"), 4);
    w.step();
    w.push(support::rev("v2", "auth:2"));
    w.settle();
    let mut weights = vec![];
    for _ in 0..2 {
        w.advance_time(10);
        w.obs.analysis = Some(down.clone());
        weights.push(w.step().desired.unwrap().weight);
    }
    assert_eq!(weights, vec![20, 0], "drained after errorLimit + 1 errors");
    assert_eq!(w.status.phase, Some(Phase::Progressing), "not aborted");
}

#[tokio::test]
async fn a_query_that_returns_nothing_gives_no_verdict() {
    let s = setup(1).await;
    // Wait until the real app has data, so "nothing" is about the selector.
    s.watch(&login_metric(0.2), Duration::from_secs(30), |r| {
        r.verdict.is_some()
    })
    .await;
    let r = s.reading(&login_metric(0.2), "no-such-app", &[]).await;
    assert_eq!(r.verdict, None);
    assert!(
        r.error.as_deref().unwrap().contains("returned no series"),
        "{:?}",
        r.error
    );
    assert_eq!(r.metrics[0].samples, 0);
}

#[tokio::test]
async fn an_arg_with_quotes_cannot_change_the_query() {
    let s = setup(50).await;
    // Unescaped, this arg would turn the `total` query into a second failures query
    // (every login a failure): a hijacked verdict.
    let evil = r#"auth-api",outcome="failure"#;
    let raw = format!(r#"sum(increase(auth_login_attempts_total{{app="{evil}"}}[1m]))"#);
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = s.provider.value(&raw).await {
        assert!(
            Instant::now() < deadline,
            "the injected query would match: {e}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let r = s.reading(&login_metric(0.2), evil, &[]).await;
    assert_eq!(r.verdict, None, "no data for an app literally named so");
    let error = r.error.unwrap();
    assert!(
        error.contains(r#"app="auth-api\",outcome=\"failure""#),
        "{error}"
    );
    assert!(error.contains("returned no series"), "{error}");
}

#[tokio::test]
async fn a_query_metric_reads_both_tracks_and_fails_on_evidence_not_on_one_bad_reading() {
    // The canary fails every login, stable 2%: every reading is out of bounds for the
    // canary alone. The sign test needs a run of them (more while stable's 5 s rate has
    // not yet shown how persistent it is), and the last `failureLimit` must be bad too.
    let s = setup(50).await;
    let metric = Metric {
        name: "failure-share".into(),
        counts: None,
        query: Some(QueryMetric {
            query: r#"sum(rate(auth_login_attempts_total{outcome="failure",pod=~"{{pods}}"}[5s])) / sum(rate(auth_login_attempts_total{pod=~"{{pods}}"}[5s]))"#.into(),
            min: None,
            max: Some(0.5),
            compare_to_stable: Some(StableComparison { max_increase: 0.5 }),
            failure_limit: Some(2),
            confidence: Some(0.9),
        }),
        probe: None,
    };
    let readings = s
        .watch(&metric, Duration::from_secs(150), |r| {
            r.verdict == Some(Verdict::Fail)
        })
        .await;
    let last = readings.last().unwrap();
    assert_eq!(last.verdict, Some(Verdict::Fail), "{:?}", last.error);
    let m = &last.metrics[0];
    assert!(m.consecutive_failures >= 2, "{m:?}");
    let tally = m.state.as_ref().unwrap().query.as_ref().unwrap();
    assert!(tally.canary_alone >= 4, "{tally:?}");
    assert_eq!(tally.stable_alone, 0);
    assert!(m.evidence.unwrap() >= 1.0 / m.alpha.unwrap());
    let canary = m.canary.as_ref().unwrap().value.unwrap();
    let stable = m.stable.as_ref().unwrap().value.unwrap();
    assert!(
        canary > 0.9 && (0.01..0.05).contains(&stable),
        "{canary} vs {stable}"
    );
}

#[tokio::test]
async fn bearer_and_basic_credentials_are_sent_and_a_slow_server_times_out() {
    portcullis::install_crypto_provider();
    let ok = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"42"]}]}}"#;
    let addr = serve(move |req| {
        let auth = req
            .lines()
            .find_map(|l| {
                l.strip_prefix("authorization: ")
                    .or(l.strip_prefix("Authorization: "))
            })
            .unwrap_or("");
        if auth == "Bearer s3cret" || auth == "Basic cHJvbTpwYXNz" {
            (200, "application/json", ok.to_string())
        } else {
            (401, "text/plain", "unauthorized".into())
        }
    })
    .await;
    use portcullis::analysis::providers::prometheus::Credentials;
    let mut config = PrometheusConfig::new(&format!("http://{addr}"));
    for (creds, expect_ok) in [
        (Some(Credentials::Bearer("s3cret".into())), true),
        (
            Some(Credentials::Basic {
                username: "prom".into(),
                password: "pass".into(),
            }),
            true,
        ),
        (Some(Credentials::Bearer("wrong".into())), false),
        (None, false),
    ] {
        config.credentials = creds;
        let p = PrometheusProvider::new(&config).unwrap();
        assert_eq!(
            p.value("up").await.is_ok(),
            expect_ok,
            "{:?}",
            config.credentials
        );
    }

    // Accepts the connection and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((c, _)) = listener.accept().await {
            held.push(c);
        }
    });
    let mut config = PrometheusConfig::new(&format!("http://{silent}"));
    config.timeout = Duration::from_millis(300);
    let p = PrometheusProvider::new(&config).unwrap();
    let t = Instant::now();
    assert!(p.value("up").await.is_err());
    assert!(t.elapsed() < Duration::from_secs(5), "the timeout applies");
}

#[test]
fn observation_kinds_match_metric_kinds() {
    // A provider bug (a value for a counts metric) is an error reading, not a verdict.
    let r = judge::judge(
        &[login_metric(0.2)],
        &[],
        vec![Ok(Observation::Value {
            canary: 1.0,
            stable: None,
        })],
    );
    assert_eq!(r.verdict, None);
}

#[test]
fn a_template_source_gives_address_timeout_and_tls_settings() {
    use portcullis::analysis::providers::prometheus::{ConfigError, Credentials};
    use portcullis::api::PrometheusSource;
    let mut source = PrometheusSource {
        address: "https://prometheus.monitoring:9090".into(),
        auth: None,
        timeout: Some("2s".into()),
        insecure_skip_tls_verify: false,
    };
    let c = PrometheusConfig::from_source(&source, Some(Credentials::Bearer("t".into()))).unwrap();
    assert_eq!(c.timeout, Duration::from_secs(2));
    assert!(!c.insecure_skip_tls_verify, "TLS verification stays on");
    assert_eq!(format!("{:?}", c.credentials), "Some(Bearer(<redacted>))");
    source.timeout = Some("soon".into());
    assert!(matches!(
        PrometheusConfig::from_source(&source, None),
        Err(ConfigError::Timeout(_))
    ));
    let bad = PrometheusProvider::new(&PrometheusConfig::new("prometheus:9090"));
    assert!(matches!(bad, Err(ConfigError::Address { .. })));
}

#[tokio::test]
async fn stable_is_read_per_pod_and_pods_failing_alike_lower_the_assumed_burstiness() {
    let s = setup(1).await;
    let metric = login_metric(0.2);
    let (canary, stable) = tracks();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let obs = s
            .provider
            .read(&metric, &context("auth-api", s.started), &canary, &stable)
            .await;
        if let Ok(Observation::Counts {
            stable: total,
            stable_pods,
            ..
        }) = &obs
            && stable_pods.len() == STABLE_PODS.len()
            && stable_pods.iter().all(|p| p.failures > 0.0)
        {
            // `sum by (pod)` of the same query: the pods add up to the track.
            let f: f64 = stable_pods.iter().map(|p| p.failures).sum();
            let t: f64 = stable_pods.iter().map(|p| p.total).sum();
            assert!((f - total.failures).abs() < 1e-6 && (t - total.total).abs() < 1e-6);
            // Both pods fail exactly 2%: no sign of bursts, so the judge's first
            // reading assumes less than its prior.
            let r = judge::judge(std::slice::from_ref(&metric), &[], vec![obs.clone()]);
            let phi = r.metrics[0].dispersion.unwrap();
            assert!(phi < judge::dispersion::PRIOR, "{phi}");
            return;
        }
        assert!(Instant::now() < deadline, "no per-pod reading: {obs:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Setup {
    /// Waits until a reading over `window` has counts for both tracks (Prometheus has
    /// scraped the exporter a few times), then a few seconds more.
    async fn until_counted(&self, metric: &Metric, window: Duration) {
        let (canary, stable) = tracks();
        let ctx = RenderContext {
            elapsed: window,
            ..context("auth-api", self.started)
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .provider
            .read(metric, &ctx, &canary, &stable)
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "Prometheus has the counters within a minute"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Queries Prometheus has answered on `/api/v1/query` (its own `/metrics`).
async fn queries_answered(prometheus: &Prometheus) -> f64 {
    let body = reqwest::get(format!("{}/metrics", prometheus.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .filter(|l| {
            l.starts_with("prometheus_http_requests_total{")
                && l.contains(r#"handler="/api/v1/query""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn readings_of_many_rollouts_share_one_query_and_each_gets_what_it_would_alone() {
    let s = setup(10).await;
    let metric = login_metric(0.2);
    s.until_counted(&metric, Duration::from_secs(10)).await;
    // Both providers evaluate at the same instant, so their answers can be compared.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 1;
    let config = PrometheusConfig::new(s.prometheus.url());
    let alone = PrometheusProvider::new(&config).unwrap().at(now);
    let shared = PrometheusProvider::new(&config)
        .unwrap()
        .at(now)
        .batching(Duration::from_millis(500));
    let track = |name: &str, pods: &[&str]| TrackContext {
        track: name.into(),
        pods: pods.iter().map(|p| p.to_string()).collect(),
        revision: String::new(),
    };
    // Three Rollouts' readings: two over the same window, one over another; pods shared
    // between Rollouts are split per reading all the same.
    let readings = [
        (
            10,
            track("canary", &[CANARY_POD]),
            track("stable", &STABLE_PODS),
        ),
        (
            12,
            track("canary", &[STABLE_PODS[0]]),
            track("stable", &[STABLE_PODS[1]]),
        ),
        (
            10,
            track("canary", &[CANARY_POD]),
            track("stable", &[STABLE_PODS[1]]),
        ),
    ];
    let ctx = |secs: u64| RenderContext {
        elapsed: Duration::from_secs(secs),
        ..context("auth-api", Instant::now())
    };
    let contexts: Vec<RenderContext> = readings.iter().map(|(secs, ..)| ctx(*secs)).collect();
    let before = queries_answered(&s.prometheus).await;
    let together = futures::future::join_all(
        readings
            .iter()
            .zip(&contexts)
            .map(|((_, canary, stable), ctx)| shared.read(&metric, ctx, canary, stable)),
    )
    .await;
    let batched_queries = queries_answered(&s.prometheus).await - before;
    assert_eq!(batched_queries, 2.0, "one for failures, one for totals");
    for ((secs, canary, stable), got) in readings.iter().zip(together) {
        let want = alone
            .read(&metric, &ctx(*secs), canary, stable)
            .await
            .unwrap();
        let (
            Observation::Counts {
                canary: gc,
                stable: gs,
                stable_pods: gp,
            },
            Observation::Counts {
                canary: wc,
                stable: ws,
                stable_pods: wp,
            },
        ) = (got.unwrap(), want)
        else {
            panic!("counts expected");
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        for (g, w) in [(gc, wc), (gs, ws)]
            .into_iter()
            .chain(gp.into_iter().zip(wp))
        {
            assert!(
                close(g.failures, w.failures) && close(g.total, w.total),
                "{g:?} vs {w:?}"
            );
        }
        assert!(
            wc.total > 0.0 && ws.total > 0.0,
            "there was traffic to count"
        );
    }
}

#[tokio::test]
async fn a_batched_reading_of_pods_without_series_is_no_observation() {
    let s = setup(1).await;
    let metric = login_metric(0.2);
    s.until_counted(&metric, Duration::from_secs(10)).await;
    let shared = PrometheusProvider::new(&PrometheusConfig::new(s.prometheus.url()))
        .unwrap()
        .batching(Duration::from_millis(200));
    let (canary, stable) = tracks();
    let ghost = TrackContext {
        pods: vec!["auth-api-canary-9f8e7-gone".into()],
        ..canary.clone()
    };
    let ctx = context("auth-api", s.started);
    let (good, missing) = futures::join!(
        shared.read(&metric, &ctx, &canary, &stable),
        shared.read(&metric, &ctx, &ghost, &stable)
    );
    assert!(good.is_ok(), "{good:?}");
    let e = missing.unwrap_err();
    assert!(
        e.contains("returned no series") && e.contains("gone"),
        "{e}"
    );
}
