//! The thin loop against a scripted HTTP API: it lists and watches Deployments,
//! ReplicaSets and pods, and writes what the cores decide with the calls
//! kube-controller-manager makes (POST a ReplicaSet, PUT the Deployment's `/status`,
//! field manager `kube-controller-manager`), never acts twice on its own write, and
//! stops when told.

use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kube_memserver::workloads::{WorkloadOptions, run};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(status: u16, v: Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed_unsync());
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

struct Api {
    /// Every write: (method, uri, body).
    seen: mpsc::UnboundedSender<(String, String, Value)>,
    /// ADDED events of created ReplicaSets, for the ReplicaSet watch.
    replica_sets: broadcast::Sender<Value>,
    created: std::sync::atomic::AtomicU32,
}

/// Lists answer from a fixed world (one Deployment); writes are stored with a new
/// resourceVersion and reported; a created ReplicaSet reaches the ReplicaSet watch, as on
/// a real API server; other watches stay open and silent.
async fn answer(req: Request<Incoming>, api: &Api) -> Response<Body> {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let path = uri.split('?').next().unwrap().to_string();
    let body: Value = serde_json::from_slice(&req.into_body().collect().await.unwrap().to_bytes())
        .unwrap_or(Value::Null);
    if method == "GET" && uri.contains("watch=true") {
        let events = if path == "/apis/apps/v1/replicasets" {
            let rx = api.replica_sets.subscribe();
            tokio_stream_of(rx).boxed()
        } else {
            futures::stream::pending().boxed()
        };
        return Response::new(StreamBody::new(events).boxed_unsync());
    }
    let list = |kind: &str, api: &str, items: Vec<Value>| {
        full(
            200,
            json!({"kind": kind, "apiVersion": api, "metadata": {"resourceVersion": "10"}, "items": items}),
        )
    };
    match (method.as_str(), path.as_str()) {
        ("GET", "/apis/apps/v1/deployments") => {
            list("DeploymentList", "apps/v1", vec![deployment()])
        }
        ("GET", "/apis/apps/v1/replicasets") => list("ReplicaSetList", "apps/v1", vec![]),
        ("GET", "/api/v1/pods") => list("PodList", "v1", vec![]),
        ("POST", _) | ("PUT", _) => {
            let mut stored = body.clone();
            stored["metadata"]["resourceVersion"] = json!("11");
            if method == "POST" {
                // The API server picks the suffix of a generateName.
                if let Some(prefix) = stored["metadata"]["generateName"].as_str() {
                    let n = api
                        .created
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    stored["metadata"]["name"] = json!(format!("{prefix}{n:05}"));
                }
                stored["metadata"]["uid"] = json!(format!("uid-of-{}", stored["metadata"]["name"]));
            }
            if method == "POST" && path.ends_with("/replicasets") {
                let _ = api.replica_sets.send(stored.clone());
            }
            api.seen.send((method.clone(), uri, body)).unwrap();
            full(if method == "POST" { 201 } else { 200 }, stored)
        }
        _ => full(
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        ),
    }
}

/// Watch events as newline-delimited JSON frames.
fn tokio_stream_of(
    rx: broadcast::Receiver<Value>,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures::stream::unfold(rx, |mut rx| async move {
        let object = rx.recv().await.ok()?;
        let line = format!("{}\n", json!({"type": "ADDED", "object": object}));
        Some((Ok(Frame::data(Bytes::from(line))), rx))
    })
}

async fn scripted_api() -> (String, mpsc::UnboundedReceiver<(String, String, Value)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen, rx) = mpsc::unbounded_channel();
    let api = std::sync::Arc::new(Api {
        seen,
        replica_sets: broadcast::channel(16).0,
        created: Default::default(),
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let api = api.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(answer(req, &api).await) }
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
async fn the_loop_creates_the_replica_set_records_it_and_then_its_pods() {
    let (url, mut seen) = scripted_api().await;
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(client, WorkloadOptions::default(), async {
        let _ = stopped.await;
    }));

    // Until the ReplicaSet controller has created both pods (a later round than the
    // one that created the ReplicaSet).
    let mut writes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while writes
        .iter()
        .filter(|(m, u, _): &&(String, String, Value)| m == "POST" && u.contains("/pods"))
        .count()
        < 2
    {
        let w = tokio::time::timeout_at(deadline, seen.recv())
            .await
            .expect("the writes within 20 s")
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

    let pod = &writes
        .iter()
        .find(|(_, u, _)| u.contains("/pods"))
        .unwrap()
        .2;
    assert_eq!(pod["metadata"]["generateName"], format!("auth-{hash}-"));
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop stops within 5 s")
        .unwrap();
    while let Ok(w) = seen.try_recv() {
        writes.push(w);
    }
    let creates = writes
        .iter()
        .filter(|(m, u, _)| m == "POST" && u.contains("/replicasets"))
        .count();
    assert_eq!(
        creates,
        1,
        "the loop saw its own ReplicaSet at once: {:?}",
        writes.iter().map(|w| &w.1).collect::<Vec<_>>()
    );
    let pods = writes
        .iter()
        .filter(|(m, u, _)| m == "POST" && u.contains("/pods"))
        .count();
    assert_eq!(pods, 2, "and its own pods");
}
