//! The RBAC a pipeline needs (`cli::rbac::RULES`, the chart's `-pipeline` ClusterRole)
//! covers every request the commands make: push, wait, status, and each command.

mod operator_support;

use clap::Parser;
use operator_support::recording::{Log, denied, recording_client};
use operator_support::*;
use portcullis::api::{Phase, Verdict};
use portcullis::cli::{Exit, RolloutCommand, rbac, run_on};
use portcullis::controller::rbac::required;
use portcullis::engine::AnalysisReading;
use serde_json::json;
use std::time::Duration;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: RolloutCommand,
}

/// Runs `portcullis ARGS` in-process on a client that notes every request.
async fn portcullis(client: &kube::Client, ns: &str, args: &[&str]) -> Exit {
    let cli = Cli::try_parse_from(["portcullis"].iter().chain(args)).expect("valid arguments");
    run_on(cli.command, client.clone(), ns).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_the_commands_make_is_allowed_by_the_pipeline_rbac() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("cli-rbac");
    given_app(&c.client, ns, 2, json!({
        "workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 50}, {"pause": {}}],
        "analysis": {"interval": "1s", "metrics": [{"name": "m", "query": {"query": "vector(0)", "max": 1}}]}
    }))
    .await;
    let op = Operator::start(c.client.clone(), ns).await;
    op.readings.set(AnalysisReading::verdict(Verdict::Pass));
    adopted(&c.client, ns).await;
    let log: Log = Default::default();
    let cli = recording_client(&c, log.clone()).await;

    let (v11, v12) = (image("1.1"), image("1.2"));
    let steps: Vec<(Vec<&str>, Exit)> = vec![
        (vec!["push", APP, &v11], Exit::Success),
        (
            vec!["wait", APP, "--for", "paused", "--timeout", "60s"],
            Exit::Success,
        ),
        (vec!["status", APP], Exit::Success),
        (vec!["status", "-o", "yaml"], Exit::Success),
        (vec!["pause", APP], Exit::Success),
        (vec!["resume", APP], Exit::Success),
        (vec!["promote", APP], Exit::Success),
        (vec!["wait", APP, "--timeout", "60s"], Exit::Success),
        (vec!["override-freeze", APP, "--no-wait"], Exit::Success),
        (
            vec!["push", APP, &v12, "--wait", "--timeout", "1s"],
            Exit::Timeout,
        ),
        (vec!["abort", APP], Exit::Success),
        (
            vec!["wait", APP, "--for", "aborted", "--timeout", "60s"],
            Exit::Success,
        ),
        (vec!["retry", APP], Exit::Success),
        (vec!["promote", APP, "--full"], Exit::Success),
    ];
    for (args, expected) in steps {
        let got = portcullis(&cli, ns, &args).await;
        assert_eq!(got, expected, "portcullis {}", args.join(" "));
    }
    until(
        &c.client,
        ns,
        "the retried release promoted",
        Duration::from_secs(60),
        |s| {
            s.phase == Some(Phase::Succeeded)
                && s.stable
                    .as_ref()
                    .is_some_and(|r| r.images == [image("1.2")])
        },
    )
    .await;
    op.stop().await;

    let denied = denied(&log, rbac::RULES);
    assert!(denied.is_empty(), "not in cli::rbac::RULES: {denied:#?}");
    // And nothing in RULES is unused: every rule's verbs were needed.
    let log = log.lock().unwrap().clone();
    assert!(log.len() > 10, "requests were recorded: {log:?}");
    for (g, r, verbs) in rbac::RULES {
        for v in *verbs {
            assert!(
                log.iter().any(|(m, p, q)| required(m, p, q)
                    == Some((g.to_string(), r.to_string(), v.to_string()))),
                "{v} {g}/{r} is granted but never used"
            );
        }
    }
}
