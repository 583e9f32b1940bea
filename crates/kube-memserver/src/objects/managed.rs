//! `metadata.managedFields` entries: decoding, encoding in kube-apiserver's order, the
//! fields the apiserver never tracks, and its rule that a write changing nothing keeps
//! the old timestamps.

use super::apply::Operation;
use super::fieldset::{FieldSet, PathElement};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub set: FieldSet,
}

impl Entry {
    /// kube-apiserver's manager identity: Apply entries are one per manager and
    /// subresource, Update entries one per manager, apiVersion and subresource.
    pub fn same_manager(
        &self,
        name: &str,
        operation: Operation,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.manager == name
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    /// The identity as kube-apiserver serialises it; conflicts are sorted by it.
    pub fn identity(&self) -> String {
        let mut id = Map::new();
        id.insert("manager".into(), self.manager.clone().into());
        id.insert("operation".into(), operation_name(self.operation).into());
        if self.operation == Operation::Update {
            id.insert("apiVersion".into(), self.api_version.clone().into());
        }
        if let Some(sub) = &self.subresource {
            id.insert("subresource".into(), sub.clone().into());
        }
        // Go marshals the struct's fields in declaration order, which these keys follow.
        let order = ["manager", "operation", "apiVersion", "subresource"];
        let parts: Vec<String> = order
            .iter()
            .filter_map(|k| id.get(*k).map(|v| format!("{}:{v}", Value::from(*k))))
            .collect();
        format!("{{{}}}", parts.join(","))
    }

    fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), self.manager.clone().into());
        entry.insert("operation".into(), operation_name(self.operation).into());
        entry.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(time) = &self.time {
            entry.insert("time".into(), time.clone().into());
        }
        entry.insert("fieldsType".into(), "FieldsV1".into());
        entry.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(sub) = &self.subresource {
            entry.insert("subresource".into(), sub.clone().into());
        }
        Value::Object(entry)
    }
}

pub fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Apply => "Apply",
        Operation::Update => "Update",
    }
}

/// The object's entries; an entry that cannot be read is dropped (kube-apiserver resets
/// undecodable managedFields rather than failing the write).
pub fn decode(obj: &Value) -> Vec<Entry> {
    let Some(entries) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    entries.iter().filter_map(decode_entry).collect()
}

fn decode_entry(e: &Value) -> Option<Entry> {
    let operation = match e.get("operation")?.as_str()? {
        "Apply" => Operation::Apply,
        "Update" => Operation::Update,
        _ => return None,
    };
    Some(Entry {
        manager: e.get("manager")?.as_str()?.to_owned(),
        operation,
        api_version: e
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        time: e.get("time").and_then(Value::as_str).map(str::to_owned),
        subresource: e
            .get("subresource")
            .and_then(Value::as_str)
            .map(str::to_owned),
        set: FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&json!({}))).ok()?,
    })
}

/// Writes the entries in kube-apiserver's order (operation, time, manager, apiVersion,
/// subresource); no entries = no `managedFields`.
pub fn encode(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        let key = |e: &Entry| {
            (
                operation_name(e.operation),
                e.time.clone().unwrap_or_default(),
                e.manager.clone(),
                e.api_version.clone(),
                e.subresource.clone().unwrap_or_default(),
            )
        };
        key(a).cmp(&key(b))
    });
    let Some(meta) = obj
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
    else {
        return;
    };
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert(
            "managedFields".into(),
            entries.iter().map(Entry::to_json).collect(),
        );
    }
}

/// Metadata the apiserver sets or owns itself and never records as managed.
pub const UNTRACKED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Drops what managedFields never holds: `apiVersion`, `kind`, the `metadata` node and
/// its untracked fields; and, for writes to a subresource or to a main resource whose
/// status has its own subresource, what that write cannot change.
pub fn strip_untracked(set: &mut FieldSet, scope: Scope) {
    for top in ["apiVersion", "kind", "metadata"] {
        set.members.remove(&PathElement::Field(top.into()));
    }
    let meta = PathElement::Field("metadata".into());
    if let Some(m) = set.children.get_mut(&meta) {
        for f in UNTRACKED_METADATA {
            let pe = PathElement::Field((*f).into());
            m.members.remove(&pe);
            m.children.remove(&pe);
        }
        if m.is_empty() {
            set.children.remove(&meta);
        }
    }
    let status = PathElement::Field("status".into());
    match scope {
        Scope::StatusSubresource => {
            set.members.retain(|pe| *pe == status);
            set.children.retain(|pe, _| *pe == status);
        }
        Scope::MainWithStatusSubresource => {
            set.members.remove(&status);
            set.children.remove(&status);
        }
        Scope::Other => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    StatusSubresource,
    MainWithStatusSubresource,
    Other,
}

/// kube-apiserver's `IgnoreManagedFieldsTimestampsTransformer`: when a write leaves the
/// object as it was and changes no entry but its time, the old entries stay, so a
/// no-op write keeps its resourceVersion.
pub fn keep_times_of_noop(old: Option<&Value>, new: &mut Value) {
    let Some(old) = old else { return };
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        v
    };
    if strip(old) != strip(new) {
        return;
    }
    let (before, after) = (decode(old), decode(new));
    let same = before.len() == after.len()
        && before.iter().zip(&after).all(|(a, b)| {
            Entry {
                time: None,
                ..a.clone()
            } == Entry {
                time: None,
                ..b.clone()
            }
        });
    if same {
        let entries = old.pointer("/metadata/managedFields").cloned();
        if let (Some(entries), Some(meta)) = (
            entries,
            new.get_mut("metadata").and_then(Value::as_object_mut),
        ) {
            meta.insert("managedFields".into(), entries);
        }
    }
}
