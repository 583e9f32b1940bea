//! `/openapi/v3`: the index and one document per served group version, for `kubectl
//! explain` and for kubectl's validation of `apply` (which sees the `fieldValidation`
//! parameter on PATCH and leaves unknown-field checks to the server).
//!
//! Built-in group versions answer the documents a real kube-apiserver v1.36 served
//! (`openapi-v3/*.json.gz`, recorded), trimmed to the paths of the resources this server
//! serves. Custom resources get documents built from their CRD the way kube-apiserver
//! builds them: the version's `openAPIV3Schema` with `apiVersion`/`kind`/`metadata`
//! and `x-kubernetes-group-version-kind`, its List, and paths shaped like a built-in
//! resource's (Deployment's operations, renamed), with every schema they refer to.
use super::resources::{Registry, Resource};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::OnceLock;

/// The recorded documents: (group, version, gzipped JSON).
const RECORDED: &[(&str, &str, &[u8])] = &[
    ("", "v1", include_bytes!("openapi-v3/api_v1.json.gz")),
    (
        "apps",
        "v1",
        include_bytes!("openapi-v3/apis_apps_v1.json.gz"),
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        include_bytes!("openapi-v3/apis_apiextensions.k8s.io_v1.json.gz"),
    ),
    (
        "authorization.k8s.io",
        "v1",
        include_bytes!("openapi-v3/apis_authorization.k8s.io_v1.json.gz"),
    ),
    (
        "coordination.k8s.io",
        "v1",
        include_bytes!("openapi-v3/apis_coordination.k8s.io_v1.json.gz"),
    ),
    (
        "events.k8s.io",
        "v1",
        include_bytes!("openapi-v3/apis_events.k8s.io_v1.json.gz"),
    ),
];

/// The recording carries Go's internal field names as wrapper objects around the real
/// OpenAPI fields (`{"SchemaProps": {"type": ...}, "ArbitraryKeys": {"x-...": ...}}`);
/// this lifts their contents into the object that holds them.
const WRAPPERS: &[&str] = &[
    "ArbitraryKeys",
    "SchemaProps",
    "SwaggerSchemaProps",
    "Extensions",
    "ParameterProps",
    "MediaTypeProps",
    "OperationProps",
    "RequestBodyProps",
];

fn unwrap_go_fields(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if WRAPPERS.contains(&k.as_str()) {
                    if let Value::Object(inner) = unwrap_go_fields(x) {
                        out.extend(inner);
                    }
                } else {
                    out.insert(k, unwrap_go_fields(x));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(unwrap_go_fields).collect()),
        other => other,
    }
}

struct Recorded {
    group: &'static str,
    version: &'static str,
    doc: Value,
    hash: String,
}

fn recorded() -> &'static [Recorded] {
    static DOCS: OnceLock<Vec<Recorded>> = OnceLock::new();
    DOCS.get_or_init(|| {
        RECORDED
            .iter()
            .map(|(group, version, gz)| {
                let mut text = String::new();
                flate2::read::GzDecoder::new(*gz)
                    .read_to_string(&mut text)
                    .expect("a recorded OpenAPI document decompresses");
                let doc = serde_json::from_str(&text).expect("a recorded OpenAPI document parses");
                Recorded {
                    group,
                    version,
                    doc: unwrap_go_fields(doc),
                    hash: String::new(),
                }
            })
            .collect()
    })
}

/// Every schema of the recorded documents, by name.
fn all_schemas() -> &'static Map<String, Value> {
    static ALL: OnceLock<Map<String, Value>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Map::new();
        for r in recorded() {
            if let Some(Value::Object(s)) = r.doc.pointer("/components/schemas") {
                for (k, v) in s {
                    all.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        all
    })
}

/// Every schema of the recorded built-in documents, for resolving `$ref`s.
pub fn components() -> &'static Map<String, Value> {
    all_schemas()
}

/// The recorded schema of a built-in kind (the component whose
/// `x-kubernetes-group-version-kind` names it).
pub fn built_in_kind(group: &str, version: &str, kind: &str) -> Option<&'static Value> {
    type ByKind = std::collections::HashMap<(String, String, String), &'static Value>;
    static KINDS: OnceLock<ByKind> = OnceLock::new();
    let kinds = KINDS.get_or_init(|| {
        let mut kinds = ByKind::new();
        for s in all_schemas().values() {
            for g in s
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let part = |k: &str| g[k].as_str().unwrap_or("").to_string();
                kinds
                    .entry((part("group"), part("version"), part("kind")))
                    .or_insert(s);
            }
        }
        kinds
    });
    kinds
        .get(&(group.to_string(), version.to_string(), kind.to_string()))
        .copied()
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The group versions this server has a document for.
fn group_versions(registry: &Registry) -> Vec<(String, String)> {
    let mut gvs: Vec<(String, String)> = Vec::new();
    for r in registry.all() {
        let gv = (r.group.clone(), r.version.clone());
        let documented = r.is_custom()
            || recorded()
                .iter()
                .any(|d| d.group == r.group && d.version == r.version);
        if documented && !gvs.contains(&gv) {
            gvs.push(gv);
        }
    }
    gvs
}

/// `/openapi/v3`: each group version's document, its URL carrying a hash of the content
/// (kubectl caches by URL) as kube-apiserver's does.
pub fn root(registry: &Registry) -> Value {
    let paths: Map<String, Value> = group_versions(registry)
        .iter()
        .filter_map(|(g, v)| {
            let hash = match built_in().iter().find(|d| d.group == g && d.version == v) {
                Some(d) => d.hash.clone(),
                None => hash(&group_version(registry, g, v)?),
            };
            let p = gv_path(g, v);
            let url = format!("/openapi/v3/{p}?hash={hash}");
            Some((p, json!({ "serverRelativeURL": url })))
        })
        .collect();
    json!({ "paths": paths })
}

/// FNV-1a over the serialized document, as 16 upper-case hex digits.
fn hash(doc: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in serde_json::to_vec(doc).unwrap_or_default() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/GROUP/VERSION`; `None` for a group version
/// this server has no document for.
pub fn group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&Resource> = registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| &**r)
        .collect();
    if resources.is_empty() {
        return None;
    }
    if resources.iter().any(|r| r.is_custom()) {
        return Some(custom(group, version, &resources));
    }
    built_in()
        .iter()
        .find(|d| d.group == group && d.version == version)
        .map(|d| d.doc.clone())
}

/// The built-in group versions' documents, trimmed to the served resources (the
/// built-in resources never change), with their hashes.
fn built_in() -> &'static [Recorded] {
    static DOCS: OnceLock<Vec<Recorded>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let registry = Registry::default();
        recorded()
            .iter()
            .map(|rec| {
                let mut doc = rec.doc.clone();
                let prefix = format!("/{}/", gv_path(rec.group, rec.version));
                let served = |plural: &str| {
                    registry.all().iter().any(|r| {
                        r.group == rec.group && r.version == rec.version && r.plural == plural
                    })
                };
                if let Some(Value::Object(paths)) = doc.get_mut("paths") {
                    paths.retain(|p, _| {
                        let rest = p.strip_prefix(&prefix).unwrap_or("");
                        let rest = rest.strip_prefix("watch/").unwrap_or(rest);
                        let rest = rest.strip_prefix("namespaces/{namespace}/").unwrap_or(rest);
                        let plural = rest.split('/').next().unwrap_or("");
                        plural.is_empty() || served(plural)
                    });
                }
                Recorded {
                    group: rec.group,
                    version: rec.version,
                    hash: hash(&doc),
                    doc,
                }
            })
            .collect()
    })
}

/// The media type kube-apiserver answers (clients ask for `...spec.v2@v1.0+protobuf`).
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2`: a Swagger 2.0 document with no definitions (as gnostic's protobuf
/// `openapi.v2.Document` when asked, else JSON). kubectl falls back to it to validate
/// kinds whose v3 document has no PATCH (the reviews) and, finding no schema for them,
/// leaves them to the server.
pub fn v2(accept: &str) -> (&'static str, bytes::Bytes) {
    if accept.contains("protobuf") {
        use prost::encoding::{WireType, encode_key, encode_varint, string};
        let mut info = Vec::new();
        string::encode(1, &"Kubernetes".to_string(), &mut info);
        string::encode(2, &"v1.36".to_string(), &mut info);
        let mut doc = Vec::new();
        string::encode(1, &"2.0".to_string(), &mut doc);
        encode_key(2, WireType::LengthDelimited, &mut doc);
        encode_varint(info.len() as u64, &mut doc);
        doc.extend(info);
        (V2_PROTOBUF, doc.into())
    } else {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.36"}, "paths": {}, "definitions": {}});
        ("application/json", doc.to_string().into())
    }
}

/// The name kube-apiserver gives a CRD kind's schema: the group reversed, the version
/// and the kind (`dev.portcullis.v1alpha1.Rollout`).
fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// `portcullis.dev`, `v1alpha1` → `PortcullisDevV1alpha1` (operation ids) and
/// `portcullisDev_v1alpha1` (tags).
fn op_names(group: &str, version: &str) -> (String, String) {
    let words: Vec<String> = group
        .trim_end_matches(".k8s.io")
        .split(['.', '-'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let camel = words.concat();
    let mut v = version.chars();
    let version_cap = v
        .next()
        .map(|f| f.to_uppercase().collect::<String>() + v.as_str())
        .unwrap_or_default();
    let mut tag = camel.clone();
    if let Some(first) = tag.get(..1) {
        tag = first.to_lowercase() + &tag[1..];
    }
    (format!("{camel}{version_cap}"), format!("{tag}_{version}"))
}

const TEMPLATE: &str = "/apis/apps/v1/namespaces/{namespace}/deployments";

fn custom(group: &str, version: &str, resources: &[&Resource]) -> Value {
    let apps = recorded()
        .iter()
        .find(|d| d.group == "apps")
        .expect("the apps/v1 document is recorded");
    let (op_prefix, tag) = op_names(group, version);
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in resources {
        let name = schema_name(group, version, &r.kind);
        let mut suffixes = vec!["", "/{name}"];
        if r.status {
            suffixes.push("/{name}/status");
        }
        if r.scale.is_some() {
            suffixes.push("/{name}/scale");
        }
        let rename = |item: &Value, namespaced: bool| -> Value {
            let mut text = serde_json::to_string(item)
                .unwrap_or_default()
                .replace("io.k8s.api.apps.v1.Deployment", &name)
                .replace("AppsV1", &op_prefix)
                .replace("apps_v1", &tag)
                .replace("Deployment", &r.kind)
                .replace("deployments", &r.plural);
            if !namespaced {
                text = text.replace("Namespaced", "");
            }
            if r.kind.starts_with(['A', 'E', 'I', 'O', 'U']) {
                text = text.replace(&format!(" a {}", r.kind), &format!(" an {}", r.kind));
            }
            let mut item: Value = serde_json::from_str(&text).unwrap_or_default();
            adapt_operations(&mut item, group, version, &r.kind, namespaced);
            item
        };
        let base = format!("/{}", gv_path(group, version));
        for suffix in suffixes {
            let Some(item) = apps.doc["paths"].get(format!("{TEMPLATE}{suffix}")) else {
                continue;
            };
            let path = if r.namespaced {
                format!("{base}/namespaces/{{namespace}}/{}{suffix}", r.plural)
            } else {
                format!("{base}/{}{suffix}", r.plural)
            };
            paths.insert(path, rename(item, r.namespaced));
        }
        if r.namespaced
            && let Some(item) = apps.doc["paths"].get("/apis/apps/v1/deployments")
        {
            paths.insert(format!("{base}/{}", r.plural), rename(item, true));
        }
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let list_params = paths[&collection]["get"]["parameters"].clone();
        for (path, item) in paths.iter_mut() {
            if path.contains(&format!("/{}", r.plural)) {
                let read = path.contains("{name}");
                custom_resource_operations(item, *path == collection, read, &list_params);
            }
        }
        schemas.insert(name.clone(), kind_schema(r, group, version));
        schemas.insert(format!("{name}List"), list_schema(r, group, version, &name));
    }
    // Every schema the paths and kinds refer to, from the recorded documents.
    let mut wanted = BTreeSet::new();
    refs(&Value::Object(paths.clone()), &mut wanted);
    refs(&Value::Object(schemas.clone()), &mut wanted);
    while let Some(next) = wanted.pop_first() {
        if schemas.contains_key(&next) {
            continue;
        }
        if let Some(s) = all_schemas().get(&next) {
            refs(s, &mut wanted);
            schemas.insert(next, s.clone());
        }
    }
    let schemas: Map<String, Value> = {
        let mut sorted: Vec<_> = schemas.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted.into_iter().collect()
    };
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// Names of the schemas `v` refers to (`#/components/schemas/NAME`).
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref"
                    && let Some(name) = x
                        .as_str()
                        .and_then(|s| s.strip_prefix("#/components/schemas/"))
                {
                    out.insert(name.to_string());
                }
                refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Points every operation's group-version-kind at the custom kind (the scale
/// subresource keeps autoscaling/v1 Scale's), takes strategic merge patch out of PATCH
/// (custom resources do not support it: kubectl apply then sends a merge patch), and
/// drops the namespace parameter of a cluster-scoped resource.
fn adapt_operations(item: &mut Value, group: &str, version: &str, kind: &str, namespaced: bool) {
    let Some(ops) = item.as_object_mut() else {
        return;
    };
    for op in ops.values_mut() {
        if let Some(gvk) = op.get_mut("x-kubernetes-group-version-kind")
            && gvk["group"] == "apps"
        {
            *gvk = json!({"group": group, "version": version, "kind": kind});
        }
        if let Some(Value::Object(content)) = op.pointer_mut("/requestBody/content") {
            content.remove("application/strategic-merge-patch+json");
        }
    }
    if !namespaced && let Some(Value::Array(params)) = ops.get_mut("parameters") {
        params.retain(|p| p["name"] != "namespace");
    }
}

/// What a custom resource's operations lack or have unlike a built-in one's: no
/// protobuf or watch-stream media types (watching is `?watch=` on the list), request
/// bodies as JSON or YAML, no 201 for PATCH, `resourceVersion` on a read, and a
/// collection DELETE that takes the list's parameters and no body.
fn custom_resource_operations(item: &mut Value, collection: bool, one: bool, list_params: &Value) {
    let Some(ops) = item.as_object_mut() else {
        return;
    };
    for (method, op) in ops.iter_mut() {
        let Some(op) = op.as_object_mut() else {
            continue;
        };
        if let Some(Value::Object(responses)) = op.get_mut("responses") {
            if method == "patch" {
                responses.remove("201");
            }
            for r in responses.values_mut() {
                if let Some(Value::Object(content)) = r.get_mut("content") {
                    content.retain(|t, _| !t.contains("protobuf") && !t.contains("stream=watch"));
                }
            }
        }
        if let Some(Value::Object(content)) =
            op.get_mut("requestBody").and_then(|b| b.get_mut("content"))
            && let Some(any) = content.remove("*/*")
        {
            content.insert("application/json".into(), any.clone());
            content.insert("application/yaml".into(), any);
        }
        if let Some(Value::String(d)) = op.get_mut("description") {
            *d = d.replace("list or watch objects", "list objects");
        }
        let params = op.entry("parameters").or_insert_with(|| json!([]));
        if method == "get" && one {
            let rv = list_params
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "resourceVersion"));
            if let (Some(rv), Value::Array(ps)) = (rv, &mut *params)
                && !ps.iter().any(|p| p["name"] == "resourceVersion")
            {
                ps.push(rv.clone());
            }
        }
        if method == "delete" && collection {
            *params = list_params.clone();
            op.remove("requestBody");
        }
        if op.get("parameters").is_some_and(|p| p == &json!([])) {
            op.remove("parameters");
        }
    }
}

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

fn kind_schema(r: &Resource, group: &str, version: &str) -> Value {
    let mut schema = r
        .custom
        .as_ref()
        .and_then(|c| c.schema.clone())
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let Some(m) = schema.as_object_mut() else {
        return schema;
    };
    let props = m
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut with_meta = Map::new();
    with_meta.insert(
        "apiVersion".into(),
        json!({"description": API_VERSION_DOC, "type": "string"}),
    );
    with_meta.insert(
        "kind".into(),
        json!({"description": KIND_DOC, "type": "string"}),
    );
    with_meta.insert("metadata".into(), json!({"description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        "allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]}));
    for (k, v) in props {
        if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            with_meta.insert(k, v);
        }
    }
    m.insert("properties".into(), Value::Object(with_meta));
    m.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": group, "kind": r.kind, "version": version}]),
    );
    schema
}

fn list_schema(r: &Resource, group: &str, version: &str, item: &str) -> Value {
    json!({
        "x-kubernetes-group-version-kind": [{"group": group, "kind": r.list_kind(), "version": version}],
        "description": format!("{} is a list of {}", r.list_kind(), r.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "items": {"description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", r.plural),
                "type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": {"description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}]},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kube_apiserver() {
        assert_eq!(
            schema_name("portcullis.dev", "v1alpha1", "Rollout"),
            "dev.portcullis.v1alpha1.Rollout"
        );
        assert_eq!(
            op_names("portcullis.dev", "v1alpha1"),
            (
                "PortcullisDevV1alpha1".to_string(),
                "portcullisDev_v1alpha1".to_string()
            )
        );
        assert_eq!(
            op_names("gateway.networking.k8s.io", "v1").0,
            "GatewayNetworkingV1"
        );
    }

    #[test]
    fn recorded_documents_lose_the_go_wrappers() {
        let registry = Registry::default();
        let doc = group_version(&registry, "", "v1").unwrap();
        let cm = &doc["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(cm["type"], "object");
        assert_eq!(
            cm["x-kubernetes-group-version-kind"][0]["kind"],
            "ConfigMap"
        );
        assert!(
            doc["paths"]
                .get("/api/v1/namespaces/{namespace}/configmaps/{name}")
                .is_some()
        );
        assert!(
            doc["paths"].get("/api/v1/nodes").is_none(),
            "nodes are not served"
        );
        assert!(!doc.to_string().contains("SchemaProps"));
    }
}
