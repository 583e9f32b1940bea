//! Commands, freeze windows, webhook gates and invalid specs.

mod support;

use portcullis::api::validate::FieldError;
use portcullis::api::{FreezeWindow, Gates, Phase, Step, Webhook};
use portcullis::engine::GateOutcome;
use support::*;

fn paused_world() -> World {
    let mut w = World::new(
        spec(vec![
            Step::set_weight(10),
            Step::pause(None),
            Step::set_weight(40),
        ]),
        rev("v1", "auth:1"),
        4,
    );
    w.step();
    w.push(rev("v2", "auth:2"));
    w.settle();
    assert_eq!(w.status.phase, Some(Phase::Paused));
    w
}

#[test]
fn promote_ends_a_pause_and_is_acknowledged_in_status_and_an_event() {
    let mut w = paused_world();
    w.obs.command = Some("promote:build-42".into());
    let d = w.step();
    let ack = d.status.last_command.clone().unwrap();
    assert_eq!(
        (ack.id.as_str(), ack.verb.as_str(), ack.accepted),
        ("build-42", "promote", true)
    );
    assert_eq!(d.status.current_step, Some(2));
    assert_eq!(d.desired.unwrap().weight, 40);
    let event = d
        .events
        .iter()
        .find(|e| e.reason == "CommandAccepted")
        .unwrap();
    assert!(event.message.contains("build-42"));
}

#[test]
fn promote_when_nothing_is_paused_is_rejected_with_a_reason() {
    let mut w = World::new(
        spec(vec![Step::set_weight(10), Step::analysis()]),
        rev("v1", "a:1"),
        4,
    );
    w.spec = with_analysis(w.spec.clone());
    w.step();
    w.obs.command = Some("promote:1".into());
    let d = w.step();
    let ack = d.status.last_command.unwrap();
    assert!(!ack.accepted);
    assert!(
        ack.message.contains("nothing to promote"),
        "{}",
        ack.message
    );
    assert!(d.events.iter().any(|e| e.reason == "CommandRejected"));
}

#[test]
fn a_malformed_command_is_rejected_once_with_a_hint() {
    let mut w = paused_world();
    w.obs.command = Some("ship-it".into());
    let d = w.step();
    let ack = d.status.last_command.clone().unwrap();
    assert!(!ack.accepted);
    assert!(ack.message.contains("<verb>:<id>"), "{}", ack.message);
    assert!(
        w.step().events.is_empty(),
        "not rejected again on every decision"
    );
}

#[test]
fn promote_full_skips_the_remaining_steps() {
    let mut w = paused_world();
    w.obs.command = Some("promote-full:1".into());
    let d = w.settle();
    assert_eq!(d.status.phase, Some(Phase::Succeeded));
    assert_eq!(d.status.stable, Some(rev("v2", "auth:2")));
}

#[test]
fn pause_holds_the_weight_and_resume_continues() {
    let mut w = World::new(
        spec(vec![
            Step::set_weight(10),
            Step::pause(Some("1m")),
            Step::set_weight(40),
        ]),
        rev("v1", "a:1"),
        4,
    );
    w.step();
    w.push(rev("v2", "a:2"));
    w.settle();
    w.obs.command = Some("pause:p".into());
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Paused));
    w.advance_time(600);
    let d = w.step();
    assert_eq!(
        d.status.current_step,
        Some(1),
        "a user pause stops the timed pause from ending"
    );
    assert_eq!(d.desired.unwrap().weight, 10);
    w.obs.command = Some("resume:r".into());
    let d = w.step();
    assert_eq!(
        d.status.current_step,
        Some(2),
        "the pause had run its time: on to 40%"
    );
    assert_eq!(d.desired.unwrap().weight, 40);
}

#[test]
fn a_freeze_window_blocks_a_new_canary_until_it_ends() {
    let mut w = World::new(spec(vec![Step::set_weight(10)]), rev("v1", "a:1"), 4);
    w.spec.gates = Some(Gates {
        freeze_windows: vec![FreezeWindow {
            name: "month-end".into(),
            start: Some("2026-11-25T09:00:00Z".into()),
            end: Some("2026-11-25T12:00:00Z".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    w.step();
    w.push(rev("v2", "a:2"));
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Blocked));
    assert!(d.status.message.unwrap().contains("month-end"));
    assert_eq!(d.desired.unwrap().canary, None);
    assert_eq!(
        d.requeue_after,
        Some(std::time::Duration::from_secs(2 * 3600))
    );
    assert!(
        w.step().events.is_empty(),
        "blocked once, not on every decision"
    );
    w.advance_time(2 * 3600);
    assert_eq!(w.step().status.phase, Some(Phase::Progressing));
}

#[test]
fn override_freeze_starts_the_canary_inside_a_window() {
    let mut w = World::new(spec(vec![Step::set_weight(10)]), rev("v1", "a:1"), 4);
    w.spec.gates = Some(Gates {
        freeze_windows: vec![FreezeWindow {
            name: "always".into(),
            days: Some(
                vec!["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ),
            from: Some("00:00".into()),
            to: Some("23:59".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    w.step();
    w.push(rev("v2", "a:2"));
    assert_eq!(w.step().status.phase, Some(Phase::Blocked));
    w.obs.command = Some("override-freeze:ok".into());
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Progressing));
    assert_eq!(d.status.freeze_override.as_deref(), Some("v2"));
}

fn hook(name: &str) -> Webhook {
    Webhook {
        name: name.into(),
        url: "http://change-approval.internal/check".into(),
        timeout: None,
    }
}

#[test]
fn pre_rollout_gates_are_asked_before_a_canary_starts() {
    let mut w = World::new(spec(vec![Step::set_weight(10)]), rev("v1", "a:1"), 4);
    w.spec.gates = Some(Gates {
        pre_rollout: vec![hook("change-approved")],
        ..Default::default()
    });
    w.step();
    w.push(rev("v2", "a:2"));
    let d = w.step();
    assert!(d.wants.pre_rollout_gate);
    assert_eq!(d.status.phase, Some(Phase::Blocked));

    w.obs.gates.pre_rollout = Some(GateOutcome::Failed("change-approved: 403 no ticket".into()));
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Blocked));
    assert!(d.status.message.unwrap().contains("no ticket"));
    assert_eq!(d.requeue_after, Some(std::time::Duration::from_secs(30)));

    w.obs.gates.pre_rollout = Some(GateOutcome::Passed);
    assert_eq!(w.step().status.phase, Some(Phase::Progressing));
}

#[test]
fn pre_promotion_gates_hold_promotion_until_they_pass() {
    let mut w = World::new(spec(vec![Step::set_weight(10)]), rev("v1", "a:1"), 4);
    w.spec.gates = Some(Gates {
        pre_promotion: vec![hook("load-test")],
        ..Default::default()
    });
    w.step();
    w.push(rev("v2", "a:2"));
    let d = w.settle();
    assert!(d.wants.pre_promotion_gate);
    assert_eq!(d.status.phase, Some(Phase::Progressing));
    w.obs.gates.pre_promotion = Some(GateOutcome::Passed);
    assert_eq!(w.step().status.phase, Some(Phase::Promoting));
}

#[test]
fn an_invalid_spec_changes_nothing_and_names_the_field() {
    let mut w = World::new(spec(vec![Step::set_weight(130)]), rev("v1", "a:1"), 4);
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::InvalidSpec));
    assert_eq!(d.desired, None, "nothing in the cluster changes");
    let message = d.status.message.unwrap();
    assert!(message.contains("spec.steps[0].setWeight"), "{message}");
    assert!(d.events.iter().any(|e| e.reason == "InvalidSpec"));
    assert!(w.step().events.is_empty(), "reported once");
}

#[test]
fn problems_only_the_controller_sees_also_make_the_spec_invalid() {
    let mut w = World::new(spec(vec![Step::set_weight(10)]), rev("v1", "a:1"), 4);
    w.obs.spec_errors = vec![FieldError::new(
        "spec.analysis.templates[0].name",
        "ClusterAnalysisTemplate `login-failures` not found",
    )];
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::InvalidSpec));
    assert!(d.status.message.unwrap().contains("login-failures"));
    assert_eq!(d.desired, None);
}

#[test]
fn a_missing_workload_is_reported_against_workload_ref() {
    let mut w = World::new(spec(vec![Step::set_weight(10)]), rev("v1", "a:1"), 4);
    w.obs.workload = None;
    let d = portcullis::engine::decide(&portcullis::engine::Input {
        spec: &w.spec,
        generation: Some(3),
        status: &w.status,
        observations: &w.obs,
        now: w.now,
    });
    assert_eq!(d.status.phase, Some(Phase::InvalidSpec));
    assert!(
        d.status
            .message
            .unwrap()
            .starts_with("spec.workloadRef.name")
    );
    assert_eq!(d.status.observed_generation, Some(3));
}

#[test]
fn set_weight_100_is_rejected_for_the_replicas_router() {
    let mut w = World::new(spec(vec![Step::set_weight(100)]), rev("v1", "a:1"), 4);
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::InvalidSpec));
    assert!(d.status.message.unwrap().contains("replicas router"));
}

#[test]
fn conditions_follow_the_phase_and_keep_their_transition_time() {
    let mut w = paused_world();
    let paused = w
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Paused")
        .unwrap()
        .clone();
    assert_eq!(paused.status, "True");
    w.advance_time(30);
    w.step();
    let again = w
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Paused")
        .unwrap();
    assert_eq!(again.last_transition_time, paused.last_transition_time);
    w.obs.command = Some("promote:1".into());
    w.step();
    let after = w
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Paused")
        .unwrap();
    assert_eq!(after.status, "False");
    assert_ne!(after.last_transition_time, paused.last_transition_time);
}
