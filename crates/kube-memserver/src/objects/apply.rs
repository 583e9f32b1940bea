//! Server-side apply and `metadata.managedFields`, as kube-apiserver's field manager
//! (structured-merge-diff) does them.

use super::TypeInfo;
use super::builtin_types::{has_status_subresource, set_by_create_strategy, zero_value_paths};
use super::fieldset::{FieldSet, PathElement, path_string};
use super::managed::{self, Entry, Scope};
use super::typecheck::check_config;
use super::types::Ty;
use super::walk::{self, Comparison};
use serde_json::{Map, Value, json};

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
    /// RFC 3339 time with seconds, e.g. `2026-11-25T12:00:00Z`; empty = an entry without
    /// `time` (kube-apiserver writes `/scale` updates that way).
    pub time: &'a str,
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: Operation,
    pub subresource: Option<String>,
    /// The Update manager's apiVersion (kube-apiserver prints `using v1` for Update
    /// managers); empty for Apply managers.
    pub api_version: String,
    /// As kube-apiserver prints it, e.g. `.data.key` or
    /// `.spec.template.spec.containers[name="app"].image`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// 409: the message and causes kube-apiserver sends are built by [`conflict_message`].
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not a valid object (e.g. a list where a map belongs,
    /// a list item without its key, a scalar of the wrong type): worded as
    /// structured-merge-diff words it, e.g. `.spec.tags[1]: expected string, got
    /// &value.valueUnstructured{Value:true}`; kube-apiserver answers these 500 with the
    /// prefix `failed to create typed patch object (NS/NAME; GROUP/VERSION, Kind=KIND): `.
    /// `metadata.managedFields must be nil` (an apply carrying managedFields) is a 400.
    #[error("{0}")]
    Invalid(String),
}

impl Conflict {
    /// The manager as kube-apiserver names it in messages: `"mgr"`, `"mgr" with
    /// subresource "status"`, `"mgr" using v1`.
    pub fn manager_description(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    /// The `FieldManagerConflict` cause's message, e.g. `conflict with "mgr-a"`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }
}

/// `Apply failed with N conflict(s): conflict with "A": .data.key`, worded exactly as
/// kube-apiserver words it (including `using v1` for Update managers and
/// `with subresource "status"`).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: {}: {}",
            only.cause_message(),
            only.field
        );
    }
    let mut lines = Vec::new();
    let mut last: Option<String> = None;
    for c in conflicts {
        let who = c.manager_description();
        if last.as_ref() != Some(&who) {
            lines.push(format!("conflicts with {who}:"));
            last = Some(who);
        }
        lines.push(format!("- {}", c.field));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Server-side apply of `applied` by `manager` (operation Apply) onto `live` (`None` =
/// create). Returns the merged object with `metadata.managedFields` updated, or the
/// conflicts (none when `force`, which takes the fields over).
///
/// For a write to `/status` only `status` is taken from `applied`; for a built-in kind
/// with a status subresource the main resource ignores `status`. For custom resources
/// with a status subresource the caller removes `status` from a main-resource apply.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &Manager<'_>,
    force: bool,
    types: TypeInfo<'_>,
) -> Result<Value, ApplyError> {
    let Value::Object(applied) = applied else {
        return Err(ApplyError::Invalid(format!(
            "the applied configuration must be an object, got {applied}"
        )));
    };
    if applied
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|f| !f.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let ty = Ty::root(types);
    check_config(&Value::Object(applied.clone()), ty, "").map_err(ApplyError::Invalid)?;
    let scope = scope(manager, types);
    let config = effective_config(applied, scope);
    let mut set = walk::to_field_set(&config, ty).map_err(ApplyError::Invalid)?;
    managed::strip_untracked(&mut set, scope);

    let base = live.cloned().unwrap_or_else(|| json!({}));
    let mut merged = walk::merge(&base, &Value::Object(config), ty).map_err(ApplyError::Invalid)?;
    let mut entries = managed::decode(&base);
    let mine = |e: &Entry| {
        e.same_manager(
            manager.name,
            Operation::Apply,
            manager.api_version,
            manager.subresource,
        )
    };
    let last = entries.iter().find(|e| mine(e)).map(|e| e.set.clone());
    entries.retain(|e| !mine(e));

    if let (Some(last), Value::Object(obj)) = (&last, &mut merged) {
        let mut owned = set.clone();
        for e in &entries {
            owned.union_with(&e.set);
        }
        let keep = |k: &str| matches!(k, "metadata" | "apiVersion" | "kind");
        walk::remove_released(obj, ty, last, &owned, &keep);
    }

    let cmp = compare(live, &merged, types, ty);
    let changed = cmp.changed();
    let mut conflicts = Vec::new();
    for e in &mut entries {
        let theirs = e.set.intersection(&changed);
        if !theirs.is_empty() {
            conflicts.extend(theirs.paths().iter().map(|p| Conflict {
                manager: e.manager.clone(),
                operation: e.operation,
                subresource: e.subresource.clone(),
                api_version: if e.operation == Operation::Update {
                    e.api_version.clone()
                } else {
                    String::new()
                },
                field: path_string(p),
            }));
            e.set = e.set.difference(&theirs);
        }
        e.set = e.set.difference(&cmp.removed);
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by_key(|c| (identity_of(c), c.field.clone()));
        return Err(ApplyError::Conflicts(conflicts));
    }
    entries.push(Entry {
        manager: manager.name.to_owned(),
        operation: Operation::Apply,
        api_version: manager.api_version.to_owned(),
        time: entry_time(manager),
        subresource: manager.subresource.map(str::to_owned),
        set,
    });
    managed::encode(&mut merged, entries);
    managed::keep_times_of_noop(live, &mut merged);
    Ok(merged)
}

/// Records a non-apply write (create, PUT, any PATCH) by `manager` (operation Update) in
/// `new.metadata.managedFields`: the manager owns the fields it set or changed, and other
/// managers lose ownership of fields whose values it changed.
///
/// The entries start from `new`'s managedFields when the write carries some (a client
/// may edit them; `[]` clears them all), otherwise from `old`'s; subresource writes
/// always start from `old`'s.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &Manager<'_>,
    types: TypeInfo<'_>,
) {
    let ty = Ty::root(types);
    let mut entries = starting_entries(old, new, manager.subresource.is_some());
    let cmp = compare(old, new, types, ty);
    // A subresource write reaches here after the server reset what it may not change
    // (a Deployment's /status may change annotations, a custom resource's may not), so
    // what changed is what the writer set; a main-resource write never owns `status`.
    let scope = match scope(manager, types) {
        Scope::StatusSubresource => Scope::Other,
        other => other,
    };
    let mut changed = cmp.changed();
    managed::strip_untracked(&mut changed, scope);
    if let (None, TypeInfo::BuiltIn { group, kind }) = (old, types) {
        for path in set_by_create_strategy(group, kind) {
            changed.remove_subtree(&field_path(path));
        }
    }
    for e in &mut entries {
        e.set = e.set.difference(&changed).difference(&cmp.removed);
    }
    if !changed.is_empty() {
        let mine = |e: &Entry| {
            e.same_manager(
                manager.name,
                Operation::Update,
                manager.api_version,
                manager.subresource,
            )
        };
        match entries.iter_mut().find(|e| mine(e)) {
            Some(e) => {
                e.set.union_with(&changed);
                e.time = entry_time(manager);
            }
            None => entries.push(Entry {
                manager: manager.name.to_owned(),
                operation: Operation::Update,
                api_version: manager.api_version.to_owned(),
                time: entry_time(manager),
                subresource: manager.subresource.map(str::to_owned),
                set: changed,
            }),
        }
    }
    managed::encode(new, entries);
    managed::keep_times_of_noop(old, new);
}

fn field_path(dotted: &str) -> Vec<PathElement> {
    dotted
        .split('.')
        .map(|f| PathElement::Field(f.to_owned()))
        .collect()
}

fn entry_time(manager: &Manager<'_>) -> Option<String> {
    (!manager.time.is_empty()).then(|| manager.time.to_owned())
}

fn starting_entries(old: Option<&Value>, new: &Value, subresource: bool) -> Vec<Entry> {
    let from_old = || old.map(managed::decode).unwrap_or_default();
    if subresource {
        return from_old();
    }
    match new.pointer("/metadata/managedFields") {
        Some(Value::Array(list))
            if list.is_empty() || (list.len() == 1 && list[0] == json!({})) =>
        {
            Vec::new()
        }
        Some(Value::Array(_)) => match managed::decode(new) {
            decoded if decoded.is_empty() => from_old(),
            decoded => decoded,
        },
        _ => from_old(),
    }
}

fn scope(manager: &Manager<'_>, types: TypeInfo<'_>) -> Scope {
    match (manager.subresource, types) {
        (Some("status"), _) => Scope::StatusSubresource,
        (None, TypeInfo::BuiltIn { group, kind }) if has_status_subresource(group, kind) => {
            Scope::MainWithStatusSubresource
        }
        _ => Scope::Other,
    }
}

/// What of the applied configuration the write can change: the apiserver ignores the
/// metadata it owns, and a subresource's reset fields.
fn effective_config(applied: &Map<String, Value>, scope: Scope) -> Map<String, Value> {
    let mut config = applied.clone();
    if let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, _| {
            !managed::UNTRACKED_METADATA.contains(&k.as_str())
                || matches!(k.as_str(), "name" | "namespace")
        });
    }
    match scope {
        Scope::StatusSubresource => config
            .retain(|k, _| matches!(k.as_str(), "status" | "apiVersion" | "kind" | "metadata")),
        Scope::MainWithStatusSubresource => {
            config.remove("status");
        }
        Scope::Other => {}
    }
    if scope == Scope::StatusSubresource
        && let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace"));
    }
    config
}

/// Compares as kube-apiserver does: the old side as the typed Go object would carry it
/// (a create compares against the kind's zero value), so the nodes every object of the
/// kind has are never "added". The new side is taken as it is: nothing is recorded for
/// a field the object does not have.
fn compare(old: Option<&Value>, new: &Value, types: TypeInfo<'_>, ty: Ty<'_>) -> Comparison {
    let paths = match types {
        TypeInfo::BuiltIn { group, kind } => zero_value_paths(group, kind),
        TypeInfo::Schema(_) => &["metadata"][..],
    };
    let mut old = old.cloned().unwrap_or_else(|| json!({}));
    for path in paths {
        overlay(&mut old, path);
    }
    walk::compare(&old, new, ty)
}

fn overlay(obj: &mut Value, path: &str) {
    let (path, zero) = match path.split_once('=') {
        Some((p, zero)) => (
            p,
            serde_json::from_str(zero).expect("zero values in the built-in table are JSON"),
        ),
        None => (path, json!({})),
    };
    let steps: Vec<&str> = path.split('.').collect();
    overlay_steps(obj, &steps, &zero);
}

fn overlay_steps(obj: &mut Value, steps: &[&str], zero: &Value) {
    match (steps, obj) {
        ([], _) => {}
        (["*", rest @ ..], Value::Array(items)) => {
            items.iter_mut().for_each(|i| overlay_steps(i, rest, zero))
        }
        ([last], Value::Object(m)) => {
            m.entry(*last).or_insert_with(|| zero.clone());
        }
        ([first, rest @ ..], Value::Object(m)) => {
            let next = m.entry(*first).or_insert_with(|| json!({}));
            overlay_steps(next, rest, zero);
        }
        _ => {}
    }
}

/// Conflicts are listed by manager identity (as kube-apiserver sorts them), then path.
fn identity_of(c: &Conflict) -> String {
    Entry {
        manager: c.manager.clone(),
        operation: c.operation,
        api_version: c.api_version.clone(),
        time: None,
        subresource: c.subresource.clone(),
        set: FieldSet::default(),
    }
    .identity()
}
