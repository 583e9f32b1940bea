//! Collects the batchable count queries of many readings for a short window and sends
//! each key's as one Prometheus query ([`batch`] says which can share and how the answer
//! is split). A reading waits at most the window (or less, when a batch fills up) on top
//! of the query itself; an error of the shared query is every member's error, as it
//! would have been alone (members share the query text apart from pods and windows).

use super::batch::{self, Slot, TrackQuery};
use super::prometheus::{PrometheusProvider, ReadError};
use crate::analysis::render::render;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// A track's samples split by pod (`None`: a fallback that names no pod).
pub type Samples = Vec<(Option<String>, f64)>;

/// Requests per query at most: bounds one query's size and its cost on Prometheus.
const MAX_BATCH: usize = 256;

pub struct Coalescer {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    pending: HashMap<String, Pending>,
}

struct Pending {
    id: u64,
    waiting: Vec<Waiting>,
}

struct Waiting {
    query: TrackQuery,
    slot: Slot,
    reply: oneshot::Sender<Result<Samples, ReadError>>,
}

impl Coalescer {
    pub fn new(window: Duration) -> Self {
        Coalescer {
            window,
            state: Mutex::default(),
        }
    }

    /// The samples of one track's query, sent together with the other requests of its
    /// key that arrive within the window.
    pub async fn request(
        self: &Arc<Self>,
        provider: &PrometheusProvider,
        query: TrackQuery,
        slot: Slot,
    ) -> Result<Samples, ReadError> {
        let (reply, answer) = oneshot::channel();
        let key = slot.key.clone();
        let full = {
            let mut st = self.state.lock().expect("coalescer lock");
            let id = st.next_id;
            let pending = st.pending.entry(key.clone()).or_insert_with(|| Pending {
                id,
                waiting: Vec::new(),
            });
            if pending.id == id {
                // A new batch: its window starts now.
                let (me, provider, key) = (self.clone(), provider.clone(), key.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(me.window).await;
                    if let Some(batch) = me.take(&key, Some(id)) {
                        send(&provider, batch).await;
                    }
                });
                st.next_id += 1;
            }
            let pending = st.pending.get_mut(&key).expect("just inserted");
            pending.waiting.push(Waiting { query, slot, reply });
            pending.waiting.len() >= MAX_BATCH
        };
        if full && let Some(batch) = self.take(&key, None) {
            let provider = provider.clone();
            tokio::spawn(async move { send(&provider, batch).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(ReadError::Failed {
                address: provider.address().to_string(),
                detail: "the batched query was dropped".into(),
            })
        })
    }

    /// The batch of `key` (only batch `id`, when given: a full batch left early).
    fn take(&self, key: &str, id: Option<u64>) -> Option<Vec<Waiting>> {
        let mut st = self.state.lock().expect("coalescer lock");
        match st.pending.get(key) {
            Some(p) if id.is_none_or(|id| p.id == id) => st.pending.remove(key).map(|p| p.waiting),
            _ => None,
        }
    }
}

async fn send(provider: &PrometheusProvider, batch: Vec<Waiting>) {
    let requests: Vec<(TrackQuery, Slot)> = batch
        .iter()
        .map(|w| (w.query.clone(), w.slot.clone()))
        .collect();
    let answer = match batch::query(&requests) {
        Ok(q) => provider.answer(&q, true).await,
        Err(e) => Err(ReadError::Failed {
            address: provider.address().to_string(),
            detail: format!("cannot build the batched query: {e}"),
        }),
    };
    match answer {
        Ok(samples) => {
            for (w, mine) in batch.into_iter().zip(batch::split(&requests, &samples)) {
                let _ = w.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            for w in batch {
                // Name the member's own query, not the whole batch.
                let e = match &e {
                    ReadError::Rejected { detail, .. } => ReadError::Rejected {
                        query: render(&w.query.template, &w.query.ctx, &w.query.track)
                            .unwrap_or_default(),
                        detail: detail.clone(),
                    },
                    other => other.clone(),
                };
                let _ = w.reply.send(Err(e));
            }
        }
    }
}
