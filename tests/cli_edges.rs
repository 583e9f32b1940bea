//! The command line's edges: where it is pointed at nothing, at the wrong thing, or into
//! a closed pipe, it says so plainly with the documented exit status, and every argument
//! explains itself in `--help`.

use clap::{CommandFactory, Parser};
use std::io::Read;
use std::process::{Command, Stdio};

fn portcullis(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn kubeconfig(dir: &std::path::Path, server: &str) -> String {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\"}}}}]\n\
             users: [{{name: u, user: {{token: t}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u, namespace: payments}}}}]\n\
             current-context: x\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn a_missing_kubeconfig_or_context_is_bad_input() {
    let (code, _, err) = portcullis(&["status", "web", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/kubeconfig"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let k = kubeconfig(dir.path(), "http://127.0.0.1:9");
    let (code, _, err) = portcullis(&["status", "web", "--kubeconfig", &k, "--context", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn an_api_server_that_does_not_answer_is_named() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let k = kubeconfig(dir.path(), &url);
    let (code, _, err) = portcullis(&["status", "web", "--kubeconfig", &k]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(&format!("nothing answered at {url}")), "{err}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_never_with_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..1500 {
        text += &format!(
            "---\napiVersion: portcullis.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: r{i}}}\n\
             spec: {{workloadRef: {{name: w}}, service: s, steps: [{{setWeight: 100}}]}}\n"
        );
    }
    let f = dir.path().join("many.yaml");
    std::fs::write(&f, text).unwrap();
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["lint", "--max-documents", "5000", f.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take()); // `| head -c 16`
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_ne!(status.code(), Some(101), "panicked: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: portcullis::cli::RolloutCommand,
}

#[derive(Parser)]
struct Controller {
    #[command(flatten)]
    args: portcullis::controller::ControllerArgs,
}

#[test]
fn every_argument_says_what_it_is_for() {
    let mut missing = Vec::new();
    let cli = Cli::command();
    let controller = Controller::command();
    let commands = cli
        .get_subcommands()
        .map(|c| (c.get_name().to_string(), c.clone()))
        .chain([("controller".to_string(), controller)]);
    for (name, cmd) in commands {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{name} {id}"));
            }
        }
    }
    assert!(missing.is_empty(), "arguments without help: {missing:?}");
}
