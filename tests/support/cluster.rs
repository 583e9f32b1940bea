//! A local API server (crates/kube-memserver) for one test, and a client for it.
use kube_memserver::apiserver::{self, Config, LocalApiServer};

pub async fn start() -> (LocalApiServer, kube::Client) {
    // Other clients in the test (kube's own, reqwest) use rustls.
    portcullis::install_crypto_provider();
    let server = apiserver::start(Config::default())
        .await
        .expect("local API server starts");
    let client = server
        .client()
        .await
        .expect("client for the local API server");
    (server, client)
}
