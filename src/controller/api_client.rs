//! The operator's Kubernetes client: kube's own HTTP stack (TLS, auth, retries of 5xx,
//! timeouts) with a bound on the connections open to the API server at once.
//!
//! Why not `--max-concurrent-reconciles` alone: the client speaks HTTP/1.1, one request per
//! connection, and its pool races every new request between an idle connection and a new
//! one; when an idle connection wins, the new one still opens and joins the pool. Against
//! a slow API server these races add up (108 connections at 64 reconciles in the scale
//! bench). Here every connection holds a slot from a fixed set from its TCP connect until
//! its socket closes, so the bound holds whatever the pool does. A request that finds no
//! slot waits for one within the connect timeout (30 s by default), then fails like a
//! connect error: nothing waits without a deadline.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ClientBuilder, ConfigExt, retry::RetryPolicy};
use kube::{Client, Config};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt as _};

/// Connections held by the watches of one watched namespace (Rollouts, Deployments,
/// ReplicaSets, Services, HTTPRoutes, AnalysisTemplates, ClusterAnalysisTemplates).
pub const WATCHES_PER_SCOPE: usize = 7;
/// Connections left for requests beyond the watches, at the least.
pub const REQUEST_CONNECTIONS_MIN: usize = 8;

/// How long a request waits for a connection when the configuration sets no connect
/// timeout (kube's default connect timeout).
const SLOT_WAIT_DEFAULT: Duration = Duration::from_secs(30);

/// The fewest connections an operator watching `scopes` namespaces (1: all) can work with.
pub fn connections_needed(scopes: usize) -> usize {
    WATCHES_PER_SCOPE * scopes.max(1) + REQUEST_CONNECTIONS_MIN
}

/// A client for `config` that keeps at most `max_connections` connections open to the
/// API server (`None`: kube's default client, no bound).
pub fn bounded(config: Config, max_connections: Option<usize>) -> Result<Client, kube::Error> {
    let Some(max) = max_connections else {
        return Client::try_from(config);
    };
    if config.proxy_url.is_some() {
        // kube builds the proxy connectors (and says which feature a proxy needs).
        return Client::try_from(config);
    }
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    let slots = Slots {
        inner: tcp,
        free: Arc::new(Semaphore::new(max)),
    };
    let tls = config.rustls_https_connector_with_connector(slots)?;
    // The connect timeout covers the wait for a slot too, so it is never left unset.
    let mut connector = hyper_timeout::TimeoutConnector::new(tls);
    connector.set_connect_timeout(config.connect_timeout.or(Some(SLOT_WAIT_DEFAULT)));
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let http: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);

    // The layers kube's `ClientBuilder::try_from` puts around its HTTP client, in its order.
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| tower::retry::RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http)
        .boxed();
    Ok(ClientBuilder::new(service, config.default_namespace).build())
}

/// A connector that takes a slot before it connects; the connection keeps it until closed.
#[derive(Clone)]
struct Slots<C> {
    inner: C,
    free: Arc<Semaphore>,
}

impl<C> Service<Uri> for Slots<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Future: Send,
    C::Error: Into<BoxError>,
{
    type Response = Held<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // The ready connector goes into the future; a clone stays for the next call.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let free = self.free.clone();
        Box::pin(async move {
            let slot = free.acquire_owned().await?;
            let io = inner.call(uri).await.map_err(Into::into)?;
            Ok(Held { io, _slot: slot })
        })
    }
}

/// A connection and the slot it holds; dropping the socket frees the slot.
struct Held<T> {
    io: T,
    _slot: OwnedSemaphorePermit,
}

impl<T: Connection> Connection for Held<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl<T: Read + Unpin> Read for Held<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Held<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
