//! What every request handler shares: the store and the served resources, behind one lock.
use super::resources::Registry;
use super::routes::Target;
use super::store::{ObjKey, Store};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

pub struct Inner {
    pub store: Store,
    pub registry: Registry,
}

/// Tunables of one server.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Period of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
}

pub struct Shared {
    inner: Mutex<Inner>,
    pub shutdown: watch::Receiver<bool>,
    pub tuning: Tuning,
}

impl Shared {
    pub fn new(inner: Inner, shutdown: watch::Receiver<bool>, tuning: Tuning) -> Self {
        Shared {
            inner: Mutex::new(inner),
            shutdown,
            tuning,
        }
    }
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A handler that panicked left the store consistent (writes are single calls).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Target {
    pub fn key(&self, name: &str) -> ObjKey {
        ObjKey {
            group: self.resource.group.clone(),
            resource: self.resource.plural.clone(),
            namespace: self.namespace.clone().unwrap_or_default(),
            name: name.to_string(),
        }
    }
}
