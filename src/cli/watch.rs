//! Following one Rollout until a goal is reached, printing each new progress line.

use super::CliError;
use super::describe::line;
use super::progress::{Goal, Progress, assess};
use crate::api::Rollout;
use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::watch_object;
use std::time::Duration;

/// Watches `name` until `goal` is reached (Ok(Reached)) or failed (Ok(Failed)), printing
/// progress to stderr when `verbose`. Errors: the Rollout is gone, the API failed, or
/// nothing happened within `timeout` (the error carries the last progress line).
/// Whether `st` speaks of the release `goal` waits for (any status does for a command).
fn about(goal: &Goal, st: &crate::api::RolloutStatus) -> bool {
    let (Goal::Promoted { revision } | Goal::Aborted { revision } | Goal::Paused { revision }) =
        goal
    else {
        return true;
    };
    let named = |r: Option<&crate::api::Revision>| r.is_some_and(|r| &r.revision == revision);
    named(st.canary.as_ref())
        || named(st.stable.as_ref())
        || st.rejected_revisions.contains(revision)
        || matches!(
            st.phase,
            Some(crate::api::Phase::Blocked | crate::api::Phase::InvalidSpec)
        )
}

pub async fn follow(
    api: &Api<Rollout>,
    name: &str,
    goal: &Goal,
    timeout: Duration,
    verbose: bool,
) -> Result<Progress, CliError> {
    let mut last = String::new();
    let watched = async {
        let mut stream = std::pin::pin!(watch_object(api.clone(), name));
        while let Some(event) = stream.next().await {
            let ro = event.map_err(|e| CliError::Watch(format!("rollout {name}: {e}")))?;
            let Some(ro) = ro else {
                return Err(CliError::NotFound(format!(
                    "rollout {name} not found in namespace {}",
                    api.namespace().unwrap_or("default")
                )));
            };
            if let Some(st) = &ro.status {
                let l = line(st);
                // A status still about an earlier release is not this one's progress.
                if verbose && l != last && about(goal, st) {
                    eprintln!("{l}");
                }
                last = l;
            }
            match assess(goal, ro.metadata.generation, ro.status.as_ref()) {
                Progress::Waiting => continue,
                done => return Ok(done),
            }
        }
        Err(CliError::Watch(format!(
            "the watch of rollout {name} ended"
        )))
    };
    match tokio::time::timeout(timeout, watched).await {
        Ok(r) => r,
        Err(_) => Err(CliError::Timeout(format!(
            "no outcome within {}s; last: {}",
            timeout.as_secs(),
            if last.is_empty() {
                "no status"
            } else {
                last.as_str()
            }
        ))),
    }
}
