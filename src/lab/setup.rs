//! Setting a cluster up for tests and the demo, through the API like a user would.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("installing CRD {name}: {source}")]
    Install { name: String, source: kube::Error },
    #[error("CRD {0} was not Established within 10 s")]
    NotEstablished(String),
}

/// Creates each CRD (an existing one is left as it is) and waits until it is served.
pub async fn install_crds(
    client: &kube::Client,
    crds: Vec<CustomResourceDefinition>,
) -> Result<(), SetupError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(source) => return Err(SetupError::Install { name, source }),
        }
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        match tokio::time::timeout(Duration::from_secs(10), established).await {
            Ok(Ok(_)) => {}
            _ => return Err(SetupError::NotEstablished(name)),
        }
    }
    Ok(())
}
