//! The local cluster: a Kubernetes-protocol API server for tests and the demo.
//! A test double: real users install Portcullis on a real cluster.

pub mod apiserver;
pub mod dataplane;
pub mod objects;
pub mod prometheus;
pub mod workloads;

/// Options of `portcullis local-cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalClusterArgs {
    /// Port on 127.0.0.1 (0 = pick a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// Runs the local cluster until SIGINT/SIGTERM.
pub async fn run(_args: LocalClusterArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("local-cluster is not built yet".into())
}
