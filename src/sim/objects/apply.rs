//! Server-side apply and `metadata.managedFields`.

use super::TypeInfo;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

/// Who writes, as recorded in a managedFields entry.
#[derive(Debug, Clone, Copy)]
pub struct Manager<'a> {
    pub name: &'a str,
    pub operation: Operation,
    /// `Some("status")` for writes to the status subresource.
    pub subresource: Option<&'a str>,
    /// The object's `apiVersion`, e.g. `apps/v1`.
    pub api_version: &'a str,
    /// RFC 3339 time with seconds, e.g. `2026-11-25T12:00:00Z`.
    pub time: &'a str,
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: Operation,
    pub subresource: Option<String>,
    /// As kube-apiserver prints it, e.g. `.data.key` or
    /// `.spec.template.spec.containers[name="app"].image`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// 409: the message and causes kube-apiserver sends are built by [`conflict_message`].
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not a valid object (e.g. a list where a map belongs).
    #[error("{0}")]
    Invalid(String),
}

/// `Apply failed with N conflict(s): conflict with "A": .data.key`, worded exactly as
/// kube-apiserver words it (including `using v1` for Update managers and
/// `with subresource "status"`).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let _ = conflicts;
    unimplemented!("conflict message")
}

/// Server-side apply of `applied` by `manager` (operation Apply) onto `live` (`None` =
/// create). Returns the merged object with `metadata.managedFields` updated, or the
/// conflicts (none when `force`, which takes the fields over).
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &Manager<'_>,
    force: bool,
    types: TypeInfo<'_>,
) -> Result<Value, ApplyError> {
    let _ = (live, applied, manager, force, types);
    unimplemented!("server-side apply")
}

/// Records a non-apply write (create, PUT, any PATCH) by `manager` (operation Update) in
/// `new.metadata.managedFields`: the manager owns the fields it set or changed, and other
/// managers lose ownership of fields whose values it changed.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &Manager<'_>,
    types: TypeInfo<'_>,
) {
    let _ = (old, new, manager, types);
    unimplemented!("managed fields for updates")
}
