//! The data plane as `portcullis local-cluster` runs it: `/metrics`, the snapshot watch and
//! the paced traffic, started together and stopped together.

use super::args::TrafficArgs;
use super::metrics::DataPlaneMetrics;
use super::runner::TrafficRunner;
use super::server::{MetricsServer, MetricsServerError};
use super::snapshot::Snapshot;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub struct DataPlane {
    server: MetricsServer,
    stop: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl DataPlane {
    /// Serves `/metrics` and, when `--traffic-service` is set, sends logins to it.
    pub async fn start(
        client: kube::Client,
        args: &TrafficArgs,
    ) -> Result<Self, MetricsServerError> {
        let metrics = Arc::new(DataPlaneMetrics::new());
        let server = MetricsServer::start(args.metrics_port, metrics.clone()).await?;
        let mut plane = DataPlane {
            server,
            stop: Vec::new(),
            tasks: Vec::new(),
        };
        if let Some(model) = args.model() {
            let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
            let (stop_watch, watch_stopped) = oneshot::channel::<()>();
            let (stop_traffic, traffic_stopped) = oneshot::channel::<()>();
            let namespace = model.namespace.clone();
            plane.tasks.push(tokio::spawn(super::watch::run(
                client,
                namespace,
                tx,
                async {
                    let _ = watch_stopped.await;
                },
            )));
            let runner = TrafficRunner::new(model, metrics, args.seed);
            plane.tasks.push(tokio::spawn(runner.run(
                rx,
                args.rps,
                args.speedup,
                async {
                    let _ = traffic_stopped.await;
                },
            )));
            plane.stop = vec![stop_watch, stop_traffic];
        }
        Ok(plane)
    }

    /// Where Prometheus scrapes.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub async fn stop(self) {
        for s in self.stop {
            let _ = s.send(());
        }
        for t in self.tasks {
            let _ = t.await;
        }
        self.server.stop().await;
    }
}
