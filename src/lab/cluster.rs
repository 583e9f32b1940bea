//! The simulated parts of `portcullis local-cluster` that run beside the API server and
//! talk to it only through the API: kube-controller-manager's Deployment and ReplicaSet
//! controllers, a kubelet, and login traffic with its `/metrics`.

use super::dataplane::{DataPlane, TrafficArgs};
use kube_memserver::workloads::{self, WorkloadOptions};
use std::net::SocketAddr;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Simulation {
    stop: watch::Sender<bool>,
    workloads: JoinHandle<()>,
    plane: DataPlane,
}

impl Simulation {
    pub async fn start(
        client: kube::Client,
        workload: WorkloadOptions,
        traffic: &TrafficArgs,
    ) -> Result<Self, super::dataplane::server::MetricsServerError> {
        let (stop, mut stopped) = watch::channel(false);
        let workloads = tokio::spawn(workloads::run(client.clone(), workload, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        let plane = DataPlane::start(client, traffic).await?;
        Ok(Simulation {
            stop,
            workloads,
            plane,
        })
    }

    /// Where Prometheus scrapes the pods' counters.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.plane.metrics_addr()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.workloads.await;
        self.plane.stop().await;
    }
}
