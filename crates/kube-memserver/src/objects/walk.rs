//! Typed walks over objects, as structured-merge-diff does them: the field set an
//! applied configuration owns, the comparison of two versions of an object, merging an
//! applied configuration into the live object, and removing fields a manager let go.

use super::fieldset::{FieldSet, PathElement};
use super::types::{ListKind, Ty};
use serde_json::{Map, Value};

/// The path element of list item `index`; `Err` when an associative list's item lacks
/// one of its keys (and the key has no default).
pub fn item_element(
    kind: &ListKind<'_>,
    item: &Value,
    index: usize,
) -> Result<PathElement, String> {
    match kind {
        ListKind::Atomic => Ok(PathElement::Index(index)),
        ListKind::Set => Ok(PathElement::Value(item.to_string())),
        ListKind::Map(keys) => {
            let mut fields = Vec::with_capacity(keys.len());
            for (key, default) in keys {
                match item.get(*key).filter(|v| !v.is_null()).or(default.as_ref()) {
                    Some(v) => fields.push(((*key).to_owned(), v.clone())),
                    None => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                        ));
                    }
                }
            }
            Ok(PathElement::key(fields))
        }
    }
}

fn elements<'v>(
    kind: &ListKind<'_>,
    items: &'v [Value],
) -> Result<Vec<(PathElement, &'v Value)>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| Ok((item_element(kind, item, i)?, item)))
        .collect()
}

fn find<'v>(list: &[(PathElement, &'v Value)], pe: &PathElement) -> Option<&'v Value> {
    list.iter().find(|(p, _)| p == pe).map(|(_, v)| *v)
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// The fields an applied configuration sets (structured-merge-diff's `ToFieldSet`).
pub fn to_field_set(obj: &Map<String, Value>, ty: Ty<'_>) -> Result<FieldSet, String> {
    let mut set = FieldSet::default();
    for (key, value) in obj {
        let child = ty.field(key);
        let pe = PathElement::Field(key.clone());
        let sub = value_set(value, child.ty)?;
        let leaf_like =
            sub.is_none() || value.is_null() || matches!(value, Value::Object(m) if m.is_empty());
        if leaf_like || !child.declared {
            set.members.insert(pe.clone());
        }
        if let Some(sub) = sub {
            set.put_child(pe, sub);
        }
    }
    Ok(set)
}

/// `None` for a leaf (scalar, atomic object or list).
fn value_set(value: &Value, ty: Ty<'_>) -> Result<Option<FieldSet>, String> {
    match value {
        Value::Object(m) if !ty.is_atomic_object() => to_field_set(m, ty).map(Some),
        Value::Array(items) => {
            let kind = ty.list_kind();
            if kind == ListKind::Atomic {
                return Ok(None);
            }
            let mut set = FieldSet::default();
            for (pe, item) in elements(&kind, items)? {
                set.members.insert(pe.clone());
                if let Some(sub) = value_set(item, ty.item())? {
                    set.put_child(pe, sub);
                }
            }
            Ok(Some(set))
        }
        _ => Ok(None),
    }
}

/// What changed between two versions of an object (structured-merge-diff's `Compare`):
/// leaves that appeared, changed or went, and non-leaf nodes that appeared or went.
#[derive(Debug, Default)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }

    fn put(&mut self, pe: &PathElement, child: Comparison) {
        self.added.put_child(pe.clone(), child.added);
        self.modified.put_child(pe.clone(), child.modified);
        self.removed.put_child(pe.clone(), child.removed);
    }

    fn mark(&mut self, pe: &PathElement, old: Option<&Value>, new: Option<&Value>, leaf: bool) {
        let set = match (old, new) {
            (None, Some(_)) => &mut self.added,
            (Some(_), None) => &mut self.removed,
            (Some(o), Some(n)) if leaf && o != n => &mut self.modified,
            _ => return,
        };
        set.members.insert(pe.clone());
    }
}

pub fn compare(old: &Value, new: &Value, ty: Ty<'_>) -> Comparison {
    let mut out = Comparison::default();
    compare_children(Some(old), Some(new), ty, &mut out);
    out
}

/// Compares one node's children; returns whether the node is a leaf.
fn compare_children(
    old: Option<&Value>,
    new: Option<&Value>,
    ty: Ty<'_>,
    out: &mut Comparison,
) -> bool {
    if is_empty_container(old) && is_empty_container(new) {
        return true;
    }
    let object = |v: Option<&Value>| matches!(v, None | Some(Value::Null | Value::Object(_)));
    let array = |v: Option<&Value>| matches!(v, None | Some(Value::Null | Value::Array(_)));
    if object(old) && object(new) && !ty.is_atomic_object() {
        let empty = Map::new();
        let (o, n) = (
            old.and_then(Value::as_object).unwrap_or(&empty),
            new.and_then(Value::as_object).unwrap_or(&empty),
        );
        for key in o.keys().chain(n.keys().filter(|k| !o.contains_key(*k))) {
            let (ov, nv) = (o.get(key), n.get(key));
            let mut child = Comparison::default();
            let leaf = compare_children(ov, nv, ty.field(key).ty, &mut child);
            let pe = PathElement::Field(key.clone());
            out.mark(&pe, ov, nv, leaf);
            out.put(&pe, child);
        }
        return false;
    }
    let kind = ty.list_kind();
    if array(old) && array(new) && kind != ListKind::Atomic {
        let (o, n) = (old.and_then(Value::as_array), new.and_then(Value::as_array));
        let (Ok(o), Ok(n)) = (
            elements(&kind, o.map_or(&[], Vec::as_slice)),
            elements(&kind, n.map_or(&[], Vec::as_slice)),
        ) else {
            return true; // items without their keys: compare the list as a whole
        };
        let mut seen = Vec::new();
        for (pe, _) in o.iter().chain(&n) {
            if seen.contains(&pe) {
                continue;
            }
            seen.push(pe);
            let (ov, nv) = (find(&o, pe), find(&n, pe));
            let mut child = Comparison::default();
            let leaf = compare_children(ov, nv, ty.item(), &mut child);
            out.mark(pe, ov, nv, leaf);
            out.put(pe, child);
        }
        return false;
    }
    true
}

/// Merges an applied configuration into the live object (structured-merge-diff's
/// `Merge`): granular maps merge key by key, associative lists and sets item by item in
/// the configuration's order, atomic values are replaced.
pub fn merge(live: &Value, config: &Value, ty: Ty<'_>) -> Result<Value, String> {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !ty.is_atomic_object() => {
            let mut out = l.clone();
            for (key, cv) in c {
                let merged = match l.get(key) {
                    Some(lv) => merge(lv, cv, ty.field(key).ty)?,
                    None => cv.clone(),
                };
                if merged.is_null() {
                    out.remove(key);
                } else {
                    out.insert(key.clone(), merged);
                }
            }
            Ok(Value::Object(out))
        }
        (Value::Array(l), Value::Array(c)) if ty.list_kind() != ListKind::Atomic => {
            merge_list(l, c, ty).map(Value::Array)
        }
        _ => Ok(config.clone()),
    }
}

/// structured-merge-diff's list merge: the configuration's items in its order, with the
/// live-only items kept where they were relative to the shared ones.
fn merge_list(live: &[Value], config: &[Value], ty: Ty<'_>) -> Result<Vec<Value>, String> {
    let kind = ty.list_kind();
    let lhs = elements(&kind, live)?;
    let rhs = elements(&kind, config)?;
    let in_lhs = |pe: &PathElement| find(&lhs, pe);
    let in_rhs = |pe: &PathElement| find(&rhs, pe);
    let mut shared = rhs
        .iter()
        .map(|(pe, _)| pe)
        .filter(|pe| in_lhs(pe).is_some());
    let mut next_shared = shared.next();
    let mut merged_rhs: Vec<&PathElement> = Vec::new();
    let mut out = Vec::new();
    let item = |l: Option<&Value>, r: Option<&Value>| -> Result<Value, String> {
        match (l, r) {
            (Some(l), Some(r)) => merge(l, r, ty.item()),
            (Some(v), None) | (None, Some(v)) => Ok(v.clone()),
            (None, None) => unreachable!("an item comes from one side at least"),
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li].0;
            if *pe == rhs[ri].0 {
                merged_rhs.push(pe);
                out.push(item(in_lhs(pe), in_rhs(pe))?);
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if in_rhs(pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lhs[li].0;
            if in_rhs(pe).is_none() {
                out.push(lhs[li].1.clone());
                li += 1;
                continue;
            } else if merged_rhs.contains(&pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = &rhs[ri].0;
            merged_rhs.push(pe);
            out.push(item(in_lhs(pe), in_rhs(pe))?);
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
        }
    }
    Ok(out)
}

/// Removes from `obj` every node that `last` (what the manager applied before) holds
/// and `owned` (what any manager, the applier included, holds now) does not. A struct
/// field counts as held when a path below it is (structured-merge-diff's
/// `EnsureNamedFieldsAreMembers`).
pub fn remove_released(
    obj: &mut Map<String, Value>,
    ty: Ty<'_>,
    last: &FieldSet,
    owned: &FieldSet,
    keep: &dyn Fn(&str) -> bool,
) {
    let empty = FieldSet::default();
    obj.retain(|key, value| {
        let pe = PathElement::Field(key.clone());
        let child = ty.field(key);
        let holds = |set: &FieldSet| {
            set.members.contains(&pe)
                || (child.declared && set.child(&pe).is_some_and(|c| !c.is_empty()))
        };
        if keep(key) {
            // The metadata node itself is never released (the apiserver does not track it).
        } else if holds(last) && !holds(owned) {
            return false;
        }
        let Some(last_below) = last.child(&pe) else {
            return true;
        };
        let owned_below = owned.child(&pe).unwrap_or(&empty);
        remove_below(value, child.ty, last_below, owned_below);
        true
    });
}

fn remove_below(value: &mut Value, ty: Ty<'_>, last: &FieldSet, owned: &FieldSet) {
    match value {
        Value::Object(m) if !ty.is_atomic_object() => {
            remove_released(m, ty, last, owned, &|_| false)
        }
        Value::Array(items) => {
            let kind = ty.list_kind();
            if kind == ListKind::Atomic {
                return;
            }
            let empty = FieldSet::default();
            let mut index = 0;
            items.retain_mut(|item| {
                let Ok(pe) = item_element(&kind, item, index) else {
                    return true;
                };
                index += 1;
                if last.members.contains(&pe) && !owned.members.contains(&pe) {
                    return false;
                }
                if let Some(last_below) = last.child(&pe) {
                    remove_below(
                        item,
                        ty.item(),
                        last_below,
                        owned.child(&pe).unwrap_or(&empty),
                    );
                }
                true
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::TypeInfo;
    use serde_json::json;

    fn containers(names: &[&str]) -> Value {
        json!({"spec": {"containers": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}})
    }

    #[test]
    fn merge_keeps_live_only_items_where_they_were_and_takes_the_configs_order() {
        // structured-merge-diff's list merge: live [a, b, c] with config [c, a] gives
        // [b, c, a] (b stays before c, the shared items follow the config).
        let pod = Ty::root(TypeInfo::BuiltIn {
            group: "",
            kind: "Pod",
        });
        let merged = merge(&containers(&["a", "b", "c"]), &containers(&["c", "a"]), pod).unwrap();
        assert_eq!(merged, containers(&["b", "c", "a"]));
        let merged = merge(&containers(&["a"]), &containers(&["x", "a", "y"]), pod).unwrap();
        assert_eq!(merged, containers(&["x", "a", "y"]));
    }

    #[test]
    fn an_atomic_list_is_replaced_and_compared_whole() {
        let pod = Ty::root(TypeInfo::BuiltIn {
            group: "",
            kind: "Pod",
        });
        let live = json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}});
        let config = json!({"spec": {"tolerations": [{"key": "c"}]}});
        let merged = merge(&live, &config, pod).unwrap();
        assert_eq!(merged, config);
        let cmp = compare(&live, &merged, pod);
        let modified: Vec<String> = cmp
            .modified
            .paths()
            .iter()
            .map(|p| super::super::fieldset::path_string(p))
            .collect();
        assert_eq!(modified, [".spec.tolerations"]);
    }
}
