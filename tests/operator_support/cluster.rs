//! The cluster operator tests run on: the local one (API server + simulated
//! kube-controller-manager and kubelet, started per test), or the real cluster named by
//! `PORTCULLIS_E2E_KUBECONFIG` (`make e2e-cluster`), with Portcullis' CRDs and the Gateway
//! API CRD installed there.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_memserver::apiserver::{self, LocalApiServer};
use kube_memserver::workloads::{self, WorkloadOptions};
use std::path::PathBuf;
use std::time::Duration;

pub const E2E_ENV: &str = "PORTCULLIS_E2E_KUBECONFIG";

pub struct Cluster {
    pub client: Client,
    kubeconfig: PathBuf,
    _local: Option<Local>,
}

/// What keeps the local cluster alive for the test's duration.
struct Local {
    _dir: tempfile::TempDir,
    _server: LocalApiServer,
    workloads: tokio::task::JoinHandle<()>,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.workloads.abort();
    }
}

impl Cluster {
    pub async fn start() -> Cluster {
        Self::start_with(true).await
    }

    /// The local cluster without the Gateway API (it is installed later with
    /// [`Cluster::install_gateway_api`]). Local only: a real cluster cannot drop it.
    pub async fn start_without_gateway_api() -> Cluster {
        assert!(
            std::env::var(E2E_ENV).is_err(),
            "this scenario needs a cluster without the Gateway API: the local one"
        );
        Self::start_with(false).await
    }

    async fn start_with(gateway_api: bool) -> Cluster {
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
        let server = apiserver::start(apiserver::Config::default())
            .await
            .expect("the local API server starts");
        let dir = tempfile::tempdir().expect("a temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let client = client(&kubeconfig).await;
        install_crds(&client, portcullis::api::crds()).await;
        if gateway_api {
            install_crds(&client, gateway_api_crds()).await;
        }
        // Pods start and become ready quickly: these tests are about the operator.
        let options = WorkloadOptions {
            start_delay: Duration::from_millis(100),
            readiness_delay: Duration::from_millis(200),
            failures: Vec::new(),
        };
        let workloads = tokio::spawn(workloads::run(
            server.client().await.expect("a client for the workloads"),
            options,
            std::future::pending(),
        ));
        Cluster {
            client,
            kubeconfig,
            _local: Some(Local {
                _dir: dir,
                _server: server,
                workloads,
            }),
        }
    }

    pub fn kubeconfig_path(&self) -> &std::path::Path {
        &self.kubeconfig
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

    pub async fn install_gateway_api(&self) {
        install_crds(&self.client, gateway_api_crds()).await;
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

/// Gateway API's HTTPRoute CRD, as the Gateway API release ships it.
fn gateway_api_crds() -> Vec<CustomResourceDefinition> {
    let gateway = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/kube-memserver/tests/fixtures/gateway-api/httproutes.yaml"
    ))
    .expect("the HTTPRoute CRD fixture");
    serde_saphyr::from_multiple::<CustomResourceDefinition>(&gateway)
        .expect("the HTTPRoute CRD parses")
}

/// CRDs applied and Established.
async fn install_crds(client: &Client, crds: Vec<CustomResourceDefinition>) {
    portcullis::lab::setup::install_crds(client, crds)
        .await
        .expect("CRDs installed");
}

async fn client(kubeconfig: &PathBuf) -> Client {
    portcullis::controller::client(Some(kubeconfig))
        .await
        .expect("a client for the kubeconfig")
}
