//! What a Rollout's status means to a pipeline waiting on it. Pure: the status and the
//! goal in, an answer out, so every case is a unit test.
//!
//! Waits are for a *revision* (Portcullis' hash of the workload's pod template, as the
//! controller computes it), not for a phase: right after a push the status still
//! describes the previous release, and "Succeeded" then is about the wrong one.

use crate::api::{Outcome, Phase, RolloutStatus};

/// What the pipeline waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// The revision is the stable release, its canary gone.
    Promoted { revision: String },
    /// The revision was rolled back and recorded as rejected.
    Aborted { revision: String },
    /// The revision's canary is paused (a `pause` step, the `pause` command, an
    /// inconclusive analysis or unreadable metrics).
    Paused { revision: String },
    /// The controller has acted on command `id`.
    Acknowledged { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Waiting,
    /// The goal holds; why, in one sentence.
    Reached(String),
    /// The goal can no longer hold without someone acting; what happened and what to do.
    Failed(String),
}

/// Where `goal` stands, given the Rollout's `metadata.generation` and status.
pub fn assess(goal: &Goal, generation: Option<i64>, status: Option<&RolloutStatus>) -> Progress {
    let Some(st) = status else {
        return Progress::Waiting;
    };
    if let Goal::Acknowledged { id } = goal {
        return match &st.last_command {
            Some(ack) if &ack.id == id && ack.accepted => Progress::Reached(ack.message.clone()),
            Some(ack) if &ack.id == id => {
                Progress::Failed(format!("{} refused: {}", ack.verb, ack.message))
            }
            _ => Progress::Waiting,
        };
    }
    // A status written before the latest spec change says nothing about that spec.
    if st.observed_generation.unwrap_or(0) < generation.unwrap_or(0) {
        return Progress::Waiting;
    }
    if st.phase == Some(Phase::InvalidSpec) {
        return Progress::Failed(format!(
            "the Rollout's spec is invalid: {}",
            st.message.as_deref().unwrap_or("see `portcullis status`")
        ));
    }
    let (Goal::Promoted { revision } | Goal::Aborted { revision } | Goal::Paused { revision }) =
        goal
    else {
        unreachable!("acknowledgements are answered above")
    };
    let is = |r: Option<&crate::api::Revision>| r.is_some_and(|r| &r.revision == revision);
    let stable = is(st.stable.as_ref()) && st.canary.is_none();
    let rejected = st.rejected_revisions.contains(revision);
    let abort_reason = st
        .last_abort
        .as_ref()
        .filter(|a| &a.revision.revision == revision)
        .map(|a| a.reason.clone())
        .unwrap_or_else(|| "rejected earlier".into());
    let superseded = st
        .history
        .iter()
        .find(|h| &h.revision.revision == revision && h.outcome == Outcome::Superseded)
        .filter(|_| !is(st.canary.as_ref()) && !is(st.stable.as_ref()));
    if let Some(h) = superseded {
        let by = st
            .canary
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "a newer release".into());
        return Progress::Failed(format!(
            "revision {} was superseded by {by} before it finished",
            h.revision
        ));
    }
    match goal {
        Goal::Promoted { .. } if stable => Progress::Reached(format!(
            "revision {} is stable",
            st.stable.as_ref().expect("checked above")
        )),
        Goal::Promoted { .. } | Goal::Paused { .. } if rejected => Progress::Failed(format!(
            "revision {revision} was rolled back: {abort_reason}; it is not retried until \
             `portcullis retry` or a new release"
        )),
        Goal::Aborted { .. } if rejected => Progress::Reached(format!(
            "revision {revision} was rolled back: {abort_reason}"
        )),
        Goal::Aborted { .. } | Goal::Paused { .. } if stable => {
            Progress::Failed(format!("revision {revision} was promoted instead"))
        }
        Goal::Paused { .. } if is(st.canary.as_ref()) && st.phase == Some(Phase::Paused) => {
            Progress::Reached(format!(
                "paused at step {}: {}",
                st.step_label.as_deref().unwrap_or("?"),
                st.message.as_deref().unwrap_or("")
            ))
        }
        _ => Progress::Waiting,
    }
}
