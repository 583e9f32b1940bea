//! The data plane as local-cluster runs it, against a scripted HTTP API: it watches the
//! namespace's pods and Services (no HTTPRoute CRD installed: 404), sends logins to the
//! ready pods and serves their counters on `/metrics`; it stops when told.

use clap::Parser;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use portcullis::lab::dataplane::{DataPlane, TrafficArgs};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;

type Body = BoxBody<Bytes, Infallible>;

fn full(status: u16, v: Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn pod(name: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "3", "labels": {"app": "auth"}},
        "spec": {"containers": [{"name": "auth", "image": "auth:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    })
}

async fn answer(req: Request<Incoming>) -> Response<Body> {
    let uri = req.uri().to_string();
    if uri.contains("watch=true") {
        let pending = futures::stream::pending::<Result<Frame<Bytes>, Infallible>>();
        return Response::new(BodyExt::boxed(StreamBody::new(pending)));
    }
    let list = |kind: &str, items: Vec<Value>| {
        full(
            200,
            json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "10"}, "items": items}),
        )
    };
    match uri.split('?').next().unwrap() {
        "/api/v1/namespaces/shop/pods" => list(
            "PodList",
            vec![
                pod("auth-a", true),
                pod("auth-b", true),
                pod("auth-c", false),
            ],
        ),
        "/api/v1/namespaces/shop/services" => list(
            "ServiceList",
            vec![
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "auth", "namespace": "shop", "resourceVersion": "4"},
                        "spec": {"selector": {"app": "auth"}}}),
            ],
        ),
        _ => full(
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        ),
    }
}

async fn scripted_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req| async {
                    Ok::<_, Infallible>(answer(req).await)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    traffic: TrafficArgs,
}

#[tokio::test]
async fn logins_reach_the_ready_pods_the_api_lists_and_show_on_metrics() {
    portcullis::install_crypto_provider();
    let client =
        kube::Client::try_from(kube::Config::new(scripted_api().await.parse().unwrap())).unwrap();
    let args = Cli::parse_from([
        "local-cluster",
        "--traffic-service",
        "shop/auth",
        "--traffic-rps",
        "100",
        "--traffic-speedup",
        "10",
    ])
    .traffic;
    let plane = DataPlane::start(client, &args).await.unwrap();
    let url = format!("http://{}/metrics", plane.metrics_addr());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if text.contains(r#"pod="auth-a""#) && text.contains(r#"pod="auth-b""#) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no traffic counted within 20 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !text.contains(r#"pod="auth-c""#),
        "a pod that is not ready gets no logins:\n{text}"
    );
    assert!(
        text.contains(
            r#"auth_login_attempts_total{namespace="shop",pod="auth-a",outcome="success"}"#
        ),
        "{text}"
    );
    tokio::time::timeout(Duration::from_secs(5), plane.stop())
        .await
        .expect("stops within 5 s");
    assert!(reqwest::get(&url).await.is_err(), "/metrics is gone");
}
