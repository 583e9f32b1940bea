//! The HTTP layer: hyper on a loopback listener, requests decoded into [`Request`],
//! routed to the handlers, and answers encoded (JSON, YAML, text, or a watch stream).
use super::routes::{self, Query, Route, Unrouted};
use super::state::Shared;
use super::status::ApiError;
use super::{delete, discovery, openapi, patch, protobuf, read, reviews, update, watch, write};
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// One decoded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Query,
    pub content_type: String,
    pub accept: String,
    pub user_agent: String,
    pub host: String,
    pub body: Bytes,
}

impl Request {
    pub fn empty() -> Self {
        Request {
            method: Method::GET,
            path: String::new(),
            query: Query::default(),
            content_type: String::new(),
            accept: String::new(),
            user_agent: String::new(),
            host: String::new(),
            body: Bytes::new(),
        }
    }
    /// `?fieldManager=`, else the first token of the User-Agent, as kube-apiserver does.
    pub fn manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager") {
            return m.to_string();
        }
        let ua = self.user_agent.split('/').next().unwrap_or("").trim();
        if ua.is_empty() {
            "unknown".into()
        } else {
            ua.to_string()
        }
    }
}

/// An answer before encoding.
pub enum Reply {
    Json {
        code: u16,
        body: Value,
        warnings: Vec<String>,
    },
    Text(u16, String),
    /// JSON with a media type of its own (aggregated discovery).
    Typed(u16, Value, &'static str),
    /// Bytes already encoded, with their media type.
    Raw(u16, Bytes, &'static str),
    Watch(mpsc::Receiver<Bytes>),
}

impl Reply {
    pub fn json(code: u16, body: Value) -> Self {
        Reply::Json {
            code,
            body,
            warnings: vec![],
        }
    }
    pub fn json_warn(code: u16, body: Value, warnings: Vec<String>) -> Self {
        Reply::Json {
            code,
            body,
            warnings,
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::json(e.code, e.to_status())
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Accepts connections until `shutdown` flips; then drops every connection (open
/// watches included) so stopping is bounded.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn handle(shared: Arc<Shared>, req: hyper::Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return encode(
                Reply::from(ApiError::bad_request(format!("reading the body: {e}"))),
                "",
            );
        }
    };
    let mut content_type = header(header::CONTENT_TYPE);
    let accept = header(header::ACCEPT);
    // A kind not mapped from protobuf goes on as it came: a resource this server does
    // not serve answers 404 as with JSON, a served one 415 (`check_body_type`).
    let body = if protobuf::is_protobuf(&content_type) {
        match protobuf::decode(&body) {
            Ok(obj) => {
                content_type = "application/json".into();
                Bytes::from(serde_json::to_vec(&obj).expect("JSON serializes"))
            }
            Err(e) if e.code == 415 => body,
            Err(e) => return encode(Reply::from(e), &accept),
        }
    } else {
        body
    };
    let request = Request {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: Query::parse(parts.uri.query()),
        content_type,
        accept: accept.clone(),
        user_agent: header(header::USER_AGENT),
        host: header(header::HOST),
        body,
    };
    let reply = dispatch(&shared, request).await;
    encode(reply, &accept)
}

pub async fn dispatch(shared: &Arc<Shared>, req: Request) -> Reply {
    let route = routes::parse(&req.path, &shared.lock().registry);
    let route = match route {
        Ok(r) => r,
        Err(Unrouted::PlainNotFound) => return Reply::Text(404, "404 page not found\n".into()),
        Err(Unrouted::Status(e)) => return e.into(),
    };
    let t = match route {
        Route::Version => return Reply::json(200, discovery::version()),
        Route::Health => return Reply::Text(200, "ok".into()),
        Route::CoreVersions | Route::Groups if discovery::wants_aggregated(&req.accept) => {
            let body = discovery::aggregated(
                &shared.lock().registry,
                matches!(route, Route::CoreVersions),
            );
            return Reply::Typed(200, body, discovery::AGGREGATED);
        }
        Route::CoreVersions => return Reply::json(200, discovery::core_versions(&req.host)),
        Route::Groups => return Reply::json(200, discovery::groups(&shared.lock().registry)),
        Route::Group(g) => return Reply::json(200, discovery::group(&shared.lock().registry, &g)),
        Route::GroupVersion(g, v) => {
            return Reply::json(200, discovery::resources(&shared.lock().registry, &g, &v));
        }
        Route::OpenApiV2 => {
            let (ct, body) = openapi::v2(&req.accept);
            return Reply::Raw(200, body, ct);
        }
        Route::OpenApi(None) => return Reply::json(200, openapi::root(&shared.lock().registry)),
        Route::OpenApi(Some((g, v))) => {
            return match openapi::group_version(&shared.lock().registry, &g, &v) {
                Some(doc) => Reply::json(200, doc),
                None => Reply::Text(404, "404 page not found\n".into()),
            };
        }
        Route::Resource(t) => t,
    };
    if t.subresource.is_some() && !matches!(req.method, Method::GET | Method::PUT | Method::PATCH) {
        return ApiError::method_not_allowed().into();
    }
    if t.resource.review {
        return match (&req.method, t.name.is_some()) {
            (&Method::POST, false) => reviews::create(&t, &req).unwrap_or_else(Reply::from),
            _ => ApiError::method_not_allowed().into(),
        };
    }
    let result = match (&req.method, t.name.is_some()) {
        (&Method::GET, false) if req.query.flag("watch") => watch::watch(shared.clone(), &t, &req),
        (&Method::GET, false) => read::list(shared, &t, &req).await,
        (&Method::GET, true) => read::get(shared, &t, &req),
        (method, named) => {
            let mut inner = shared.lock();
            match (method, named) {
                (&Method::POST, false) => write::create(&mut inner, &t, &req),
                (&Method::PUT, true) => update::update(&mut inner, &t, &req),
                (&Method::PATCH, true) => patch::patch(&mut inner, &t, &req),
                (&Method::DELETE, true) => delete::delete(&mut inner, &t, &req),
                (&Method::DELETE, false) => delete::delete_collection(&mut inner, &t, &req),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
    };
    result.unwrap_or_else(Reply::from)
}

fn wants_yaml(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|a| a.trim().starts_with("application/yaml"))
}

fn encode(reply: Reply, accept: &str) -> Response<Body> {
    let builder = |code: u16, ct: &str| {
        Response::builder()
            .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header(header::CONTENT_TYPE, ct)
    };
    let full = |b: Bytes| Full::new(b).boxed_unsync();
    match reply {
        Reply::Json {
            code,
            body,
            warnings,
        } => {
            let pb = protobuf::wanted(accept)
                .then(|| protobuf::encode(&body))
                .flatten();
            let (ct, bytes) = if let Some(pb) = pb {
                (protobuf::MEDIA, pb)
            } else if wants_yaml(accept) {
                (
                    "application/yaml",
                    serde_saphyr::to_string(&body)
                        .unwrap_or_default()
                        .into_bytes(),
                )
            } else {
                (
                    "application/json",
                    serde_json::to_vec(&body).expect("JSON serializes"),
                )
            };
            let mut b = builder(code, ct);
            if !warnings.is_empty() {
                let w: Vec<String> = warnings.iter().map(|w| format!("299 - {w:?}")).collect();
                b = b.header(header::WARNING, w.join(", "));
            }
            b.body(full(Bytes::from(bytes))).expect("valid response")
        }
        Reply::Typed(code, body, ct) => builder(code, ct)
            .body(full(Bytes::from(
                serde_json::to_vec(&body).expect("JSON serializes"),
            )))
            .expect("valid response"),
        Reply::Raw(code, bytes, ct) => builder(code, ct).body(full(bytes)).expect("valid response"),
        Reply::Text(code, text) => builder(code, "text/plain; charset=utf-8")
            .body(full(Bytes::from(text)))
            .expect("valid response"),
        Reply::Watch(rx) => {
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            builder(200, "application/json")
                .body(StreamBody::new(stream.boxed()).boxed_unsync())
                .expect("valid response")
        }
    }
}
