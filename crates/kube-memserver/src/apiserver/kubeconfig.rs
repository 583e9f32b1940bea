//! A kubeconfig for the local API server: plain http on loopback and a fake bearer token
//! (the server authenticates nobody; every request acts as a cluster admin).
use serde_json::json;

pub const CONTEXT: &str = "portcullis-local";

/// The kubeconfig YAML pointing at `url`, with namespace `default`.
pub fn render(url: &str) -> String {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": "local-cluster-has-no-authentication"}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    serde_saphyr::to_string(&config).expect("a kubeconfig serializes")
}
