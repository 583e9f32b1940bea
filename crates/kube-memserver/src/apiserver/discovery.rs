//! Legacy discovery: `/version`, `/api`, `/apis`, `/apis/GROUP`, `/api/v1`,
//! `/apis/GROUP/VERSION`. Aggregated discovery is not offered; clients fall back to this.
use super::resources::Registry;
use serde_json::{Value, json};

pub fn version() -> Value {
    json!({"major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "35",
        "gitVersion": "v1.36.0-portcullis-local-cluster", "gitCommit": "", "gitTreeState": "clean",
        "buildDate": "", "goVersion": "", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)})
}

pub fn core_versions(host: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
}

fn group_entry(name: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({"name": name, "versions": versions.iter().map(gv).collect::<Vec<_>>(), "preferredVersion": gv(&versions[0])})
}

pub fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(registry: &Registry, name: &str) -> Value {
    let versions = registry
        .groups()
        .into_iter()
        .find(|(g, _)| g == name)
        .map(|(_, v)| v)
        .unwrap_or_default();
    let mut g = group_entry(name, &versions);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Reviews are only created.
const REVIEW_VERBS: &[&str] = &["create"];
/// Namespaces cannot be deleted as a collection.
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// The order kube-apiserver's custom resource handler lists its verbs in.
const CUSTOM_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];

pub fn resources(registry: &Registry, group: &str, version: &str) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for r in registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let verbs = if r.review {
            REVIEW_VERBS
        } else if r.is_custom() {
            CUSTOM_VERBS
        } else if r.plural == "namespaces" {
            NAMESPACE_VERBS
        } else {
            VERBS
        };
        let mut e = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs});
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        out.push(e);
        let sub = |name: &str| json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]});
        if r.status {
            out.push(sub("status"));
        }
        if r.plural == "namespaces" && !r.is_custom() {
            let mut f = sub("finalize");
            f["verbs"] = json!(["update"]);
            out.push(f);
        }
        if r.scale.is_some() {
            let mut s = sub("scale");
            s["group"] = json!("autoscaling");
            s["version"] = json!("v1");
            s["kind"] = json!("Scale");
            out.push(s);
        }
    }
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut list = json!({"kind": "APIResourceList", "groupVersion": gv, "resources": out});
    if !group.is_empty() {
        list["apiVersion"] = json!("v1");
    }
    list
}

/// The media type of aggregated discovery, which newer clients ask for first.
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn wants_aggregated(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|a| a.contains("as=APIGroupDiscoveryList"))
}

fn aggregated_version(registry: &Registry, group: &str, version: &str) -> Value {
    let kind = |k: &str| json!({"group": "", "version": "", "kind": k});
    let mut resources: Vec<Value> = registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            let verbs = if r.review {
                REVIEW_VERBS
            } else if r.is_custom() {
                CUSTOM_VERBS
            } else if r.plural == "namespaces" {
                NAMESPACE_VERBS
            } else {
                VERBS
            };
            let mut e = json!({"resource": r.plural, "responseKind": kind(&r.kind), "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular, "verbs": verbs});
            if !r.short_names.is_empty() {
                e["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                e["categories"] = json!(r.categories);
            }
            let mut subs = Vec::new();
            if r.plural == "namespaces" && !r.is_custom() {
                subs.push(json!({"subresource": "finalize", "responseKind": kind(&r.kind), "verbs": ["update"]}));
            }
            if r.scale.is_some() {
                subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
            }
            if r.status {
                subs.push(json!({"subresource": "status", "responseKind": kind(&r.kind), "verbs": ["get", "patch", "update"]}));
            }
            if !subs.is_empty() {
                e["subresources"] = json!(subs);
            }
            e
        })
        .collect();
    resources.sort_by(|a, b| a["resource"].as_str().cmp(&b["resource"].as_str()));
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

/// `/apis` (or `/api` when `core`) as an `APIGroupDiscoveryList`.
pub fn aggregated(registry: &Registry, core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![json!({"metadata": {}, "versions": [aggregated_version(registry, "", "v1")]})]
    } else {
        registry
            .groups()
            .iter()
            .map(|(g, vs)| json!({"metadata": {"name": g}, "versions": vs.iter().map(|v| aggregated_version(registry, g, v)).collect::<Vec<_>>()}))
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
