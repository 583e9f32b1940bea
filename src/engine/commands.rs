//! Commands (see `api::command`): applied once, acknowledged in status and in an event.

use super::decision::EventType;
use super::machine::{Ctx, describe_revision};
use super::observations::WorkloadObservation;
use crate::api::command::{Command, CommandError, Verb};
use crate::api::{CommandAck, PauseReason, Phase, PromotionStage, RolloutStatus, Verdict};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A command not yet acknowledged: parsed, or the reason it cannot be.
pub(super) enum Pending {
    Valid(Command),
    Malformed { id: String, error: CommandError },
}

/// The annotation's command, unless `status.lastCommand` already answered it.
pub(super) fn pending(st: &RolloutStatus, raw: Option<&str>) -> Option<Pending> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    let done = |id: &str| st.last_command.as_ref().is_some_and(|a| a.id == id);
    match raw.parse::<Command>() {
        Ok(c) if done(&c.id) => None,
        Ok(c) => Some(Pending::Valid(c)),
        Err(_) if done(raw) => None,
        Err(error) => Some(Pending::Malformed {
            id: raw.to_string(),
            error,
        }),
    }
}

pub(super) fn apply(cx: &mut Ctx, pending: Pending, workload: &WorkloadObservation) {
    let (id, verb, result) = match pending {
        Pending::Malformed { id, error } => (id, "invalid".to_string(), Err(error.to_string())),
        Pending::Valid(c) => {
            let result = run(cx, c.verb, workload);
            (c.id, c.verb.to_string(), result)
        }
    };
    let (accepted, message) = match result {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    cx.st.last_command = Some(CommandAck {
        id: id.clone(),
        verb: verb.clone(),
        accepted,
        message: message.clone(),
        at: Time(cx.now),
    });
    let (type_, reason) = if accepted {
        (EventType::Normal, "CommandAccepted")
    } else {
        (EventType::Warning, "CommandRejected")
    };
    cx.event(type_, reason, format!("{verb} ({id}): {message}"), None);
}

fn in_flight(st: &RolloutStatus) -> bool {
    st.canary.is_some() && matches!(st.phase, Some(Phase::Progressing | Phase::Paused))
}

fn run(cx: &mut Ctx, verb: Verb, workload: &WorkloadObservation) -> Result<String, String> {
    let st = &cx.st;
    let step = st.current_step.unwrap_or(0).max(0) as usize;
    match verb {
        Verb::Promote => {
            let timed_pause = cx
                .spec
                .steps
                .get(step)
                .and_then(|s| s.pause.as_ref())
                .is_some_and(|p| p.duration.is_some());
            let waiting = matches!(
                st.pause_reason,
                Some(PauseReason::Step | PauseReason::AnalysisInconclusive)
            );
            if !in_flight(st) || !(waiting || (timed_pause && st.pause_reason.is_none())) {
                return Err(format!(
                    "nothing to promote: no pause is in progress (phase {}); analysis steps end on evidence, `promote-full` skips all remaining steps",
                    phase_name(st)
                ));
            }
            cx.st.pause_reason = None;
            cx.st.phase = Some(Phase::Progressing);
            cx.st.current_step = Some(step as i32 + 1);
            cx.st.step_started_at = Some(Time(cx.now));
            Ok(format!("ended step {}; continuing", step + 1))
        }
        Verb::PromoteFull => {
            if !in_flight(st) {
                return Err(format!(
                    "no canary in flight to promote (phase {})",
                    phase_name(st)
                ));
            }
            if st.analysis.as_ref().and_then(|a| a.verdict) == Some(Verdict::Fail) {
                return Err("the analysis failed; a failed canary is never promoted".into());
            }
            cx.st.pause_reason = None;
            cx.st.phase = Some(Phase::Progressing);
            cx.st.current_step = Some(cx.spec.steps.len() as i32);
            cx.st.step_started_at = Some(Time(cx.now));
            Ok("skipping the remaining steps: promoting".into())
        }
        Verb::Abort => {
            let early_promotion = st.phase == Some(Phase::Promoting)
                && st.promotion_stage == Some(PromotionStage::ScalingCanary);
            if !(in_flight(st) || early_promotion) {
                return Err(format!("no canary to abort (phase {})", phase_name(st)));
            }
            cx.abort("aborted by command".into());
            Ok("canary aborted; traffic back on stable".into())
        }
        Verb::Retry => {
            let rev = &workload.revision.revision;
            if st.canary.as_ref().is_some_and(|c| &c.revision != rev)
                || !st.rejected_revisions.contains(rev)
            {
                return Err(format!(
                    "the workload's {} was not rejected; nothing to retry",
                    describe_revision(&workload.revision)
                ));
            }
            cx.st.rejected_revisions.retain(|r| r != rev);
            cx.st.canary = None;
            cx.st.phase = Some(Phase::Idle);
            if cx.st.stable.is_none() {
                // Blocked on first sight: the user accepts the template now, in this
                // decision, so a stale copy of the Deployment's rejections cannot undo it.
                cx.adopt(workload);
            }
            Ok(format!(
                "retrying {}",
                describe_revision(&workload.revision)
            ))
        }
        Verb::Pause => {
            if !in_flight(st) {
                return Err(format!(
                    "no canary in flight to pause (phase {})",
                    phase_name(st)
                ));
            }
            if st.pause_reason == Some(PauseReason::User) {
                return Ok("already paused".into());
            }
            cx.pause(
                PauseReason::User,
                "paused by command: send `resume` to continue".into(),
            );
            Ok("paused".into())
        }
        Verb::Resume => {
            let draining = st.analysis.as_ref().is_some_and(|a| a.draining);
            if !draining
                && !matches!(
                    st.pause_reason,
                    Some(PauseReason::User | PauseReason::AnalysisError)
                )
            {
                return Err(
                    "not paused by a command, by metric errors, nor drained; nothing to resume"
                        .into(),
                );
            }
            if st.pause_reason.is_some() {
                cx.st.pause_reason = None;
                cx.st.phase = Some(Phase::Progressing);
            }
            if let Some(a) = cx.st.analysis.as_mut() {
                a.consecutive_errors = 0;
                // Traffic back on the canary; if metrics still fail, it drains again, with
                // a fresh deadline: a person chose to try again.
                a.draining = false;
                a.drained_since = None;
            }
            Ok(if draining {
                "resumed: canary traffic restored".into()
            } else {
                "resumed".into()
            })
        }
        Verb::OverrideFreeze => {
            cx.st.freeze_override = Some(workload.revision.revision.clone());
            Ok(format!(
                "{} may start inside freeze windows",
                describe_revision(&workload.revision)
            ))
        }
    }
}

fn phase_name(st: &RolloutStatus) -> &'static str {
    st.phase.map_or("none", |p| p.as_str())
}
