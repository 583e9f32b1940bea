//! What the data plane sees of the cluster: pods, Services and HTTPRoutes, reduced to
//! what routing needs. Built from API objects; HTTPRoute is a CRD, read as JSON.

use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::Value;
use std::collections::BTreeMap;

/// A pod as an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub namespace: String,
    pub pod: String,
    pub labels: BTreeMap<String, String>,
    /// Ready and not terminating: only these receive traffic.
    pub ready: bool,
    /// The first container's image: the release whose auth behaviour applies.
    pub image: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    pub selector: BTreeMap<String, String>,
}

/// One header condition of an HTTPRoute match (type Exact; names case-insensitive).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
}

/// A path condition: `Exact` or `PathPrefix`.
#[derive(Debug, Clone, PartialEq)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

/// One entry of `rules[].matches[]`: all conditions must hold. `supported` is false for
/// conditions this simulation does not evaluate (regular expressions, query params): such
/// a match never matches, so a route using them shows up as unrouted traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    pub path: PathMatch,
    pub method: Option<String>,
    pub headers: Vec<HeaderMatch>,
    pub supported: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub service: String,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    /// Empty means "match everything" (Gateway API's default `PathPrefix /`).
    pub matches: Vec<RouteMatch>,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteView {
    pub namespace: String,
    pub name: String,
    pub rules: Vec<RouteRule>,
}

/// The cluster as the data plane routes over it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub endpoints: Vec<Endpoint>,
    pub services: Vec<ServiceView>,
    /// In precedence order (oldest first, then by name), as Gateway API orders routes.
    pub routes: Vec<RouteView>,
}

fn pod_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    pod.metadata.deletion_timestamp.is_none()
        && conditions
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

impl Endpoint {
    pub fn of(pod: &Pod) -> Self {
        Endpoint {
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            pod: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            ready: pod_ready(pod),
            image: pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default(),
        }
    }
}

impl ServiceView {
    pub fn of(service: &Service) -> Self {
        ServiceView {
            namespace: service
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: service.metadata.name.clone().unwrap_or_default(),
            selector: service
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default(),
        }
    }

    /// A Service without a selector selects nothing (its endpoints would be managed by hand).
    pub fn selects(&self, e: &Endpoint) -> bool {
        e.namespace == self.namespace
            && !self.selector.is_empty()
            && self
                .selector
                .iter()
                .all(|(k, v)| e.labels.get(k) == Some(v))
    }
}

fn parse_match(m: &Value) -> RouteMatch {
    let mut supported = m
        .get("queryParams")
        .is_none_or(|q| q.as_array().is_none_or(Vec::is_empty));
    let path = match (
        m["path"]["type"].as_str().unwrap_or("PathPrefix"),
        m["path"]["value"].as_str().unwrap_or("/"),
    ) {
        ("Exact", v) => PathMatch::Exact(v.to_string()),
        ("PathPrefix", v) => PathMatch::Prefix(v.to_string()),
        (_, v) => {
            supported = false;
            PathMatch::Exact(v.to_string())
        }
    };
    let headers = m["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| {
            if h["type"].as_str().unwrap_or("Exact") != "Exact" {
                supported = false;
            }
            Some(HeaderMatch {
                name: h["name"].as_str()?.to_ascii_lowercase(),
                value: h["value"].as_str()?.to_string(),
            })
        })
        .collect();
    RouteMatch {
        path,
        method: m["method"].as_str().map(str::to_string),
        headers,
        supported,
    }
}

impl RouteView {
    /// Reads `spec.rules[].matches` and `backendRefs` (Services only; weight defaults to 1).
    pub fn of(route: &Value) -> Self {
        let rules = route["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| RouteRule {
                matches: r["matches"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(parse_match)
                    .collect(),
                backends: r["backendRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|b| b["kind"].as_str().unwrap_or("Service") == "Service")
                    .filter_map(|b| {
                        Some(Backend {
                            service: b["name"].as_str()?.to_string(),
                            weight: b["weight"].as_u64().unwrap_or(1) as u32,
                        })
                    })
                    .collect(),
            })
            .collect();
        RouteView {
            namespace: route["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string(),
            name: route["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            rules,
        }
    }

    fn references(&self, service: &str) -> bool {
        self.rules
            .iter()
            .flat_map(|r| &r.backends)
            .any(|b| b.service == service)
    }
}

impl Snapshot {
    /// `routes` are HTTPRoute objects as JSON; they are ordered by creation time, then name.
    pub fn from_objects(pods: &[Pod], services: &[Service], routes: &[Value]) -> Self {
        let mut routes: Vec<&Value> = routes.iter().collect();
        routes.sort_by_key(|r| {
            (
                r["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        });
        Snapshot {
            endpoints: pods.iter().map(Endpoint::of).collect(),
            services: services.iter().map(ServiceView::of).collect(),
            routes: routes.into_iter().map(RouteView::of).collect(),
        }
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceView> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    /// A ready pod by name (a sticky connection's pod may have gone since).
    pub fn endpoint(&self, namespace: &str, pod: &str) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .find(|e| e.ready && e.namespace == namespace && e.pod == pod)
    }

    /// The ready endpoints behind a Service.
    pub fn ready_endpoints(&self, namespace: &str, service: &str) -> Vec<&Endpoint> {
        let Some(svc) = self.service(namespace, service) else {
            return Vec::new();
        };
        self.endpoints
            .iter()
            .filter(|e| e.ready && svc.selects(e))
            .collect()
    }

    /// The HTTPRoutes of the namespace that send traffic to `service`.
    pub fn routes_to(&self, namespace: &str, service: &str) -> Vec<&RouteView> {
        self.routes
            .iter()
            .filter(|r| r.namespace == namespace && r.references(service))
            .collect()
    }
}
