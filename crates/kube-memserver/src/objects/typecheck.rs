//! The check structured-merge-diff makes before it applies a configuration ("failed to
//! create typed patch object"): associative list items carry their keys, and scalars of
//! a custom resource have the schema's type. Messages are worded as it words them.

use super::fieldset::PathElement;
use super::types::{ListKind, Ty};
use super::walk::item_element;
use serde_json::Value;

/// `Err(".spec.tags[1]: expected string, got &value.valueUnstructured{Value:true}")`;
/// kube-apiserver answers it as a 500 prefixed with `failed to create typed patch object
/// (NAMESPACE/NAME; GROUP/VERSION, Kind=KIND): `.
pub fn check_config(value: &Value, ty: Ty<'_>, path: &str) -> Result<(), String> {
    match value {
        Value::Object(map) if !ty.is_atomic_object() => {
            for (key, child) in map {
                check_config(child, ty.field(key).ty, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let kind = ty.list_kind();
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(&kind, item, i)
                    .map_err(|e| format!("{path}: element {i}: {e}"))?;
                let at = match (&kind, pe) {
                    (ListKind::Atomic, _) => format!("{path}[{i}]"),
                    (_, pe) => format!("{path}{}", PathElement::to_string(&pe)),
                };
                check_config(item, ty.item(), &at)?;
            }
            Ok(())
        }
        scalar => check_scalar(scalar, ty, path),
    }
}

fn check_scalar(value: &Value, ty: Ty<'_>, path: &str) -> Result<(), String> {
    let Ty::Schema(schema) = ty else {
        return Ok(());
    };
    if value.is_null()
        || schema
            .get("x-kubernetes-int-or-string")
            .and_then(Value::as_bool)
            == Some(true)
    {
        return Ok(());
    }
    let go = |v: &Value| match v {
        Value::String(s) => format!(
            "&value.valueUnstructured{{Value:{}}}",
            Value::from(s.as_str())
        ),
        other => format!("&value.valueUnstructured{{Value:{other}}}"),
    };
    let go_type = |v: &Value| match v {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        _ => "map[string]interface {}",
    };
    let problem = match (schema.get("type").and_then(Value::as_str), value) {
        (Some("string"), v) if !v.is_string() => Some(format!("expected string, got {}", go(v))),
        (Some("integer" | "number"), v) if !v.is_number() => Some(format!(
            "expected numeric (int or float), got {}",
            go_type(v)
        )),
        (Some("boolean"), v) if !v.is_boolean() => {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(format!("expected boolean, got &{{{shown}}}"))
        }
        _ => None,
    };
    match problem {
        Some(problem) => Err(format!("{path}: {problem}")),
        None => Ok(()),
    }
}
