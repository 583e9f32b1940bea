//! What can go wrong in one reconcile, by step, so a log line says where and what to fix.

use crate::traffic::TrafficError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {what}: {source}")]
    Observe {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing {what}: {source}")]
    Act {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing status of Rollout {name}: {source}")]
    Status {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0}")]
    CachesNotReady(#[from] super::cache::NotReady),
    #[error("traffic: {0}")]
    Traffic(#[from] TrafficError),
    #[error("the Rollout has no namespace (it is a namespaced kind; was it read from a list?)")]
    NoNamespace,
    #[error(
        "adding finalizer portcullis.dev/release to Rollout {name}: {source} (the operator \
         needs `patch` on rollouts.portcullis.dev; without the finalizer it does not act)"
    )]
    AddFinalizer {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "removing finalizer portcullis.dev/release from Rollout {name} after its cleanup: \
         {source} (the Rollout stays until it goes; if the operator is gone for good, remove \
         it by hand: kubectl patch rollout {name} --type=json \
         -p='[{{\"op\":\"remove\",\"path\":\"/metadata/finalizers/0\"}}]' after checking its index)"
    )]
    RemoveFinalizer {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub fn observe(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Observe { what, source }
    }
    pub fn act(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Act { what, source }
    }
    /// A 409: someone else wrote first; reading again and retrying is the cure.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Error::Act { source: kube::Error::Api(s), .. }
            | Error::Status { source: kube::Error::Api(s), .. } if s.code == 409
        )
    }
}
