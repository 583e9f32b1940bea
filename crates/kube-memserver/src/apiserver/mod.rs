//! The local API server: the Kubernetes REST protocol over HTTP on loopback, in memory.
//! A test double for the operator, the CLI and kubectl, held to a real kube-apiserver by
//! the recorded transcripts in `tests/fixtures/apiserver-transcripts/`.
//!
//! What it does: discovery (legacy and aggregated), generic storage of the built-in kinds
//! in [`resources`] and of CRD-defined kinds once the CRD is Established, get/list (label
//! and field selectors, `limit`/`continue`, `resourceVersion`/`resourceVersionMatch`),
//! create/update/delete, `/status` and `/scale`, JSON merge and JSON patches, strategic
//! merge and server-side apply (through `crate::objects`), finalizers and
//! `deletionTimestamp`, garbage collection of ownerReferences and terminating namespaces,
//! watches (bookmarks, `sendInitialEvents`, 410 for a compacted resourceVersion), Table
//! and PartialObjectMetadata output, `Status` errors shaped like kube-apiserver's.
//!
//! The transcript replay (`tests/apiserver_replay.rs`) prints how many recorded
//! exchanges replay identically per scenario; `tests/support/replay_known.rs` lists every
//! exchange excused from it, with the reason.
//!
//! # Known differences from kube-apiserver
//! Each is deliberate for a test double, or not needed by the operator, the CLI or kubectl.
//! - No authentication or authorization: every request acts as a cluster admin, so the
//!   401/403 answers of transcript 11 (anonymous, bad token, unprivileged user) are not
//!   reproduced; SelfSubjectAccessReview and SelfSubjectRulesReview always allow (the
//!   access review's `status.reason` says so, where kube-apiserver leaves it empty for a
//!   cluster admin), SelfSubjectReview names `admin`.
//! - Protobuf (`application/vnd.kubernetes.protobuf`, see [`protobuf`]) only for the
//!   kinds kubectl's generator commands send: Namespace, ConfigMap, Secret,
//!   ServiceAccount, the access reviews and SelfSubjectReview both ways; Deployment,
//!   Pod and Service bodies decoded (the fields those generators set; a body with other
//!   fields, or of another served kind, gets a 415) and answered as JSON, which
//!   clients accept too.
//! - OpenAPI: `/openapi/v3` serves the documents a real v1.36 server served for the
//!   built-in groups (recorded, trimmed to the served resources; see [`openapi`]) and
//!   documents built from CRDs; the URLs' `?hash=` is this server's own. `/openapi/v2`
//!   is an empty Swagger document (kubectl then validates the reviews on the server).
//!   Fields a built-in kind's recorded schema does not declare are refused under
//!   `fieldValidation=Strict` (kubectl's default) and warned about otherwise, but kept
//!   where kube-apiserver drops them.
//! - Built-in validation covers only the rules in `defaults::validate` (names, replicas,
//!   selectors, lease durations, TLS Secrets, events.k8s.io eventTime) and decoding only
//!   those in `defaults::decode` (base64 Secret data, MicroTime precision).
//! - Duplicate JSON fields of a POST or PUT are reported (`duplicate field`), but not in
//!   patches (the last one wins); apply bodies are YAML
//!   1.2 (`y` is a string, not `true`); error texts for malformed JSON, YAML and continue
//!   tokens come from Rust parsers, not Go's.
//! - Deleting a CRD removes its objects at once (no customresourcecleanup finalizer);
//!   versions of a CRD convert by apiVersion only (conversion webhooks are not called).
//! - Services get a cluster IP drawn from their uid (no allocator: two could collide).
//! - `/version` reports this server, `/readyz?verbose` lists no checks, and there is no
//!   apiserver identity Lease in kube-system.
//! - Bookmarks come every `bookmark_interval` (default 60 s) and in the last two seconds
//!   before a watch's deadline; kube-apiserver's watch cache times them differently.
//! - One process, one store: no etcd, nothing survives a restart; `compact` stands for
//!   an etcd compaction. Everything is in one lock: fine for tests, not for load.

mod crd;
mod defaults;
mod delete;
mod discovery;
mod events;
mod gc;
mod http;
pub mod kubeconfig;
mod meta;
mod objects_glue;
mod openapi;
mod ownership;
mod patch;
mod protobuf;
mod read;
pub mod resources;
mod reviews;
mod routes;
mod scale;
mod selectors;
mod state;
mod status;
mod store;
mod table;
mod update;
mod watch;
mod write;

use bytes::Bytes;
use state::{Inner, Shared, Tuning};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

/// How to start a [`LocalApiServer`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Period of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// How many writes the event log keeps for watches (older resourceVersions get 410).
    pub history: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            bookmark_interval: Duration::from_secs(60),
            history: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot listen on 127.0.0.1:{port}: {source} (pick another --port, or 0 for a free one)"
    )]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot write the kubeconfig to {path}: {source}")]
    WriteKubeconfig {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot build a client for the local API server: {0}")]
    Client(String),
}

/// A running local API server.
pub struct LocalApiServer {
    addr: SocketAddr,
    stop: signal::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// Binds 127.0.0.1:`config.port` and serves until [`LocalApiServer::shutdown`].
pub async fn start(config: Config) -> Result<LocalApiServer, Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| Error::Bind {
            port: config.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        port: config.port,
        source,
    })?;
    let (stop, stopped) = signal::channel(false);
    let inner = Inner {
        store: store::Store::new(config.history),
        registry: resources::Registry::default(),
    };
    let shared = Arc::new(Shared::new(
        inner,
        stopped,
        Tuning {
            bookmark_interval: config.bookmark_interval,
        },
    ));
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let body =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let req = http::Request {
            method: ::http::Method::POST,
            path: "/api/v1/namespaces".into(),
            user_agent: "local-cluster".into(),
            body: Bytes::from(body.to_string()),
            ..http::Request::empty()
        };
        http::dispatch(&shared, req).await;
    }
    let tasks = vec![
        tokio::spawn(http::serve(listener, shared.clone())),
        tokio::spawn(gc::run(shared.clone())),
    ];
    Ok(LocalApiServer {
        addr,
        stop,
        tasks,
        shared,
    })
}

impl LocalApiServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.url())
    }
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig()).map_err(|source| Error::WriteKubeconfig {
            path: path.display().to_string(),
            source,
        })
    }
    /// A `kube::Client` for this server, built from its kubeconfig as a user's would be.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig())
            .map_err(|e| Error::Client(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| Error::Client(e.to_string()))?;
        // Plain HTTP, so no TLS provider has to be chosen (kube's rustls connector needs
        // one even for http:// URLs).
        use kube::client::ConfigExt;
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<kube::client::Body>();
        let service = tower::ServiceBuilder::new()
            .layer(config.base_uri_layer())
            .service(http);
        Ok(kube::Client::new(service, config.default_namespace))
    }
    /// Forgets the watch history, as an etcd compaction does: watches and exact lists
    /// from older resourceVersions answer 410 Expired.
    pub fn compact(&self) {
        self.shared.lock().store.compact();
    }
    /// Stops accepting, ends open watches and connections, and waits for that.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }
}
