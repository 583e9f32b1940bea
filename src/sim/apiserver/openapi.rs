//! Just enough OpenAPI v3 for kubectl's default `--validate=strict`: every served kind's
//! PATCH operation declares the `fieldValidation` query parameter, so kubectl leaves
//! validation to the server (`?fieldValidation=Strict`) instead of needing full schemas.
use super::resources::Registry;
use serde_json::{Value, json};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the group versions and where their documents are.
pub fn root(registry: &Registry) -> Value {
    let mut gvs: Vec<(String, String)> = Vec::new();
    for r in registry.all() {
        let gv = (r.group.clone(), r.version.clone());
        if !gvs.contains(&gv) {
            gvs.push(gv);
        }
    }
    let paths: serde_json::Map<String, Value> = gvs
        .iter()
        .map(|(g, v)| {
            let p = gv_path(g, v);
            (
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}")}),
            )
        })
        .collect();
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/GROUP/VERSION`; `None` for a group version
/// this server does not serve.
pub fn group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<_> = registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .cloned()
        .collect();
    if resources.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for r in resources {
        let scope = if r.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let path = format!("/{}/{scope}{}/{{name}}", gv_path(group, version), r.plural);
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let params = json!([{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}}]);
        let op = |id: &str| json!({"operationId": id, "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {}});
        paths.insert(
            path,
            json!({"patch": op("patch"), "put": op("replace"), "get": op("read")}),
        );
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.36.0"}, "paths": paths, "components": {"schemas": {}}}),
    )
}
