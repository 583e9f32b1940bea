//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): the `k8s\0` envelope
//! around a `runtime.Unknown` whose `raw` is the object, as client-go sends for built-in
//! kinds (`kubectl create namespace|configmap|secret`, `kubectl auth can-i`).
//!
//! Requests are decoded into the JSON the rest of the server works with; answers are
//! encoded back when the client asks for protobuf first in `Accept`. Only Namespace,
//! ConfigMap, Secret, ServiceAccount, SelfSubjectAccessReview, SelfSubjectRulesReview,
//! SelfSubjectReview (and `Status`) are mapped both ways, field by field, through `k8s-pb`'s generated
//! types; Deployment, Pod and Service bodies are decoded ([`workloads`]) and answered
//! as JSON; any other kind in a protobuf body is a 415, and any other answer goes as JSON.
mod workloads;

use super::status::ApiError;
use base64::Engine;
use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const MEDIA: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// Is the media type (a Content-Type value) Kubernetes protobuf?
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or("").trim() == MEDIA
}

/// Does `Accept` ask for protobuf before anything else?
pub fn wanted(accept: &str) -> bool {
    accept.split(',').next().is_some_and(is_protobuf)
}

fn unsupported(what: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({what} is not served as {MEDIA} here)"
        ),
    )
}

/// A protobuf request body as the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let raw = body.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request(
            "provided object is not a Kubernetes protobuf message: missing the k8s\\0 prefix",
        )
    })?;
    let unknown = Unknown::decode(raw)
        .map_err(|e| ApiError::bad_request(format!("decoding the protobuf envelope: {e}")))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (
        tm.api_version.unwrap_or_default(),
        tm.kind.unwrap_or_default(),
    );
    let raw = unknown.raw.unwrap_or_default();
    let bad = |e: prost::DecodeError| ApiError::bad_request(format!("decoding {kind}: {e}"));
    let mut obj = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => namespace_json(&core::Namespace::decode(&raw[..]).map_err(bad)?),
        ("v1", "ConfigMap") => configmap_json(&core::ConfigMap::decode(&raw[..]).map_err(bad)?),
        ("v1", "Secret") => secret_json(&core::Secret::decode(&raw[..]).map_err(bad)?),
        ("v1", "ServiceAccount") => {
            service_account_json(&core::ServiceAccount::decode(&raw[..]).map_err(bad)?)
        }
        ("apps/v1", "Deployment") => workloads::deployment(
            &k8s_pb::api::apps::v1::Deployment::decode(&raw[..]).map_err(bad)?,
        )?,
        ("v1", "Pod") => workloads::pod(&core::Pod::decode(&raw[..]).map_err(bad)?)?,
        ("v1", "Service") => workloads::service(&core::Service::decode(&raw[..]).map_err(bad)?)?,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            ssar_json(&authz::SelfSubjectAccessReview::decode(&raw[..]).map_err(bad)?)
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            let r = authn::SelfSubjectReview::decode(&raw[..]).map_err(bad)?;
            json!({"metadata": meta_json(&r.metadata)})
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            ssrr_json(&authz::SelfSubjectRulesReview::decode(&raw[..]).map_err(bad)?)
        }
        _ => return Err(unsupported(&format!("{api_version} {kind}"))),
    };
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

/// A JSON answer (an object of a kind in [`KINDS`], or a `Status`) as protobuf; `None`
/// when this kind is not mapped (the caller answers JSON).
pub fn encode(obj: &Value) -> Option<Vec<u8>> {
    let api_version = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let raw = match (api_version, kind) {
        ("v1", "Status") => status_pb(obj).encode_to_vec(),
        ("v1", "Namespace") => namespace_pb(obj).encode_to_vec(),
        ("v1", "ConfigMap") => configmap_pb(obj).encode_to_vec(),
        ("v1", "Secret") => secret_pb(obj).encode_to_vec(),
        ("v1", "ServiceAccount") => service_account_pb(obj).encode_to_vec(),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => ssar_pb(obj).encode_to_vec(),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => ssrr_pb(obj).encode_to_vec(),
        ("authentication.k8s.io/v1", "SelfSubjectReview") => ssr_pb(obj).encode_to_vec(),
        _ => return None,
    };
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    Some(out)
}

// --- JSON helpers: Go's omitempty on the way to JSON, tolerant reads on the way back ---

/// Inserts `v` unless it is null, an empty string, list or object.
fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    let empty = match &v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        m.insert(k.into(), v);
    }
}

fn opt<T: Into<Value> + Clone>(v: &Option<T>) -> Value {
    v.clone().map(Into::into).unwrap_or(Value::Null)
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(String::from)
}

fn b(v: &Value, k: &str) -> Option<bool> {
    v.get(k).and_then(Value::as_bool)
}

fn i(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: &Value, k: &str) -> BTreeMap<String, String> {
    v.get(k)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn bytes_map(v: &Value, k: &str) -> BTreeMap<String, Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    v.get(k)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| {
                    v.as_str()
                        .and_then(|s| b64.decode(s).ok())
                        .map(|b| (k.clone(), b))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn json_bytes_map(m: &BTreeMap<String, Vec<u8>>) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), json!(b64.encode(v))))
            .collect(),
    )
}

fn json_string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// Go's zero time (year 1, or the epoch) is no time: `omitempty` leaves it out of JSON.
const GO_ZERO_TIME: i64 = -62_135_596_800;

fn time_json(t: &Option<meta::Time>) -> Value {
    let Some(t) = t else { return Value::Null };
    let seconds = t.seconds.unwrap_or(0);
    if seconds == 0 || seconds == GO_ZERO_TIME {
        return Value::Null;
    }
    match jiff::Timestamp::from_second(seconds) {
        Ok(ts) => json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        Err(_) => Value::Null,
    }
}

fn time_pb(v: &Value, k: &str) -> Option<meta::Time> {
    let ts: jiff::Timestamp = v.get(k)?.as_str()?.parse().ok()?;
    Some(meta::Time {
        seconds: Some(ts.as_second()),
        nanos: Some(0),
    })
}

// --- ObjectMeta and Status ---

fn meta_json(m: &Option<meta::ObjectMeta>) -> Value {
    let Some(m) = m else { return json!({}) };
    let mut o = Map::new();
    put(&mut o, "name", opt(&m.name));
    put(&mut o, "generateName", opt(&m.generate_name));
    put(&mut o, "namespace", opt(&m.namespace));
    put(&mut o, "uid", opt(&m.uid));
    put(&mut o, "resourceVersion", opt(&m.resource_version));
    put(&mut o, "generation", opt(&m.generation.filter(|g| *g != 0)));
    put(
        &mut o,
        "creationTimestamp",
        time_json(&m.creation_timestamp),
    );
    put(
        &mut o,
        "deletionTimestamp",
        time_json(&m.deletion_timestamp),
    );
    put(
        &mut o,
        "deletionGracePeriodSeconds",
        opt(&m.deletion_grace_period_seconds),
    );
    put(&mut o, "labels", json_string_map(&m.labels));
    put(&mut o, "annotations", json_string_map(&m.annotations));
    let owners: Vec<Value> = m
        .owner_references
        .iter()
        .map(|r| {
            let mut o = Map::new();
            put(&mut o, "apiVersion", opt(&r.api_version));
            put(&mut o, "kind", opt(&r.kind));
            put(&mut o, "name", opt(&r.name));
            put(&mut o, "uid", opt(&r.uid));
            put(&mut o, "controller", opt(&r.controller));
            put(&mut o, "blockOwnerDeletion", opt(&r.block_owner_deletion));
            Value::Object(o)
        })
        .collect();
    put(&mut o, "ownerReferences", json!(owners));
    put(&mut o, "finalizers", json!(m.finalizers));
    let managed: Vec<Value> = m
        .managed_fields
        .iter()
        .map(|f| {
            let mut o = Map::new();
            put(&mut o, "manager", opt(&f.manager));
            put(&mut o, "operation", opt(&f.operation));
            put(&mut o, "apiVersion", opt(&f.api_version));
            put(&mut o, "time", time_json(&f.time));
            put(&mut o, "fieldsType", opt(&f.fields_type));
            let fields = f
                .fields_v1
                .as_ref()
                .and_then(|f| f.raw.as_ref())
                .and_then(|raw| serde_json::from_slice(raw).ok())
                .unwrap_or(Value::Null);
            put(&mut o, "fieldsV1", fields);
            put(&mut o, "subresource", opt(&f.subresource));
            Value::Object(o)
        })
        .collect();
    put(&mut o, "managedFields", json!(managed));
    Value::Object(o)
}

fn meta_pb(obj: &Value) -> Option<meta::ObjectMeta> {
    let m = obj.get("metadata")?;
    let list = |k: &str| {
        m.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    Some(meta::ObjectMeta {
        name: s(m, "name"),
        generate_name: s(m, "generateName"),
        namespace: s(m, "namespace"),
        self_link: None,
        uid: s(m, "uid"),
        resource_version: s(m, "resourceVersion"),
        generation: i(m, "generation"),
        creation_timestamp: time_pb(m, "creationTimestamp"),
        deletion_timestamp: time_pb(m, "deletionTimestamp"),
        deletion_grace_period_seconds: i(m, "deletionGracePeriodSeconds"),
        labels: string_map(m, "labels"),
        annotations: string_map(m, "annotations"),
        owner_references: list("ownerReferences")
            .iter()
            .map(|r| meta::OwnerReference {
                api_version: s(r, "apiVersion"),
                kind: s(r, "kind"),
                name: s(r, "name"),
                uid: s(r, "uid"),
                controller: b(r, "controller"),
                block_owner_deletion: b(r, "blockOwnerDeletion"),
            })
            .collect(),
        finalizers: strings(m, "finalizers"),
        managed_fields: list("managedFields")
            .iter()
            .map(|f| meta::ManagedFieldsEntry {
                manager: s(f, "manager"),
                operation: s(f, "operation"),
                api_version: s(f, "apiVersion"),
                time: time_pb(f, "time"),
                fields_type: s(f, "fieldsType"),
                fields_v1: f.get("fieldsV1").map(|v| meta::FieldsV1 {
                    raw: Some(serde_json::to_vec(v).unwrap_or_default()),
                }),
                subresource: s(f, "subresource"),
            })
            .collect(),
    })
}

fn status_pb(obj: &Value) -> meta::Status {
    let d = &obj["details"];
    let details = d.is_object().then(|| meta::StatusDetails {
        name: s(d, "name"),
        group: s(d, "group"),
        kind: s(d, "kind"),
        uid: s(d, "uid"),
        causes: d
            .get("causes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|c| meta::StatusCause {
                        reason: s(c, "reason"),
                        message: s(c, "message"),
                        field: s(c, "field"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        retry_after_seconds: i(d, "retryAfterSeconds").map(|n| n as i32),
    });
    meta::Status {
        metadata: Some(meta::ListMeta::default()),
        status: s(obj, "status"),
        message: s(obj, "message"),
        reason: s(obj, "reason"),
        details,
        code: i(obj, "code").map(|n| n as i32),
    }
}

// --- core/v1 ---

fn namespace_json(ns: &core::Namespace) -> Value {
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&ns.metadata));
    // An empty spec stays out, so the server's default finalizer applies.
    if let Some(spec) = ns.spec.as_ref().filter(|s| !s.finalizers.is_empty()) {
        o.insert("spec".into(), json!({"finalizers": spec.finalizers}));
    }
    if let Some(st) = &ns.status {
        let mut m = Map::new();
        put(&mut m, "phase", opt(&st.phase));
        put(&mut o, "status", Value::Object(m));
    }
    Value::Object(o)
}

fn namespace_pb(obj: &Value) -> core::Namespace {
    let st = &obj["status"];
    core::Namespace {
        metadata: meta_pb(obj),
        spec: Some(core::NamespaceSpec {
            finalizers: strings(&obj["spec"], "finalizers"),
        }),
        status: Some(core::NamespaceStatus {
            phase: s(st, "phase"),
            conditions: st
                .get("conditions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|c| core::NamespaceCondition {
                            r#type: s(c, "type"),
                            status: s(c, "status"),
                            last_transition_time: time_pb(c, "lastTransitionTime"),
                            reason: s(c, "reason"),
                            message: s(c, "message"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }),
    }
}

fn configmap_json(cm: &core::ConfigMap) -> Value {
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&cm.metadata));
    put(&mut o, "immutable", opt(&cm.immutable));
    put(&mut o, "data", json_string_map(&cm.data));
    put(&mut o, "binaryData", json_bytes_map(&cm.binary_data));
    Value::Object(o)
}

fn configmap_pb(obj: &Value) -> core::ConfigMap {
    core::ConfigMap {
        metadata: meta_pb(obj),
        immutable: b(obj, "immutable"),
        data: string_map(obj, "data"),
        binary_data: bytes_map(obj, "binaryData"),
    }
}

fn secret_json(sec: &core::Secret) -> Value {
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&sec.metadata));
    put(&mut o, "immutable", opt(&sec.immutable));
    put(&mut o, "data", json_bytes_map(&sec.data));
    put(&mut o, "stringData", json_string_map(&sec.string_data));
    put(&mut o, "type", opt(&sec.r#type));
    Value::Object(o)
}

fn secret_pb(obj: &Value) -> core::Secret {
    core::Secret {
        metadata: meta_pb(obj),
        immutable: b(obj, "immutable"),
        data: bytes_map(obj, "data"),
        string_data: string_map(obj, "stringData"),
        r#type: s(obj, "type"),
    }
}

fn service_account_json(sa: &core::ServiceAccount) -> Value {
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&sa.metadata));
    let secrets: Vec<Value> = sa
        .secrets
        .iter()
        .map(|r| {
            let mut o = Map::new();
            put(&mut o, "kind", opt(&r.kind));
            put(&mut o, "namespace", opt(&r.namespace));
            put(&mut o, "name", opt(&r.name));
            put(&mut o, "uid", opt(&r.uid));
            put(&mut o, "apiVersion", opt(&r.api_version));
            Value::Object(o)
        })
        .collect();
    put(&mut o, "secrets", json!(secrets));
    let pulls: Vec<Value> = sa
        .image_pull_secrets
        .iter()
        .map(|r| json!({"name": r.name.clone().unwrap_or_default()}))
        .collect();
    put(&mut o, "imagePullSecrets", json!(pulls));
    put(
        &mut o,
        "automountServiceAccountToken",
        opt(&sa.automount_service_account_token),
    );
    Value::Object(o)
}

fn service_account_pb(obj: &Value) -> core::ServiceAccount {
    let list = |k: &str| {
        obj.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    core::ServiceAccount {
        metadata: meta_pb(obj),
        secrets: list("secrets")
            .iter()
            .map(|r| core::ObjectReference {
                kind: s(r, "kind"),
                namespace: s(r, "namespace"),
                name: s(r, "name"),
                uid: s(r, "uid"),
                api_version: s(r, "apiVersion"),
                resource_version: None,
                field_path: None,
            })
            .collect(),
        image_pull_secrets: list("imagePullSecrets")
            .iter()
            .map(|r| core::LocalObjectReference { name: s(r, "name") })
            .collect(),
        automount_service_account_token: b(obj, "automountServiceAccountToken"),
    }
}

// --- authorization.k8s.io/v1 ---

fn ssar_json(r: &authz::SelfSubjectAccessReview) -> Value {
    let mut spec = Map::new();
    if let Some(ra) = r.spec.as_ref().and_then(|s| s.resource_attributes.as_ref()) {
        let mut o = Map::new();
        put(&mut o, "namespace", opt(&ra.namespace));
        put(&mut o, "verb", opt(&ra.verb));
        put(&mut o, "group", opt(&ra.group));
        put(&mut o, "version", opt(&ra.version));
        put(&mut o, "resource", opt(&ra.resource));
        put(&mut o, "subresource", opt(&ra.subresource));
        put(&mut o, "name", opt(&ra.name));
        spec.insert("resourceAttributes".into(), Value::Object(o));
    }
    if let Some(na) = r
        .spec
        .as_ref()
        .and_then(|s| s.non_resource_attributes.as_ref())
    {
        let mut o = Map::new();
        put(&mut o, "path", opt(&na.path));
        put(&mut o, "verb", opt(&na.verb));
        spec.insert("nonResourceAttributes".into(), Value::Object(o));
    }
    json!({"metadata": meta_json(&r.metadata), "spec": spec})
}

fn ssar_pb(obj: &Value) -> authz::SelfSubjectAccessReview {
    let spec = &obj["spec"];
    let ra = &spec["resourceAttributes"];
    let na = &spec["nonResourceAttributes"];
    let st = &obj["status"];
    authz::SelfSubjectAccessReview {
        metadata: meta_pb(obj),
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: ra.is_object().then(|| authz::ResourceAttributes {
                namespace: s(ra, "namespace"),
                verb: s(ra, "verb"),
                group: s(ra, "group"),
                version: s(ra, "version"),
                resource: s(ra, "resource"),
                subresource: s(ra, "subresource"),
                name: s(ra, "name"),
                field_selector: None,
                label_selector: None,
            }),
            non_resource_attributes: na.is_object().then(|| authz::NonResourceAttributes {
                path: s(na, "path"),
                verb: s(na, "verb"),
            }),
        }),
        status: Some(authz::SubjectAccessReviewStatus {
            allowed: Some(b(st, "allowed").unwrap_or(false)),
            denied: b(st, "denied"),
            reason: s(st, "reason"),
            evaluation_error: s(st, "evaluationError"),
        }),
    }
}

fn ssr_pb(obj: &Value) -> authn::SelfSubjectReview {
    let u = &obj["status"]["userInfo"];
    authn::SelfSubjectReview {
        metadata: meta_pb(obj),
        status: Some(authn::SelfSubjectReviewStatus {
            user_info: Some(authn::UserInfo {
                username: s(u, "username"),
                uid: s(u, "uid"),
                groups: strings(u, "groups"),
                extra: u
                    .get("extra")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                let items = v
                                    .as_array()
                                    .map(|a| {
                                        a.iter()
                                            .filter_map(|x| x.as_str().map(String::from))
                                            .collect()
                                    })
                                    .unwrap_or_default();
                                (k.clone(), authn::ExtraValue { items })
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        }),
    }
}

fn ssrr_json(r: &authz::SelfSubjectRulesReview) -> Value {
    let mut spec = Map::new();
    if let Some(ns) = r.spec.as_ref().and_then(|s| s.namespace.clone()) {
        spec.insert("namespace".into(), json!(ns));
    }
    json!({"metadata": meta_json(&r.metadata), "spec": spec})
}

fn ssrr_pb(obj: &Value) -> authz::SelfSubjectRulesReview {
    let st = &obj["status"];
    let list = |k: &str| {
        st.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    authz::SelfSubjectRulesReview {
        metadata: meta_pb(obj),
        spec: Some(authz::SelfSubjectRulesReviewSpec {
            namespace: s(&obj["spec"], "namespace"),
        }),
        status: Some(authz::SubjectRulesReviewStatus {
            resource_rules: list("resourceRules")
                .iter()
                .map(|r| authz::ResourceRule {
                    verbs: strings(r, "verbs"),
                    api_groups: strings(r, "apiGroups"),
                    resources: strings(r, "resources"),
                    resource_names: strings(r, "resourceNames"),
                })
                .collect(),
            non_resource_rules: list("nonResourceRules")
                .iter()
                .map(|r| authz::NonResourceRule {
                    verbs: strings(r, "verbs"),
                    non_resource_ur_ls: strings(r, "nonResourceURLs"),
                })
                .collect(),
            incomplete: Some(b(st, "incomplete").unwrap_or(false)),
            evaluation_error: s(st, "evaluationError"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configmap_round_trips_through_the_envelope() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "labels": {"a": "b"},
                "creationTimestamp": "2026-12-05T10:00:00Z",
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-12-05T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]},
            "data": {"k": "v"}, "binaryData": {"b": "AAE="}});
        let bytes = encode(&cm).unwrap();
        assert!(bytes.starts_with(MAGIC));
        assert_eq!(decode(&bytes).unwrap(), cm);
    }

    #[test]
    fn a_kind_not_mapped_is_unsupported() {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("apps/v1".into()),
                kind: Some("StatefulSet".into()),
            }),
            raw: Some(vec![]),
            ..Default::default()
        };
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        assert_eq!(decode(&body).unwrap_err().code, 415);
        assert_eq!(
            encode(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
            None
        );
    }
}
