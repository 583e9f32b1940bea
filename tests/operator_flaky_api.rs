//! Conflicts (409) and transient API errors (500, 503) are retried: through an API that
//! refuses a third of the operator's writes, a release is still promoted exactly once and
//! a bad one still rolled back.

mod operator_support;

use http::{Request, Response};
use kube::client::{Body, ClientBuilder};
use operator_support::*;
use portcullis::api::{Outcome, Phase, Verdict};
use portcullis::controller::analysis_source::Injected;
use portcullis::engine::AnalysisReading;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

/// Answers every third write with an error instead of sending it on.
fn full(bytes: Vec<u8>) -> BoxBody {
    use http_body_util::BodyExt;
    Box::new(http_body_util::Full::new(bytes::Bytes::from(bytes)).map_err(|never| match never {}))
}

struct Flaky<S> {
    inner: S,
    writes: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

/// The response body type of kube's HTTP stack.
type BoxBody = Box<
    dyn hyper::body::Body<Data = bytes::Bytes, Error = Box<dyn std::error::Error + Send + Sync>>
        + Send
        + Unpin,
>;

impl<S> tower::Service<Request<Body>> for Flaky<S>
where
    S: tower::Service<Request<Body>, Response = Response<BoxBody>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<BoxBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<BoxBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let is_write = req.method() != http::Method::GET && !req.uri().path().contains("/leases");
        if is_write && self.writes.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
            let n = self.refused.fetch_add(1, Ordering::Relaxed);
            let (code, reason) = [
                (409, "Conflict"),
                (500, "InternalError"),
                (503, "ServiceUnavailable"),
            ][n % 3];
            let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": "injected by the test", "reason": reason, "code": code});
            let resp = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(full(serde_json::to_vec(&body).unwrap()))
                .unwrap();
            return Box::pin(async move { Ok(resp) });
        }
        let fut = self.inner.call(req);
        Box::pin(fut)
    }
}

#[tokio::test]
async fn through_an_api_that_refuses_writes_the_rollout_still_completes_once() {
    let c = cluster::Cluster::start().await;
    let ns = &unique("flaky");
    given_app(&c.client, ns, 2, json!({
        "workloadRef": {"name": APP}, "service": APP,
        "steps": [{"setWeight": 50}, {"pause": {"duration": "1s"}}],
        "analysis": {"interval": "1s", "metrics": [{"name": "m", "query": {"query": "vector(0)", "max": 1}}]}
    })).await;
    let (writes, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (w, r) = (writes.clone(), refused.clone());
    let layer = tower::layer::layer_fn(move |inner| Flaky {
        inner,
        writes: w.clone(),
        refused: r.clone(),
    });
    let client = ClientBuilder::try_from(c.config().await)
        .unwrap()
        .with_layer(&layer)
        .build();
    let readings = Injected::default();
    readings.set(AnalysisReading::verdict(Verdict::Inconclusive));
    let op = Operator::start_with(client, ns, false, readings.clone()).await;
    adopted(&c.client, ns).await;

    release(&c.client, ns, &image("1.1")).await;
    let st = until(&c.client, ns, "promotion", T, phase(Phase::Succeeded)).await;
    let promoted = st
        .history
        .iter()
        .filter(|h| h.outcome == Outcome::Promoted)
        .count();
    assert_eq!(promoted, 1, "promoted once: {:?}", st.history);

    readings.set(AnalysisReading::verdict(Verdict::Fail));
    release(&c.client, ns, &image("1.2")).await;
    until(&c.client, ns, "the abort", T, phase(Phase::Aborted)).await;
    until(&c.client, ns, "traffic back on stable", T, |s| {
        s.effective_weight == 0
    })
    .await;
    assert!(
        refused.load(Ordering::Relaxed) >= 3,
        "errors were injected: {refused:?} of {writes:?}"
    );
    op.stop().await;
}
