//! `--pod-start-delay`, `--pod-readiness-delay` and `--pod-failure IMAGE=MODE`.

use clap::{CommandFactory, Parser};
use k8s_openapi::api::core::v1::Pod;
use kube_memserver::workloads::WorkloadOptions;
use kube_memserver::workloads::kubelet::FailureMode;
use serde_json::json;
use std::time::Duration;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    workloads: WorkloadOptions,
}

fn parse(args: &[&str]) -> Result<WorkloadOptions, String> {
    Cli::try_parse_from(std::iter::once("local-cluster").chain(args.iter().copied()))
        .map(|c| c.workloads)
        .map_err(|e| e.to_string())
}

fn pod(image: &str) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}}),
    )
    .unwrap()
}

#[test]
fn failure_modes_apply_to_the_pods_of_their_image() {
    let options = parse(&[
        "--pod-readiness-delay",
        "500ms",
        "--pod-failure",
        "auth:2=crash-loop:5s",
        "--pod-failure",
        "auth:3=never-ready",
    ])
    .unwrap();
    assert_eq!(options.readiness_delay, Duration::from_millis(500));
    assert_eq!(options.start_delay, Duration::from_secs(1), "default");
    assert_eq!(
        options.behaviour(&pod("auth:2")).failure,
        Some(FailureMode::CrashLoop {
            runs_for: Duration::from_secs(5)
        })
    );
    assert_eq!(
        options.behaviour(&pod("auth:3")).failure,
        Some(FailureMode::NeverReady)
    );
    assert_eq!(options.behaviour(&pod("auth:1")).failure, None);
    assert_eq!(parse(&[]).unwrap(), WorkloadOptions::default());
}

#[test]
fn wrong_values_say_what_to_write() {
    for (args, message) in [
        (vec!["--pod-failure", "auth:2"], "write IMAGE=crash-loop"),
        (
            vec!["--pod-failure", "auth:2=explode"],
            "unknown failure mode `explode`",
        ),
        (
            vec!["--pod-failure", "auth:2=crash-loop:soon"],
            "is not a duration",
        ),
        (vec!["--pod-readiness-delay", "2"], "is not a duration"),
    ] {
        let err = parse(&args).unwrap_err();
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn help_documents_the_pod_options() {
    let help = Cli::command().render_long_help().to_string();
    for option in [
        "--pod-start-delay <DURATION>",
        "--pod-readiness-delay <DURATION>",
        "--pod-failure <IMAGE=MODE>",
        "never-ready",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}
