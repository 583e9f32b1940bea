//! Starting a local API server for a test, and a client for it.
use kube_memserver::apiserver::{self, Config, LocalApiServer};

pub async fn start() -> (LocalApiServer, kube::Client) {
    let server = apiserver::start(Config::default())
        .await
        .expect("local API server starts");
    let client = server
        .client()
        .await
        .expect("client for the local API server");
    (server, client)
}
