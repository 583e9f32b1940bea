//! Structural OpenAPI v3 schemas of CustomResourceDefinitions: pruning, defaulting and
//! validation, as kube-apiserver applies them on every write of a custom resource.

use serde_json::{Map, Value};

/// One validation failure, as a `Status` cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaCause {
    /// e.g. `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`,
    /// `FieldValueTypeInvalid`.
    pub reason: String,
    /// e.g. `spec.replicas`.
    pub field: String,
    /// The cause's message, exactly as kube-apiserver words it.
    pub message: String,
}

impl SchemaCause {
    /// The cause as it reads in the `Status` message: `spec.weight: Required value`.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// The fields of ObjectMeta a custom resource keeps; the rest of `metadata` is pruned.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Removes fields the schema does not declare (honouring
/// `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-embedded-resource`); returns
/// their paths (e.g. `spec.colour`) for the `Warning: 299 - "unknown field ..."` header and
/// for `fieldValidation=Strict`.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Value::Object(map) = obj {
        prune_resource(schema, map, "", &mut pruned);
    }
    pruned.sort();
    pruned
}

/// A resource (the root, or an embedded one): `apiVersion` and `kind` stay, `metadata`
/// keeps ObjectMeta's fields.
fn prune_resource(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    pruned: &mut Vec<String>,
) {
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        let at = join(path, "metadata");
        meta.retain(|k, _| {
            let keep = OBJECT_META_FIELDS.contains(&k.as_str());
            if !keep {
                pruned.push(join(&at, k));
            }
            keep
        });
    }
    prune_object(
        schema,
        map,
        path,
        pruned,
        &["apiVersion", "kind", "metadata"],
    );
}

fn prune_object(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    pruned: &mut Vec<String>,
    keep: &[&str],
) {
    let props = schema.get("properties").and_then(Value::as_object);
    let extra = schema.get("additionalProperties");
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    map.retain(|key, value| {
        let at = join(path, key);
        if keep.contains(&key.as_str()) {
            return true;
        }
        match (props.and_then(|p| p.get(key)), extra) {
            (Some(prop), _) | (None, Some(prop @ Value::Object(_))) => {
                prune_value(prop, value, &at, pruned);
                true
            }
            (None, Some(Value::Bool(true))) => true,
            _ if preserve => true,
            _ => {
                pruned.push(at);
                false
            }
        }
    });
}

fn prune_value(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) if flag(schema, "x-kubernetes-embedded-resource") => {
            prune_resource(schema, map, path, pruned)
        }
        Value::Object(map) => prune_object(schema, map, path, pruned, &[]),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_value(item_schema, item, &format!("{path}[{i}]"), pruned);
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

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

/// Fills in `default` values the schema declares. As kube-apiserver does, a `null` in a
/// field that is not `nullable` gets the default, or is dropped when there is none.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, prop) in props {
                    let nullable = flag(prop, "nullable");
                    match (map.get(key), prop.get("default")) {
                        (None, Some(default)) => {
                            map.insert(key.clone(), default.clone());
                        }
                        (Some(Value::Null), Some(default)) if !nullable => {
                            map.insert(key.clone(), default.clone());
                        }
                        (Some(Value::Null), None) if !nullable => {
                            map.remove(key);
                        }
                        _ => {}
                    }
                    if let Some(value) = map.get_mut(key) {
                        apply_defaults(prop, value);
                    }
                }
            }
            if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
                for value in map.values_mut() {
                    apply_defaults(extra, value);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                items
                    .iter_mut()
                    .for_each(|item| apply_defaults(item_schema, item));
            }
        }
        _ => {}
    }
}

/// Checks a new `obj` against the schema: [`validate_update`] with no old object.
pub fn validate(schema: &Value, obj: &Value) -> Vec<SchemaCause> {
    validate_update(schema, obj, None)
}

/// Checks `obj` against the schema (types, required, enum, minimum/maximum, lengths,
/// patterns, formats, nullable), then, when those pass, its CEL rules
/// (`x-kubernetes-validations`, see [`super::cel`]) with `old` as `oldSelf`.
///
/// As kube-apiserver does, when the schema has CEL rules and the object fails the
/// structural checks, a last cause says the rules were not checked.
pub fn validate_update(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<SchemaCause> {
    let causes = validate_structure(schema, obj);
    if causes.is_empty() {
        return super::cel::check(schema, obj, old);
    }
    causes
}

fn validate_structure(schema: &Value, obj: &Value) -> Vec<SchemaCause> {
    let mut causes = Vec::new();
    if let Value::Object(map) = obj {
        let mut body = map.clone();
        body.remove("metadata");
        super::validation::check(schema, &Value::Object(body), "", &mut causes);
    }
    causes.sort_by(|a, b| a.field.cmp(&b.field));
    if !causes.is_empty() && has_cel_rules(schema) {
        causes.push(SchemaCause {
            reason: "FieldValueInvalid".into(),
            field: "<nil>".into(),
            message: "Invalid value: null: some validation rules were not checked because the object was invalid; \
                      correct the existing errors to complete validation"
                .into(),
        });
    }
    causes
}

fn has_cel_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => {
            m.contains_key("x-kubernetes-validations") || m.values().any(has_cel_rules)
        }
        Value::Array(items) => items.iter().any(has_cel_rules),
        _ => false,
    }
}
