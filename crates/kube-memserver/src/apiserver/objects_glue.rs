//! Calls into `crate::objects` (strategic merge, server-side apply, managed fields, CRD
//! schemas), mapped to Kubernetes errors. A panic inside one of them answers a 500 (or,
//! for managedFields bookkeeping, leaves managedFields as they were) instead of killing
//! the connection; a schema step (pruning, defaulting, validation) that panics is skipped.
use super::meta::now;
use super::resources::Resource;
use super::status::{ApiError, Cause};
use crate::objects::{TypeInfo, apply, schema, strategic};
use serde_json::Value;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

fn types(res: &Resource) -> Option<TypeInfo<'_>> {
    match &res.custom {
        Some(c) => c.schema.as_ref().map(TypeInfo::Schema),
        None => Some(TypeInfo::BuiltIn {
            group: &res.group,
            kind: &res.kind,
        }),
    }
}

/// Names of the `crate::objects` functions that panicked once: they are not called again
/// (one panic report per process, not one per request).
static BROKEN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn guarded<T>(what: &'static str, f: impl FnOnce() -> T) -> Result<T, ApiError> {
    let unavailable = || ApiError::internal(format!("{what} failed inside the local API server"));
    if BROKEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&what)
    {
        return Err(unavailable());
    }
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        BROKEN.lock().unwrap_or_else(|e| e.into_inner()).push(what);
        unavailable()
    })
}

/// Records a non-apply write by `manager` in `new.metadata.managedFields`.
pub fn record_update(
    res: &Resource,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    sub: Option<&str>,
) {
    let Some(types) = types(res) else { return };
    let time = now();
    let api_version = res.api_version();
    let m = apply::Manager {
        name: manager,
        operation: apply::Operation::Update,
        subresource: sub,
        api_version: &api_version,
        time: &time,
    };
    let before = new.clone();
    if guarded("managedFields", || {
        apply::record_update(old, new, &m, types)
    })
    .is_err()
    {
        *new = before;
    }
}

/// Server-side apply of `applied` onto `live` (None = create).
pub fn server_side_apply(
    res: &Resource,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    sub: Option<&str>,
    force: bool,
) -> Result<Value, ApiError> {
    let types = types(res).unwrap_or(TypeInfo::BuiltIn {
        group: &res.group,
        kind: &res.kind,
    });
    let time = now();
    let api_version = res.api_version();
    let m = apply::Manager {
        name: manager,
        operation: apply::Operation::Apply,
        subresource: sub,
        api_version: &api_version,
        time: &time,
    };
    match guarded("server-side apply", || {
        apply::apply(live, applied, &m, force, types)
    })? {
        Ok(v) => Ok(v),
        Err(apply::ApplyError::Conflicts(conflicts)) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| {
                    let single = apply::conflict_message(std::slice::from_ref(c));
                    // "Apply failed with 1 conflict: conflict with \"m\" ...: .field" -> "conflict with \"m\" ..."
                    let message = single
                        .split_once(": ")
                        .map(|(_, rest)| rest.trim_end_matches(&format!(": {}", c.field)).to_string())
                        .unwrap_or(single.clone());
                    serde_json::json!({"reason": "FieldManagerConflict", "message": message, "field": c.field})
                })
                .collect();
            Err(
                ApiError::new(409, "Conflict", apply::conflict_message(&conflicts))
                    .with_details(serde_json::json!({"causes": causes})),
            )
        }
        Err(apply::ApplyError::Invalid(msg)) => Err(ApiError::new(500, "", msg)),
    }
}

/// Strategic merge patch; custom resources do not support it (415).
pub fn strategic_merge(res: &Resource, original: &Value, patch: &Value) -> Result<Value, ApiError> {
    if res.is_custom() {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    let types = TypeInfo::BuiltIn {
        group: &res.group,
        kind: &res.kind,
    };
    guarded("strategic merge patch", || {
        strategic::strategic_merge_patch(original, patch, types)
    })?
    .map_err(|e| ApiError::bad_request(e.message))
}

/// How unknown fields of a custom resource are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Prunes, defaults and validates a custom resource against its CRD schema and CEL
/// rules (`old`: the object it replaces, for `oldSelf`). Returns the
/// warnings to send (`unknown field "spec.x"`).
pub fn admit_custom(
    res: &Resource,
    obj: &mut Value,
    old: Option<&Value>,
    fv: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let Some(schema) = res.custom.as_ref().and_then(|c| c.schema.as_ref()) else {
        return Ok(vec![]);
    };
    // A step that panics is skipped (the object stays as it was before that step).
    let before = obj.clone();
    let pruned = guarded("schema pruning", || schema::prune(schema, obj)).unwrap_or_else(|_| {
        *obj = before;
        vec![]
    });
    let name = super::meta::name_of(obj).to_string();
    if fv == FieldValidation::Strict && !pruned.is_empty() {
        let list: Vec<String> = pruned
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            list.join(", "),
            kind = res.kind,
            v = res.version
        )));
    }
    let before = obj.clone();
    if guarded("schema defaulting", || schema::apply_defaults(schema, obj)).is_err() {
        *obj = before;
    }
    let causes = guarded("schema validation", || {
        schema::validate_update(schema, obj, old)
    })
    .unwrap_or_default();
    if !causes.is_empty() {
        let causes = causes
            .into_iter()
            .map(|c| Cause {
                reason: c.reason,
                message: c.message,
                field: Some(c.field),
            })
            .collect();
        return Err(ApiError::invalid(res, &name, causes));
    }
    Ok(match fv {
        FieldValidation::Warn => pruned
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect(),
        _ => vec![],
    })
}
