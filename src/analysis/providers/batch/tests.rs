use super::*;

const FAILURES: &str = r#"sum(increase(auth_login_attempts_total{namespace="{{namespace}}",outcome="failure",pod=~"{{pods}}"}[{{elapsed}}])) or vector(0)"#;
const TOTAL: &str = r#"sum(increase(auth_login_attempts_total{namespace="{{namespace}}",pod=~"{{pods}}"}[{{elapsed}}]))"#;

fn request(
    template: &str,
    ns: &str,
    elapsed: u64,
    track: &str,
    pods: &[&str],
) -> (TrackQuery, Slot) {
    let q = TrackQuery {
        template: template.to_string(),
        ctx: RenderContext {
            namespace: ns.to_string(),
            rollout: format!("{ns}-ro"),
            elapsed: Duration::from_secs(elapsed),
            ..Default::default()
        },
        track: TrackContext {
            track: track.to_string(),
            pods: pods.iter().map(|p| p.to_string()).collect(),
            revision: String::new(),
        },
    };
    let s = slot(&q).expect("batchable");
    (q, s)
}

fn sample(arm: &str, pod: &str, value: f64) -> Sample {
    Sample {
        arm: Some(arm.to_string()),
        pod: Some(pod.to_string()),
        value,
    }
}

#[test]
fn queries_of_one_template_and_namespace_share_a_key_whatever_their_pods_and_windows() {
    let a = request(TOTAL, "payments", 95, "canary", &["a-1"]);
    let b = request(TOTAL, "payments", 130, "stable", &["b-1", "b-2"]);
    assert_eq!(
        a.1.key, b.1.key,
        "tracks and windows differ, the template does not"
    );
    assert_ne!(
        a.1.arm, b.1.arm,
        "different windows are different selectors"
    );
    let other_ns = request(TOTAL, "checkout", 95, "canary", &["c-1"]);
    assert_ne!(a.1.key, other_ns.1.key);
    let failures = request(FAILURES, "payments", 95, "canary", &["a-1"]);
    assert_ne!(a.1.key, failures.1.key);
    assert_eq!(failures.1.fallback, Some(0.0));
    assert_eq!(a.1.fallback, None);
}

#[test]
fn one_query_selects_the_union_of_pods_per_window() {
    let reqs = [
        request(TOTAL, "payments", 95, "canary", &["a-1"]),
        request(TOTAL, "payments", 95, "stable", &["s-1", "s-2"]),
        request(TOTAL, "payments", 130, "canary", &["b-1"]),
    ];
    let q = query(&reqs).unwrap();
    assert!(
        q.contains(r#"pod=~"(?:a-1|s-1|s-2)""#) && q.contains("[1m35s]"),
        "{q}"
    );
    assert!(
        q.contains(r#"pod=~"(?:b-1)""#) && q.contains("[2m10s]"),
        "{q}"
    );
    assert_eq!(q.matches(" or ").count(), 1, "two arms: {q}");
    assert!(q.contains(r#""portcullis_batch_arm", "1""#), "{q}");
    promql_parser::parser::parse(&q).expect("the batch is valid PromQL");
}

#[test]
fn each_request_gets_its_own_pods_of_its_own_arm() {
    let reqs = [
        request(TOTAL, "payments", 95, "canary", &["a-1"]),
        request(TOTAL, "payments", 95, "stable", &["s-1", "s-2"]),
        request(TOTAL, "payments", 130, "canary", &["b-1"]),
        request(TOTAL, "payments", 130, "stable", &["s-1"]),
    ];
    let answer = [
        sample("0", "a-1", 40.0),
        sample("0", "s-1", 500.0),
        sample("0", "s-2", 450.0),
        sample("1", "b-1", 70.0),
        sample("1", "s-1", 690.0),
    ];
    let split = split(&reqs, &answer);
    let some = |p: &str, v: f64| (Some(p.to_string()), v);
    assert_eq!(split[0], vec![some("a-1", 40.0)]);
    assert_eq!(split[1], vec![some("s-1", 500.0), some("s-2", 450.0)]);
    assert_eq!(split[2], vec![some("b-1", 70.0)]);
    assert_eq!(
        split[3],
        vec![some("s-1", 690.0)],
        "the window of its own arm"
    );
}

#[test]
fn a_request_whose_pods_have_no_series_gets_its_fallback_or_nothing() {
    let reqs = [
        request(FAILURES, "payments", 95, "canary", &["a-1"]),
        request(FAILURES, "payments", 95, "stable", &["s-1"]),
    ];
    let split_failures = split(&reqs, &[sample("0", "s-1", 3.0)]);
    assert_eq!(
        split_failures[0],
        vec![(None, 0.0)],
        "as `or vector(0)` answers alone"
    );
    let reqs = [request(TOTAL, "payments", 95, "canary", &["a-1"])];
    assert!(
        split(&reqs, &[]).remove(0).is_empty(),
        "no fallback: no observation"
    );
}

#[test]
fn queries_not_restricted_to_the_pods_are_sent_alone() {
    let alone = |template: &str| {
        slot(&TrackQuery {
            template: template.to_string(),
            ctx: RenderContext::default(),
            track: TrackContext {
                pods: vec!["a-1".into()],
                ..Default::default()
            },
        })
    };
    assert_eq!(
        alone(r#"sum(rate(x{namespace="n"}[1m]))"#),
        None,
        "no {{pods}}"
    );
    assert_eq!(
        alone(r#"sum(rate(x{pod=~"{{pods}}"}[1m])) / sum(rate(y{pod=~"{{pods}}"}[1m]))"#),
        None,
        "a ratio is not a sum"
    );
    assert_eq!(
        alone(r#"histogram_quantile(0.99, sum by (le) (rate(h_bucket{pod=~"{{pods}}"}[1m])))"#),
        None
    );
    assert_eq!(
        alone(r#"sum(x{pod=~"{{pods}}"}) + sum(y)"#),
        None,
        "a selector that is not restricted to the pods"
    );
    assert!(alone(r#"sum(x{pod=~"{{pods}}"})"#).is_some());
}
