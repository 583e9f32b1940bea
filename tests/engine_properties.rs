//! Invariants over random specs, observation sequences, commands and restarts.

mod support;

use portcullis::api::{Phase, RolloutSpec, Step, Verdict};
use portcullis::engine::{self, AnalysisReading, Input};
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
    ]
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
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

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
            }
            let fed_fail = w.obs.analysis.as_ref().and_then(|a| a.verdict) == Some(Verdict::Fail);
            let active_before = engine::analysis_active(&w.spec, &w.status);
            let before = w.status.clone();
            let obs = w.obs.clone();
            let d = w.step();

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
    }
}
