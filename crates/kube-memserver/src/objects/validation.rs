//! The structural checks of kube-openapi's validator, with its error wording as
//! apiextensions-apiserver turns it into `Status` causes (`Invalid value: 50:
//! spec.replicas in body should be less than or equal to 10`).

use super::schema::SchemaCause;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How many compiled patterns [`compiled`] keeps (CRDs carry a handful; the bound only
/// guards against a stream of distinct ones).
const CACHED_PATTERNS: usize = 256;

/// `pattern` compiled, None when the regex crate cannot compile it. Compiling costs far
/// more than matching (it was a fifth of the local API server's time under load, once per
/// `format: date-time` field per write), so each pattern is compiled once per process.
fn compiled(pattern: &str) -> Option<Regex> {
    static CACHE: Mutex<Option<HashMap<String, Option<Regex>>>> = Mutex::new(None);
    let mut guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = guard.get_or_insert_with(HashMap::new);
    if let Some(re) = cache.get(pattern) {
        return re.clone();
    }
    if cache.len() >= CACHED_PATTERNS {
        cache.clear();
    }
    let re = Regex::new(pattern).ok();
    cache.insert(pattern.to_string(), re.clone());
    re
}

fn cause(out: &mut Vec<SchemaCause>, reason: &str, field: &str, message: String) {
    out.push(SchemaCause {
        reason: reason.into(),
        field: field.into(),
        message,
    });
}

/// A value as Go's field errors print it: strings quoted, numbers and booleans bare.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::String(s) => Value::from(s.as_str()).to_string(),
        other => other.to_string(),
    }
}

fn invalid(out: &mut Vec<SchemaCause>, field: &str, value: &Value, detail: String) {
    cause(
        out,
        "FieldValueInvalid",
        field,
        format!("Invalid value: {}: {detail}", shown(value)),
    );
}

/// The JSON type names kube-openapi reports.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_matches(wanted: &str, value: &Value) -> bool {
    match (wanted, value) {
        ("integer", Value::Number(n)) => is_integer(n),
        ("number", Value::Number(_)) => true,
        (wanted, value) => wanted == type_name(value),
    }
}

fn type_invalid(
    out: &mut Vec<SchemaCause>,
    field: &str,
    shown_value: &str,
    wanted: &str,
    actual: &str,
) {
    let quoted = Value::from(actual).to_string();
    let message =
        format!("Invalid value: {shown_value}: {field} in body must be of type {wanted}: {quoted}");
    cause(out, "FieldValueTypeInvalid", field, message);
}

pub fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<SchemaCause>) {
    if value.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true)
            && let Some(wanted) = schema.get("type").and_then(Value::as_str)
        {
            type_invalid(out, path, "\"null\"", wanted, "null");
        }
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if int_or_string {
        if !matches!(value, Value::String(_)) && !type_matches("integer", value) {
            let actual = type_name(value);
            type_invalid(
                out,
                path,
                &Value::from(actual).to_string(),
                "integer-or-string",
                actual,
            );
            return;
        }
    } else if let Some(wanted) = schema.get("type").and_then(Value::as_str)
        && !type_matches(wanted, value)
    {
        let actual = type_name(value);
        type_invalid(out, path, &Value::from(actual).to_string(), wanted, actual);
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let listed: Vec<String> = allowed
            .iter()
            .map(|v| match v {
                Value::String(s) => Value::from(s.as_str()).to_string(),
                other => Value::from(other.to_string()).to_string(),
            })
            .collect();
        let message = format!(
            "Unsupported value: {}: supported values: {}",
            shown(value),
            listed.join(", ")
        );
        cause(out, "FieldValueNotSupported", path, message);
    }
    match value {
        Value::Number(n) => check_number(schema, value, n.as_f64().unwrap_or(f64::NAN), path, out),
        Value::String(s) => check_string(schema, value, s, path, out),
        Value::Array(items) => check_array(schema, value, items, path, out),
        Value::Object(map) => {
            for key in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !map.contains_key(key) {
                    cause(
                        out,
                        "FieldValueRequired",
                        &join(path, key),
                        "Required value".into(),
                    );
                }
            }
            let bounds = ("maxProperties", "minProperties", "properties");
            check_count(schema, value, map.len(), bounds, path, out);
            let props = schema.get("properties");
            let extra = schema.get("additionalProperties").filter(|e| e.is_object());
            for (key, child) in map {
                if let Some(prop) = props.and_then(|p| p.get(key)).or(extra) {
                    check(prop, child, &join(path, key), out);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn limit(schema: &Value, name: &str) -> Option<f64> {
    schema.get(name).and_then(Value::as_f64)
}

fn number_text(schema: &Value, name: &str) -> String {
    schema.get(name).map(Value::to_string).unwrap_or_default()
}

fn check_number(schema: &Value, value: &Value, n: f64, path: &str, out: &mut Vec<SchemaCause>) {
    let exclusive = |name| schema.get(name).and_then(Value::as_bool) == Some(true);
    if let Some(max) = limit(schema, "maximum") {
        if exclusive("exclusiveMaximum") && n >= max {
            invalid(
                out,
                path,
                value,
                format!(
                    "{path} in body should be less than {}",
                    number_text(schema, "maximum")
                ),
            );
        } else if n > max {
            let bound = number_text(schema, "maximum");
            invalid(
                out,
                path,
                value,
                format!("{path} in body should be less than or equal to {bound}"),
            );
        }
    }
    if let Some(min) = limit(schema, "minimum") {
        if exclusive("exclusiveMinimum") && n <= min {
            invalid(
                out,
                path,
                value,
                format!(
                    "{path} in body should be greater than {}",
                    number_text(schema, "minimum")
                ),
            );
        } else if n < min {
            let bound = number_text(schema, "minimum");
            invalid(
                out,
                path,
                value,
                format!("{path} in body should be greater than or equal to {bound}"),
            );
        }
    }
    if let Some(step) = limit(schema, "multipleOf").filter(|s| *s > 0.0)
        && (n / step).fract() != 0.0
    {
        let step = number_text(schema, "multipleOf");
        invalid(
            out,
            path,
            value,
            format!("{path} in body should be a multiple of {step}"),
        );
    }
    let format = schema.get("format").and_then(Value::as_str);
    let out_of_range = match format {
        Some("int32") => n < f64::from(i32::MIN) || n > f64::from(i32::MAX),
        Some("int64") => {
            value.as_i64().is_none() && !(value.is_u64() && value.as_u64() <= Some(i64::MAX as u64))
        }
        _ => false,
    };
    if out_of_range {
        let format = format.unwrap_or_default();
        type_invalid(out, path, &value.to_string(), format, &value.to_string());
    }
}

fn check_string(schema: &Value, value: &Value, s: &str, path: &str, out: &mut Vec<SchemaCause>) {
    let chars = s.chars().count() as u64;
    if let Some(max) = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .filter(|m| chars > *m)
    {
        let unit = if max == 1 { "byte" } else { "bytes" };
        cause(
            out,
            "FieldValueTooLong",
            path,
            format!("Too long: may not be more than {max} {unit}"),
        );
    }
    if let Some(min) = schema
        .get("minLength")
        .and_then(Value::as_u64)
        .filter(|m| chars < *m)
    {
        invalid(
            out,
            path,
            value,
            format!("{path} in body should be at least {min} chars long"),
        );
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        // A pattern the CRD carries was accepted by kube-apiserver (Go's RE2), which the
        // regex crate's syntax follows; one it cannot compile is not enforced.
        if compiled(pattern).is_some_and(|re| !re.is_match(s)) {
            invalid(
                out,
                path,
                value,
                format!("{path} in body should match '{pattern}'"),
            );
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && !format_ok(format, s)
    {
        type_invalid(out, path, &shown(value), format, s);
    }
}

/// The string formats kube-apiserver checks; others are accepted as they are.
fn format_ok(format: &str, s: &str) -> bool {
    let pattern = match format {
        "date-time" => r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
        "date" => r"^\d{4}-\d{2}-\d{2}$",
        "uuid" => r"^(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        "byte" => r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        _ => return true,
    };
    compiled(pattern).is_some_and(|re| re.is_match(s))
}

/// `maxItems`/`minItems` or `maxProperties`/`minProperties`: the same two checks, worded
/// as kube-apiserver words them (the upper bound always says "item(s)").
fn check_count(
    schema: &Value,
    value: &Value,
    count: usize,
    (max_key, min_key, unit): (&str, &str, &str),
    path: &str,
    out: &mut Vec<SchemaCause>,
) {
    let count = count as u64;
    if let Some(max) = schema
        .get(max_key)
        .and_then(Value::as_u64)
        .filter(|m| count > *m)
    {
        let noun = if max == 1 { "item" } else { "items" };
        cause(
            out,
            "FieldValueTooMany",
            path,
            format!("Too many: {count}: must have at most {max} {noun}"),
        );
    }
    if let Some(min) = schema
        .get(min_key)
        .and_then(Value::as_u64)
        .filter(|m| count < *m)
    {
        invalid(
            out,
            path,
            value,
            format!("{path} in body should have at least {min} {unit}"),
        );
    }
}

fn check_array(
    schema: &Value,
    value: &Value,
    items: &[Value],
    path: &str,
    out: &mut Vec<SchemaCause>,
) {
    check_count(
        schema,
        value,
        items.len(),
        ("maxItems", "minItems", "items"),
        path,
        out,
    );
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"), out);
        }
    }
    let identity = |item: &Value| -> Value {
        match schema
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
        {
            Some(keys) => keys
                .iter()
                .filter_map(Value::as_str)
                .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                .collect(),
            None => item.clone(),
        }
    };
    if matches!(
        schema.get("x-kubernetes-list-type").and_then(Value::as_str),
        Some("set" | "map")
    ) {
        for (i, item) in items.iter().enumerate() {
            if items[..i]
                .iter()
                .any(|earlier| identity(earlier) == identity(item))
            {
                let message = format!("Duplicate value: {}", shown(item));
                cause(out, "FieldValueDuplicate", &format!("{path}[{i}]"), message);
            }
        }
    }
}
