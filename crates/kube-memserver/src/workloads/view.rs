//! A watch cache that sees the loop's own writes at once: the API server's answers to our
//! writes override the reflector's store until the watch catches up. Without it a
//! controller would act twice on a stale cache (create the same pods again); the real
//! controllers use "expectations" for the same purpose.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an answer may stand in for the watch before the watch wins regardless.
const PATIENCE: Duration = Duration::from_secs(30);

/// Our latest answer for an object (None: we deleted it), and when it came.
type Answer<K> = (Option<Arc<K>>, Instant);

pub struct View<K: kube::Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    /// `(namespace, name)` → our latest answer.
    overlay: HashMap<(String, String), Answer<K>>,
}

fn key(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The watch has seen at least version `ours` (resourceVersions of the local and the real
/// API server are integers; an unparsable one counts as caught up when equal).
fn caught_up(store: Option<&str>, ours: Option<&str>) -> bool {
    match (
        store.and_then(|s| s.parse::<u64>().ok()),
        ours.and_then(|s| s.parse::<u64>().ok()),
    ) {
        (Some(s), Some(o)) => s >= o,
        _ => store == ours,
    }
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> View<K> {
    pub fn new(store: Store<K>) -> Self {
        View {
            store,
            overlay: HashMap::new(),
        }
    }

    pub fn wrote(&mut self, object: K) {
        self.overlay
            .insert(key(object.meta()), (Some(Arc::new(object)), Instant::now()));
    }

    pub fn deleted(&mut self, namespace: &str, name: &str) {
        self.overlay
            .insert((namespace.into(), name.into()), (None, Instant::now()));
    }

    /// The objects as the controllers should see them now, in no particular order. Shared
    /// with the watch cache, not copied: a round reads thousands of objects and changes
    /// none of them.
    pub fn objects(&mut self) -> Vec<Arc<K>> {
        // Forget the answers the watch has caught up with (or that waited too long).
        let store = &self.store;
        self.overlay.retain(|(ns, name), (ours, at)| {
            let watched = store.get(&ObjectRef::new(name).within(ns));
            let done = at.elapsed() > PATIENCE
                || match ours {
                    Some(o) => watched.is_some_and(|w| {
                        caught_up(
                            w.meta().resource_version.as_deref(),
                            o.meta().resource_version.as_deref(),
                        )
                    }),
                    None => watched.is_none(),
                };
            !done
        });
        let mut objects = self.store.state();
        if self.overlay.is_empty() {
            return objects;
        }
        let shadowed: HashSet<(&str, &str)> = self
            .overlay
            .keys()
            .map(|(ns, name)| (ns.as_str(), name.as_str()))
            .collect();
        objects.retain(|o| {
            let m = o.meta();
            let at = (
                m.namespace.as_deref().unwrap_or_default(),
                m.name.as_deref().unwrap_or_default(),
            );
            !shadowed.contains(&at)
        });
        objects.extend(self.overlay.values().filter_map(|(o, _)| o.clone()));
        objects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::runtime::{reflector, watcher};

    fn pod(name: &str, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    fn rvs(view: &mut View<Pod>) -> Vec<(String, String)> {
        let mut rvs: Vec<(String, String)> = view
            .objects()
            .into_iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap(),
                    p.metadata.resource_version.clone().unwrap(),
                )
            })
            .collect();
        rvs.sort();
        rvs
    }

    #[test]
    fn our_writes_show_until_the_watch_catches_up() {
        let (store, mut writer) = reflector::store::<Pod>();
        writer.apply_watcher_event(&watcher::Event::Apply(pod("a", "5")));
        let mut view = View::new(store);
        view.wrote(pod("a", "7"));
        view.wrote(pod("b", "8"));
        assert_eq!(
            rvs(&mut view),
            [("a".into(), "7".into()), ("b".into(), "8".into())]
        );
        writer.apply_watcher_event(&watcher::Event::Apply(pod("a", "9")));
        writer.apply_watcher_event(&watcher::Event::Apply(pod("b", "8")));
        assert_eq!(
            rvs(&mut view),
            [("a".into(), "9".into()), ("b".into(), "8".into())]
        );
        assert!(view.overlay.is_empty(), "the watch has caught up with both");
    }

    #[test]
    fn a_deleted_object_stays_hidden_until_the_watch_drops_it() {
        let (store, mut writer) = reflector::store::<Pod>();
        writer.apply_watcher_event(&watcher::Event::Apply(pod("a", "5")));
        let mut view = View::new(store);
        view.deleted("shop", "a");
        assert!(rvs(&mut view).is_empty());
        writer.apply_watcher_event(&watcher::Event::Delete(pod("a", "6")));
        assert!(rvs(&mut view).is_empty());
        assert!(view.overlay.is_empty());
    }
}
