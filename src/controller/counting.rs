//! Counts every request the operator sends to the API server
//! (`portcullis_api_requests_total{verb}`): the operator's own view of its API load, the
//! same on the local cluster and a real one.

use super::metrics::{Metrics, VerbLabel};
use kube::Client;
use std::sync::Arc;

/// `client`, counting each request into `metrics` before sending it.
pub fn counting(client: Client, metrics: Arc<Metrics>) -> Client {
    let ns = client.default_namespace().to_string();
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let verb = verb(req.method(), req.uri());
        metrics
            .api_requests
            .get_or_create(&VerbLabel { verb: verb.into() })
            .inc();
        let client = client.clone();
        async move { client.send(req).await }
    });
    Client::new(service, ns)
}

/// The Kubernetes verb of a request: a GET is `watch`, `list` (a collection) or `get`.
pub fn verb(method: &http::Method, uri: &http::Uri) -> &'static str {
    let query = uri.query().unwrap_or_default();
    match *method {
        http::Method::GET if query.split('&').any(|q| q == "watch=true") => "watch",
        http::Method::GET => {
            // A collection path has an even number of segments after the group/version
            // prefix: /api/v1/pods, /apis/g/v/namespaces/ns/pods.
            let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
            let rest = match parts.as_slice() {
                ["api", _, rest @ ..] => rest,
                ["apis", _, _, rest @ ..] => rest,
                _ => return "get",
            };
            if rest.len() % 2 == 1 { "list" } else { "get" }
        }
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::verb;

    #[test]
    fn requests_are_named_by_their_verb() {
        let v = |m: &str, u: &str| verb(&m.parse().unwrap(), &u.parse().unwrap());
        assert_eq!(
            v("GET", "/api/v1/namespaces/a/pods?labelSelector=x"),
            "list"
        );
        assert_eq!(v("GET", "/api/v1/pods"), "list");
        assert_eq!(v("GET", "/apis/apps/v1/namespaces/a/deployments/d"), "get");
        assert_eq!(
            v("GET", "/apis/apps/v1/deployments?watch=true&x=1"),
            "watch"
        );
        assert_eq!(
            v(
                "GET",
                "/apis/portcullis.dev/v1alpha1/clusteranalysistemplates/t"
            ),
            "get"
        );
        assert_eq!(
            v("PATCH", "/apis/apps/v1/namespaces/a/deployments/d"),
            "patch"
        );
        assert_eq!(v("GET", "/version"), "get");
    }
}
