//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): two replicas can
//! run, only the holder reconciles, and a graceful stop releases the Lease so the other
//! takes over at once instead of after the lease duration.

use futures::FutureExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::Api;
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

/// Creates the Lease when it is missing, so that it too is written by field manager
/// `portcullis` (kube-lease-manager creates it without one); the manager then finds it.
/// Any failure is left to the manager, which creates or reports it itself.
async fn ensure_lease(client: &Client, config: &LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            namespace: Some(config.namespace.clone()),
            ..Default::default()
        },
        spec: Some(Default::default()),
    };
    match api.create(&super::act::post_params(), &lease).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => tracing::debug!(error = %e, "creating the Lease; the lease manager will try"),
    }
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
    ensure_lease(&client, &config).await;
    let manager = LeaseManagerBuilder::new(client, &config.name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration_secs)
        .with_grace(config.grace_secs)
        .with_field_manager(super::act::MANAGER)
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
