//! `/metrics` over HTTP on loopback, in the OpenMetrics text format Prometheus scrapes.

use super::metrics::DataPlaneMetrics;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on 127.0.0.1:{port} for /metrics: {source}; pick another --metrics-port or 0 for a free one"
)]
pub struct MetricsServerError {
    pub port: u16,
    pub source: std::io::Error,
}

/// A running `/metrics` endpoint; [`MetricsServer::stop`] ends it.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn answer(metrics: &DataPlaneMetrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut response = if req.uri().path() == "/metrics" {
        let mut r = Response::new(Full::new(Bytes::from(metrics.encode())));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            CONTENT_TYPE.parse().expect("a valid header value"),
        );
        r
    } else {
        Response::new(Full::new(Bytes::from_static(
            b"only /metrics is served here\n",
        )))
    };
    if req.uri().path() != "/metrics" {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

impl MetricsServer {
    /// Listens on 127.0.0.1:`port` (0 = a free port).
    pub async fn start(
        port: u16,
        metrics: Arc<DataPlaneMetrics>,
    ) -> Result<Self, MetricsServerError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| MetricsServerError { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MetricsServerError { port, source })?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    _ = &mut stopped => return,
                    conn = listener.accept() => conn,
                };
                let Ok((stream, _)) = conn else { continue };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let response = answer(&metrics, &req);
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    // A scraper that hangs up mid-answer is not our problem.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(MetricsServer { addr, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
