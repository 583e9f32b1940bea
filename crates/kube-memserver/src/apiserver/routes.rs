//! Request paths: which resource, namespace, name and subresource a URL names.
use super::resources::{Registry, Resource};
use super::status::ApiError;
use std::collections::HashMap;
use std::sync::Arc;

/// What a path addresses.
#[derive(Debug, Clone)]
pub enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    /// `/apis/GROUP`: one group's versions.
    Group(String),
    /// `/api/v1`, `/apis/GROUP/VERSION`: the resources of a group version.
    GroupVersion(String, String),
    Resource(Target),
    /// `/openapi/v3` and `/openapi/v3/api/v1`, `/openapi/v3/apis/GROUP/VERSION`.
    OpenApi(Option<(String, String)>),
    /// `/openapi/v2`.
    OpenApiV2,
}

/// A collection or one object of a resource.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: Arc<Resource>,
    /// `None` for cluster-scoped resources and for lists across all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// The answer to a path this server has no route for: kube-apiserver's mux answers a
/// text/plain 404 for an unknown group, but a Status for an unknown resource.
#[derive(Debug)]
pub enum Unrouted {
    PlainNotFound,
    Status(ApiError),
}

pub fn parse(path: &str, registry: &Registry) -> Result<Route, Unrouted> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["healthz" | "readyz" | "livez"] => return Ok(Route::Health),
        ["api"] => return Ok(Route::CoreVersions),
        ["openapi", "v3"] => return Ok(Route::OpenApi(None)),
        ["openapi", "v2"] => return Ok(Route::OpenApiV2),
        ["openapi", "v3", "api", v] => {
            return Ok(Route::OpenApi(Some((String::new(), v.to_string()))));
        }
        ["openapi", "v3", "apis", g, v] => {
            return Ok(Route::OpenApi(Some((g.to_string(), v.to_string()))));
        }
        ["apis"] => return Ok(Route::Groups),
        ["apis", g] if registry.groups().iter().any(|(name, _)| name == g) => {
            return Ok(Route::Group(g.to_string()));
        }
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if registry.serves_group_version(g, v) => (*g, *v, rest),
        _ => return Err(Unrouted::PlainNotFound),
    };
    let find = |plural: &str| {
        registry
            .find(group, version, plural)
            .ok_or(Unrouted::Status(ApiError::no_route()))
    };
    let target = |res: Arc<Resource>, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Ok(Route::Resource(Target {
            resource: res,
            namespace: ns.map(String::from),
            name: name.map(String::from),
            subresource: sub.map(String::from),
        }))
    };
    match rest {
        [] => Ok(Route::GroupVersion(group.into(), version.into())),
        ["namespaces", ns, plural, tail @ ..]
            if registry
                .find(group, version, plural)
                .is_some_and(|r| r.namespaced) =>
        {
            let res = find(plural)?;
            match tail {
                [] => target(res, Some(ns), None, None),
                [name] => target(res, Some(ns), Some(name), None),
                [name, sub] => target(res, Some(ns), Some(name), Some(sub)),
                _ => Err(Unrouted::Status(ApiError::no_route())),
            }
        }
        [plural] => target(find(plural)?, None, None, None),
        [plural, name] => {
            let res = find(plural)?;
            if res.namespaced {
                return Err(Unrouted::Status(ApiError::no_route()));
            }
            target(res, None, Some(name), None)
        }
        [plural, name, sub] => {
            let res = find(plural)?;
            if res.namespaced {
                return Err(Unrouted::Status(ApiError::no_route()));
            }
            target(res, None, Some(name), Some(sub))
        }
        _ => Err(Unrouted::Status(ApiError::no_route())),
    }
}

/// Decoded query parameters.
#[derive(Debug, Clone, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}
