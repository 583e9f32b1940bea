//! A watch cache that sees the loop's own writes at once: the API server's answers to our
//! writes override the reflector's store until the watch catches up. Without it a
//! controller would act twice on a stale cache (create the same pods again); the real
//! controllers use "expectations" for the same purpose.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::Store;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long an answer may stand in for the watch before the watch wins regardless.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct View<K: kube::Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    /// `ns/name` → our latest answer (None: we deleted it), and when.
    overlay: HashMap<String, (Option<K>, Instant)>,
}

fn key(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
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
            .insert(key(object.meta()), (Some(object), Instant::now()));
    }

    pub fn deleted(&mut self, namespace: &str, name: &str) {
        self.overlay
            .insert(format!("{namespace}/{name}"), (None, Instant::now()));
    }

    /// The objects as the controllers should see them now.
    pub fn objects(&mut self) -> Vec<K> {
        let mut map: BTreeMap<String, K> = self
            .store
            .state()
            .into_iter()
            .map(|o| (key(o.meta()), (*o).clone()))
            .collect();
        self.overlay.retain(|k, (ours, at)| {
            let watched = map.get(k);
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
            if !done {
                match ours {
                    Some(o) => {
                        map.insert(k.clone(), o.clone());
                    }
                    None => {
                        map.remove(k);
                    }
                }
            }
            !done
        });
        map.into_values().collect()
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
        view.objects()
            .into_iter()
            .map(|p| {
                (
                    p.metadata.name.unwrap(),
                    p.metadata.resource_version.unwrap(),
                )
            })
            .collect()
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
