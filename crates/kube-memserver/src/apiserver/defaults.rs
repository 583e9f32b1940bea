//! Defaults and validation of built-in kinds: the subset of kube-apiserver's defaulting
//! and validation that the operator, kubectl and the recorded transcripts rely on.
use super::resources::Resource;
use super::status::{ApiError, Cause};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

fn default(obj: &mut Value, key: &str, value: Value) {
    if let Some(o) = obj.as_object_mut() {
        o.entry(key).or_insert(value);
    }
}

/// Container and pod defaults, as in a Deployment's pod template.
fn pod_spec(spec: &mut Value) {
    let Some(spec_map) = spec.as_object_mut() else {
        return;
    };
    let lists = spec_map
        .iter_mut()
        .filter(|(k, _)| *k == "containers" || *k == "initContainers");
    for c in lists.flat_map(|(_, v)| v.as_array_mut().into_iter().flatten()) {
        default(c, "resources", json!({}));
        default(c, "terminationMessagePath", json!("/dev/termination-log"));
        default(c, "terminationMessagePolicy", json!("File"));
        let latest = c["image"].as_str().is_some_and(|i| {
            !i.rsplit('/').next().unwrap_or("").contains(':') || i.ends_with(":latest")
        });
        default(
            c,
            "imagePullPolicy",
            json!(if latest { "Always" } else { "IfNotPresent" }),
        );
        for p in c
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default(p, "protocol", json!("TCP"));
        }
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
}

/// Fills in the defaults kube-apiserver fills in for a built-in kind.
pub fn apply(res: &Resource, obj: &mut Value) {
    if res.is_custom() {
        return;
    }
    // Typed objects drop empty optional maps when encoded (Go's `omitempty`).
    for key in ["data", "binaryData"] {
        if let Some(o) = obj.as_object_mut()
            && o.get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| m.is_empty())
        {
            o.remove(key);
        }
    }
    match (res.group.as_str(), res.plural.as_str()) {
        ("apps", "deployments") | ("apps", "replicasets") => {
            let spec = &mut obj["spec"];
            default(spec, "replicas", json!(1));
            if res.plural == "deployments" {
                default(spec, "strategy", json!({}));
                default(&mut spec["strategy"], "type", json!("RollingUpdate"));
                if spec["strategy"]["type"] == "RollingUpdate" {
                    default(&mut spec["strategy"], "rollingUpdate", json!({}));
                    default(
                        &mut spec["strategy"]["rollingUpdate"],
                        "maxUnavailable",
                        json!("25%"),
                    );
                    default(
                        &mut spec["strategy"]["rollingUpdate"],
                        "maxSurge",
                        json!("25%"),
                    );
                }
                default(spec, "revisionHistoryLimit", json!(10));
                default(spec, "progressDeadlineSeconds", json!(600));
            }
            if spec["template"]["spec"].is_object() {
                pod_spec(&mut spec["template"]["spec"]);
            }
        }
        ("", "pods") => {
            if obj["spec"].is_object() {
                pod_spec(&mut obj["spec"]);
                default(&mut obj["spec"], "enableServiceLinks", json!(true));
            }
            default(
                obj,
                "status",
                json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        ("", "services") => {
            let spec = &mut obj["spec"];
            default(spec, "type", json!("ClusterIP"));
            default(spec, "sessionAffinity", json!("None"));
            if spec["type"] != "ExternalName" && spec.get("clusterIP").is_none() {
                // An address from the default service range, drawn from the uid (no IPAM).
                let uid = obj["metadata"]["uid"]
                    .as_str()
                    .unwrap_or("")
                    .as_bytes()
                    .to_vec();
                let h = uid
                    .iter()
                    .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)));
                let ip = format!("10.96.{}.{}", (h >> 8) % 256, h % 254 + 1);
                let spec = &mut obj["spec"];
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
            let spec = &mut obj["spec"];
            if spec["type"] != "ExternalName" {
                default(spec, "ipFamilies", json!(["IPv4"]));
                default(spec, "ipFamilyPolicy", json!("SingleStack"));
                default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            for p in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                default(p, "protocol", json!("TCP"));
                let port = p["port"].clone();
                default(p, "targetPort", port);
            }
            default(obj, "status", json!({"loadBalancer": {}}));
        }
        ("", "namespaces") => {
            default(obj, "spec", json!({"finalizers": ["kubernetes"]}));
            default(obj, "status", json!({"phase": "Active"}));
            let name = obj["metadata"]["name"].clone();
            let labels = &mut obj["metadata"]["labels"];
            if !labels.is_object() {
                *labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = name;
        }
        ("", "secrets") => {
            default(obj, "type", json!("Opaque"));
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            default(&mut obj["spec"], "conversion", json!({"strategy": "None"}));
        }
        _ => {}
    }
}

fn int_at(obj: &Value, ptr: &str) -> Option<i64> {
    obj.pointer(ptr).and_then(Value::as_i64)
}

/// The validation rules of built-in kinds this server enforces (422 causes).
pub fn validate(res: &Resource, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut min0 = |ptr: &str, field: &str| {
        if let Some(n) = int_at(obj, ptr).filter(|n| *n < 0) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                format!("Invalid value: {n}: must be greater than or equal to 0"),
                Some(field),
            ));
        }
    };
    match (res.group.as_str(), res.plural.as_str()) {
        ("apps", "deployments" | "replicasets") => {
            min0("/spec/replicas", "spec.replicas");
            if obj["spec"]["selector"].is_null() {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value",
                    Some("spec.selector"),
                ));
            }
        }
        ("coordination.k8s.io", "leases") => {
            if let Some(n) = int_at(obj, "/spec/leaseDurationSeconds").filter(|n| *n <= 0) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    format!("Invalid value: {n}: must be greater than 0"),
                    Some("spec.leaseDurationSeconds"),
                ));
            }
        }
        ("", "secrets") if obj["type"] == "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if obj["data"].get(key).is_none() {
                    causes.push(Cause::new(
                        "FieldValueRequired",
                        "Required value",
                        Some(&format!("data[{key}]")),
                    ));
                }
            }
        }
        ("events.k8s.io", "events") if obj["eventTime"].is_null() => {
            causes.push(Cause::new(
                "FieldValueRequired",
                "Required value",
                Some("eventTime"),
            ));
        }
        _ => {}
    }
    causes
}

/// What kube-apiserver rejects while decoding a built-in kind (400 BadRequest): base64
/// Secret data and MicroTime fields without exactly six fractional digits. Also folds a
/// Secret's `stringData` into `data`, as decoding does.
pub fn decode(res: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    if res.is_custom() {
        return Ok(());
    }
    let cannot = |detail: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {detail}",
            kind = res.kind,
            v = res.version
        ))
    };
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "secrets") => {
            for v in obj["data"].as_object().into_iter().flat_map(|m| m.values()) {
                let text = v.as_str().unwrap_or("");
                if let Err(e) = STANDARD.decode(text) {
                    let at = match e {
                        base64::DecodeError::InvalidByte(i, _)
                        | base64::DecodeError::InvalidLastSymbol(i, _) => i,
                        _ => text.len(),
                    };
                    return Err(cannot(format!("illegal base64 data at input byte {at}")));
                }
            }
            if let Some(Value::Object(string_data)) =
                obj.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                if !obj["data"].is_object() {
                    obj["data"] = json!({});
                }
                for (k, v) in string_data {
                    obj["data"][&k] = json!(STANDARD.encode(v.as_str().unwrap_or("")));
                }
            }
        }
        ("coordination.k8s.io", "leases") => {
            for field in ["acquireTime", "renewTime"] {
                micro_time(obj["spec"].get(field)).map_err(cannot)?;
            }
        }
        ("events.k8s.io", "events") | ("", "events") => {
            micro_time(obj.get("eventTime")).map_err(cannot)?
        }
        _ => {}
    }
    Ok(())
}

/// A MicroTime must carry exactly six fractional digits (`2026-11-25T12:00:00.000000Z`).
fn micro_time(v: Option<&Value>) -> Result<(), String> {
    let Some(text) = v.and_then(Value::as_str) else {
        return Ok(());
    };
    let rest = text.get(19..).unwrap_or("");
    let six = rest.len() > 7
        && rest.as_bytes()[0] == b'.'
        && rest[1..7].bytes().all(|b| b.is_ascii_digit())
        && !rest.as_bytes()[7].is_ascii_digit();
    if six {
        Ok(())
    } else {
        Err(format!(
            "parsing time \"{text}\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"{rest}\" as \".000000\""
        ))
    }
}
