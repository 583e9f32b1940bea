//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): two replicas can
//! run, only the holder reconciles, and a graceful stop releases the Lease so the other
//! takes over at once instead of after the lease duration.

use futures::FutureExt;
use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManagerBuilder};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration_secs: u64,
    pub grace_secs: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("leader election on Lease {namespace}/{name}: {source}")]
pub struct LeaderError {
    namespace: String,
    name: String,
    #[source]
    source: kube_lease_manager::LeaseManagerError,
}

/// Resolves when leadership is lost (or the stop signal comes).
pub type Lost = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs `work` each time this replica becomes the leader, handing it a future that
/// resolves when leadership ends; returns once `stop` says true, after releasing the
/// Lease.
pub async fn run<W, F>(
    client: Client,
    config: LeaseConfig,
    mut stop: watch::Receiver<bool>,
    mut work: W,
) -> Result<(), LeaderError>
where
    W: FnMut(Lost) -> F,
    F: Future<Output = ()>,
{
    let err = |source| LeaderError {
        namespace: config.namespace.clone(),
        name: config.name.clone(),
        source,
    };
    let manager = LeaseManagerBuilder::new(client, &config.name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration_secs)
        .with_grace(config.grace_secs)
        .with_field_manager("portcullis-leader")
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .build()
        .await
        .map_err(err)?;
    let (mut leading, task) = manager.watch().await;
    loop {
        if *stop.borrow() {
            break;
        }
        if *leading.borrow_and_update() {
            tracing::info!(identity = %config.identity, "became the leader");
            let mut lost_rx = leading.clone();
            let mut stop_rx = stop.clone();
            let lost: Lost = async move {
                tokio::select! {
                    _ = lost_rx.wait_for(|l| !*l) => {},
                    _ = stop_rx.wait_for(|s| *s) => {},
                }
            }
            .boxed();
            work(lost).await;
            tracing::info!(identity = %config.identity, "stopped leading");
            continue;
        }
        tokio::select! {
            changed = leading.changed() => if changed.is_err() { break },
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    // Closing the channel makes the manager's task release the Lease and end.
    drop(leading);
    match task.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(err(e)),
        Err(join) => {
            tracing::warn!(error = %join, "lease task ended abnormally");
            Ok(())
        }
    }
}
