//! Counts every request the operator sends to the API server
//! (`portcullis_api_requests_total{verb}`): the operator's own view of its API load, the
//! same on the local cluster and a real one. Optionally holds requests to a budget.

use super::metrics::{Metrics, VerbLabel};
use kube::Client;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// `client`, counting each request into `metrics` before sending it, and holding
/// requests other than watches to `budget` when there is one.
pub fn counting(client: Client, metrics: Arc<Metrics>, budget: Option<Budget>) -> Client {
    let ns = client.default_namespace().to_string();
    let budget = budget.map(|b| Arc::new(Mutex::new(b)));
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let verb = verb(req.method(), req.uri());
        metrics
            .api_requests
            .get_or_create(&VerbLabel { verb: verb.into() })
            .inc();
        let (client, budget) = (client.clone(), budget.clone());
        async move {
            // A watch holds its connection for minutes: it is not a request to meter.
            if let Some(b) = budget.filter(|_| verb != "watch") {
                let wait = b.lock().await.take(Instant::now());
                tokio::time::sleep(wait).await;
            }
            client.send(req).await
        }
    });
    Client::new(service, ns)
}

/// A token bucket: `per_second` requests on average, up to `burst` at once.
#[derive(Debug, Clone)]
pub struct Budget {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl Budget {
    pub fn new(per_second: f64, burst: u32) -> Budget {
        let burst = f64::from(burst.max(1));
        Budget {
            per_second: per_second.max(0.001),
            burst,
            tokens: burst,
            at: None,
        }
    }

    /// Takes a token at `now`: how long the request must wait for it.
    pub fn take(&mut self, now: Instant) -> Duration {
        let elapsed = self
            .at
            .map_or(0.0, |at| now.duration_since(at).as_secs_f64());
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst) - 1.0;
        self.at = Some(now);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
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
    use super::{Budget, verb};
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn a_budget_lets_a_burst_through_then_spaces_requests_out() {
        let mut b = Budget::new(50.0, 3);
        let t = Instant::now();
        assert_eq!(b.take(t), Duration::ZERO);
        assert_eq!(b.take(t), Duration::ZERO);
        assert_eq!(b.take(t), Duration::ZERO);
        assert_eq!(b.take(t), Duration::from_millis(20), "the 4th waits 1/50 s");
        assert_eq!(b.take(t), Duration::from_millis(40), "the 5th behind it");
        // A quiet second refills the burst, never more.
        let later = t + Duration::from_secs(1);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::ZERO);
        assert!(b.take(later) > Duration::ZERO);
    }

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
