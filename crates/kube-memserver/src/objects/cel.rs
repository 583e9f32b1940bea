//! CEL validation rules of CRD schemas (`x-kubernetes-validations`), evaluated as
//! kube-apiserver does after the structural checks pass: `self` is the value at the
//! rule's node, typed by its schema (integers, doubles, strings, lists, maps; property
//! names that are CEL reserved words escaped as `__name__`), `oldSelf` the value it
//! replaces on an update. A rule that uses `oldSelf` (a transition rule) is evaluated
//! only when there is an old value; on an update a subtree equal to the one it replaces
//! is not re-checked (validation ratcheting).
//!
//! A failing rule is a `FieldValueInvalid` cause (or the rule's `reason`) at the node's
//! path (plus `fieldPath`), worded `Invalid value: <message>` as kube-apiserver v1.36
//! words it; a rule without `message` reads `failed rule: <rule>`.
//!
//! Known differences: no cost budget; list items are correlated with the old list only
//! as a whole (an unchanged list is not re-checked); `format`-typed strings (date-time,
//! duration) are strings, not CEL timestamps or durations (`duration(self.x)` works);
//! only the standard CEL library plus the cel crate's string extensions, not all of
//! Kubernetes' libraries (`isURL`, `quantity`, ... are unknown functions).
use super::schema::SchemaCause;
use cel::objects::{Key, Map as CelMap};
use cel::{Context, Env, Program, Value as Cel};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// CEL words that cannot name a field: Kubernetes escapes such property names.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A property name as a CEL program spells it (Kubernetes' escaping).
fn escape(name: &str) -> String {
    if RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    name.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // The string extension Kubernetes' CEL has (lowerAscii, split, replace, ...).
    let _ = env.add_extension(cel::extensions::strings);
    Arc::new(env)
});

/// Compiled rules, by source text; `None` for a rule that does not compile.
type Compiled = HashMap<String, Option<Arc<Program>>>;
static PROGRAMS: LazyLock<Mutex<Compiled>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn compiled(rule: &str) -> Option<Arc<Program>> {
    let mut cache = PROGRAMS.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(rule.to_string())
        .or_insert_with(|| ENV.compile(rule).ok().map(Arc::new))
        .clone()
}

/// Whether a rule compiles (with the message of the parse error when it does not).
pub fn compile(rule: &str) -> Result<(), String> {
    ENV.compile(rule).map(|_| ()).map_err(|e| e.to_string())
}

/// The causes of every failing rule in `obj` (the whole custom resource), given the
/// object it replaces, if any.
pub fn check(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<SchemaCause> {
    let mut out = Vec::new();
    let mut body = obj.clone();
    if let Some(m) = body.as_object_mut() {
        m.remove("metadata");
    }
    let old_body = old.map(|o| {
        let mut o = o.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("metadata");
        }
        o
    });
    walk(schema, &body, old_body.as_ref(), "", &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<SchemaCause>,
) {
    if value.is_null() || old == Some(value) {
        return;
    }
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for rule in rules {
            evaluate(rule, schema, value, old, path, out);
        }
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|s| s.is_object());
            for (k, v) in map {
                let Some(sub) = props.and_then(|p| p.get(k)).or(additional) else {
                    continue;
                };
                walk(sub, v, old.and_then(|o| o.get(k)), &join(path, k), out);
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(sub, item, None, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn evaluate(
    rule: &Value,
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<SchemaCause>,
) {
    let Some(text) = rule.get("rule").and_then(Value::as_str) else {
        return;
    };
    let transition = text.contains("oldSelf");
    if transition && old.is_none() {
        return;
    }
    let field = match rule.get("fieldPath").and_then(Value::as_str) {
        Some(fp) if !fp.is_empty() => format!("{path}{fp}"),
        _ => path.to_string(),
    };
    let field = if field.is_empty() {
        "<nil>".to_string()
    } else {
        field
    };
    let Some(program) = compiled(text) else {
        out.push(invalid(
            &field,
            format!("Invalid value: \"object\": compilation failed: {text}"),
        ));
        return;
    };
    let mut ctx = Context::with_env(ENV.clone());
    ctx.add_variable_from_value("self", to_cel(schema, value));
    if let Some(old) = old.filter(|_| transition) {
        ctx.add_variable_from_value("oldSelf", to_cel(schema, old));
    }
    match program.execute(&ctx) {
        Ok(Cel::Bool(true)) => {}
        Ok(Cel::Bool(false)) => {
            let message = rule
                .get("messageExpression")
                .and_then(Value::as_str)
                .and_then(compiled)
                .and_then(|p| match p.execute(&ctx) {
                    Ok(Cel::String(s)) if !s.trim().is_empty() => Some(s.to_string()),
                    _ => None,
                })
                .or_else(|| {
                    rule.get("message")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .unwrap_or_else(|| format!("failed rule: {}", compact(text)));
            let reason = rule
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("FieldValueInvalid");
            let prefix = match reason {
                "FieldValueForbidden" => "Forbidden",
                "FieldValueRequired" => "Required value",
                "FieldValueDuplicate" => "Duplicate value",
                _ => "Invalid value",
            };
            out.push(SchemaCause {
                reason: reason.to_string(),
                field,
                message: format!("{prefix}: {message}"),
            });
        }
        Ok(other) => out.push(invalid(
            &field,
            format!(
                "Invalid value: \"object\": {}: the rule answered {other:?}, not a bool",
                compact(text)
            ),
        )),
        Err(e) => out.push(invalid(
            &field,
            format!("Invalid value: \"object\": {}: {e}", compact(text)),
        )),
    }
}

fn invalid(field: &str, message: String) -> SchemaCause {
    SchemaCause {
        reason: "FieldValueInvalid".into(),
        field: field.to_string(),
        message,
    }
}

/// The rule on one line, as kube-apiserver prints it.
fn compact(rule: &str) -> String {
    rule.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn schema_type(schema: &Value) -> &str {
    schema.get("type").and_then(Value::as_str).unwrap_or("")
}

/// A JSON value as CEL sees it, typed by its schema.
fn to_cel(schema: &Value, value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            if schema_type(schema) == "number" {
                Cel::Float(n.as_f64().unwrap_or(f64::NAN))
            } else if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let sub = schema.get("items").unwrap_or(&Value::Null);
            Cel::List(Arc::new(items.iter().map(|i| to_cel(sub, i)).collect()))
        }
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|s| s.is_object());
            let mut out: HashMap<Key, Cel> = HashMap::new();
            for (k, v) in map {
                if v.is_null() {
                    continue;
                }
                let (name, sub) = match props.and_then(|p| p.get(k)) {
                    Some(sub) => (escape(k), sub),
                    None => (k.clone(), additional.unwrap_or(&Value::Null)),
                };
                out.insert(Key::String(Arc::new(name)), to_cel(sub, v));
            }
            Cel::Map(CelMap { map: Arc::new(out) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(rule: &str, message: &str) -> Value {
        json!([{"rule": rule, "message": message}])
    }

    #[test]
    fn a_failing_rule_names_the_field_and_the_message() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "steps": {"type": "array", "items": {"type": "object"},
                "x-kubernetes-validations": rule("size(self) > 0", "steps must not be empty")},
            "confidence": {"type": "number",
                "x-kubernetes-validations": rule("self > 0.0 && self < 1.0", "confidence must be strictly between 0 and 1")}}}}});
        let obj = json!({"spec": {"steps": [], "confidence": 1}});
        let causes = check(&schema, &obj, None);
        assert_eq!(
            causes,
            vec![
                SchemaCause {
                    reason: "FieldValueInvalid".into(),
                    field: "spec.confidence".into(),
                    message: "Invalid value: confidence must be strictly between 0 and 1".into()
                },
                SchemaCause {
                    reason: "FieldValueInvalid".into(),
                    field: "spec.steps".into(),
                    message: "Invalid value: steps must not be empty".into()
                },
            ]
        );
        assert!(
            check(
                &schema,
                &json!({"spec": {"steps": [{}], "confidence": 0.5}}),
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn reserved_words_are_escaped_and_has_sees_absent_fields() {
        let schema = json!({"type": "array", "items": {"type": "object", "properties": {
            "namespace": {"type": "string"}, "name": {"type": "string"}}},
            "x-kubernetes-validations": rule(
                "self.all(p, !has(p.__namespace__) || p.__namespace__ != '')", "no empty namespace")});
        assert!(
            check(
                &schema,
                &json!([{"name": "a"}, {"name": "b", "namespace": "x"}]),
                None
            )
            .is_empty()
        );
        assert_eq!(
            check(&schema, &json!([{"name": "a", "namespace": ""}]), None).len(),
            1
        );
    }

    #[test]
    fn transition_rules_need_an_old_value_and_unchanged_values_are_not_rechecked() {
        let schema = json!({"type": "object", "properties": {"replicas": {"type": "integer",
            "x-kubernetes-validations": rule("self >= oldSelf", "replicas may not go down")},
            "weight": {"type": "integer", "x-kubernetes-validations": rule("self <= 100", "too heavy")}}});
        assert!(check(&schema, &json!({"replicas": 1}), None).is_empty());
        assert!(
            check(
                &schema,
                &json!({"replicas": 3}),
                Some(&json!({"replicas": 2}))
            )
            .is_empty()
        );
        let down = check(
            &schema,
            &json!({"replicas": 1}),
            Some(&json!({"replicas": 2})),
        );
        assert_eq!(down[0].message, "Invalid value: replicas may not go down");
        // A stored value that breaks a rule does not block other changes (ratcheting).
        let old = json!({"weight": 500, "replicas": 1});
        assert!(check(&schema, &json!({"weight": 500, "replicas": 2}), Some(&old)).is_empty());
    }

    #[test]
    fn field_path_reason_and_message_expression_shape_the_cause() {
        let schema = json!({"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "fieldPath": ".max", "reason": "FieldValueForbidden",
                 "messageExpression": "'max ' + string(self.max) + ' is below min ' + string(self.min)"},
                {"rule": "self.max < 100"}]});
        let causes = check(
            &schema,
            &json!({"spec": {"min": 5, "max": 200}})["spec"],
            None,
        );
        assert_eq!(
            causes,
            vec![SchemaCause {
                reason: "FieldValueInvalid".into(),
                field: "<nil>".into(),
                message: "Invalid value: failed rule: self.max < 100".into()
            }]
        );
        let spec = json!({"type": "object", "properties": {"spec": schema}});
        let causes = check(&spec, &json!({"spec": {"min": 5, "max": 2}}), None);
        assert_eq!(
            causes,
            vec![SchemaCause {
                reason: "FieldValueForbidden".into(),
                field: "spec.max".into(),
                message: "Forbidden: max 2 is below min 5".into()
            }]
        );
    }

    #[test]
    fn gateway_api_style_rules_evaluate() {
        let schema = json!({"type": "object", "properties": {
            "type": {"type": "string"}, "value": {"type": "string"}},
            "x-kubernetes-validations": [
                {"rule": "(self.type in ['Exact','PathPrefix']) ? self.value.startsWith('/') : true", "message": "must be an absolute path"},
                {"rule": "(self.type in ['Exact','PathPrefix']) ? self.value.matches(r\"\"\"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$\"\"\") : true", "message": "must only contain valid characters"},
                {"rule": "duration('1s') < duration('2s') && self.value.size() > 0", "message": "sizes"}]});
        assert!(
            check(
                &schema,
                &json!({"type": "PathPrefix", "value": "/login"}),
                None
            )
            .is_empty()
        );
        let bad = check(
            &schema,
            &json!({"type": "Exact", "value": "login now"}),
            None,
        );
        let messages: Vec<&str> = bad.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "Invalid value: must be an absolute path",
                "Invalid value: must only contain valid characters"
            ]
        );
    }
}
