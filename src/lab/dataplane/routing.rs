//! Routing one request: through the HTTPRoutes that send traffic to the target Service
//! (rule precedence, header matches, weighted backendRefs), or straight to the Service;
//! then to one ready pod behind the chosen Service, uniformly, as kube-proxy does.

use super::snapshot::{Endpoint, PathMatch, RouteMatch, Snapshot};
use rand::{Rng, RngExt};

/// A simulated login request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub user: u32,
    pub method: &'static str,
    pub path: &'static str,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
}

/// Why a request reached no pod (a gateway would answer 500 or 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrouted {
    #[error("Service {0} does not exist")]
    NoService(String),
    #[error("Service {0} has no ready endpoints")]
    NoReadyEndpoints(String),
    #[error("no rule of HTTPRoute(s) {0} matches the request")]
    NoRuleMatches(String),
    #[error("every backendRef of the matching rule has weight 0")]
    ZeroWeights,
}

impl Unrouted {
    /// The label value counted in `traffic_unrouted_requests_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Unrouted::NoService(_) => "no_service",
            Unrouted::NoReadyEndpoints(_) => "no_ready_endpoints",
            Unrouted::NoRuleMatches(_) => "no_rule_matches",
            Unrouted::ZeroWeights => "zero_weights",
        }
    }
}

/// Gateway API precedence of a match: exact path, longer prefix, a method, more headers.
fn precedence(m: &RouteMatch) -> (bool, usize, bool, usize) {
    let (exact, len) = match &m.path {
        PathMatch::Exact(p) => (true, p.len()),
        PathMatch::Prefix(p) => (false, p.len()),
    };
    (exact, len, m.method.is_some(), m.headers.len())
}

fn matches(m: &RouteMatch, req: &Request) -> bool {
    let path = match &m.path {
        PathMatch::Exact(p) => req.path == p,
        // Prefixes match whole path segments: `/log` does not match `/login`.
        PathMatch::Prefix(p) => {
            let p = p.trim_end_matches('/');
            req.path == p || req.path.starts_with(&format!("{p}/")) || p.is_empty()
        }
    };
    m.supported
        && path
        && m.method.as_deref().is_none_or(|x| x == req.method)
        && m.headers.iter().all(|h| {
            req.headers
                .iter()
                .any(|(n, v)| *n == h.name && *v == h.value)
        })
}

/// The Service a request goes to: the backend of the best matching HTTPRoute rule
/// (weighted), or `service` itself when no HTTPRoute sends traffic to it.
pub fn choose_service(
    snapshot: &Snapshot,
    namespace: &str,
    service: &str,
    req: &Request,
    rng: &mut impl Rng,
) -> Result<String, Unrouted> {
    let routes = snapshot.routes_to(namespace, service);
    if routes.is_empty() {
        return Ok(service.to_string());
    }
    let everything = RouteMatch {
        path: PathMatch::Prefix("/".into()),
        method: None,
        headers: Vec::new(),
        supported: true,
    };
    // The first rule (in route, then rule order) among those with the highest precedence.
    let mut best = None;
    for rule in routes.iter().flat_map(|r| &r.rules) {
        let candidates: Vec<&RouteMatch> = if rule.matches.is_empty() {
            vec![&everything]
        } else {
            rule.matches.iter().collect()
        };
        for m in candidates.into_iter().filter(|m| matches(m, req)) {
            if best.as_ref().is_none_or(|(p, _)| precedence(m) > *p) {
                best = Some((precedence(m), rule));
            }
        }
    }
    let names = || {
        routes
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (_, rule) = best.ok_or_else(|| Unrouted::NoRuleMatches(names()))?;
    let total: u64 = rule.backends.iter().map(|b| u64::from(b.weight)).sum();
    if total == 0 {
        return Err(Unrouted::ZeroWeights);
    }
    let mut pick = rng.random_range(0..total);
    for b in &rule.backends {
        if pick < u64::from(b.weight) {
            return Ok(b.service.clone());
        }
        pick -= u64::from(b.weight);
    }
    unreachable!("the pick is below the sum of the weights")
}

/// The pod that serves `req` sent to `namespace/service`.
pub fn route<'a>(
    snapshot: &'a Snapshot,
    namespace: &str,
    service: &str,
    req: &Request,
    rng: &mut impl Rng,
) -> Result<&'a Endpoint, Unrouted> {
    let chosen = choose_service(snapshot, namespace, service, req, rng)?;
    if snapshot.service(namespace, &chosen).is_none() {
        return Err(Unrouted::NoService(format!("{namespace}/{chosen}")));
    }
    let ready = snapshot.ready_endpoints(namespace, &chosen);
    if ready.is_empty() {
        return Err(Unrouted::NoReadyEndpoints(format!("{namespace}/{chosen}")));
    }
    Ok(ready[rng.random_range(0..ready.len())])
}
