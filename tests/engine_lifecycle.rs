//! The engine's behaviour over a release's life: adoption, canary steps, promotion.

mod support;

use portcullis::api::{Outcome, Phase, PromotionStage, Step};
use portcullis::engine::WorkloadObservation;
use support::*;

fn standard_steps() -> Vec<Step> {
    vec![
        Step::set_weight(10),
        Step::pause(Some("1m")),
        Step::set_weight(50),
        Step::pause(None),
    ]
}

#[test]
fn first_sight_adopts_the_running_template_as_stable_without_a_canary() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Idle));
    assert_eq!(d.status.stable, Some(rev("v1", "auth:1")));
    assert_eq!(d.status.canary, None);
    let desired = d.desired.unwrap();
    assert!(desired.workload_paused, "the workload is kept paused");
    assert_eq!(desired.canary, None);
    assert_eq!(desired.weight, 0);
    assert_eq!(w.reasons(), ["Adopted"]);
}

#[test]
fn a_new_template_starts_a_canary_at_the_first_step() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Progressing));
    assert_eq!(d.status.canary, Some(rev("v2", "auth:2")));
    assert_eq!(d.status.current_step, Some(0));
    assert_eq!(d.status.step_label.as_deref(), Some("1/4"));
    let desired = d.desired.unwrap();
    assert_eq!(desired.weight, 10);
    assert_eq!(
        desired.canary.unwrap().replicas,
        1,
        "1 of 5 ready pods is the closest share to 10%"
    );
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == "CanaryStarted" && e.message.contains("auth:2"))
    );
}

#[test]
fn steps_advance_only_when_the_weight_is_in_effect_on_ready_pods() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.canary_ready = false;
    w.push(rev("v2", "auth:2"));
    for _ in 0..3 {
        let d = w.step();
        assert_eq!(
            d.status.current_step,
            Some(0),
            "no ready canary pod: stays at setWeight 10"
        );
    }
    w.canary_ready = true;
    w.step(); // pods become ready after this decision is applied
    let d = w.step();
    assert_eq!(
        d.status.current_step,
        Some(1),
        "ready: moves on to the pause"
    );
}

#[test]
fn a_timed_pause_ends_on_time_and_asks_to_be_woken_then() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    let d = w.settle();
    assert_eq!(d.status.current_step, Some(1));
    assert_eq!(d.requeue_after, Some(std::time::Duration::from_secs(60)));
    w.advance_time(59);
    assert_eq!(w.step().status.current_step, Some(1));
    w.advance_time(1);
    assert_eq!(w.step().status.current_step, Some(2));
}

#[test]
fn an_indefinite_pause_waits_for_promote() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    w.settle();
    w.advance_time(60);
    let d = w.settle();
    assert_eq!(d.status.phase, Some(Phase::Paused));
    assert_eq!(d.status.current_step, Some(3));
    w.advance_time(3600);
    assert_eq!(
        w.settle().status.phase,
        Some(Phase::Paused),
        "an hour later: still paused"
    );
    w.obs.command = Some("promote:ci-1".into());
    let d = w.settle();
    assert_eq!(d.status.phase, Some(Phase::Succeeded));
}

#[test]
fn promotion_grows_the_canary_before_touching_stable_then_rolls_out_and_removes_the_canary() {
    let mut w = World::new(spec(vec![Step::set_weight(25)]), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    w.canary_ready = false;
    w.step();
    w.canary_ready = true;
    // Canary ready at 25%: the last step is done, promotion begins.
    w.step();
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Promoting));
    assert_eq!(
        d.status.promotion_stage,
        Some(PromotionStage::ScalingCanary)
    );
    let desired = d.desired.unwrap();
    assert!(
        desired.workload_paused,
        "stable untouched while the canary grows"
    );
    assert_eq!(
        desired.canary.as_ref().unwrap().replicas,
        4,
        "canary at full size first"
    );
    assert_eq!(d.status.stable, Some(rev("v1", "auth:1")));

    let d = w.step();
    assert_eq!(d.status.promotion_stage, Some(PromotionStage::RollingOut));
    assert!(
        !d.desired.unwrap().workload_paused,
        "then Kubernetes rolls the workload out"
    );

    let d = w.settle();
    assert_eq!(d.status.phase, Some(Phase::Succeeded));
    assert_eq!(d.status.stable, Some(rev("v2", "auth:2")));
    assert_eq!(d.status.canary, None);
    let desired = d.desired.unwrap();
    assert_eq!(
        desired.canary, None,
        "canary removed after the rollout completed"
    );
    assert!(desired.workload_paused, "paused again for the next release");
    assert_eq!(d.status.history[0].outcome, Outcome::Promoted);
    assert!(w.reasons().contains(&"Promoted".to_string()));
}

#[test]
fn the_canary_is_removed_only_after_the_workload_has_fully_rolled_out() {
    let mut w = World::new(spec(vec![Step::set_weight(25)]), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    // Freeze the world's rollout: the workload never reports rolled out.
    for _ in 0..10 {
        let d = w.step();
        w.obs.workload.as_mut().unwrap().rolled_out = false;
        if let Some(desired) = &d.desired
            && d.status.phase == Some(Phase::Promoting)
        {
            assert!(
                desired.canary.is_some(),
                "the canary stays while Kubernetes rolls out"
            );
            assert_eq!(d.status.stable, Some(rev("v1", "auth:1")));
        }
    }
    assert_eq!(w.status.promotion_stage, Some(PromotionStage::RollingOut));
}

#[test]
fn gateway_router_moves_all_traffic_to_the_full_size_canary_then_back_to_the_new_stable() {
    let mut w = World::new(
        gateway(spec(vec![Step::set_weight(20)])),
        rev("v1", "auth:1"),
        5,
    );
    w.step();
    w.push(rev("v2", "auth:2"));
    let weights: Vec<i32> = (0..8)
        .map(|_| w.step().desired.map_or(-1, |d| d.weight))
        .collect();
    assert_eq!(weights[0], 20);
    assert!(
        weights.contains(&100),
        "all traffic on the full-size canary during rollout: {weights:?}"
    );
    assert_eq!(
        *weights.last().unwrap(),
        0,
        "then back to the stable Service, which now selects v2"
    );
    assert_eq!(w.status.phase, Some(Phase::Succeeded));
}

#[test]
fn a_newer_template_supersedes_a_running_canary_and_starts_again() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    w.settle();
    w.push(rev("v3", "auth:3"));
    let d = w.step();
    assert_eq!(d.status.canary, Some(rev("v3", "auth:3")));
    assert_eq!(d.status.current_step, Some(0));
    assert_eq!(d.status.history[0].outcome, Outcome::Superseded);
    assert_eq!(d.status.history[0].revision, rev("v2", "auth:2"));
    assert_eq!(d.desired.unwrap().canary.unwrap().revision, "v3");
}

#[test]
fn reverting_the_workload_to_stable_ends_the_canary() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    w.settle();
    w.push(rev("v1", "auth:1"));
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Idle));
    assert_eq!(d.desired.unwrap().canary, None);
    assert!(w.reasons().contains(&"Reverted".to_string()));
}

#[test]
fn reverting_to_stable_while_the_promotion_rolls_out_ends_the_promotion() {
    let mut w = World::new(spec(vec![Step::set_weight(20)]), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    while w.status.promotion_stage != Some(PromotionStage::RollingOut) {
        w.step();
    }
    // The user puts v1 back while Kubernetes rolls v2 out: nothing will ever roll v2
    // out now, so waiting for it would only run into the deadline.
    w.push(rev("v1", "auth:1"));
    let d = w.step();
    assert_eq!(d.status.phase, Some(Phase::Idle));
    assert_eq!(d.status.canary, None);
    assert_eq!(
        d.status.waiting, None,
        "no wait on a rollout that cannot come"
    );
    assert_eq!(d.status.stable, Some(rev("v1", "auth:1")));
    assert_eq!(d.status.history[0].outcome, Outcome::Superseded);
    assert!(
        !d.desired.unwrap().workload_paused,
        "Kubernetes rolls v1 back out"
    );
    assert!(w.reasons().contains(&"Reverted".to_string()));
}

#[test]
fn deciding_again_with_its_own_status_changes_nothing() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    let settled = w.settle();
    let again = portcullis::engine::decide(&portcullis::engine::Input {
        spec: &w.spec,
        generation: Some(1),
        status: &settled.status,
        observations: &w.obs,
        now: w.now,
    });
    assert_eq!(again.status, settled.status);
    assert!(again.events.is_empty());
    assert_eq!(again.desired, settled.desired);
}

#[test]
fn a_status_round_tripped_through_json_resumes_identically() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    let settled = w.settle();
    let json = serde_json::to_string(&settled.status).unwrap();
    w.status = serde_json::from_str(&json).unwrap();
    let again = w.step();
    assert_eq!(again.status, settled.status);
    assert!(again.events.is_empty());
}

#[test]
fn a_deployment_seen_mid_rollout_is_left_to_finish_before_it_is_paused() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.obs.workload = Some(WorkloadObservation {
        rolled_out: false,
        ..w.obs.workload.clone().unwrap()
    });
    let d = portcullis::engine::decide(&portcullis::engine::Input {
        spec: &w.spec,
        generation: Some(1),
        status: &w.status,
        observations: &w.obs,
        now: w.now,
    });
    assert!(!d.desired.unwrap().workload_paused);
}

#[test]
fn steps_edited_mid_canary_are_followed_at_once_and_said() {
    let mut w = World::new(spec(standard_steps()), rev("v1", "auth:1"), 4);
    w.step();
    w.push(rev("v2", "auth:2"));
    w.settle();
    assert_eq!(w.status.current_step, Some(1), "pausing for 1m at 10%");
    assert_eq!(w.status.desired_weight, 10);
    // The platform team lowers the first weight while the canary pauses.
    w.spec.steps[0] = Step::set_weight(5);
    let d = w.step();
    assert_eq!(
        d.status.desired_weight, 5,
        "the new weight, not the old one"
    );
    assert_eq!(d.desired.unwrap().weight, 5);
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == "StepsChanged" && e.message.contains("now holds 5% (was 10%)")),
        "{:?}",
        d.events
    );
}

#[test]
fn a_template_pushed_before_the_first_look_is_judged_not_adopted() {
    // The Rollout was created, then a release pushed before the operator looked: the
    // Deployment is rolling v2 out while v1's pods still serve.
    let mut w = World::new(spec(standard_steps()), rev("v2", "auth:2"), 4);
    let wl = w.obs.workload.as_mut().unwrap();
    wl.rolled_out = false;
    wl.serving = Some(rev("v1", "auth:1"));
    let d = w.step();
    assert_eq!(
        d.status.stable,
        Some(rev("v1", "auth:1")),
        "what runs is stable"
    );
    assert_eq!(d.status.canary, Some(rev("v2", "auth:2")), "v2 is judged");
    assert!(
        d.desired.unwrap().workload_paused,
        "the roll-out stops at once"
    );
    let adopted = d.events.iter().find(|e| e.reason == "Adopted").unwrap();
    assert!(
        adopted.message.contains("will run as a canary"),
        "{}",
        adopted.message
    );
}
