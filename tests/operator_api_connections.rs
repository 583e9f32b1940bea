//! The operator's connections to the API server stay within `--max-api-connections`,
//! whatever the load, and a request that finds none free fails at the connect timeout
//! instead of waiting for ever.

use clap::Parser;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use portcullis::controller::{ControllerArgs, RunError, api_client, operator_client};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An API server that answers every request after `delay` (`/hang`: after a minute) and
/// counts the connections open to it.
struct SlowServer {
    url: String,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    /// The `Authorization` header of every request, without repeats.
    auth: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl SlowServer {
    async fn start(delay: Duration) -> SlowServer {
        Self::serve(delay, None).await
    }

    /// [`SlowServer::start`] behind TLS, with the certificate in `tests/fixtures/tls`.
    async fn start_tls(delay: Duration) -> SlowServer {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
        let cert = CertificateDer::from_pem_file(format!("{dir}/server.pem")).unwrap();
        let key = PrivateKeyDer::from_pem_file(format!("{dir}/server-key.pem")).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        Self::serve(
            delay,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn serve(delay: Duration, tls: Option<tokio_rustls::TlsAcceptor>) -> SlowServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let (open, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (o, p) = (open.clone(), peak.clone());
        let auth: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>> = Default::default();
        let a = auth.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let (o, tls, a) = (o.clone(), tls.clone(), a.clone());
                tokio::spawn(async move {
                    let answer = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let said = req.headers().get("authorization");
                        let said = said.map_or("none".into(), |v| v.to_str().unwrap().into());
                        a.lock().unwrap().insert(said);
                        let wait = if req.uri().path() == "/hang" {
                            Duration::from_secs(60)
                        } else {
                            delay
                        };
                        async move {
                            tokio::time::sleep(wait).await;
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let io = hyper_util::rt::TokioIo::new(socket);
                            let _ = http.serve_connection(io, answer).await;
                        }
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(socket).await {
                                let io = hyper_util::rt::TokioIo::new(stream);
                                let _ = http.serve_connection(io, answer).await;
                            }
                        }
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        SlowServer {
            url,
            open,
            peak,
            auth,
        }
    }

    /// A kubeconfig for the server that trusts the certificate authority `ca` (PEM).
    fn kubeconfig_trusting(&self, dir: &std::path::Path, ca: Option<&[u8]>) -> std::path::PathBuf {
        use base64::Engine;
        let ca = ca.map_or(String::new(), |pem| {
            let data = base64::engine::general_purpose::STANDARD.encode(pem);
            format!(", certificate-authority-data: {data}")
        });
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{}\"{ca}}}}}]\n\
                 users: [{{name: u, user: {{token: t}}}}]\n\
                 contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
                self.url
            ),
        )
        .unwrap();
        path
    }
}

fn args(flags: &[&str]) -> ControllerArgs {
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        args: ControllerArgs,
    }
    Flags::try_parse_from(["controller"].iter().chain(flags))
        .unwrap()
        .args
}

/// The operator's client for `server`, with `--max-api-connections bound`, trusting `ca`.
async fn client_of(
    server: &SlowServer,
    dir: &std::path::Path,
    bound: &str,
    ca: Option<&[u8]>,
) -> kube::Client {
    let k = server.kubeconfig_trusting(dir, ca);
    let flags = [
        "--kubeconfig",
        k.to_str().unwrap(),
        "--max-api-connections",
        bound,
    ];
    operator_client(&args(&flags)).await.unwrap()
}

/// `requests` GETs at once through `client`; every one must succeed.
async fn burst(client: &kube::Client, requests: usize) {
    let all = (0..requests).map(|i| {
        let client = client.clone();
        async move {
            let req = http::Request::get(format!("/burst/{i}"))
                .body(vec![])
                .unwrap();
            client.request_text(req).await
        }
    });
    for answer in futures::future::join_all(all).await {
        answer.expect("every request of the burst is answered");
    }
}

#[tokio::test]
async fn a_burst_of_requests_never_opens_more_connections_than_allowed() {
    let server = SlowServer::start(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_of(&server, dir.path(), "16", None).await;

    burst(&client, 300).await;
    burst(&client, 300).await;

    let peak = server.peak.load(Ordering::SeqCst);
    assert!(peak <= 16, "{peak} connections were open at once");
    assert!(peak >= 8, "the burst used the connections it may ({peak})");
    let auth = server.auth.lock().unwrap().clone();
    assert_eq!(
        auth,
        ["Bearer t".to_string()].into(),
        "the kubeconfig's token went along"
    );
}

#[tokio::test]
async fn over_tls_the_bound_holds_and_the_server_is_verified() {
    let server = SlowServer::start_tls(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/ca.pem"
    ))
    .unwrap();
    let client = client_of(&server, dir.path(), "16", Some(&ca)).await;

    burst(&client, 100).await;
    let peak = server.peak.load(Ordering::SeqCst);
    assert!(
        (8..=16).contains(&peak),
        "{peak} connections were open at once"
    );

    let other = tempfile::tempdir().unwrap();
    let client = client_of(&server, other.path(), "16", None).await;
    let req = http::Request::get("/version").body(vec![]).unwrap();
    let refused = client.request_text(req).await;
    let said = format!(
        "{:?}",
        refused.expect_err("a server nobody vouched for was trusted")
    );
    assert!(said.contains("UnknownIssuer"), "{said}");
}

#[tokio::test]
async fn without_a_bound_the_same_burst_opens_a_connection_per_request_in_flight() {
    let server = SlowServer::start(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_of(&server, dir.path(), "0", None).await;

    burst(&client, 300).await;

    let peak = server.peak.load(Ordering::SeqCst);
    assert!(peak > 16, "only {peak} connections without a bound");
}

#[tokio::test]
async fn a_request_that_finds_no_free_connection_fails_at_the_connect_timeout() {
    let server = SlowServer::start(Duration::from_millis(10)).await;
    let mut config = kube::Config::new(server.url.parse().unwrap());
    config.connect_timeout = Some(Duration::from_secs(1));
    let client = api_client::bounded(config, Some(1)).unwrap();
    let held = client.clone();
    tokio::spawn(async move {
        let _ = held
            .request_text(http::Request::get("/hang").body(vec![]).unwrap())
            .await;
    });
    while server.open.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    let waited = client
        .request_text(http::Request::get("/version").body(vec![]).unwrap())
        .await;

    let took = started.elapsed();
    assert!(
        waited.is_err(),
        "the second request had no connection to go on"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "failed after {took:?}"
    );
    assert_eq!(server.peak.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_bound_below_what_the_watches_hold_is_refused_before_anything_starts() {
    let refused = operator_client(&args(&[
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--namespace",
        "payments,checkout",
        "--max-api-connections",
        "20",
    ]))
    .await;

    let needed = api_client::connections_needed(2);
    assert_eq!(needed, 22);
    match refused {
        Err(e @ RunError::TooFewConnections { .. }) => {
            let said = e.to_string();
            assert!(said.contains("--max-api-connections 20"), "{said}");
            assert!(said.contains("at least 22"), "{said}");
        }
        Err(other) => panic!("expected TooFewConnections, got {other}"),
        Ok(_) => panic!("a bound of 20 for two namespaces was accepted"),
    }
}

#[test]
fn the_controller_binary_says_what_bound_it_needs() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["controller", "--max-api-connections", "3"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pass at least 15, or 0 for no bound"), "{err}");
}
