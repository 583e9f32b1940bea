//! Structural OpenAPI v3 schemas of CustomResourceDefinitions: pruning, defaulting and
//! validation, as kube-apiserver applies them on every write of a custom resource.

use serde_json::Value;

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

/// Removes fields the schema does not declare (honouring
/// `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-embedded-resource`); returns
/// their paths (e.g. `spec.colour`) for the `Warning: 299 - "unknown field ..."` header and
/// for `fieldValidation=Strict`.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let _ = (schema, obj);
    unimplemented!("pruning")
}

/// Fills in `default` values the schema declares.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    let _ = (schema, obj);
    unimplemented!("defaulting")
}

/// Checks `obj` against the schema (types, required, enum, minimum/maximum, lengths,
/// patterns, formats, nullable). CEL rules (`x-kubernetes-validations`) are not
/// evaluated: a known difference.
pub fn validate(schema: &Value, obj: &Value) -> Vec<SchemaCause> {
    let _ = (schema, obj);
    unimplemented!("schema validation")
}
