//! The lab's parts started together, as `portcullis demo` and the operator tests use
//! them: the local API server with Portcullis' CRDs, simulated pods and login traffic,
//! and Debian's Prometheus scraping the pods' counters.

use super::cluster::Simulation;
use super::dataplane::TrafficArgs;
use super::dataplane::server::MetricsServerError;
use super::prometheus::{Prometheus, PrometheusError};
use super::setup::{self, SetupError};
use kube_memserver::apiserver::{self, LocalApiServer};
use kube_memserver::workloads::WorkloadOptions;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("the local API server: {0}")]
    ApiServer(#[from] apiserver::Error),
    #[error("{0}")]
    Crds(#[from] SetupError),
    #[error("the simulated traffic's /metrics: {0}")]
    Metrics(#[from] MetricsServerError),
    #[error("{0} (is Debian's prometheus installed? make deps-prometheus)")]
    Prometheus(#[from] PrometheusError),
    #[error("traffic flags: {0}")]
    Traffic(#[from] clap::Error),
}

pub struct Stack {
    pub server: LocalApiServer,
    pub client: kube::Client,
    pub sim: Simulation,
    pub prometheus: Prometheus,
}

impl Stack {
    /// Starts everything; the first part that fails is named in the error.
    pub async fn start(pods: WorkloadOptions, traffic: &TrafficArgs) -> Result<Stack, StackError> {
        crate::install_crypto_provider();
        let server = apiserver::start(apiserver::Config::default()).await?;
        let client = server.client().await?;
        setup::install_crds(&client, crate::api::crds()).await?;
        let sim = Simulation::start(client.clone(), pods, traffic).await?;
        let prometheus = Prometheus::start(&[sim.metrics_addr().to_string()]).await?;
        Ok(Stack {
            server,
            client,
            sim,
            prometheus,
        })
    }

    /// Stops the traffic, the pods, Prometheus and the API server, in that order.
    pub async fn stop(self) {
        self.sim.stop().await;
        drop(self.prometheus);
        self.server.shutdown().await;
    }
}

/// `--traffic-*` flags (as `portcullis local-cluster` takes them) for traffic to
/// `namespace/service`.
pub fn traffic<I, S>(namespace: &str, service: &str, flags: I) -> Result<TrafficArgs, StackError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        traffic: TrafficArgs,
    }
    use clap::Parser;
    let args = [
        "traffic".to_string(),
        format!("--traffic-service={namespace}/{service}"),
    ]
    .into_iter()
    .chain(flags.into_iter().map(Into::into));
    Ok(Flags::try_parse_from(args)?.traffic)
}
