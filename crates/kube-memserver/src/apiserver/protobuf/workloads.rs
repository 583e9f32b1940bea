//! Protobuf request bodies of the workload kinds kubectl's generators send
//! (`kubectl create deployment|service`, `kubectl run`), decoded to JSON; their answers
//! go as JSON (clients list it in `Accept` after protobuf).
//!
//! Only the fields those generators and common manifests use are mapped; a body that
//! sets any other field is refused with a 415 naming the kind, never decoded with the
//! field silently dropped (each decoder clears what it mapped and checks nothing is
//! left).
use super::{json_string_map, meta_json, opt, put, unsupported};
use crate::apiserver::status::ApiError;
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Map, Value, json};

type Decoded = Result<Value, ApiError>;

/// Fails when `rest` (what is left after taking out the mapped fields) still sets a
/// field. Go encodes its non-pointer fields even when they are zero (`""`, `0`,
/// `false`, an empty message), so only a non-zero value on the wire counts.
fn all_mapped<T: prost::Message>(rest: T, what: &str) -> Result<(), ApiError> {
    if wire_is_zero(&rest.encode_to_vec()) {
        Ok(())
    } else {
        Err(unsupported(&format!(
            "a {what} with fields this server does not map from protobuf"
        )))
    }
}

/// Whether every field of an encoded message is zero: varints and fixed values 0,
/// strings, bytes and messages empty.
fn wire_is_zero(mut buf: &[u8]) -> bool {
    use prost::encoding::{WireType, decode_key, decode_varint};
    while !buf.is_empty() {
        let Ok((_, wire)) = decode_key(&mut buf) else {
            return false;
        };
        let zero = match wire {
            WireType::Varint => decode_varint(&mut buf).is_ok_and(|v| v == 0),
            WireType::LengthDelimited => decode_varint(&mut buf).is_ok_and(|n| n == 0),
            WireType::SixtyFourBit if buf.len() >= 8 => {
                let (v, rest) = buf.split_at(8);
                buf = rest;
                v.iter().all(|b| *b == 0)
            }
            WireType::ThirtyTwoBit if buf.len() >= 4 => {
                let (v, rest) = buf.split_at(4);
                buf = rest;
                v.iter().all(|b| *b == 0)
            }
            _ => false,
        };
        if !zero {
            return false;
        }
    }
    true
}

/// A Go value field with `omitempty`: zero is absent.
fn nonzero<T: Into<Value> + Clone + Default + PartialEq>(v: &Option<T>) -> Value {
    match v {
        Some(x) if *x != T::default() => x.clone().into(),
        _ => Value::Null,
    }
}

fn int_or_string(v: &Option<IntOrString>) -> Value {
    match v {
        Some(IntOrString {
            r#type: Some(1),
            str_val,
            ..
        }) => opt(str_val),
        Some(IntOrString { int_val, .. }) => opt(int_val),
        None => Value::Null,
    }
}

fn label_selector(s: &Option<meta::LabelSelector>) -> Result<Value, ApiError> {
    let Some(s) = s else { return Ok(Value::Null) };
    let mut o = Map::new();
    put(&mut o, "matchLabels", json_string_map(&s.match_labels));
    let exprs: Vec<Value> = s
        .match_expressions
        .iter()
        .map(|e| json!({"key": e.key, "operator": e.operator, "values": e.values}))
        .collect();
    put(&mut o, "matchExpressions", json!(exprs));
    Ok(Value::Object(o))
}

fn container(c: &core::Container) -> Decoded {
    let mut rest = c.clone();
    let mut o = Map::new();
    put(&mut o, "name", opt(&rest.name.take()));
    put(&mut o, "image", opt(&rest.image.take()));
    put(&mut o, "command", json!(std::mem::take(&mut rest.command)));
    put(&mut o, "args", json!(std::mem::take(&mut rest.args)));
    put(&mut o, "workingDir", opt(&rest.working_dir.take()));
    let ports: Vec<Value> = std::mem::take(&mut rest.ports)
        .iter()
        .map(|p| {
            let mut o = Map::new();
            put(&mut o, "name", opt(&p.name));
            put(&mut o, "hostPort", nonzero(&p.host_port));
            put(&mut o, "containerPort", opt(&p.container_port));
            put(&mut o, "protocol", opt(&p.protocol));
            put(&mut o, "hostIP", opt(&p.host_ip));
            Value::Object(o)
        })
        .collect();
    put(&mut o, "ports", json!(ports));
    let mut env = Vec::new();
    for e in std::mem::take(&mut rest.env) {
        if let Some(from) = e.value_from {
            all_mapped(from, "container env valueFrom")?;
        }
        let mut v = Map::new();
        put(&mut v, "name", opt(&e.name));
        put(&mut v, "value", opt(&e.value));
        env.push(Value::Object(v));
    }
    put(&mut o, "env", json!(env));
    if let Some(mut r) = rest.resources.take() {
        let quantities = |m: &std::collections::BTreeMap<
            _,
            k8s_pb::apimachinery::pkg::api::resource::Quantity,
        >| {
            Value::Object(
                m.iter()
                    .map(|(k, q): (&String, _)| (k.clone(), opt(&q.string)))
                    .collect(),
            )
        };
        let mut v = Map::new();
        put(&mut v, "limits", quantities(&std::mem::take(&mut r.limits)));
        put(
            &mut v,
            "requests",
            quantities(&std::mem::take(&mut r.requests)),
        );
        all_mapped(r, "container's resources")?;
        o.insert("resources".into(), Value::Object(v));
    }
    put(
        &mut o,
        "terminationMessagePath",
        opt(&rest.termination_message_path.take()),
    );
    put(
        &mut o,
        "terminationMessagePolicy",
        opt(&rest.termination_message_policy.take()),
    );
    put(
        &mut o,
        "imagePullPolicy",
        opt(&rest.image_pull_policy.take()),
    );
    put(&mut o, "stdin", nonzero(&rest.stdin.take()));
    put(&mut o, "stdinOnce", nonzero(&rest.stdin_once.take()));
    put(&mut o, "tty", nonzero(&rest.tty.take()));
    all_mapped(rest, "container")?;
    Ok(Value::Object(o))
}

fn pod_spec(s: &core::PodSpec) -> Decoded {
    let mut rest = s.clone();
    let mut o = Map::new();
    let containers = std::mem::take(&mut rest.containers)
        .iter()
        .map(container)
        .collect::<Result<Vec<_>, _>>()?;
    o.insert("containers".into(), json!(containers));
    let init = std::mem::take(&mut rest.init_containers)
        .iter()
        .map(container)
        .collect::<Result<Vec<_>, _>>()?;
    put(&mut o, "initContainers", json!(init));
    put(&mut o, "restartPolicy", opt(&rest.restart_policy.take()));
    put(
        &mut o,
        "terminationGracePeriodSeconds",
        opt(&rest.termination_grace_period_seconds.take()),
    );
    put(
        &mut o,
        "activeDeadlineSeconds",
        opt(&rest.active_deadline_seconds.take()),
    );
    put(&mut o, "dnsPolicy", opt(&rest.dns_policy.take()));
    put(
        &mut o,
        "nodeSelector",
        json_string_map(&std::mem::take(&mut rest.node_selector)),
    );
    put(
        &mut o,
        "serviceAccountName",
        opt(&rest.service_account_name.take()),
    );
    put(
        &mut o,
        "automountServiceAccountToken",
        opt(&rest.automount_service_account_token.take()),
    );
    put(&mut o, "nodeName", opt(&rest.node_name.take()));
    put(&mut o, "hostname", opt(&rest.hostname.take()));
    put(&mut o, "schedulerName", opt(&rest.scheduler_name.take()));
    put(
        &mut o,
        "priorityClassName",
        opt(&rest.priority_class_name.take()),
    );
    put(
        &mut o,
        "enableServiceLinks",
        opt(&rest.enable_service_links.take()),
    );
    let pulls: Vec<Value> = std::mem::take(&mut rest.image_pull_secrets)
        .iter()
        .map(|r| json!({"name": r.name.clone().unwrap_or_default()}))
        .collect();
    put(&mut o, "imagePullSecrets", json!(pulls));
    all_mapped(rest, "pod spec")?;
    Ok(Value::Object(o))
}

fn template(t: &Option<core::PodTemplateSpec>) -> Decoded {
    let Some(t) = t else { return Ok(Value::Null) };
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&t.metadata));
    if let Some(spec) = &t.spec {
        o.insert("spec".into(), pod_spec(spec)?);
    }
    Ok(Value::Object(o))
}

pub fn deployment(d: &apps::Deployment) -> Decoded {
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&d.metadata));
    let Some(spec) = &d.spec else {
        return Ok(Value::Object(o));
    };
    let mut rest = spec.clone();
    let mut s = Map::new();
    put(&mut s, "replicas", opt(&rest.replicas.take()));
    put(&mut s, "selector", label_selector(&rest.selector.take())?);
    put(&mut s, "template", template(&rest.template.take())?);
    if let Some(st) = rest.strategy.take() {
        let mut v = Map::new();
        put(&mut v, "type", opt(&st.r#type));
        if let Some(ru) = &st.rolling_update {
            let mut r = Map::new();
            put(&mut r, "maxUnavailable", int_or_string(&ru.max_unavailable));
            put(&mut r, "maxSurge", int_or_string(&ru.max_surge));
            v.insert("rollingUpdate".into(), Value::Object(r));
        }
        s.insert("strategy".into(), Value::Object(v));
    }
    put(
        &mut s,
        "minReadySeconds",
        nonzero(&rest.min_ready_seconds.take()),
    );
    put(
        &mut s,
        "revisionHistoryLimit",
        opt(&rest.revision_history_limit.take()),
    );
    put(&mut s, "paused", nonzero(&rest.paused.take()));
    put(
        &mut s,
        "progressDeadlineSeconds",
        opt(&rest.progress_deadline_seconds.take()),
    );
    all_mapped(rest, "Deployment spec")?;
    o.insert("spec".into(), Value::Object(s));
    Ok(Value::Object(o))
}

pub fn pod(p: &core::Pod) -> Decoded {
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&p.metadata));
    if let Some(spec) = &p.spec {
        o.insert("spec".into(), pod_spec(spec)?);
    }
    Ok(Value::Object(o))
}

pub fn service(svc: &core::Service) -> Decoded {
    let mut o = Map::new();
    o.insert("metadata".into(), meta_json(&svc.metadata));
    let Some(spec) = &svc.spec else {
        return Ok(Value::Object(o));
    };
    let mut rest = spec.clone();
    let mut s = Map::new();
    let ports: Vec<Value> = std::mem::take(&mut rest.ports)
        .iter()
        .map(|p| {
            let mut o = Map::new();
            put(&mut o, "name", opt(&p.name));
            put(&mut o, "protocol", opt(&p.protocol));
            put(&mut o, "appProtocol", opt(&p.app_protocol));
            put(&mut o, "port", opt(&p.port));
            put(&mut o, "targetPort", int_or_string(&p.target_port));
            put(&mut o, "nodePort", nonzero(&p.node_port));
            Value::Object(o)
        })
        .collect();
    put(&mut s, "ports", json!(ports));
    put(
        &mut s,
        "selector",
        json_string_map(&std::mem::take(&mut rest.selector)),
    );
    put(&mut s, "clusterIP", opt(&rest.cluster_ip.take()));
    put(
        &mut s,
        "clusterIPs",
        json!(std::mem::take(&mut rest.cluster_ips)),
    );
    put(&mut s, "type", opt(&rest.r#type.take()));
    put(&mut s, "externalName", opt(&rest.external_name.take()));
    put(
        &mut s,
        "sessionAffinity",
        opt(&rest.session_affinity.take()),
    );
    all_mapped(rest, "Service spec")?;
    o.insert("spec".into(), Value::Object(s));
    Ok(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_values_count_as_unset_and_other_fields_are_refused() {
        let zeros = core::ServiceSpec {
            load_balancer_ip: Some(String::new()),
            health_check_node_port: Some(0),
            ..Default::default()
        };
        assert!(all_mapped(zeros, "Service spec").is_ok());
        let with_volume = core::Pod {
            spec: Some(core::PodSpec {
                containers: vec![core::Container {
                    name: Some("c".into()),
                    ..Default::default()
                }],
                volumes: vec![core::Volume {
                    name: Some("data".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(pod(&with_volume).unwrap_err().code, 415);
    }
}
