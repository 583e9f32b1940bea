//! In-memory storage: objects keyed by group/resource/namespace/name, one global
//! monotonically increasing resourceVersion, and a bounded event log that watches replay.
use super::events;
use super::ownership::Ownership;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One write, as watches see it: the object after the write (for DELETED: its last state
/// with the deletion's resourceVersion) and the state before.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub rv: u64,
    pub kind: EventType,
    pub key: ObjKey,
    pub object: Value,
    pub old: Option<Value>,
}

/// A requested resourceVersion that the log no longer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

pub struct Store {
    objects: BTreeMap<ObjKey, Value>,
    rv: u64,
    log: VecDeque<Arc<StoredEvent>>,
    history: usize,
    /// Every event with rv > floor is in the log.
    floor: u64,
    tx: broadcast::Sender<Arc<StoredEvent>>,
    /// Maintained on every write, for the garbage collector.
    ownership: Ownership,
}

/// Where a resource is stored: events.k8s.io Events live with the core ones.
pub fn storage_of<'a>(group: &'a str, resource: &'a str) -> (&'a str, &'a str) {
    if group == events::GROUP && resource == "events" {
        ("", "events")
    } else {
        (group, resource)
    }
}

fn storage_key(key: &ObjKey) -> (ObjKey, String) {
    let (group, resource) = storage_of(&key.group, &key.resource);
    (
        ObjKey {
            group: group.into(),
            resource: resource.into(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        },
        key.group.clone(),
    )
}

/// A stored object as the API of `group` shows it.
pub fn view(group: &str, resource: &str, obj: Value) -> Value {
    match (group, resource) {
        (events::GROUP, "events") => events::to_events_api(obj),
        _ => obj,
    }
}

fn to_storage(group: &str, resource: &str, obj: Value) -> Value {
    match (group, resource) {
        (events::GROUP, "events") => events::to_core(obj),
        ("", "events") => {
            let mut obj = obj;
            events::complete_core(&mut obj);
            obj
        }
        _ => obj,
    }
}

pub fn set_rv(obj: &mut Value, rv: u64) {
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
}

impl Store {
    pub fn new(history: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Store {
            objects: BTreeMap::new(),
            rv: 0,
            log: VecDeque::new(),
            history: history.max(1),
            floor: 0,
            tx,
            ownership: Ownership::default(),
        }
    }
    pub fn current_rv(&self) -> u64 {
        self.rv
    }
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.tx.subscribe()
    }
    /// Whether a garbage collection sweep could change anything (see `ownership`).
    pub fn gc_pending(&self) -> bool {
        self.ownership.pending()
    }
    /// The object as the API of `key.group` shows it.
    pub fn get(&self, key: &ObjKey) -> Option<Value> {
        let (skey, group) = storage_key(key);
        self.objects
            .get(&skey)
            .map(|o| view(&group, &key.resource, o.clone()))
    }
    /// Every stored object, in storage form (for the controllers).
    pub fn all(&self) -> impl Iterator<Item = (&ObjKey, &Value)> {
        self.objects.iter()
    }
    /// Objects of one resource in key order, optionally in one namespace, as its API shows them.
    pub fn list(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Vec<(ObjKey, Value)> {
        self.stored(group, resource, namespace)
            .map(|(k, v)| (k.clone(), view(group, resource, v.clone())))
            .collect()
    }
    /// The stored objects of a resource: a range of the key order, not a scan.
    fn stored<'a>(
        &'a self,
        group: &str,
        resource: &str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> + 'a {
        let (sgroup, sresource) = storage_of(group, resource);
        let (sgroup, sresource) = (sgroup.to_string(), sresource.to_string());
        let start = ObjKey {
            group: sgroup.clone(),
            resource: sresource.clone(),
            namespace: namespace.unwrap_or("").to_string(),
            name: String::new(),
        };
        self.objects.range(start..).take_while(move |(k, _)| {
            k.group == sgroup
                && k.resource == sresource
                && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }
    /// Stores `obj` under a fresh resourceVersion and returns what was stored.
    pub fn put(&mut self, key: ObjKey, obj: Value) -> Value {
        let (skey, _) = storage_key(&key);
        let mut obj = to_storage(&key.group, &key.resource, obj);
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let old = self.objects.insert(skey.clone(), obj.clone());
        self.ownership
            .changed(&skey, old.as_ref(), Some(&obj), &self.objects);
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(StoredEvent {
            rv: self.rv,
            kind,
            key: skey,
            object: obj.clone(),
            old,
        });
        view(&key.group, &key.resource, obj)
    }
    /// Removes the object; the DELETED event carries its stored state at a new
    /// resourceVersion.
    pub fn remove(&mut self, key: &ObjKey) -> Option<Value> {
        let (skey, _) = storage_key(key);
        let old = self.objects.remove(&skey)?;
        self.ownership
            .changed(&skey, Some(&old), None, &self.objects);
        let mut last = old.clone();
        self.rv += 1;
        set_rv(&mut last, self.rv);
        self.record(StoredEvent {
            rv: self.rv,
            kind: EventType::Deleted,
            key: skey,
            object: last,
            old: Some(old.clone()),
        });
        Some(view(&key.group, &key.resource, old))
    }
    fn record(&mut self, event: StoredEvent) {
        let event = Arc::new(event);
        self.log.push_back(event.clone());
        while self.log.len() > self.history {
            if let Some(e) = self.log.pop_front() {
                self.floor = e.rv;
            }
        }
        let _ = self.tx.send(event);
    }
    /// Events after `rv`, or [`TooOld`] when the log no longer reaches back that far.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<StoredEvent>>, TooOld> {
        if rv < self.floor {
            return Err(TooOld {
                requested: rv,
                oldest: self.floor,
            });
        }
        let first = self.log.partition_point(|e| e.rv <= rv);
        Ok(self.log.range(first..).cloned().collect())
    }
    /// One resource's objects as they were at `rv` (undoing later writes from the log).
    #[cfg(test)]
    pub fn list_at(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<Vec<Value>, TooOld> {
        Ok(self
            .stored_at(group, resource, namespace, Some(rv))?
            .into_iter()
            .map(|o| view(group, resource, o.clone()))
            .collect())
    }
    /// One resource's objects in key order and storage form, as they are (`rv` None) or
    /// were at `rv`, by reference: a list clones only the objects it answers with (a
    /// watcher pages through thousands of objects 500 at a time).
    pub fn stored_at<'a>(
        &'a self,
        group: &str,
        resource: &str,
        namespace: Option<&'a str>,
        rv: Option<u64>,
    ) -> Result<Vec<&'a Value>, TooOld> {
        let current = self.stored(group, resource, namespace);
        let Some(rv) = rv else {
            return Ok(current.map(|(_, v)| v).collect());
        };
        if rv < self.floor {
            return Err(TooOld {
                requested: rv,
                oldest: self.floor,
            });
        }
        // Each object written since `rv` was, at `rv`, what its first later write replaced.
        let (sgroup, sresource) = storage_of(group, resource);
        let first = self.log.partition_point(|e| e.rv <= rv);
        let mut then: BTreeMap<&ObjKey, Option<&Value>> = BTreeMap::new();
        for e in self.log.range(first..) {
            if e.key.group == sgroup
                && e.key.resource == sresource
                && namespace.is_none_or(|ns| e.key.namespace == ns)
            {
                then.entry(&e.key).or_insert(e.old.as_ref());
            }
        }
        let mut state: Vec<(&ObjKey, &Value)> =
            current.filter(|(k, _)| !then.contains_key(k)).collect();
        state.extend(then.into_iter().filter_map(|(k, o)| Some((k, o?))));
        state.sort_by(|a, b| a.0.cmp(b.0));
        Ok(state.into_iter().map(|(_, o)| o).collect())
    }
    /// Forgets the history, as an etcd compaction does: older resourceVersions expire.
    pub fn compact(&mut self) {
        self.log.clear();
        self.floor = self.rv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(resource: &str, name: &str) -> ObjKey {
        ObjKey {
            group: String::new(),
            resource: resource.into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn cm(name: &str, v: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": {"k": v}})
    }

    /// etcd semantics: one global revision, bumped by every write including deletes; the
    /// DELETED event carries the last state at the deletion's revision.
    #[test]
    fn every_write_bumps_the_global_resource_version() {
        let mut s = Store::new(100);
        let a = s.put(key("configmaps", "a"), cm("a", "1"));
        let b = s.put(key("configmaps", "b"), cm("b", "1"));
        assert_eq!(
            (
                a["metadata"]["resourceVersion"].as_str(),
                b["metadata"]["resourceVersion"].as_str()
            ),
            (Some("1"), Some("2"))
        );
        s.remove(&key("configmaps", "a"));
        let events = s.events_since(2).unwrap();
        assert_eq!(
            (
                events.len(),
                events[0].kind,
                events[0].object["metadata"]["resourceVersion"].as_str()
            ),
            (1, EventType::Deleted, Some("3"))
        );
        assert_eq!(events[0].object["data"]["k"], "1");
    }

    /// A watch from a revision older than the kept history gets 410 (too old resource version).
    #[test]
    fn bounded_history_expires_old_resource_versions() {
        let mut s = Store::new(2);
        for i in 0..3 {
            s.put(key("configmaps", "a"), cm("a", &i.to_string()));
        }
        assert_eq!(
            s.events_since(0).unwrap_err(),
            TooOld {
                requested: 0,
                oldest: 1
            }
        );
        assert_eq!(s.events_since(1).unwrap().len(), 2);
        s.compact();
        assert!(s.events_since(2).is_err());
        assert!(s.events_since(3).unwrap().is_empty());
    }

    /// resourceVersionMatch=Exact lists the state as it was at that revision.
    #[test]
    fn list_at_a_past_revision_undoes_later_writes() {
        let mut s = Store::new(100);
        s.put(key("configmaps", "a"), cm("a", "1"));
        s.put(key("configmaps", "a"), cm("a", "2"));
        s.put(key("configmaps", "b"), cm("b", "1"));
        let at1 = s.list_at("", "configmaps", Some("ns"), 1).unwrap();
        assert_eq!(at1.len(), 1);
        assert_eq!(at1[0]["data"]["k"], "1");
        assert_eq!(s.list("", "configmaps", Some("ns")).len(), 2);
    }

    /// kube-apiserver keeps one storage for core/v1 and events.k8s.io/v1 Events.
    #[test]
    fn events_of_both_apis_share_storage() {
        let mut s = Store::new(100);
        let new_api = ObjKey {
            group: "events.k8s.io".into(),
            ..key("events", "e")
        };
        let body = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reportingController": "me", "eventTime": "2026-11-25T12:00:00.000000Z"});
        let answered = s.put(new_api.clone(), body);
        assert_eq!(
            (
                answered["note"].as_str(),
                answered["deprecatedSource"].clone()
            ),
            (Some("hello"), json!({}))
        );
        let core = s.get(&key("events", "e")).unwrap();
        assert_eq!(
            (
                core["message"].as_str(),
                core["involvedObject"]["name"].as_str(),
                core["reportingComponent"].as_str()
            ),
            (Some("hello"), Some("p"), Some("me"))
        );
        assert_eq!(s.list("events.k8s.io", "events", None).len(), 1);
    }
}
