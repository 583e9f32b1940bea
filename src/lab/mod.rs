//! The Portcullis lab: the local cluster (the in-memory API server of
//! crates/kube-memserver, its Deployment controllers and kubelet) plus simulated login
//! traffic with per-pod counters, Debian's Prometheus started on loopback, and the demo.
//! A test double: real users install Portcullis on a real cluster. Built with the `lab`
//! feature only; the operator's image leaves it out.

pub mod cluster;
pub mod dataplane;
pub mod demo;
pub mod prometheus;
pub mod setup;
pub mod stack;

use kube_memserver::{apiserver, workloads};

/// Options of `portcullis local-cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalClusterArgs {
    /// Port on 127.0.0.1 (0 = pick a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where to write the kubeconfig that points at the server.
    #[arg(long, default_value = "./local-cluster.kubeconfig")]
    pub kubeconfig: std::path::PathBuf,
    /// Simulated pods (kube-controller-manager's Deployment and ReplicaSet controllers
    /// and a kubelet run beside the API server).
    #[command(flatten, next_help_heading = "Pods")]
    pub workloads: workloads::WorkloadOptions,
    /// Simulated login traffic and the pods' counters on /metrics.
    #[command(flatten, next_help_heading = "Traffic")]
    pub traffic: dataplane::TrafficArgs,
}

/// Runs the local cluster until SIGINT/SIGTERM.
pub async fn run(args: LocalClusterArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = apiserver::start(apiserver::Config {
        port: args.port,
        ..Default::default()
    })
    .await?;
    server.write_kubeconfig(&args.kubeconfig)?;
    let sim =
        cluster::Simulation::start(server.client().await?, args.workloads, &args.traffic).await?;
    eprintln!(
        "metrics: http://{}/metrics (per-pod login counters)",
        sim.metrics_addr()
    );
    println!(
        "ready: {} kubeconfig={}",
        server.url(),
        args.kubeconfig.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    sim.stop().await;
    server.shutdown().await;
    Ok(())
}
