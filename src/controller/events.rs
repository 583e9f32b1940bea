//! Kubernetes Events (events.k8s.io/v1) for the engine's transitions, and for any object
//! the operator wants to say something about.
//!
//! An occurrence is folded into an earlier Event's `series` (count, lastObservedTime) only
//! when it says exactly the same thing — same object, type, reason AND note — within
//! [`SERIES_TTL`]; anything else is a new Event. (kube-runtime's `Recorder` folds by reason
//! alone and keeps the old note: an abort of 1.2 read as the earlier abort of 1.1.)
//!
//! An event that cannot be written is logged and dropped: it never holds up a rollback.

use crate::api::Rollout;
use crate::engine::{Event, EventType};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch};
use kube::{Client, Resource};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long an Event stays open for identical occurrences (client-go's is 6 minutes).
pub const SERIES_TTL: Duration = Duration::from_secs(6 * 60);
/// At most this many open series are remembered; the oldest go first.
const MAX_SERIES: usize = 4096;
/// The apiserver's limit on `note`.
const MAX_NOTE: usize = 1000;

/// Who writes the Events: `reportingController` and `reportingInstance`.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub controller: String,
    pub instance: Option<String>,
}

pub fn reporter() -> Reporter {
    Reporter {
        controller: "portcullis".into(),
        instance: std::env::var("POD_NAME").ok().or_else(|| hostname().ok()),
    }
}

fn hostname() -> std::io::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string())
}

/// Writes Events, folding exact repeats into a series.
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    series: Mutex<Series>,
    /// The last name's nanoseconds: names stay unique even within one clock tick.
    last_nanos: AtomicU64,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Recorder {
        Recorder {
            client,
            reporter,
            series: Mutex::new(Series::default()),
            last_nanos: AtomicU64::new(0),
        }
    }
}

/// Publishes the engine's events about `ro`.
pub async fn publish(recorder: &Recorder, ro: &Rollout, events: &[Event]) {
    let regarding = ro.object_ref(&());
    for e in events {
        publish_about(recorder, &regarding, e.type_, &e.reason, &e.message).await;
    }
}

/// Publishes one Event about `regarding` (any object: a Rollout, the user's Deployment...),
/// in its namespace (`default` for a cluster-scoped object). Logged and dropped on failure.
pub async fn publish_about(
    recorder: &Recorder,
    regarding: &ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let note = truncate(note, MAX_NOTE);
    let key = Key {
        regarding: regarding_key(regarding),
        type_: type_name(type_),
        reason: reason.to_string(),
        note: note.clone(),
    };
    let now = Timestamp::now();
    let mut write = recorder.record(&key, regarding, now);
    let mut result = recorder
        .write(&write, regarding, type_, reason, &note, now)
        .await;
    if matches!(&write, Write::Fold { .. }) && is_not_found(&result) {
        // The Event folded into is gone (the apiserver expires Events): start anew.
        recorder.forget(&key);
        write = recorder.record(&key, regarding, now);
        result = recorder
            .write(&write, regarding, type_, reason, &note, now)
            .await;
    }
    if let Err(error) = result {
        recorder.forget(&key);
        tracing::warn!(%reason, %error, "could not write event");
    }
}

impl Recorder {
    fn record(&self, key: &Key, regarding: &ObjectReference, now: Timestamp) -> Write {
        let name = self.fresh_name(regarding, now);
        self.lock().record(key.clone(), name, Instant::now())
    }

    fn forget(&self, key: &Key) {
        self.lock().forget(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `<object>.<hex nanoseconds>`, as client-go names Events, strictly increasing.
    fn fresh_name(&self, regarding: &ObjectReference, now: Timestamp) -> String {
        let now = u64::try_from(now.as_nanosecond()).unwrap_or_default();
        let prev = self
            .last_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(now.max(p + 1))
            })
            .unwrap_or_default();
        let nanos = now.max(prev + 1);
        let object = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        format!("{object}.{nanos:x}")
    }

    async fn write(
        &self,
        write: &Write,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<(), kube::Error> {
        let ns = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), ns);
        match write {
            Write::New { name } => {
                let event = KubeEvent {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(ns.to_string()),
                        ..Default::default()
                    },
                    event_time: Some(MicroTime(now)),
                    action: Some(reason.to_string()),
                    reason: Some(reason.to_string()),
                    note: Some(note.to_string()),
                    type_: Some(type_name(type_).to_string()),
                    regarding: Some(regarding.clone()),
                    reporting_controller: Some(self.reporter.controller.clone()),
                    reporting_instance: Some(
                        self.reporter
                            .instance
                            .clone()
                            .unwrap_or_else(|| self.reporter.controller.clone()),
                    ),
                    ..Default::default()
                };
                let pp = super::act::post_params();
                api.create(&pp, &event).await.map(drop)
            }
            Write::Fold { name, count } => {
                let pp = super::act::patch_params();
                let series =
                    json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
                api.patch(name, &pp, &Patch::Merge(series)).await.map(drop)
            }
        }
    }
}

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

fn is_not_found(result: &Result<(), kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(s)) if s.code == 404)
}

fn regarding_key(r: &ObjectReference) -> String {
    // The uid tells a recreated object from its predecessor of the same name.
    format!(
        "{}/{}/{}/{}/{}",
        r.api_version.as_deref().unwrap_or_default(),
        r.kind.as_deref().unwrap_or_default(),
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default(),
        r.uid.as_deref().unwrap_or_default(),
    )
}

/// What makes two occurrences the same Event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub regarding: String,
    pub type_: &'static str,
    pub reason: String,
    pub note: String,
}

/// What to write for one occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A new Event of this name.
    New { name: String },
    /// The `count`th occurrence of the open Event `name`.
    Fold { name: String, count: i32 },
}

/// The open series: Events that identical occurrences fold into, until they go quiet for
/// [`SERIES_TTL`]. Bounded: expired series are dropped, and past [`MAX_SERIES`] the oldest.
#[derive(Debug, Default)]
pub struct Series {
    open: HashMap<Key, Open>,
}

#[derive(Debug)]
struct Open {
    name: String,
    count: i32,
    last: Instant,
}

impl Series {
    /// Notes an occurrence of `key` at `now`: folds it into its open Event, or opens a new
    /// one named `fresh_name`.
    pub fn record(&mut self, key: Key, fresh_name: String, now: Instant) -> Write {
        self.open
            .retain(|_, o| now.saturating_duration_since(o.last) < SERIES_TTL);
        if let Some(o) = self.open.get_mut(&key) {
            o.count += 1;
            o.last = now;
            return Write::Fold {
                name: o.name.clone(),
                count: o.count,
            };
        }
        if self.open.len() >= MAX_SERIES
            && let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, o)| o.last)
                .map(|(k, _)| k.clone())
        {
            self.open.remove(&oldest);
        }
        self.open.insert(
            key,
            Open {
                name: fresh_name.clone(),
                count: 1,
                last: now,
            },
        );
        Write::New { name: fresh_name }
    }

    /// Closes `key`'s series: the next occurrence is a new Event.
    pub fn forget(&mut self, key: &Key) {
        self.open.remove(key);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reason: &str, note: &str) -> Key {
        Key {
            regarding: "portcullis.dev/v1alpha1/Rollout/pay/auth/u1".into(),
            type_: "Warning",
            reason: reason.into(),
            note: note.into(),
        }
    }

    #[test]
    fn the_same_note_again_folds_into_the_open_event() {
        let mut s = Series::default();
        let t = Instant::now();
        let k = key("Aborted", "aborted auth:1.1: aborted by command");
        assert_eq!(
            s.record(k.clone(), "a.1".into(), t),
            Write::New { name: "a.1".into() }
        );
        assert_eq!(
            s.record(k, "a.2".into(), t + Duration::from_secs(30)),
            Write::Fold {
                name: "a.1".into(),
                count: 2
            }
        );
    }

    #[test]
    fn the_same_reason_with_another_note_is_a_new_event() {
        let mut s = Series::default();
        let t = Instant::now();
        s.record(
            key("Aborted", "aborted auth:1.1: aborted by command"),
            "a.1".into(),
            t,
        );
        assert_eq!(
            s.record(
                key("Aborted", "aborted auth:1.2: analysis failed"),
                "a.2".into(),
                t
            ),
            Write::New { name: "a.2".into() }
        );
        let mut other_object = key("Aborted", "aborted auth:1.1: aborted by command");
        other_object.regarding = "apps/v1/Deployment/pay/auth/u2".into();
        assert_eq!(
            s.record(other_object, "a.3".into(), t),
            Write::New { name: "a.3".into() }
        );
        let mut other_type = key("Aborted", "aborted auth:1.1: aborted by command");
        other_type.type_ = "Normal";
        assert_eq!(
            s.record(other_type, "a.4".into(), t),
            Write::New { name: "a.4".into() }
        );
    }

    #[test]
    fn a_series_quiet_for_the_ttl_is_closed_and_forgotten() {
        let mut s = Series::default();
        let t = Instant::now();
        let k = key("CanaryStarted", "canary auth:1.1 started");
        s.record(k.clone(), "a.1".into(), t);
        s.record(key("Promoted", "promoted"), "b.1".into(), t);
        let later = t + SERIES_TTL;
        assert_eq!(
            s.record(k, "a.2".into(), later),
            Write::New { name: "a.2".into() }
        );
        assert_eq!(s.len(), 1, "expired series are evicted");
    }

    #[test]
    fn the_cache_never_grows_past_its_bound() {
        let mut s = Series::default();
        let t = Instant::now();
        for i in 0..MAX_SERIES + 10 {
            let at = t + Duration::from_millis(i as u64);
            s.record(key("R", &i.to_string()), format!("n.{i}"), at);
        }
        assert_eq!(s.len(), MAX_SERIES);
        // The oldest went first: the newest still folds.
        let newest = (MAX_SERIES + 9).to_string();
        let at = t + Duration::from_secs(10);
        assert!(matches!(
            s.record(key("R", &newest), "x".into(), at),
            Write::Fold { .. }
        ));
    }

    #[test]
    fn a_forgotten_series_starts_anew() {
        let mut s = Series::default();
        let t = Instant::now();
        let k = key("R", "n");
        s.record(k.clone(), "a.1".into(), t);
        s.forget(&k);
        assert_eq!(
            s.record(k, "a.2".into(), t),
            Write::New { name: "a.2".into() }
        );
    }

    #[test]
    fn notes_are_cut_at_the_apiservers_limit_on_a_char_boundary() {
        let long = "é".repeat(600);
        let cut = truncate(&long, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
