//! Every API call the operator makes, as RBAC rules: the chart's ClusterRole is built
//! from this list, and a test checks the code asks for nothing more.

/// (API group, resource, verbs).
pub const RULES: Rules = &[
    (
        "portcullis.dev",
        "rollouts",
        &["get", "list", "watch", "patch", "update"],
    ),
    ("portcullis.dev", "rollouts/status", &["get", "patch"]),
    (
        "portcullis.dev",
        "analysistemplates",
        &["get", "list", "watch"],
    ),
    (
        "portcullis.dev",
        "clusteranalysistemplates",
        &["get", "list", "watch"],
    ),
    (
        "apps",
        "deployments",
        &[
            "get", "list", "watch", "create", "update", "patch", "delete",
        ],
    ),
    ("apps", "replicasets", &["get", "list", "watch"]),
    ("", "services", &["get", "list", "watch", "create", "patch"]),
    ("", "secrets", &["get"]),
    ("", "pods", &["get", "list", "watch"]),
    (
        "gateway.networking.k8s.io",
        "httproutes",
        &["get", "list", "watch", "update"],
    ),
    ("events.k8s.io", "events", &["create", "patch"]),
    (
        "coordination.k8s.io",
        "leases",
        &["get", "create", "patch", "update"],
    ),
];

/// RBAC rules as (API group, resource, verbs).
pub type Rules = &'static [(&'static str, &'static str, &'static [&'static str])];

/// Whether `verb` on `group`/`resource` is in [`RULES`].
pub fn allows(group: &str, resource: &str, verb: &str) -> bool {
    allowed_by(RULES, group, resource, verb)
}

/// Whether `verb` on `group`/`resource` is in `rules`.
pub fn allowed_by(rules: Rules, group: &str, resource: &str, verb: &str) -> bool {
    rules
        .iter()
        .any(|(g, r, verbs)| *g == group && *r == resource && verbs.contains(&verb))
}

/// The RBAC (group, resource, verb) a request needs, from its method, path and query;
/// `None` for paths that are not resources (discovery, `/version`).
pub fn required(method: &str, path: &str, query: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _ns, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, name, sub) = match rest {
        [] => return None,
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s, ..] => (*r, Some(*n), Some(*s)),
    };
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method, name) {
        ("GET", _) if watch => "watch",
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        _ => return None,
    };
    let resource = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    Some((group.to_string(), resource, verb.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(m: &str, p: &str, q: &str) -> (String, String, String) {
        required(m, p, q).unwrap()
    }

    #[test]
    fn requests_map_to_the_verbs_kubernetes_authorizes() {
        assert_eq!(
            req("GET", "/apis/apps/v1/namespaces/pay/deployments/auth", ""),
            ("apps".into(), "deployments".into(), "get".into())
        );
        assert_eq!(
            req(
                "GET",
                "/apis/portcullis.dev/v1alpha1/rollouts",
                "watch=true&resourceVersion=5"
            ),
            ("portcullis.dev".into(), "rollouts".into(), "watch".into())
        );
        assert_eq!(
            req(
                "PATCH",
                "/apis/portcullis.dev/v1alpha1/namespaces/pay/rollouts/auth/status",
                ""
            ),
            (
                "portcullis.dev".into(),
                "rollouts/status".into(),
                "patch".into()
            )
        );
        assert_eq!(
            req(
                "GET",
                "/api/v1/namespaces/pay/services",
                "labelSelector=a%3Db"
            ),
            ("".into(), "services".into(), "list".into())
        );
        assert_eq!(
            req("GET", "/api/v1/namespaces/pay", ""),
            ("".into(), "namespaces".into(), "get".into())
        );
        assert_eq!(required("GET", "/apis/apps/v1", ""), None);
        assert_eq!(required("GET", "/version", ""), None);
    }

    #[test]
    fn every_rule_names_a_known_verb() {
        let verbs = [
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        ];
        for (_, _, vs) in RULES {
            assert!(vs.iter().all(|v| verbs.contains(v)));
        }
    }
}
