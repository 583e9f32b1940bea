//! A document checked against its kind's OpenAPI schema (the one in the generated CRD):
//! every problem with its field path, not only the first one serde meets: types,
//! required fields, enums — what would stop the document from being read at all. Ranges
//! and CEL rules are left to `api::validate`, which checks the same and more.

use crate::api::validate::FieldError;
use serde_json::Value;

/// The `openAPIV3Schema` of `kind` in the generated CRDs.
pub fn schema_of(kind: &str) -> Option<&'static Value> {
    // Generating the CRDs is not free: once per process.
    static SCHEMAS: std::sync::OnceLock<Vec<(String, Value)>> = std::sync::OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        crate::api::crds()
            .into_iter()
            .filter_map(|crd| {
                let version = crd.spec.versions.first()?;
                let schema = version.schema.as_ref()?.open_api_v3_schema.as_ref()?;
                Some((
                    crd.spec.names.kind.clone(),
                    serde_json::to_value(schema).ok()?,
                ))
            })
            .collect()
    });
    schemas.iter().find(|(k, _)| k == kind).map(|(_, s)| s)
}

/// Problems of `value` against `schema`, under `path` (empty at the top).
pub fn check(value: &Value, schema: &Value, path: &str, out: &mut Vec<FieldError>) {
    if value.is_null() {
        return; // absent or null: optional fields take their defaults
    }
    let at = |p: &str| {
        if p.is_empty() {
            "(document)".to_string()
        } else {
            p.to_string()
        }
    };
    if let Some(t) = schema.get("type").and_then(Value::as_str)
        && !is_type(value, t)
    {
        out.push(FieldError::new(
            at(path),
            format!("must be {} (found {})", article(t), describe(value)),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(plain).collect();
        out.push(FieldError::new(
            at(path),
            format!("{} is not one of: {}", describe(value), names.join(", ")),
        ));
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    if let Value::Object(fields) = value {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if fields.get(r).is_none_or(Value::is_null) {
                out.push(FieldError::new(join(r), "required field missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        for (k, v) in fields {
            match (properties.and_then(|p| p.get(k)), additional) {
                (Some(s), _) | (None, Some(s)) => check(v, s, &join(k), out),
                // Unknown fields are reported by lint separately (the server prunes them).
                (None, None) => {}
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check(v, s, &format!("{path}[{i}]"), out);
        }
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => true,
    }
}

fn article(t: &str) -> String {
    match t {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "integer" => "an integer".into(),
        other => format!("a {other}"),
    }
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Object(_) => "a mapping".into(),
        Value::Array(_) => "a list".into(),
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(doc: Value) -> Vec<String> {
        let schema = schema_of("Rollout").unwrap();
        let mut out = Vec::new();
        check(&doc, schema, "", &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_problem_is_reported_with_its_path_and_the_allowed_values() {
        let found = problems(
            json!({"apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "a"},
            "spec": {"workloadRef": {"name": "a"}, "service": "a",
                     "steps": [{"setWeight": "fifty"}, {"pause": []}],
                     "analysis": {"onError": "explode"}}}),
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("spec.steps[0].setWeight") && p.contains("an integer")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("spec.steps[1].pause") && p.contains("a mapping")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("spec.analysis.onError") && p.contains("drain, pause, abort")),
            "{found:?}"
        );
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let found = problems(
            json!({"apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "a"}, "spec": {"workloadRef": {"name": "a"}, "service": "a"}}),
        );
        assert_eq!(found, vec!["spec.steps: required field missing"]);
    }
}
