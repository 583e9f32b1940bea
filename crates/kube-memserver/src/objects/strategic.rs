//! Strategic merge patch for built-in kinds, following apimachinery's
//! `strategicpatch.StrategicMergePatch` (server side: nulls delete, parallel-list
//! directives are merged, element order is normalised the same way).

use super::TypeInfo;
use super::builtin_types::Smp;
use super::types::Ty;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PatchError {
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, PatchError> {
    Err(PatchError {
        message: message.into(),
    })
}

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch (`application/strategic-merge-patch+json`) to
/// `original`: lists with a merge key merge by it, `$patch: delete|replace`,
/// `$retainKeys`, `$deleteFromPrimitiveList/...`, `null` deletes.
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    types: TypeInfo<'_>,
) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return err("strategic merge patch: both the object and the patch must be JSON objects");
    };
    Ok(Value::Object(
        merge_map(original.clone(), patch, Ty::root(types))?.unwrap_or_default(),
    ))
}

/// `None` = the map carried `$patch: delete` and is removed from its parent.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Ty<'_>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                let mut replaced = patch.clone();
                replaced.remove(DIRECTIVE);
                Ok(Some(
                    merge_map(Map::new(), &replaced, ty)?.unwrap_or_default(),
                ))
            }
            Some("delete") => Ok(None),
            _ => err(format!(
                "Unknown patch type: {directive} in map: {}",
                Value::Object(patch.clone())
            )),
        };
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Some(retain) = retain.as_array() else {
            return err(format!(
                "{RETAIN_KEYS} must be a list of field names, got {retain}"
            ));
        };
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        if let Some(stray) = patch
            .keys()
            .find(|k| !k.starts_with('$') && !keep.contains(&k.as_str()))
        {
            return err(format!(
                "all fields in the patch must be present in {RETAIN_KEYS}, but {stray:?} is not"
            ));
        }
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    let mut ordered = Vec::new();
    for (key, order) in patch {
        let Some(field) = key.strip_prefix(SET_ORDER) else {
            continue;
        };
        let Some(order) = order.as_array() else {
            return err(format!("{key} must be a list, got {order}"));
        };
        let child = ty.field(field).ty;
        let base = take_list(&mut original, field);
        let items = patch
            .get(field)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let merged = match child.smp() {
            Smp::Replace if patch.contains_key(field) => strip(items.to_vec(), child.item())?,
            _ => merge_list(base, items, child, Some(order))?,
        };
        put_list(&mut original, field, merged);
        ordered.push(field);
    }
    for (key, value) in patch {
        if key == DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(SET_ORDER)
            || ordered.contains(&key.as_str())
        {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM) {
            let Some(gone) = value.as_array() else {
                return err(format!("{key} must be a list, got {value}"));
            };
            let mut kept = take_list(&mut original, field);
            kept.retain(|v| !gone.contains(v));
            put_list(&mut original, field, kept);
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let child = ty.field(key).ty;
        let merged = match (original.remove(key), value) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                merge_map(o, p, child)?.map(Value::Object)
            }
            (Some(Value::Array(o)), Value::Array(p)) => {
                Some(Value::Array(merge_list_field(o, p, child)?))
            }
            (None, Value::Object(p)) => merge_map(Map::new(), p, child)?.map(Value::Object),
            (None, Value::Array(p)) => Some(Value::Array(merge_list_field(Vec::new(), p, child)?)),
            (_, Value::Object(p)) => merge_map(Map::new(), p, child)?.map(Value::Object),
            (_, Value::Array(p)) => Some(Value::Array(strip(p.clone(), child.item())?)),
            (_, scalar) => Some(scalar.clone()),
        };
        if let Some(merged) = merged {
            original.insert(key.clone(), merged);
        }
    }
    Ok(Some(original))
}

fn take_list(map: &mut Map<String, Value>, field: &str) -> Vec<Value> {
    match map.remove(field) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// An emptied list is dropped, as the typed object's `omitempty` would drop it.
fn put_list(map: &mut Map<String, Value>, field: &str, items: Vec<Value>) {
    if !items.is_empty() {
        map.insert(field.to_owned(), Value::Array(items));
    }
}

fn merge_list_field(
    original: Vec<Value>,
    patch: &[Value],
    ty: Ty<'_>,
) -> Result<Vec<Value>, PatchError> {
    match ty.smp() {
        Smp::Replace => {
            // A list without patch strategy is replaced, except that a `$patch: replace`
            // marker element is dropped from it.
            let items = patch
                .iter()
                .filter(|v| v.get(DIRECTIVE).is_none())
                .cloned()
                .collect();
            strip(items, ty.item())
        }
        _ => merge_list(original, patch, ty, None),
    }
}

/// Removes directives and nulls from a value taken over from the patch.
fn strip(items: Vec<Value>, item_ty: Ty<'_>) -> Result<Vec<Value>, PatchError> {
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(m) => Ok(Value::Object(
                merge_map(Map::new(), &m, item_ty)?.unwrap_or_default(),
            )),
            other => Ok(other),
        })
        .collect()
}

fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    ty: Ty<'_>,
    order: Option<&[Value]>,
) -> Result<Vec<Value>, PatchError> {
    let key = match ty.smp() {
        Smp::MergeKey(key) if patch.iter().chain(&original).all(Value::is_object) => Some(key),
        _ => None,
    };
    let (server_order, patch_items, merged) = match key {
        None => {
            let mut merged = original.clone();
            for item in patch {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            (original, patch.to_vec(), merged)
        }
        Some(key) => {
            let (original, patch, replaced) = special_elements(original, patch, key)?;
            if replaced {
                return strip(original, ty.item());
            }
            let mut merged = original.clone();
            for item in &patch {
                let Value::Object(p) = item else {
                    unreachable!("checked: all items are objects")
                };
                let Some(wanted) = p.get(key) else {
                    return err(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    ));
                };
                match merged.iter().position(|o| o.get(key) == Some(wanted)) {
                    Some(at) => {
                        let Value::Object(o) = merged[at].take() else {
                            unreachable!("checked")
                        };
                        merged[at] = Value::Object(merge_map(o, p, ty.item())?.unwrap_or_default());
                    }
                    None => merged.push(Value::Object(
                        merge_map(Map::new(), p, ty.item())?.unwrap_or_default(),
                    )),
                }
            }
            (original, patch, merged)
        }
    };
    let patch_order = order.map_or(patch_items.as_slice(), |o| o);
    let same = |a: &Value, b: &Value| match key {
        Some(key) => a.get(key).is_some() && a.get(key) == b.get(key),
        None => a == b,
    };
    let (mut in_patch, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|m| patch_order.iter().any(|p| same(m, p)));
    let index = |list: &[Value], v: &Value| list.iter().position(|x| same(x, v));
    sort_by_order(&mut in_patch, patch_order, &index);
    sort_by_order(&mut server_only, &server_order, &index);
    Ok(merge_sorted(server_only, in_patch, &server_order, &index))
}

type Index<'f> = dyn Fn(&[Value], &Value) -> Option<usize> + 'f;

fn sort_by_order(items: &mut [Value], order: &[Value], index: &Index<'_>) {
    items.sort_by_key(|v| index(order, v).unwrap_or(usize::MAX));
}

/// apimachinery's `mergeSortedSlice`: interleaves server-only items (`left`) into the
/// patch's items (`right`), keeping each side's order and, where both are known, the
/// live object's order.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    index: &Index<'_>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((index(server_order, l), index(server_order, r)), (Some(li), Some(ri)) if li < ri)
            }
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    out
}

/// `$patch: delete` elements delete by merge key, `$patch: replace` makes the patch's
/// list the result; returns (original, patch without the marker elements, replaced).
fn special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>, bool), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        match item.get(DIRECTIVE) {
            None => plain.push(item.clone()),
            Some(d) if d == "delete" => {
                let Some(wanted) = item.get(key) else {
                    return err(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    ));
                };
                original.retain(|o| o.get(key) != Some(wanted));
            }
            Some(d) if d == "replace" => replace = true,
            Some(d) if d == "merge" => {
                return err("merging lists cannot yet be specified in the patch");
            }
            Some(d) => return err(format!("Unknown patch type: {d} in map: {item}")),
        }
    }
    Ok(if replace {
        (plain, Vec::new(), true)
    } else {
        (original, plain, false)
    })
}
