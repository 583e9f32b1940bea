//! `portcullis` as a CI pipeline uses it, through the binary against the local cluster
//! and a running operator: push a release, wait for it, promote or abort it, and read
//! the outcome from the exit status.

mod operator_support;

use operator_support::*;
use portcullis::api::{Phase, Verdict};
use portcullis::engine::AnalysisReading;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// What one run of the binary printed, and its exit status.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `portcullis ARGS --kubeconfig K -n NS` (blocking, off the runtime's threads, so
/// the in-process operator keeps working meanwhile).
async fn portcullis(kubeconfig: &std::path::Path, ns: &str, args: &[&str]) -> Ran {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend([
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "-n".into(),
        ns.into(),
    ]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(&all)
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn spec_with_a_manual_gate() -> serde_json::Value {
    json!({
        "workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "1s"}}],
        "analysis": {"interval": "1s", "metrics": [{"name": "login-failures",
            "query": {"query": "vector(0)", "max": 0.1}}]}
    })
}

fn kubeconfig(c: &cluster::Cluster) -> PathBuf {
    c.kubeconfig_path().to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_release_waits_at_the_gate_and_is_promoted_on_command() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("cli-good");
    given_app(&c.client, ns, 3, spec_with_a_manual_gate()).await;
    let op = Operator::start(c.client.clone(), ns).await;
    op.readings.set(AnalysisReading::verdict(Verdict::Pass));
    adopted(&c.client, ns).await;
    let k = &kubeconfig(&c);

    let pushed = portcullis(k, ns, &["push", APP, &image("1.1")]).await;
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stdout.contains("revision "), "{}", pushed.stdout);

    let paused = portcullis(k, ns, &["wait", APP, "--for", "paused", "--timeout", "60s"]).await;
    assert_eq!(paused.code, 0, "{}{}", paused.stdout, paused.stderr);
    assert!(
        paused.stdout.contains("paused at step 2/4"),
        "{}",
        paused.stdout
    );

    let status = portcullis(k, ns, &["status", APP]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    for expected in [
        "Phase:    Paused",
        "weight 25%",
        &image("1.1"),
        "Analysis: Pass",
    ] {
        assert!(
            status.stdout.contains(expected),
            "`{expected}` in\n{}",
            status.stdout
        );
    }

    let promoted = portcullis(k, ns, &["promote", APP]).await;
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let done = portcullis(k, ns, &["wait", APP, "--timeout", "60s"]).await;
    assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
    assert!(
        done.stdout.contains("is stable") && done.stdout.contains(&image("1.1")),
        "{}",
        done.stdout
    );
    assert!(
        done.stderr.contains("Promoting"),
        "progress lines go to stderr: {}",
        done.stderr
    );

    // The same release again changes nothing and is already done.
    let again = portcullis(k, ns, &["push", APP, &image("1.1"), "--wait"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("already runs"), "{}", again.stdout);
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_release_fails_the_pipeline_and_is_not_retried_by_pushing_it_again() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("cli-bad");
    given_app(&c.client, ns, 3, spec_with_a_manual_gate()).await;
    let op = Operator::start(c.client.clone(), ns).await;
    op.readings
        .set(AnalysisReading::verdict(Verdict::Inconclusive));
    adopted(&c.client, ns).await;
    let k = &kubeconfig(&c);

    let pushed = portcullis(k, ns, &["push", APP, &image("1.2-broken")]).await;
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    until(&c.client, ns, "the canary at 25%", T, |s| {
        s.effective_weight == 25
    })
    .await;
    op.readings.set(AnalysisReading::verdict(Verdict::Fail));
    let waited = portcullis(k, ns, &["wait", APP, "--timeout", "60s"]).await;
    assert_eq!(waited.code, 1, "{}{}", waited.stdout, waited.stderr);
    assert!(
        waited.stdout.contains("was rolled back") && waited.stdout.contains("portcullis retry"),
        "{}",
        waited.stdout
    );

    let again = portcullis(k, ns, &["push", APP, &image("1.2-broken"), "--wait"]).await;
    assert_eq!(again.code, 1, "{}{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("rolled back before") && again.stdout.contains("--retry"),
        "{}",
        again.stdout
    );

    let aborted = portcullis(k, ns, &["wait", APP, "--for", "aborted", "--timeout", "5s"]).await;
    assert_eq!(aborted.code, 0, "{}{}", aborted.stdout, aborted.stderr);

    op.readings
        .set(AnalysisReading::verdict(Verdict::Inconclusive));
    // Pushing it again with --retry judges it again (as `portcullis retry` would).
    let retried = portcullis(k, ns, &["push", APP, &image("1.2-broken"), "--retry"]).await;
    assert_eq!(retried.code, 0, "{}{}", retried.stdout, retried.stderr);
    until(&c.client, ns, "the canary runs again", T, |s| {
        s.phase == Some(Phase::Progressing) || s.phase == Some(Phase::Paused)
    })
    .await;
    let abort = portcullis(k, ns, &["abort", APP]).await;
    assert_eq!(abort.code, 0, "{}{}", abort.stdout, abort.stderr);
    until(&c.client, ns, "the manual abort", T, phase(Phase::Aborted)).await;
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_nobody_acts_on_times_out_with_a_hint_and_stays_on_the_rollout() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("cli-nobody");
    given_app(&c.client, ns, 1, spec_with_a_manual_gate()).await;
    let k = &kubeconfig(&c);

    let ran = portcullis(k, ns, &["abort", APP, "--timeout", "1s"]).await;
    assert_eq!(ran.code, 3, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("is Portcullis running"),
        "{}",
        ran.stderr
    );
    let ro: portcullis::api::Rollout = get(&c.client, ns, APP).await.unwrap();
    let annotation = ro.metadata.annotations.unwrap_or_default();
    assert!(
        annotation
            .get("portcullis.dev/command")
            .is_some_and(|c| c.starts_with("abort:")),
        "{annotation:?}"
    );

    let sent = portcullis(k, ns, &["pause", APP, "--no-wait"]).await;
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert!(sent.stdout.starts_with("sent pause:"), "{}", sent.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_do_not_exist_are_bad_input() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("cli-missing");
    given_app(&c.client, ns, 1, spec_with_a_manual_gate()).await;
    let k = &kubeconfig(&c);

    let ran = portcullis(k, ns, &["promote", "nope"]).await;
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains(&format!("rollout nope not found in namespace {ns}")),
        "{}",
        ran.stderr
    );

    let ran = portcullis(k, ns, &["push", APP, "sidecar=envoy:2"]).await;
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("no container `sidecar`"),
        "{}",
        ran.stderr
    );
    let d: k8s_openapi::api::apps::v1::Deployment = get(&c.client, ns, APP).await.unwrap();
    assert_eq!(
        d.spec.template.spec.unwrap().containers[0].image,
        Some(image("1.0")),
        "nothing is changed by a refused push"
    );

    let listed = portcullis(k, ns, &["status"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.starts_with(APP), "{}", listed.stdout);
    let json = portcullis(k, ns, &["status", APP, "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["kind"], "Rollout");
}

/// `kubectl portcullis ...` with the binary installed as `kubectl-portcullis` on PATH.
async fn kubectl_plugin(
    path: &std::path::Path,
    env_kubeconfig: Option<&std::path::Path>,
    args: &[&str],
) -> Ran {
    let args: Vec<String> = ["portcullis"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect();
    let path_var = format!(
        "{}:{}",
        path.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubeconfig = env_kubeconfig.map(|k| k.to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new("/usr/bin/kubectl");
        c.args(&args).env("PATH", path_var).env_remove("KUBECONFIG");
        if let Some(k) = kubeconfig {
            c.env("KUBECONFIG", k);
        }
        c.output().expect("kubectl runs")
    })
    .await
    .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_a_kubectl_plugin_it_answers_as_itself_with_kubectls_flags_and_environment() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("cli-plugin");
    given_app(&c.client, ns, 1, spec_with_a_manual_gate()).await;
    let k = &kubeconfig(&c);
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_portcullis"),
        bin.path().join("kubectl-portcullis"),
    )
    .unwrap();

    let direct = portcullis(k, ns, &["status", APP]).await;
    assert_eq!(direct.code, 0, "{}", direct.stderr);
    // Flags after the plugin name, as kubectl users write them.
    let k_str = k.display().to_string();
    let flags = kubectl_plugin(
        bin.path(),
        None,
        &["status", APP, "--kubeconfig", &k_str, "-n", ns],
    )
    .await;
    assert_eq!(flags.code, 0, "{}", flags.stderr);
    assert_eq!(flags.stdout, direct.stdout);
    // KUBECONFIG from the environment, and the context named explicitly.
    let context = kube::config::Kubeconfig::read_from(k)
        .unwrap()
        .current_context
        .unwrap();
    let env = kubectl_plugin(
        bin.path(),
        Some(k),
        &["status", APP, "--context", &context, "-n", ns],
    )
    .await;
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert_eq!(env.stdout, direct.stdout);
    // Its help names it as kubectl users call it.
    let help = kubectl_plugin(bin.path(), None, &["--help"]).await;
    assert!(
        help.stdout.contains("Usage: kubectl portcullis"),
        "{}",
        help.stdout
    );
}
