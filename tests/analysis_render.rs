//! Query templates: substitution, escaping, and the spec errors a bad template gives.

use portcullis::analysis::render::{
    RenderContext, RenderError, TrackContext, check_queries, render, resolve_args,
};
use portcullis::api::{Arg, CountsMetric, Metric, QueryMetric};
use std::collections::BTreeMap;
use std::time::Duration;

fn ctx(args: &[(&str, &str)]) -> RenderContext {
    RenderContext {
        namespace: "payments".into(),
        rollout: "auth-api".into(),
        workload: "auth-api".into(),
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        elapsed: Duration::from_millis(95_200),
    }
}

fn canary() -> TrackContext {
    TrackContext {
        track: "canary".into(),
        pods: vec!["auth-api-canary-7d9f-x2v9q".into(), "auth.api-1".into()],
        revision: "7d9f".into(),
    }
}

fn counts(failures: &str, total: &str) -> Metric {
    Metric {
        name: "login-failures".into(),
        counts: Some(CountsMetric {
            failures: failures.into(),
            total: total.into(),
            max_ratio: None,
            max_increase: None,
            confidence: None,
            min_total: None,
        }),
        query: None,
        probe: None,
    }
}

const ISSUE_FAILURES: &str = r#"sum(increase(auth_login_attempts_total{app="{{args.app}}",outcome="failure",pod=~"{{pods}}"}[{{elapsed}}]))"#;

#[test]
fn every_variable_is_substituted_and_elapsed_rounds_up_to_whole_seconds() {
    let q = render(
        r#"x{ns="{{namespace}}",ro="{{ rollout }}",w="{{workload}}",t="{{track}}",r="{{revision}}",app="{{args.app}}"}[{{elapsed}}]"#,
        &ctx(&[("app", "auth")]),
        &canary(),
    )
    .unwrap();
    assert_eq!(
        q,
        r#"x{ns="payments",ro="auth-api",w="auth-api",t="canary",r="7d9f",app="auth"}[96s]"#
    );
}

#[test]
fn pods_become_an_escaped_alternation_of_literal_names() {
    let q = render(r#"up{pod=~"{{pods}}"}"#, &ctx(&[]), &canary()).unwrap();
    // `.` is a regex metacharacter; its escape `\.` is then escaped for the string.
    assert_eq!(
        q,
        r#"up{pod=~"(?:auth-api-canary-7d9f-x2v9q|auth\\.api-1)"}"#
    );
    assert!(promql_parser::parser::parse(&q).is_ok());
}

#[test]
fn a_quote_in_an_arg_cannot_close_the_string_and_add_a_matcher() {
    let evil = r#"auth",outcome!="failure"#;
    let q = render(
        r#"x{app="{{args.app}}",outcome="failure"}"#,
        &ctx(&[("app", evil)]),
        &canary(),
    )
    .unwrap();
    assert_eq!(q, r#"x{app="auth\",outcome!=\"failure",outcome="failure"}"#);
    let parsed = promql_parser::parser::parse(&q).unwrap().to_string();
    // Still exactly two matchers, and the arg is the value of the first.
    assert_eq!(parsed.matches("outcome").count(), 2, "{parsed}");
    assert!(
        parsed.contains(r#"app="auth\",outcome!=\"failure""#),
        "{parsed}"
    );
}

#[test]
fn a_backslash_in_an_arg_is_escaped_and_single_quotes_work_too() {
    let q = render(
        r#"x{app='{{args.app}}'}"#,
        &ctx(&[("app", r"a\'b")]),
        &canary(),
    )
    .unwrap();
    assert_eq!(q, r#"x{app='a\\\'b'}"#);
    assert!(promql_parser::parser::parse(&q).is_ok());
}

#[test]
fn outside_a_string_only_a_single_token_is_accepted() {
    let q = render("x > {{args.limit}}", &ctx(&[("limit", "0.5")]), &canary()).unwrap();
    assert_eq!(q, "x > 0.5");
    let e = render(
        "x > {{args.limit}}",
        &ctx(&[("limit", "0 or vector(1)")]),
        &canary(),
    );
    assert!(matches!(e, Err(RenderError::NotAToken { .. })), "{e:?}");
    assert_eq!(
        render("x{pod=~{{pods}}}", &ctx(&[]), &canary()),
        Err(RenderError::PodsOutsideString)
    );
}

#[test]
fn a_track_without_pods_cannot_be_queried() {
    let none = TrackContext {
        pods: vec![],
        ..canary()
    };
    assert_eq!(
        render(r#"x{pod=~"{{pods}}"}"#, &ctx(&[]), &none),
        Err(RenderError::NoPods("canary".into()))
    );
}

#[test]
fn unknown_variables_and_args_are_errors() {
    assert_eq!(
        render("{{cluster}}", &ctx(&[]), &canary()),
        Err(RenderError::UnknownVariable("cluster".into()))
    );
    assert_eq!(
        render("{{args.app}}", &ctx(&[]), &canary()),
        Err(RenderError::UnknownArg("app".into()))
    );
    assert_eq!(
        render("x{{", &ctx(&[]), &canary()),
        Err(RenderError::Unterminated)
    );
}

#[test]
fn the_issue_example_validates() {
    let m = counts(
        ISSUE_FAILURES,
        r#"sum(increase(auth_login_attempts_total{app="{{args.app}}",pod=~"{{pods}}"}[{{elapsed}}]))"#,
    );
    let args = BTreeMap::from([("app".to_string(), "auth-api".to_string())]);
    assert_eq!(check_queries(&[m], &args, "spec.metrics"), vec![]);
}

#[test]
fn bad_promql_and_unknown_args_name_the_field() {
    let m = counts("sum(rate(x[5m])", "{{args.nope}}");
    let errors = check_queries(&[m], &BTreeMap::new(), "spec.metrics");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].field, "spec.metrics[0].counts.failures");
    assert!(
        errors[0].message.contains("not valid PromQL"),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[1].field, "spec.metrics[0].counts.total");
    assert!(
        errors[1].message.contains("`{{args.nope}}`"),
        "{}",
        errors[1].message
    );
    let q = Metric {
        name: "latency".into(),
        counts: None,
        query: Some(QueryMetric {
            query: "histogram_quantile(0.99, )".into(),
            min: None,
            max: Some(0.5),
            compare_to_stable: None,
            failure_limit: None,
            confidence: None,
        }),
        probe: None,
    };
    let errors = check_queries(&[q], &BTreeMap::new(), "spec.analysis.metrics");
    assert_eq!(errors[0].field, "spec.analysis.metrics[0].query.query");
}

#[test]
fn args_resolve_from_defaults_and_the_rollout_and_report_unknown_or_missing_ones() {
    let declared = [
        Arg::new("app", "auth"),
        Arg {
            name: "env".into(),
            value: None,
        },
    ];
    let given = [Arg::new("env", "prod")];
    let v = resolve_args(
        &declared,
        &given,
        "login-failures",
        "spec.analysis.templates[0].args",
    )
    .unwrap();
    assert_eq!(v["app"], "auth");
    assert_eq!(v["env"], "prod");

    let errors = resolve_args(
        &declared,
        &[Arg::new("typo", "x")],
        "login-failures",
        "spec.analysis.templates[0].args",
    )
    .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].field, "spec.analysis.templates[0].args[0].name");
    assert!(
        errors[1]
            .message
            .contains("needs a value for argument `env`")
    );
}

#[test]
fn a_quote_in_a_comment_does_not_open_a_string() {
    // Without comment handling, the `"` in the comment would make the next placeholder
    // look quoted and let a value with spaces through.
    let t = "# don't \"quote\" me\nx > {{args.limit}}";
    let e = render(t, &ctx(&[("limit", "1 or vector(1)")]), &canary());
    assert!(matches!(e, Err(RenderError::NotAToken { .. })), "{e:?}");
}

#[test]
fn a_placeholder_right_after_a_backslash_is_refused() {
    // `"\{{args.a}}"` with a = `"` would render `"\\""`: the string closes early.
    let e = render(r#"x{a="\{{args.a}}"}"#, &ctx(&[("a", "\"")]), &canary());
    assert_eq!(e, Err(RenderError::AfterBackslash("args.a".into())));
}
