//! Every API call the operator makes, as RBAC rules: the chart's ClusterRole is built
//! from this list, and a test checks the code asks for nothing more.

/// (API group, resource, verbs).
pub const RULES: &[(&str, &str, &[&str])] = &[
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
        &["get", "list", "watch", "create", "patch", "delete"],
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

/// Whether `verb` on `group`/`resource` is in [`RULES`].
pub fn allows(group: &str, resource: &str, verb: &str) -> bool {
    RULES
        .iter()
        .any(|(g, r, verbs)| *g == group && *r == resource && verbs.contains(&verb))
}
