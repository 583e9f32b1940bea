//! `?watch=1`: a stream of newline-delimited watch events from a resourceVersion, with
//! selector transitions (leaving a selector = DELETED), BOOKMARKs when asked, the
//! `sendInitialEvents` watch-list, `timeoutSeconds`, and a 410 ERROR event for a
//! resourceVersion the event log no longer covers.
use super::http::{Reply, Request};
use super::read::{Rendering, parse_rv, partial, rendering, selectors};
use super::routes::Target;
use super::selectors::{FieldSelector, LabelSelector};
use super::state::Shared;
use super::status::{ApiError, Cause};
use super::store::{EventType, StoredEvent, set_rv, storage_of, view};
use super::table;
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// Without `timeoutSeconds` a watch ends after this long (kube-apiserver picks 30-60 min).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

fn line(kind: &str, object: Value) -> Bytes {
    let mut s =
        serde_json::to_string(&json!({"type": kind, "object": object})).expect("serializable");
    s.push('\n');
    Bytes::from(s)
}

struct Filter {
    t: Target,
    shape: Rendering,
    label: LabelSelector,
    field: FieldSelector,
}

impl Filter {
    /// A BOOKMARK's object: the watched kind (or PartialObjectMetadata) with only metadata.
    fn bookmark(&self, metadata: Value) -> Value {
        let r = &self.t.resource;
        match self.shape {
            Rendering::Metadata => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata})
            }
            _ => json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": metadata}),
        }
    }
    fn matches(&self, o: &Value) -> bool {
        self.label.matches(o) && self.field.matches(o)
    }
    /// The event this watcher sees for a write, if any.
    fn view(&self, e: &StoredEvent) -> Option<(&'static str, Value)> {
        let r = &self.t.resource;
        let (group, resource) = storage_of(&r.group, &r.plural);
        if e.key.group != group
            || e.key.resource != resource
            || self
                .t
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != e.key.namespace)
        {
            return None;
        }
        let shown = |o: &Value| r.present(view(&r.group, &r.plural, o.clone()));
        let object = shown(&e.object);
        let now = self.matches(&object);
        // Without selectors every state matches: the old one is copied only when a
        // selector has to look at it (every watcher sees every write of its resource).
        let everything = self.label.is_empty() && self.field.is_empty();
        let old = if everything {
            None
        } else {
            e.old.as_ref().map(shown)
        };
        let before = if everything {
            e.old.is_some()
        } else {
            old.as_ref().is_some_and(|o| self.matches(o))
        };
        match e.kind {
            EventType::Added if now => Some(("ADDED", object)),
            EventType::Deleted if now => Some(("DELETED", object)),
            EventType::Modified if now && before => Some(("MODIFIED", object)),
            EventType::Modified if now => Some(("ADDED", object)),
            EventType::Modified if before => {
                let mut last = old.expect("before implies old");
                set_rv(&mut last, e.rv);
                Some(("DELETED", last))
            }
            _ => None,
        }
    }
}

pub fn watch(shared: Arc<Shared>, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    let initial_events = req.query.flag("sendInitialEvents");
    if req.query.get("sendInitialEvents").is_some()
        && req.query.get("resourceVersionMatch") != Some("NotOlderThan")
    {
        let cause = Cause::new(
            "FieldValueForbidden",
            "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            Some("resourceVersionMatch"),
        );
        let mut e = ApiError::invalid_kind("ListOptions", "meta.k8s.io", "", vec![cause]);
        if let Some(d) = e.details.as_mut().and_then(Value::as_object_mut) {
            d.remove("name");
        }
        return Err(e);
    }
    let rv = parse_rv(req)?;
    let (label, field) = selectors(req)?;
    let shape = rendering(&req.accept);
    let filter = Filter {
        t: t.clone(),
        shape,
        label,
        field,
    };
    let bookmarks = req.query.flag("allowWatchBookmarks");
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let res = t.resource.clone();
    let render = move |o: Value| match shape {
        Rendering::Table => table::table(&res, &[o], 0, None, &Request::empty()),
        Rendering::Metadata => partial(&o),
        Rendering::Full => o,
    };

    let inner = shared.lock();
    let events = inner.store.subscribe();
    let mut first: Vec<Bytes> = Vec::new();
    let mut sent_up_to = inner.store.current_rv();
    match rv {
        Some(rv) if rv > 0 && !initial_events => match inner.store.events_since(rv) {
            Ok(past) => {
                first.extend(
                    past.iter()
                        .filter_map(|e| filter.view(e))
                        .map(|(k, o)| line(k, render(o))),
                );
            }
            Err(too_old) => {
                let status = ApiError::expired(format!(
                    "too old resource version: {} ({})",
                    too_old.requested, too_old.oldest
                ))
                .to_status();
                first.push(line("ERROR", status));
                drop(inner);
                tokio::spawn(async move {
                    for l in first {
                        let _ = tx.send(l).await;
                    }
                });
                return Ok(Reply::Watch(rx));
            }
        },
        _ => {
            let r = &t.resource;
            first.extend(
                inner
                    .store
                    .list(&r.group, &r.plural, t.namespace.as_deref())
                    .into_iter()
                    .map(|(_, o)| r.present(o))
                    .filter(|o| filter.matches(o))
                    .map(|o| line("ADDED", render(o))),
            );
            if initial_events && bookmarks {
                let mark = filter.bookmark(json!({"resourceVersion": sent_up_to.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}}));
                first.push(line("BOOKMARK", mark));
            }
        }
    }
    if rv.is_some_and(|rv| rv > sent_up_to) {
        sent_up_to = rv.unwrap_or(0);
    }
    drop(inner);
    let stream = Stream {
        shared: shared.clone(),
        filter,
        tx,
        events,
        bookmarks,
        deadline: Instant::now() + timeout,
        sent_up_to,
        closing_marks: !(initial_events && bookmarks),
    };
    tokio::spawn(stream.run(first, render));
    Ok(Reply::Watch(rx))
}

struct Stream {
    shared: Arc<Shared>,
    filter: Filter,
    tx: mpsc::Sender<Bytes>,
    events: broadcast::Receiver<Arc<StoredEvent>>,
    bookmarks: bool,
    deadline: Instant,
    sent_up_to: u64,
    /// Whether to send the bookmarks before the deadline; a watch-list that already
    /// sent its initial-events-end bookmark gets none (as seen from kube-apiserver).
    closing_marks: bool,
}

impl Stream {
    async fn run(mut self, first: Vec<Bytes>, render: impl Fn(Value) -> Value) {
        for l in first {
            if self.tx.send(l).await.is_err() {
                return;
            }
        }
        let mut shutdown = self.shared.shutdown.clone();
        let interval = self.shared.tuning.bookmark_interval;
        let mut next_mark = Instant::now() + interval;
        // kube-apiserver also sends bookmarks as a watch nears its deadline.
        let mut closing_marks: Vec<Instant> = [2, 1]
            .iter()
            .filter_map(|s| self.deadline.checked_sub(Duration::from_secs(*s)))
            .filter(|at| self.closing_marks && *at > Instant::now())
            .collect();
        loop {
            let mark_at = closing_marks
                .first()
                .copied()
                .unwrap_or(next_mark)
                .min(next_mark);
            tokio::select! {
                received = self.events.recv() => match received {
                    Ok(e) if e.rv > self.sent_up_to => {
                        self.sent_up_to = e.rv;
                        if let Some((kind, obj)) = self.filter.view(&e)
                            && self.tx.send(line(kind, render(obj))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Fell behind or the server stops: end the stream; clients re-list.
                    Err(_) => return,
                },
                _ = tokio::time::sleep_until(mark_at), if self.bookmarks => {
                    if closing_marks.first() == Some(&mark_at) {
                        closing_marks.remove(0);
                    } else {
                        next_mark += interval;
                    }
                    // Only what this stream has seen: a client resuming from it misses nothing.
                    let rv = self.sent_up_to;
                    let mark = self.filter.bookmark(json!({"resourceVersion": rv.to_string()}));
                    if self.tx.send(line("BOOKMARK", mark)).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(self.deadline) => return,
                _ = shutdown.changed() => return,
                _ = self.tx.closed() => return,
            }
        }
    }
}
