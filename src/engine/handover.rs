//! What deleting a Rollout does to its Deployment: it is handed back to Kubernetes, but
//! never with a template Portcullis did not let through (rejected, or still being
//! judged), since unpausing it would roll that template out to every pod.

use super::observations::WorkloadObservation;
use crate::api::{Phase, PromotionStage, RolloutStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    /// The Deployment's template is one Portcullis let through: unpause it as it is.
    Unpause,
    /// The template (`revision`) was never promoted: put the stable template back, then
    /// unpause (Kubernetes finds the stable ReplicaSet again and rolls nothing out).
    RestoreStable { revision: String },
    /// Another Rollout manages the Deployment: leave it alone.
    NotOurs,
}

/// Whether `revision` is the canary and promotion has gone past growing it: the template
/// is judged, and Kubernetes may roll it out.
pub fn promoted(st: &RolloutStatus, revision: &str) -> bool {
    st.phase == Some(Phase::Promoting)
        && st.promotion_stage != Some(PromotionStage::ScalingCanary)
        && st.canary.as_ref().is_some_and(|c| c.revision == revision)
}

/// The hand-back for a Rollout with status `st` whose Deployment is `workload`.
pub fn on_delete(
    st: &RolloutStatus,
    workload: &WorkloadObservation,
    owned_elsewhere: bool,
) -> Handover {
    if owned_elsewhere {
        return Handover::NotOurs;
    }
    let current = &workload.revision.revision;
    let let_through = match &st.stable {
        Some(s) => s.revision == *current || promoted(st, current),
        // Never adopted (an invalid spec from the start): what runs is fine unless a
        // new template waits in the paused Deployment, or it was rejected.
        None => {
            let waiting_template = workload.paused && !workload.rolled_out;
            let rejected = st.rejected_revisions.contains(current)
                || workload.rejected_revisions.contains(current);
            !waiting_template && !rejected
        }
    };
    if let_through {
        Handover::Unpause
    } else {
        Handover::RestoreStable {
            revision: current.clone(),
        }
    }
}
