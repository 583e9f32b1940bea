//! A client that notes every request it sends, and the check of those requests against
//! a list of RBAC rules (the operator's, or the command line's).

use http::Request;
use kube::client::{Body, ClientBuilder};
use portcullis::controller::rbac::{Rules, allowed_by, required};
use std::sync::{Arc, Mutex};

/// (method, path, query) of each request, in order.
pub type Log = Arc<Mutex<Vec<(String, String, String)>>>;

/// A client for `c` that appends every request to `log`.
pub async fn recording_client(c: &super::cluster::Cluster, log: Log) -> kube::Client {
    let layer = tower::util::MapRequestLayer::new(move |req: Request<Body>| {
        let uri = req.uri();
        log.lock().unwrap().push((
            req.method().to_string(),
            uri.path().to_string(),
            uri.query().unwrap_or_default().to_string(),
        ));
        req
    });
    ClientBuilder::try_from(c.config().await)
        .unwrap()
        .with_layer(&layer)
        .build()
}

/// The requests in `log` that `rules` do not allow, as `verb group/resource (METHOD path)`,
/// sorted and without repeats.
pub fn denied(log: &Log, rules: Rules) -> Vec<String> {
    let mut denied: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(m, p, q)| {
            let (g, r, v) = required(m, p, q)?;
            (!allowed_by(rules, &g, &r, &v)).then(|| format!("{v} {g}/{r} ({m} {p})"))
        })
        .collect();
    denied.sort();
    denied.dedup();
    denied
}
