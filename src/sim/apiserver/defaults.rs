//! Defaults and validation of built-in kinds: the subset of kube-apiserver's defaulting
//! and validation that the operator, kubectl and the recorded transcripts rely on.
use super::resources::Resource;
use super::status::Cause;
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
        for p in c["ports"].as_array_mut().into_iter().flatten() {
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
    match (res.group.as_str(), res.plural.as_str()) {
        ("apps", "deployments") | ("apps", "replicasets") => {
            let spec = &mut obj["spec"];
            default(spec, "replicas", json!(1));
            if res.plural == "deployments" {
                default(spec, "strategy", json!({"type": "RollingUpdate"}));
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
            for p in spec["ports"].as_array_mut().into_iter().flatten() {
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
        ("events.k8s.io", "events") => {
            if obj["eventTime"].is_null() {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value",
                    Some("eventTime"),
                ));
            }
        }
        _ => {}
    }
    causes
}
