//! The thin loop against a scripted HTTP API: it lists and watches Deployments,
//! ReplicaSets and pods, and writes what the cores decide with the calls
//! kube-controller-manager makes (POST a ReplicaSet, PUT the Deployment's `/status`,
//! field manager `kube-controller-manager`), and it stops when told.

use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use portcullis::sim::workloads::{WorkloadOptions, run};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, Infallible>;

fn full(status: u16, v: Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "auth", "namespace": "shop", "uid": "d-1", "resourceVersion": "5", "generation": 1,
                     "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "auth"}},
                 "template": {"metadata": {"labels": {"app": "auth"}}, "spec": {"containers": [{"name": "auth", "image": "auth:1"}]}}},
        "status": {}
    })
}

/// Lists answer from a fixed world (one Deployment), watches stay open and silent,
/// writes are echoed back with a resourceVersion and reported on `seen`.
async fn answer(
    req: Request<Incoming>,
    seen: mpsc::UnboundedSender<(String, String, Value)>,
) -> Response<Body> {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let body: Value = serde_json::from_slice(&req.into_body().collect().await.unwrap().to_bytes())
        .unwrap_or(Value::Null);
    if method == "GET" && uri.contains("watch=true") {
        let pending = futures::stream::pending::<Result<Frame<Bytes>, Infallible>>();
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(pending)));
        r.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        return r;
    }
    let list = |kind: &str, api: &str, items: Vec<Value>| {
        full(
            200,
            json!({"kind": kind, "apiVersion": api, "metadata": {"resourceVersion": "10"}, "items": items}),
        )
    };
    match (method.as_str(), uri.split('?').next().unwrap()) {
        ("GET", "/apis/apps/v1/deployments") => {
            list("DeploymentList", "apps/v1", vec![deployment()])
        }
        ("GET", "/apis/apps/v1/replicasets") => list("ReplicaSetList", "apps/v1", vec![]),
        ("GET", "/api/v1/pods") => list("PodList", "v1", vec![]),
        ("POST", _) | ("PUT", _) => {
            let mut stored = body.clone();
            stored["metadata"]["resourceVersion"] = json!("11");
            stored["metadata"]["uid"] = json!("new-uid");
            seen.send((method.clone(), uri, body)).unwrap();
            full(if method == "POST" { 201 } else { 200 }, stored)
        }
        _ => full(
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        ),
    }
}

async fn scripted_api() -> (String, mpsc::UnboundedReceiver<(String, String, Value)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let tx = tx.clone();
                    async move { Ok::<_, Infallible>(answer(req, tx).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn the_loop_creates_the_replica_set_and_records_it_in_the_deployment_status() {
    portcullis::install_crypto_provider();
    let (url, mut seen) = scripted_api().await;
    let config = kube::Config::new(url.parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(client, WorkloadOptions::default(), async {
        let _ = stopped.await;
    }));

    let mut writes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while writes.len() < 2 {
        let w = tokio::time::timeout_at(deadline, seen.recv())
            .await
            .expect("two writes within 20 s")
            .unwrap();
        writes.push(w);
    }
    let (method, uri, rs) = &writes[0];
    assert_eq!(method, "POST");
    assert!(
        uri.starts_with("/apis/apps/v1/namespaces/shop/replicasets?"),
        "{uri}"
    );
    assert!(
        uri.contains("fieldManager=kube-controller-manager"),
        "{uri}"
    );
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(rs["metadata"]["name"], format!("auth-{hash}"));
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "d-1");
    assert_eq!(rs["spec"]["replicas"], 2);

    let (method, uri, d) = &writes[1];
    assert_eq!(method, "PUT");
    assert!(
        uri.starts_with("/apis/apps/v1/namespaces/shop/deployments/auth/status?"),
        "{uri}"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(
        d["status"]["conditions"][0]["reason"],
        "NewReplicaSetCreated"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop stops within 5 s")
        .unwrap();
    // Nothing is written twice: the loop saw its own ReplicaSet at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok((method, uri, _)) = seen.try_recv() {
        assert!(
            !(method == "POST" && uri.contains("/replicasets")),
            "a second ReplicaSet was created: {uri}"
        );
    }
}
