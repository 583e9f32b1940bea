//! Fields an OpenAPI v3 schema of a built-in kind does not declare: what kube-apiserver's
//! strict decoding reports as `unknown field "spec.template.spec.containers[0].bogus"`.
//!
//! The schema is a component of an OpenAPI v3 document (`$ref`s into `components`,
//! `allOf` wrappers); an object schema without `properties` (FieldsV1, RawExtension, a
//! free-form map) takes any field.
use serde_json::{Map, Value};

/// The paths of the fields of `obj` that `schema` does not declare, in document order.
pub fn unknown_fields(schema: &Value, components: &Map<String, Value>, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, components, obj, "", &mut out, 0);
    out
}

/// Follows `$ref` and single-entry `allOf` to the schema that describes the value.
fn resolve<'a>(mut schema: &'a Value, components: &'a Map<String, Value>) -> &'a Value {
    for _ in 0..16 {
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            match components.get(name) {
                Some(s) => schema = s,
                None => return &Value::Null,
            }
        } else if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            schema = only;
        } else {
            break;
        }
    }
    schema
}

fn walk(
    schema: &Value,
    components: &Map<String, Value>,
    value: &Value,
    path: &str,
    out: &mut Vec<String>,
    depth: usize,
) {
    let schema = resolve(schema, components);
    if schema.is_null()
        || depth > 64
        || schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
    {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, v) in map {
                let at = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(sub), _) => walk(sub, components, v, &at, out, depth + 1),
                    (None, Some(sub)) if sub.is_object() => {
                        walk(sub, components, v, &at, out, depth + 1)
                    }
                    (None, Some(Value::Bool(true))) => {}
                    (None, _) if props.is_none() => {}
                    (None, _) => out.push(at),
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(
                        sub,
                        components,
                        item,
                        &format!("{path}[{i}]"),
                        out,
                        depth + 1,
                    );
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undeclared_fields_are_named_by_their_path() {
        let components = json!({
            "Pod": {"type": "object", "properties": {
                "metadata": {"allOf": [{"$ref": "#/components/schemas/Meta"}]},
                "spec": {"type": "object", "properties": {"containers": {"type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}}},
            "Meta": {"type": "object", "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "managedFields": {"type": "array", "items": {"type": "object",
                    "properties": {"fieldsV1": {"type": "object"}}}}}},
        });
        let components = components.as_object().unwrap();
        let obj = json!({"metadata": {"labels": {"a": "b"}, "lables": {},
                "managedFields": [{"fieldsV1": {"f:spec": {}}}]},
            "spec": {"containers": [{"name": "c", "bogus": 1}], "replica": 2}});
        assert_eq!(
            unknown_fields(
                &json!({"$ref": "#/components/schemas/Pod"}),
                components,
                &obj
            ),
            vec![
                "metadata.lables",
                "spec.containers[0].bogus",
                "spec.replica"
            ]
        );
    }
}
