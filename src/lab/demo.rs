//! `portcullis demo`: the whole story on this machine. A local cluster (API server,
//! simulated Deployments, pods and login traffic), Debian's Prometheus scraping the pods'
//! counters, and the operator judging canaries with it: a good release is promoted, a
//! release whose logins fail is rolled back within seconds and recorded as rejected.

use crate::api::{Phase, Rollout, RolloutStatus};
use crate::cli::{Exit, RolloutCommand};
use crate::controller::ControllerArgs;
use crate::controller::measure::PrometheusAnalysis;
use crate::lab::stack::{self, Stack};
use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, PostParams};
use kube_memserver::workloads::WorkloadOptions;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const NS: &str = "payments";
const APP: &str = "auth-api";

/// Options of `portcullis demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where to write the local cluster's kubeconfig, to watch with kubectl meanwhile.
    #[arg(long, default_value = "./demo.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Logins per second across the app.
    #[arg(long, default_value_t = 200.0)]
    pub rps: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Step(String),
}

fn step(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

fn manifests() -> Vec<(&'static str, Value)> {
    let template = json!({
        "apiVersion": "portcullis.dev/v1alpha1", "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "login-failures"},
        "spec": {"metrics": [{"name": "login-failure-ratio", "counts": {
            "failures": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",outcome=\"failure\",pod=~\"{{pods}}\"}[{{elapsed}}])) or vector(0)",
            "total": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",pod=~\"{{pods}}\"}[{{elapsed}}]))",
            "maxIncrease": 0.2, "confidence": 0.99}}]}
    });
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "namespace": NS},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}},
                              "spec": {"containers": [{"name": "app", "image": "auth:1.0"}]}}}
    });
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": NS},
        "spec": {"selector": {"app": APP}, "ports": [{"port": 80, "targetPort": 8080}]}
    });
    let rollout = json!({
        "apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": APP, "namespace": NS},
        "spec": {"workloadRef": {"name": APP}, "service": APP,
                 "steps": [{"setWeight": 20}, {"pause": {"duration": "20s"}},
                           {"setWeight": 50}, {"pause": {"duration": "15s"}}],
                 "analysis": {"interval": "2s",
                              "templates": [{"name": "login-failures", "clusterScope": true}]}}
    });
    vec![
        ("clusteranalysistemplates", template),
        ("deployments", deployment),
        ("services", service),
        ("rollouts", rollout),
    ]
}

async fn create(client: &Client, what: &str, obj: Value) -> Result<(), DemoError> {
    let (group, version) = match obj["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .split_once('/')
    {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), "v1".to_string()),
    };
    let gvk = kube::api::GroupVersionKind::gvk(
        &group,
        &version,
        obj["kind"].as_str().unwrap_or_default(),
    );
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, what);
    let api: Api<kube::api::DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let dynamic: kube::api::DynamicObject = serde_json::from_value(obj).map_err(step)?;
    api.create(&PostParams::default(), &dynamic)
        .await
        .map_err(|e| step(format!("creating {what}: {e}")))?;
    Ok(())
}

async fn status(client: &Client) -> RolloutStatus {
    let api: Api<Rollout> = Api::namespaced(client.clone(), NS);
    api.get_opt(APP)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.status)
        .unwrap_or_default()
}

/// Prints each new status line until `done` holds, or fails after `limit`.
async fn follow(
    client: &Client,
    limit: Duration,
    done: impl Fn(&RolloutStatus) -> bool,
) -> Result<RolloutStatus, DemoError> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let st = status(client).await;
        let now = crate::cli::describe::line(&st);
        let line = format!("{:>5.1}s  {now}", start.elapsed().as_secs_f64());
        if now != last {
            println!("{line}");
            last = now;
        }
        if done(&st) {
            return Ok(st);
        }
        if start.elapsed() > limit {
            return Err(step(format!("no outcome within {limit:?}; last: {line}")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[derive(Parser)]
struct PipelineCli {
    #[command(subcommand)]
    command: RolloutCommand,
}

/// Runs `portcullis ARGS -n payments` with the command line, exactly as a person or a
/// pipeline would (through the kubeconfig file, printing what the command prints).
async fn portcullis(kubeconfig: &Path, args: &[&str]) -> Result<Exit, DemoError> {
    println!("$ portcullis {} -n {NS}", args.join(" "));
    let path = kubeconfig.display().to_string();
    let argv = ["portcullis"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["-n", NS, "--kubeconfig", &path]);
    let cli = PipelineCli::try_parse_from(argv).map_err(step)?;
    Ok(crate::cli::run(cli.command).await)
}

/// Pushes `image` and waits for its outcome, as a CI pipeline does, and shows the exit
/// status the pipeline branches on.
async fn pipeline(kubeconfig: &Path, image: &str) -> Result<Exit, DemoError> {
    let exit = portcullis(
        kubeconfig,
        &["push", APP, image, "--wait", "--timeout", "180s"],
    )
    .await?;
    let meaning = match exit {
        Exit::Success => "promoted: the pipeline goes on",
        Exit::Failed => "rolled back: the pipeline fails here",
        Exit::Usage => "bad input",
        Exit::Timeout => "no outcome in time",
        Exit::Api => "the API server could not be reached",
    };
    println!("   exit status {} ({meaning})", exit as u8);
    Ok(exit)
}

/// When the canary of `image` first served traffic, and when traffic was back on
/// stable after its abort: watched beside the pipeline, as a person with kubectl would.
async fn traffic_times(client: Client, image: String) -> (Option<Instant>, Option<Instant>) {
    let (mut first, mut back) = (None, None);
    let start = Instant::now();
    while back.is_none() && start.elapsed() < Duration::from_secs(200) {
        let st = status(&client).await;
        let ours = st
            .canary
            .as_ref()
            .is_some_and(|c| c.images.contains(&image));
        if ours && st.effective_weight > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if ours && first.is_some() && st.phase == Some(Phase::Aborted) && st.effective_weight == 0 {
            back = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (first, back)
}

pub async fn run(args: DemoArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    crate::install_crypto_provider();
    println!(
        "Portcullis demo: a local cluster (a test double), simulated login traffic, a real Prometheus."
    );
    let options = WorkloadOptions {
        start_delay: Duration::from_millis(300),
        readiness_delay: Duration::from_secs(1),
        failures: Vec::new(),
    };
    let traffic = stack::traffic(
        NS,
        APP,
        [
            format!("--traffic-rps={}", args.rps),
            "--traffic-users=5000".into(),
            "--traffic-baseline=0.02".into(),
            "--release=auth:1.2=baseline:0.02,bug:1.0".into(),
        ],
    )?;
    let lab = Stack::start(options, &traffic).await?;
    lab.server.write_kubeconfig(&args.kubeconfig)?;
    println!(
        "local cluster at {}  (kubectl --kubeconfig {} get rollouts -n {NS} -w)",
        lab.server.url(),
        args.kubeconfig.display()
    );
    println!(
        "Prometheus at {} scraping the pods' login counters every second",
        lab.prometheus.url()
    );
    let client = lab.client.clone();
    let (stop_tx, stop) = watch::channel(false);
    let controller_args = ControllerArgs::in_process(NS, lab.prometheus.url());
    let analysis = Arc::new(PrometheusAnalysis::new(
        client.clone(),
        lab.prometheus.url(),
    ));
    let operator = tokio::spawn(crate::controller::run_with_client(
        client.clone(),
        controller_args,
        analysis,
        stop,
    ));

    let outcome = story(&client, &args.kubeconfig).await;
    // The cluster goes with the demo: a kubeconfig pointing at it would only mislead.
    if std::fs::remove_file(&args.kubeconfig).is_ok() {
        println!(
            "(removed {}: the local cluster stops with the demo)",
            args.kubeconfig.display()
        );
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(15), operator).await;
    lab.stop().await;
    outcome?;
    println!("\ndemo: good release promoted, bad authentication release rolled back");
    Ok(())
}

async fn story(client: &Client, kubeconfig: &Path) -> Result<(), DemoError> {
    let ns: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}
    }))
    .map_err(step)?;
    let nss: Api<kube::api::DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("", "v1", "Namespace"),
            "namespaces",
        ),
    );
    nss.create(&PostParams::default(), &ns)
        .await
        .map_err(step)?;
    for (what, obj) in manifests() {
        create(client, what, obj).await?;
    }
    println!("\n== auth-api 1.0 running on 4 pods; Portcullis adopts it as stable");
    follow(client, Duration::from_secs(60), |s| {
        s.phase == Some(Phase::Idle)
    })
    .await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let start = Instant::now();
    while deployments.get(APP).await.ok().and_then(|d| d.spec.paused) != Some(true) {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(step("the workload was not paused within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let Prometheus see the stable pods' counters before the first canary.
    tokio::time::sleep(Duration::from_secs(3)).await;

    println!(
        "\n== release auth:1.1 (healthy: 2% wrong passwords, like stable), as a CI pipeline does"
    );
    if pipeline(kubeconfig, "auth:1.1").await? != Exit::Success {
        return Err(step(format!(
            "the healthy release was not promoted: {}",
            status(client).await.message.unwrap_or_default()
        )));
    }
    println!("   promoted: auth:1.1 is stable");
    tokio::time::sleep(Duration::from_secs(3)).await;

    println!("\n== release auth:1.2 (a session bug: every login on its pods fails)");
    let released = Instant::now();
    let watch = tokio::spawn(traffic_times(client.clone(), "auth:1.2".into()));
    if pipeline(kubeconfig, "auth:1.2").await? != Exit::Failed {
        return Err(step("the broken release was not rolled back"));
    }
    let st = status(client).await;
    let Some(abort) = st
        .last_abort
        .clone()
        .filter(|_| st.phase == Some(Phase::Aborted))
    else {
        return Err(step("the broken release was not rolled back"));
    };
    let (first, back) = tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .map_err(|_| step("traffic did not go back to stable within 30 s"))?
        .map_err(step)?;
    let (Some(first), Some(back)) = (first, back) else {
        return Err(step("the canary's traffic was not seen coming and going"));
    };
    println!(
        "   traffic back on stable {:.1}s after the canary's first traffic ({:.1}s after the push)",
        back.duration_since(first).as_secs_f64(),
        back.duration_since(released).as_secs_f64()
    );
    if let Some(n) = abort.estimated_failed_requests {
        println!("   failed logins the canary caused, estimated: {n}");
    }
    println!(
        "   rejected revisions (not retried until `retry` or a new release): {}",
        st.rejected_revisions.join(", ")
    );
    println!();
    portcullis(kubeconfig, &["status", APP]).await?;
    println!(
        "   (kubectl describe rollout {APP} -n {NS} shows the Aborted event with the numbers)"
    );
    Ok(())
}
