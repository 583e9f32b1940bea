//! The cluster operator tests run on: the local one (API server + simulated
//! kube-controller-manager and kubelet, started per test), or the real cluster named by
//! `PORTCULLIS_E2E_KUBECONFIG` (`make e2e-cluster`), with Portcullis' CRDs and the Gateway
//! API CRD installed there.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::PathBuf;

pub const E2E_ENV: &str = "PORTCULLIS_E2E_KUBECONFIG";

pub struct Cluster {
    pub client: Client,
    kubeconfig: PathBuf,
    _local: Option<Local>,
}

/// What keeps the local cluster alive for the test's duration.
struct Local {
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        portcullis::install_crypto_provider();
        if let Ok(path) = std::env::var(E2E_ENV) {
            let kubeconfig = PathBuf::from(path);
            let client = client(&kubeconfig).await;
            return Cluster {
                client,
                kubeconfig,
                _local: None,
            };
        }
        unimplemented!("local cluster: wired at merge")
    }

    pub async fn config(&self) -> Config {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("a readable kubeconfig");
        Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("a usable kubeconfig")
    }

    /// (reason, note) of the events about `name` in `ns`.
    pub async fn events(&self, ns: &str, name: &str) -> Vec<(String, String)> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        api.list(&ListParams::default())
            .await
            .expect("listing events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    pub async fn deployments(&self, ns: &str) -> Vec<Deployment> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        api.list(&ListParams::default())
            .await
            .expect("listing Deployments")
            .items
    }

    pub async fn lease_holder(&self, ns: &str, name: &str) -> Option<String> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), ns);
        api.get_opt(name)
            .await
            .ok()
            .flatten()?
            .spec?
            .holder_identity
    }
}

async fn client(kubeconfig: &PathBuf) -> Client {
    portcullis::controller::client(Some(kubeconfig))
        .await
        .expect("a client for the kubeconfig")
}
