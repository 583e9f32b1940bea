//! `--traffic-*`, `--release` and `--metrics-port`: parsed into a traffic model, documented
//! in `--help`, and wrong values rejected with a message that says what to write.

use clap::{CommandFactory, Parser};
use portcullis::lab::dataplane::{AuthBehaviour, ServiceRef, TrafficArgs};

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    traffic: TrafficArgs,
}

fn parse(args: &[&str]) -> Result<TrafficArgs, String> {
    Cli::try_parse_from(std::iter::once("local-cluster").chain(args.iter().copied()))
        .map(|c| c.traffic)
        .map_err(|e| e.to_string())
}

#[test]
fn a_command_line_describes_the_traffic_model() {
    let args = parse(&[
        "--traffic-service",
        "shop/auth",
        "--traffic-rps",
        "50",
        "--traffic-users",
        "300",
        "--traffic-staff",
        "10",
        "--release",
        "auth:2.0=bug:1.0,bug-users:0.1",
        "--release",
        "auth:1.0=baseline:0.01",
        "--traffic-seed",
        "7",
    ])
    .unwrap();
    assert_eq!(
        args.service,
        Some(ServiceRef {
            namespace: "shop".into(),
            name: "auth".into()
        })
    );
    assert_eq!(args.rps, 50.0);
    assert_eq!(
        (args.speedup, args.metrics_port),
        (1.0, 0),
        "real time and a free port by default"
    );
    let model = args.model().unwrap();
    assert_eq!((model.population.users, model.population.staff), (300, 10));
    assert_eq!(
        model.population.canary_header,
        ("x-canary".into(), "true".into())
    );
    assert_eq!(
        model.behaviour("auth:2.0"),
        AuthBehaviour {
            bug: 1.0,
            bug_users: 0.1,
            ..AuthBehaviour::default()
        }
    );
    assert_eq!(model.behaviour("auth:1.0").baseline, 0.01);
    assert_eq!(
        model.behaviour("other:1").baseline,
        0.02,
        "unlisted images use --traffic-baseline"
    );
}

#[test]
fn without_a_service_there_is_no_traffic() {
    assert_eq!(parse(&[]).unwrap().model(), None);
}

#[test]
fn wrong_values_say_what_to_write() {
    let cases = [
        (
            vec!["--traffic-service", "auth"],
            "write the Service as NAMESPACE/NAME",
        ),
        (
            vec!["--traffic-rps=-1"],
            "requests per second must be a number ≥ 0",
        ),
        (
            vec!["--traffic-speedup", "0"],
            "the speed-up must be a number > 0",
        ),
        (
            vec!["--traffic-baseline", "1.5"],
            "a share must be between 0 and 1",
        ),
        (
            vec!["--traffic-canary-header", "x-canary"],
            "write the header as NAME=VALUE",
        ),
        (vec!["--release", "auth:2=bug"], "write IMAGE=KEY:VALUE"),
        (vec!["--release", "auth:2=bugs:1"], "unknown key `bugs`"),
    ];
    for (args, message) in cases {
        let err = parse(&args).unwrap_err();
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn help_documents_every_option() {
    let help = Cli::command().render_long_help().to_string();
    for option in [
        "--traffic-service <NAMESPACE/NAME>",
        "--traffic-rps <RATE>",
        "--traffic-users <N>",
        "--traffic-staff <N>",
        "--traffic-canary-header <NAME=VALUE>",
        "--traffic-baseline <SHARE>",
        "--release <IMAGE=SETTINGS>",
        "--traffic-speedup <FACTOR>",
        "--traffic-seed <N>",
        "--metrics-port <PORT>",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    assert!(
        help.contains("bug-users"),
        "the --release settings are explained"
    );
}
