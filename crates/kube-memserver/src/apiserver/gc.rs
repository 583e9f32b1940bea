//! The controllers kube-controller-manager would run for the API server alone: the
//! garbage collector (ownerReferences with background, foreground and orphan
//! propagation) and the namespace controller (a terminating namespace empties, then goes).
//! Like them, it runs after a write, not inside it.
use super::delete::{FOREGROUND, ORPHAN, Propagation, delete_object};
use super::meta::finalizers;
use super::state::{Inner, Shared};
use super::store::{EventType, ObjKey, StoredEvent};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Follows the store's writes and sweeps after those that can matter: a removal (an
/// owner or a namespace's last object gone), or an object that is terminating or has
/// ownerReferences, and only when the store's ownership index (`ownership`) names an
/// object a sweep would act on. Other writes cost nothing here.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let mut events = shared.lock().store.subscribe();
    sweep(&mut shared.lock());
    loop {
        let relevant = tokio::select! {
            received = events.recv() => match received {
                Ok(e) => matters(&e),
                Err(broadcast::error::RecvError::Lagged(_)) => true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = shutdown.changed() => return,
        };
        // Take what else has arrived, so a burst of writes costs one sweep.
        let mut relevant = relevant;
        while let Ok(e) = events.try_recv() {
            relevant |= matters(&e);
        }
        if relevant {
            sweep(&mut shared.lock());
        }
    }
}

fn matters(e: &StoredEvent) -> bool {
    e.kind == EventType::Deleted || is_terminating(&e.object) || !owner_uids(&e.object).is_empty()
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

/// Writes `new`, or removes the object when it is terminating and no finalizer is left
/// (the DELETED event then carries the stored state, finalizer included, as in Kubernetes).
fn save(inner: &mut Inner, key: &ObjKey, new: Value) {
    if !new["metadata"]["deletionTimestamp"].is_null() && finalizers(&new).is_empty() {
        inner.store.remove(key);
    } else {
        inner.store.put(key.clone(), new);
    }
}

/// Passes until nothing changes (each pass may unblock the next: a dependent gone lets
/// its foreground owner go). A pass the store knows would act on nothing is skipped.
pub fn sweep(inner: &mut Inner) {
    for _ in 0..100 {
        if !inner.store.gc_pending() || !step(inner) {
            return;
        }
    }
}

fn is_terminating(o: &Value) -> bool {
    !o["metadata"]["deletionTimestamp"].is_null()
}

fn uid_of(o: &Value) -> String {
    o["metadata"]["uid"].as_str().unwrap_or("").to_string()
}

/// One pass over the objects the controllers care about: those with ownerReferences,
/// those held by the orphan or foregroundDeletion finalizers, and terminating namespaces.
fn step(inner: &mut Inner) -> bool {
    let live: HashSet<String> = inner.store.all().map(|(_, o)| uid_of(o)).collect();
    let candidates: Vec<ObjKey> = inner
        .store
        .all()
        .filter(|(k, o)| {
            !owner_uids(o).is_empty()
                || (is_terminating(o)
                    && finalizers(o).iter().any(|f| f == ORPHAN || f == FOREGROUND))
                || (k.group.is_empty() && k.resource == "namespaces" && is_terminating(o))
        })
        .map(|(k, _)| k.clone())
        .collect();
    let mut dependents: HashMap<String, Vec<ObjKey>> = HashMap::new();
    for key in &candidates {
        for (owner, _) in inner
            .store
            .get(key)
            .map(|o| owner_uids(&o))
            .unwrap_or_default()
        {
            dependents.entry(owner).or_default().push(key.clone());
        }
    }
    let mut changed = false;
    for key in &candidates {
        // Earlier changes in this pass may have touched or removed it: act on what is stored.
        let Some(obj) = inner.store.get(key) else {
            continue;
        };
        let uid = uid_of(&obj);
        let mine: Vec<(ObjKey, Value)> = dependents
            .get(&uid)
            .into_iter()
            .flatten()
            .filter_map(|k| Some((k.clone(), inner.store.get(k)?)))
            .collect();
        let terminating = is_terminating(&obj);
        let fins = finalizers(&obj);
        if terminating && fins.iter().any(|f| f == ORPHAN) {
            changed |= orphan(inner, key, &obj, &uid, &mine);
        } else if terminating && fins.iter().any(|f| f == FOREGROUND) {
            changed |= foreground(inner, key, &obj, &uid, &mine, &dependents);
        } else if terminating && key.group.is_empty() && key.resource == "namespaces" {
            changed |= empty_namespace(inner, key);
        }
        let owners = owner_uids(&obj);
        if !owners.is_empty()
            && !is_terminating(&obj)
            && owners.iter().all(|(u, _)| !live.contains(u))
            && let Some(res) = inner.registry.find_plural(&key.group, &key.resource)
        {
            delete_object(inner, &res, key, &obj, Propagation::Background, false);
            changed = true;
        }
    }
    changed
}

/// Orphan propagation: strip the owner from its dependents, then let the owner go.
fn orphan(
    inner: &mut Inner,
    key: &ObjKey,
    obj: &Value,
    uid: &str,
    dependents: &[(ObjKey, Value)],
) -> bool {
    for (dkey, dep) in dependents {
        let mut d = dep.clone();
        let refs: Vec<Value> = d["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r["uid"] != uid)
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
    true
}

/// Foreground propagation: delete the dependents (in the foreground only those that have
/// dependents of their own, as kube-controller-manager does); the owner goes once none
/// that blocks owner deletion is left.
fn foreground(
    inner: &mut Inner,
    key: &ObjKey,
    obj: &Value,
    uid: &str,
    dependents: &[(ObjKey, Value)],
    all_dependents: &HashMap<String, Vec<ObjKey>>,
) -> bool {
    let mut changed = false;
    for (dkey, dep) in dependents {
        if !is_terminating(dep)
            && let Some(res) = inner.registry.find_plural(&dkey.group, &dkey.resource)
        {
            let policy = if all_dependents.contains_key(&uid_of(dep)) {
                Propagation::Foreground
            } else {
                Propagation::Background
            };
            delete_object(inner, &res, dkey, dep, policy, false);
            changed = true;
        }
    }
    let blocking = dependents.iter().any(|(k, _)| {
        inner
            .store
            .get(k)
            .is_some_and(|d| owner_uids(&d).iter().any(|(u, block)| u == uid && *block))
    });
    if !blocking {
        save(inner, key, without_finalizer(obj, FOREGROUND));
        changed = true;
    }
    changed
}

/// The namespace controller: delete everything in a terminating namespace, then it.
fn empty_namespace(inner: &mut Inner, key: &ObjKey) -> bool {
    let contents: Vec<(ObjKey, Value)> = inner
        .store
        .all()
        .filter(|(k, _)| k.namespace == key.name)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if contents.is_empty() {
        inner.store.remove(key);
        return true;
    }
    let mut changed = false;
    for (ckey, c) in &contents {
        if !is_terminating(c)
            && let Some(res) = inner.registry.find_plural(&ckey.group, &ckey.resource)
        {
            delete_object(inner, &res, ckey, c, Propagation::Background, false);
            changed = true;
        }
    }
    if !changed {
        changed = report_remaining(inner, key, &contents);
    }
    changed
}

/// The conditions kube-controller-manager's namespace controller writes while content
/// held by finalizers keeps a namespace terminating. Written only when they change.
fn report_remaining(inner: &mut Inner, key: &ObjKey, contents: &[(ObjKey, Value)]) -> bool {
    let Some(mut ns) = inner.store.get(key) else {
        return false;
    };
    let mut per_resource: std::collections::BTreeMap<String, usize> = Default::default();
    let mut per_finalizer: std::collections::BTreeMap<String, usize> = Default::default();
    for (k, o) in contents {
        *per_resource
            .entry(format!("{}.{}", k.resource, k.group))
            .or_default() += 1;
        for f in finalizers(o) {
            *per_finalizer.entry(f).or_default() += 1;
        }
    }
    let list = |m: &std::collections::BTreeMap<String, usize>, sep: &str| {
        m.iter()
            .map(|(name, n)| format!("{name}{sep}{n} resource instances"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let condition = |type_: &str, status: bool, reason: &str, message: String| json!({"type": type_, "status": if status { "True" } else { "False" }, "reason": reason, "message": message});
    let mut wanted = vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ),
        condition(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        ),
        condition(
            "NamespaceContentRemaining",
            true,
            "SomeResourcesRemain",
            format!(
                "Some resources are remaining: {}",
                list(&per_resource, " has ")
            ),
        ),
    ];
    if per_finalizer.is_empty() {
        wanted.push(condition(
            "NamespaceFinalizersRemaining",
            false,
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        ));
    } else {
        wanted.push(condition(
            "NamespaceFinalizersRemaining",
            true,
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                list(&per_finalizer, " in ")
            ),
        ));
    }
    let without_time = |cs: &Value| -> Vec<Value> {
        cs.as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let mut c = c.clone();
                c.as_object_mut().map(|o| o.remove("lastTransitionTime"));
                c
            })
            .collect()
    };
    if without_time(&ns["status"]["conditions"]) == wanted {
        return false;
    }
    let now = super::meta::now();
    let previous = ns["status"]["conditions"].clone();
    let stamped: Vec<Value> = wanted
        .into_iter()
        .map(|mut c| {
            let same = previous
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["type"] == c["type"] && p["status"] == c["status"]);
            c["lastTransitionTime"] = same
                .map(|p| p["lastTransitionTime"].clone())
                .unwrap_or(json!(now));
            c
        })
        .collect();
    ns["status"]["conditions"] = json!(stamped);
    inner.store.put(key.clone(), ns);
    true
}
