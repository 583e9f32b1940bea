//! What the garbage collector (`gc`) needs to know without scanning the store: which uids
//! are live, which objects name which owners, and which objects a sweep would act on.
//! Kept up to date by every write of the store, so that after a write the collector can
//! tell in O(1) that a sweep would change nothing (with thousands of pods and
//! ReplicaSets, each carrying ownerReferences, a sweep after every write was the local
//! cluster's main cost).
use super::delete::{FOREGROUND, ORPHAN};
use super::store::ObjKey;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct Ownership {
    /// uid → how many stored objects carry it (`""` for objects without one, as `gc`
    /// counts them).
    live: HashMap<String, usize>,
    /// Owner uid → the objects whose ownerReferences name it.
    dependents: HashMap<String, BTreeSet<ObjKey>>,
    /// The objects a sweep acts on: terminating ones held by the orphan or
    /// foregroundDeletion finalizer, terminating namespaces, and objects (not
    /// terminating) with ownerReferences none of whose owners is live.
    actionable: BTreeSet<ObjKey>,
}

fn uid_of(o: &Value) -> &str {
    o["metadata"]["uid"].as_str().unwrap_or("")
}

fn owners(o: &Value) -> impl Iterator<Item = &str> {
    o["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
}

impl Ownership {
    /// Whether a sweep could change anything now.
    pub fn pending(&self) -> bool {
        !self.actionable.is_empty()
    }

    /// `key` is now `new` (None: removed), was `old`. `objects` is the store after the
    /// write, to look at dependents whose owner came or went.
    pub fn changed(
        &mut self,
        key: &ObjKey,
        old: Option<&Value>,
        new: Option<&Value>,
        objects: &BTreeMap<ObjKey, Value>,
    ) {
        let mut owner_went = None;
        let mut owner_came = None;
        if let Some(old) = old {
            let uid = uid_of(old);
            if let Some(n) = self.live.get_mut(uid) {
                *n -= 1;
                if *n == 0 {
                    self.live.remove(uid);
                    owner_went = Some(uid.to_string());
                }
            }
            for owner in owners(old) {
                if let Some(set) = self.dependents.get_mut(owner) {
                    set.remove(key);
                    if set.is_empty() {
                        self.dependents.remove(owner);
                    }
                }
            }
        }
        if let Some(new) = new {
            let uid = uid_of(new);
            let n = self.live.entry(uid.to_string()).or_default();
            *n += 1;
            if *n == 1 {
                owner_came = Some(uid.to_string());
            }
            for owner in owners(new) {
                self.dependents
                    .entry(owner.to_string())
                    .or_default()
                    .insert(key.clone());
            }
        }
        // An update keeps its uid: the same uid went and came back.
        if owner_went.is_some() && owner_went == owner_came {
            (owner_went, owner_came) = (None, None);
        }
        self.evaluate(key, new);
        for uid in [owner_went, owner_came].into_iter().flatten() {
            let keys: Vec<ObjKey> = self
                .dependents
                .get(&uid)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            for k in keys {
                self.evaluate(&k, objects.get(&k));
            }
        }
    }

    /// The same conditions as `gc::step`'s, for one object.
    fn evaluate(&mut self, key: &ObjKey, obj: Option<&Value>) {
        let acts = obj.is_some_and(|o| {
            let terminating = !o["metadata"]["deletionTimestamp"].is_null();
            let held = o["metadata"]["finalizers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f == ORPHAN || f == FOREGROUND);
            let namespace = key.group.is_empty() && key.resource == "namespaces";
            let mut refs = owners(o).peekable();
            (terminating && (held || namespace))
                || (!terminating
                    && refs.peek().is_some()
                    && refs.all(|u| !self.live.contains_key(u)))
        });
        if acts {
            self.actionable.insert(key.clone());
        } else {
            self.actionable.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(resource: &str, name: &str) -> ObjKey {
        ObjKey {
            group: String::new(),
            resource: resource.into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn obj(uid: &str, owner: Option<&str>) -> Value {
        let mut o = json!({"metadata": {"uid": uid}});
        if let Some(owner) = owner {
            o["metadata"]["ownerReferences"] = json!([{"uid": owner}]);
        }
        o
    }

    /// Write `o` at `k` (None: remove), as the store does.
    fn write(
        own: &mut Ownership,
        objects: &mut BTreeMap<ObjKey, Value>,
        k: &ObjKey,
        o: Option<Value>,
    ) {
        let old = match &o {
            Some(o) => objects.insert(k.clone(), o.clone()),
            None => objects.remove(k),
        };
        own.changed(k, old.as_ref(), o.as_ref(), objects);
    }

    #[test]
    fn a_dependent_is_actionable_once_its_owner_is_gone() {
        let (mut own, mut objects) = (Ownership::default(), BTreeMap::new());
        let (rs, pod) = (key("replicasets", "rs"), key("pods", "p"));
        write(&mut own, &mut objects, &rs, Some(obj("u-rs", None)));
        write(&mut own, &mut objects, &pod, Some(obj("u-p", Some("u-rs"))));
        assert!(!own.pending());
        // An update of the owner keeps it live.
        write(&mut own, &mut objects, &rs, Some(obj("u-rs", None)));
        assert!(!own.pending());
        write(&mut own, &mut objects, &rs, None);
        assert_eq!(own.actionable, BTreeSet::from([pod.clone()]));
        write(&mut own, &mut objects, &pod, None);
        assert!(!own.pending());
    }

    #[test]
    fn a_dangling_reference_and_a_held_deletion_are_actionable() {
        let (mut own, mut objects) = (Ownership::default(), BTreeMap::new());
        let pod = key("pods", "p");
        write(
            &mut own,
            &mut objects,
            &pod,
            Some(obj("u-p", Some("nobody"))),
        );
        assert!(own.pending());
        let cm = key("configmaps", "c");
        let mut held = obj("u-c", None);
        held["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
        held["metadata"]["finalizers"] = json!([ORPHAN]);
        write(&mut own, &mut objects, &cm, Some(held));
        write(&mut own, &mut objects, &pod, None);
        assert_eq!(own.actionable, BTreeSet::from([cm]));
    }
}
