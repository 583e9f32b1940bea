//! Invariants over random specs, observation sequences, commands and restarts.

mod support;

use portcullis::api::validate::FieldError;
use portcullis::api::{Phase, PromotionStage, RolloutSpec, RolloutStatus, Step, Verdict};
use portcullis::engine::handover::{self, Handover};
use portcullis::engine::{self, AnalysisReading, Decision, Input};
use proptest::prelude::*;
use support::*;

#[derive(Debug, Clone)]
enum Op {
    Tick(i64),
    Push(u8),
    Reading(Option<Verdict>),
    Command(&'static str),
    Ready(bool),
    Restart,
    /// The router's API goes away (or comes back).
    RouterDown(bool),
    /// Another Rollout claims the Deployment (or lets go).
    OwnedElsewhere(bool),
    /// The spec turns invalid (or valid again).
    SpecBroken(bool),
    /// The Rollout is deleted (the Deployment handed back) and created again.
    Recreate,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..100i32).prop_map(Step::set_weight),
        Just(Step::pause(None)),
        (0..120u32).prop_map(|s| Step::pause(Some(&format!("{s}s")))),
        Just(Step::analysis()),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..180i64).prop_map(Op::Tick),
        1 => (0..4u8).prop_map(Op::Push),
        3 => prop_oneof![
            Just(Some(Verdict::Pass)),
            Just(Some(Verdict::Fail)),
            Just(Some(Verdict::Inconclusive)),
            Just(None),
        ]
        .prop_map(Op::Reading),
        1 => prop::sample::select(vec![
            "promote", "promote-full", "abort", "retry", "pause", "resume", "override-freeze",
        ])
        .prop_map(Op::Command),
        1 => any::<bool>().prop_map(Op::Ready),
        1 => Just(Op::Restart),
        1 => any::<bool>().prop_map(Op::RouterDown),
        1 => any::<bool>().prop_map(Op::OwnedElsewhere),
        1 => any::<bool>().prop_map(Op::SpecBroken),
        1 => Just(Op::Recreate),
    ]
}

/// A template Portcullis let through: the stable one, or a canary past the point of
/// promotion.
fn let_through(st: &RolloutStatus, revision: &str) -> bool {
    let stable = st.stable.as_ref().is_some_and(|s| s.revision == revision);
    let promoted = st.phase == Some(Phase::Promoting)
        && st.promotion_stage != Some(PromotionStage::ScalingCanary)
        && st.canary.as_ref().is_some_and(|c| c.revision == revision);
    (stable || promoted) && !st.rejected_revisions.iter().any(|r| r == revision)
}

/// Deletes the Rollout the way the controller does (engine::handover) and creates it
/// again: the Deployment keeps its rejections, the new Rollout starts from no status.
fn recreate(w: &mut World) -> Handover {
    let workload = w.obs.workload.clone().unwrap();
    let h = handover::on_delete(&w.status, &workload, w.obs.owner_conflict.is_some());
    let stable = w.status.stable.clone();
    let wl = w.obs.workload.as_mut().unwrap();
    match &h {
        Handover::NotOurs => {}
        Handover::Unpause => wl.paused = false,
        // Without a known stable template the controller keeps the Deployment paused.
        Handover::RestoreStable { .. } => {
            if let Some(stable) = stable {
                wl.revision = stable;
                wl.paused = false;
            }
        }
    }
    if !wl.paused {
        wl.rolled_out = true;
        if w.live.last() != Some(&wl.revision.revision) {
            w.live.push(wl.revision.revision.clone());
        }
    }
    let mut recorded = w.status.rejected_revisions.clone();
    recorded.extend(wl.rejected_revisions.iter().cloned());
    wl.rejected_revisions = recorded;
    w.obs.canary = None;
    w.obs.routed_weight = 0;
    w.status = RolloutStatus::default();
    h
}

/// Every wait on the outside has a deadline ahead, and the engine asks to be woken by it.
fn bounded(d: &Decision, now: k8s_openapi::jiff::Timestamp) -> Result<(), TestCaseError> {
    if let Some(wait) = &d.status.waiting {
        prop_assert!(
            now < wait.deadline.0,
            "a wait past its deadline: {:?}",
            wait
        );
        let left = wait.deadline.0.duration_since(now).as_secs() as u64;
        let wake = d.requeue_after.map(|r| r.as_secs());
        prop_assert!(
            wake.is_some_and(|w| w <= left),
            "woken at {:?}, deadline in {}s",
            wake,
            left
        );
    }
    Ok(())
}

fn world_strategy() -> impl Strategy<Value = (RolloutSpec, i32)> {
    (
        prop::collection::vec(step_strategy(), 1..6),
        any::<bool>(),
        1..8i32,
    )
        .prop_map(|(steps, gw, replicas)| {
            let mut s = with_analysis(spec(steps));
            if gw {
                s = gateway(s);
            }
            (s, replicas)
        })
}

/// The weight of the last `setWeight` at or before step `i` (0 if none). Past the last
/// step (promotion pending, e.g. after `promote-full`) any weight the steps name is allowed.
fn step_weight(spec: &RolloutSpec, i: i32) -> i32 {
    let i = i.max(0) as usize;
    if i >= spec.steps.len() {
        return spec
            .steps
            .iter()
            .filter_map(|s| s.set_weight)
            .max()
            .unwrap_or(0);
    }
    spec.steps[..=i]
        .iter()
        .rev()
        .find_map(|s| s.set_weight)
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_histories(
        (spec, replicas) in world_strategy(),
        ops in prop::collection::vec(op_strategy(), 1..40),
    ) {
        let mut w = World::new(spec, rev("r0", "auth:0"), replicas);
        w.step();
        let mut tainted: Option<String> = None;
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Tick(s) => w.advance_time(s),
                Op::Push(i) => w.push(rev(&format!("r{i}"), &format!("auth:{i}"))),
                Op::Reading(v) => {
                    w.obs.analysis = Some(match v {
                        Some(v) => AnalysisReading::verdict(v),
                        None => AnalysisReading::error("prometheus unreachable"),
                    })
                }
                Op::Command(verb) => w.obs.command = Some(format!("{verb}:c{n}")),
                Op::Ready(r) => w.canary_ready = r,
                Op::Restart => {
                    let json = serde_json::to_string(&w.status).unwrap();
                    w.status = serde_json::from_str(&json).unwrap();
                }
                Op::RouterDown(down) => {
                    w.obs.router_unavailable = down.then(|| "the HTTPRoute API is not served".into())
                }
                Op::OwnedElsewhere(other) => w.obs.owner_conflict = other.then(|| "other".into()),
                Op::SpecBroken(broken) => {
                    w.obs.spec_errors = if broken {
                        vec![FieldError::new("spec.service", "Service `x` not found")]
                    } else {
                        vec![]
                    }
                }
                Op::Recreate => {
                    let rejected = w.status.rejected_revisions.clone();
                    let before = w.live.len();
                    recreate(&mut w);
                    for r in &w.live[before..] {
                        prop_assert!(!rejected.contains(r), "deleting the Rollout shipped rejected {}", r);
                    }
                    tainted = None;
                }
            }
            let fed_fail = w.obs.analysis.as_ref().and_then(|a| a.verdict) == Some(Verdict::Fail);
            let active_before = engine::analysis_active(&w.spec, &w.status);
            let before = w.status.clone();
            let obs = w.obs.clone();
            let live_before = w.live.len();
            let d = w.step();

            // A template reaches the workload's own pods only if Portcullis let it through.
            // (While another Rollout owns the Deployment, holding it is that one's job.)
            let ours = obs.owner_conflict.is_none();
            for r in w.live[live_before..].iter().filter(|_| ours) {
                prop_assert!(let_through(&d.status, r), "{} reached the workload's pods unjudged (status {:?})", r, d.status.phase);
            }
            // With nothing to do, the workload is held all the same, except for an owner's.
            if d.desired.is_none() && obs.owner_conflict.is_none() && obs.workload.as_ref().is_some_and(|wl| wl.paused) {
                prop_assert!(d.hold, "an invalid spec let go of a paused workload");
            }
            if obs.owner_conflict.is_some() {
                prop_assert!(d.desired.is_none() && !d.hold, "a Rollout acted on another's Deployment");
            }
            bounded(&d, w.now)?;

            // Deciding again on its own status and the same observations changes nothing.
            let again = engine::decide(&Input {
                spec: &w.spec, generation: Some(1), status: &d.status, observations: &obs, now: w.now,
            });
            prop_assert_eq!(&again.status, &d.status, "not a fixed point after {:?}", before.phase);
            prop_assert!(again.events.is_empty(), "events on re-decide: {:?}", again.events);
            prop_assert_eq!(&again.desired, &d.desired);

            if d.events.iter().any(|e| e.reason == "CanaryStarted") {
                tainted = None;
            }
            let same_canary = before.canary.is_some() && before.canary.as_ref().map(|c| &c.revision)
                == obs.workload.as_ref().map(|w| &w.revision.revision);
            if fed_fail && active_before && same_canary {
                prop_assert_eq!(d.status.phase, Some(Phase::Aborted), "a failed verdict aborts at once");
                tainted = before.canary.as_ref().map(|c| c.revision.clone());
            }
            // Never promotes with a failed verdict.
            if let Some(t) = &tainted {
                let promoted = d.events.iter().any(|e| e.reason == "Promoted");
                prop_assert!(!promoted, "promoted {} after a failed verdict", t);
            }
            if let Some(desired) = &d.desired {
                // Abort always means weight 0 and zero canary replicas in the same output.
                if d.status.phase == Some(Phase::Aborted) {
                    prop_assert_eq!(desired.weight, 0);
                    prop_assert!(desired.canary.as_ref().is_none_or(|c| c.replicas == 0));
                }
                // The weight never exceeds the current step's weight.
                if matches!(d.status.phase, Some(Phase::Progressing | Phase::Paused)) {
                    let cap = step_weight(&w.spec, d.status.current_step.unwrap_or(0));
                    prop_assert!(desired.weight <= cap, "weight {} above step weight {}", desired.weight, cap);
                }
                // Without a canary in flight nothing routes to a canary.
                if d.status.canary.is_none() {
                    prop_assert_eq!(&desired.canary, &None);
                    prop_assert_eq!(desired.weight, 0);
                }
            }
        }

        // Then everything outside breaks for good: every wait still ends, by its deadline.
        w.obs.router_unavailable = Some("the HTTPRoute API is not served".into());
        w.canary_ready = false;
        for _ in 0..200 {
            w.obs.analysis = Some(AnalysisReading::error("prometheus unreachable"));
            let live_before = w.live.len();
            let d = w.step();
            for r in &w.live[live_before..] {
                prop_assert!(let_through(&d.status, r), "{} reached the workload's pods unjudged", r);
            }
            bounded(&d, w.now)?;
            if d.status.waiting.is_none() {
                break;
            }
            w.advance_time(d.requeue_after.map_or(60, |r| r.as_secs().max(1) as i64));
        }
        prop_assert!(w.status.waiting.is_none(), "still waiting: {:?}", w.status.waiting);
    }
}
