//! The controllers kube-controller-manager would run for the API server alone: the
//! garbage collector (ownerReferences with background, foreground and orphan
//! propagation) and the namespace controller (a terminating namespace empties, then goes).
//! Like them, it runs after a write, not inside it.
use super::delete::{FOREGROUND, ORPHAN, Propagation, delete_object};
use super::meta::finalizers;
use super::state::{Inner, Shared};
use super::store::ObjKey;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = shared.changed.notified() => sweep(&mut shared.lock()),
            _ = shutdown.changed() => return,
        }
    }
}

fn owner_uids(obj: &Value) -> Vec<(String, bool)> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["uid"].as_str()?.to_string(),
                r["blockOwnerDeletion"] == true,
            ))
        })
        .collect()
}

fn without_finalizer(obj: &Value, name: &str) -> Value {
    let mut new = obj.clone();
    let rest: Vec<String> = finalizers(obj).into_iter().filter(|f| f != name).collect();
    if rest.is_empty() {
        new["metadata"]
            .as_object_mut()
            .map(|m| m.remove("finalizers"));
    } else {
        new["metadata"]["finalizers"] = json!(rest);
    }
    new
}

/// Writes `new`, or removes the object when it is terminating and no finalizer is left.
fn save(inner: &mut Inner, key: &ObjKey, new: Value) {
    if !new["metadata"]["deletionTimestamp"].is_null() && finalizers(&new).is_empty() {
        inner.store.remove_as(key, new);
    } else {
        inner.store.put(key.clone(), new);
    }
}

/// One pass at a time until nothing changes.
pub fn sweep(inner: &mut Inner) {
    for _ in 0..100 {
        if !step(inner) {
            return;
        }
    }
}

fn step(inner: &mut Inner) -> bool {
    let all: Vec<(ObjKey, Value)> = inner
        .store
        .all()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let live: HashSet<String> = all
        .iter()
        .filter_map(|(_, o)| o["metadata"]["uid"].as_str().map(String::from))
        .collect();
    let uid_of = |o: &Value| o["metadata"]["uid"].as_str().unwrap_or("").to_string();
    for (key, obj) in &all {
        let terminating = !obj["metadata"]["deletionTimestamp"].is_null();
        let fins = finalizers(obj);
        let uid = uid_of(obj);
        let dependents: Vec<&(ObjKey, Value)> = all
            .iter()
            .filter(|(_, d)| owner_uids(d).iter().any(|(u, _)| *u == uid))
            .collect();
        if terminating && fins.iter().any(|f| f == ORPHAN) {
            for (dkey, dep) in &dependents {
                let mut d = dep.clone();
                let refs: Vec<Value> = d["metadata"]["ownerReferences"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r["uid"] != uid.as_str())
                    .collect();
                if refs.is_empty() {
                    d["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("ownerReferences"));
                } else {
                    d["metadata"]["ownerReferences"] = json!(refs);
                }
                inner.store.put(dkey.clone(), d);
            }
            save(inner, key, without_finalizer(obj, ORPHAN));
            return true;
        }
        if terminating && fins.iter().any(|f| f == FOREGROUND) {
            let mut changed = false;
            for (dkey, dep) in &dependents {
                if dep["metadata"]["deletionTimestamp"].is_null()
                    && let Some(res) = inner.registry.find_plural(&dkey.group, &dkey.resource)
                {
                    delete_object(inner, &res, dkey, dep, Propagation::Foreground, false);
                    changed = true;
                }
            }
            let blocking = dependents
                .iter()
                .any(|(_, d)| owner_uids(d).iter().any(|(u, block)| *u == uid && *block));
            if !blocking {
                save(inner, key, without_finalizer(obj, FOREGROUND));
                return true;
            }
            if changed {
                return true;
            }
        }
        let owners = owner_uids(obj);
        if !owners.is_empty()
            && !terminating
            && owners.iter().all(|(u, _)| !live.contains(u))
            && let Some(res) = inner.registry.find_plural(&key.group, &key.resource)
        {
            delete_object(inner, &res, key, obj, Propagation::Background, false);
            return true;
        }
        if key.resource == "namespaces" && key.group.is_empty() && terminating {
            let contents: Vec<&(ObjKey, Value)> = all
                .iter()
                .filter(|(k, _)| k.namespace == key.name)
                .collect();
            if contents.is_empty() {
                inner.store.remove(key);
                return true;
            }
            let mut changed = false;
            for (ckey, c) in contents {
                if c["metadata"]["deletionTimestamp"].is_null()
                    && let Some(res) = inner.registry.find_plural(&ckey.group, &ckey.resource)
                {
                    delete_object(inner, &res, ckey, c, Propagation::Background, false);
                    changed = true;
                }
            }
            if changed {
                return true;
            }
        }
    }
    false
}
