//! What a waiting pipeline makes of a Rollout's status (`cli::progress`), and how
//! `portcullis status` shows the numbers behind a verdict (`cli::describe`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use portcullis::api::*;
use portcullis::cli::describe::describe;
use portcullis::cli::progress::{Goal, Progress, assess};

fn rev(r: &str, image: &str) -> Revision {
    Revision {
        revision: r.into(),
        images: vec![image.into()],
    }
}

fn at() -> Time {
    Time("2026-12-01T10:00:00Z".parse().unwrap())
}

fn status(phase: Phase) -> RolloutStatus {
    RolloutStatus {
        phase: Some(phase),
        observed_generation: Some(1),
        stable: Some(rev("old", "auth:1.0")),
        ..Default::default()
    }
}

fn promoted(r: &str) -> Goal {
    Goal::Promoted { revision: r.into() }
}

#[test]
fn the_previous_release_succeeding_is_not_the_pushed_one_succeeding() {
    let st = status(Phase::Succeeded);
    assert_eq!(
        assess(&promoted("new"), Some(1), Some(&st)),
        Progress::Waiting
    );
    assert!(matches!(
        assess(&promoted("old"), Some(1), Some(&st)),
        Progress::Reached(_)
    ));
}

#[test]
fn a_release_is_promoted_only_once_its_canary_is_gone() {
    let mut st = status(Phase::Promoting);
    st.stable = Some(rev("new", "auth:1.1"));
    st.canary = Some(rev("new", "auth:1.1"));
    assert_eq!(
        assess(&promoted("new"), Some(1), Some(&st)),
        Progress::Waiting
    );
    st.canary = None;
    st.phase = Some(Phase::Succeeded);
    let Progress::Reached(m) = assess(&promoted("new"), Some(1), Some(&st)) else {
        panic!()
    };
    assert_eq!(m, "revision new (auth:1.1) is stable");
}

#[test]
fn a_rolled_back_release_fails_the_wait_with_the_reason_and_what_to_do() {
    let mut st = status(Phase::Aborted);
    st.rejected_revisions = vec!["new".into()];
    st.last_abort = Some(AbortRecord {
        revision: rev("new", "auth:1.2"),
        reason: "login-failures: canary 40/100 vs stable 20/1000".into(),
        at: at(),
        estimated_failed_requests: Some(38),
    });
    let Progress::Failed(m) = assess(&promoted("new"), Some(1), Some(&st)) else {
        panic!()
    };
    assert!(
        m.contains("canary 40/100") && m.contains("portcullis retry"),
        "{m}"
    );
    let aborted = Goal::Aborted {
        revision: "new".into(),
    };
    assert!(matches!(
        assess(&aborted, Some(1), Some(&st)),
        Progress::Reached(_)
    ));
}

#[test]
fn a_status_older_than_the_spec_says_nothing_yet() {
    let st = status(Phase::InvalidSpec);
    assert_eq!(
        assess(&promoted("old"), Some(2), Some(&st)),
        Progress::Waiting
    );
    assert!(
        matches!(assess(&promoted("old"), Some(1), Some(&st)), Progress::Failed(m) if m.contains("invalid"))
    );
    assert_eq!(assess(&promoted("old"), Some(1), None), Progress::Waiting);
}

#[test]
fn a_pause_counts_only_for_the_awaited_release() {
    let mut st = status(Phase::Paused);
    st.canary = Some(rev("new", "auth:1.1"));
    st.step_label = Some("2/4".into());
    let paused = |r: &str| Goal::Paused { revision: r.into() };
    assert!(
        matches!(assess(&paused("new"), Some(1), Some(&st)), Progress::Reached(m) if m.contains("2/4"))
    );
    assert_eq!(
        assess(&paused("newer"), Some(1), Some(&st)),
        Progress::Waiting
    );
}

#[test]
fn a_superseded_release_fails_the_wait_naming_its_successor() {
    let mut st = status(Phase::Progressing);
    st.canary = Some(rev("newer", "auth:1.3"));
    st.history = vec![HistoryEntry {
        revision: rev("new", "auth:1.2"),
        outcome: Outcome::Superseded,
        reason: None,
        started_at: None,
        ended_at: at(),
    }];
    let Progress::Failed(m) = assess(&promoted("new"), Some(1), Some(&st)) else {
        panic!()
    };
    assert!(m.contains("superseded by newer (auth:1.3)"), "{m}");
}

#[test]
fn a_command_is_answered_by_its_acknowledgement_only() {
    let mut st = status(Phase::Paused);
    let goal = Goal::Acknowledged { id: "b".into() };
    let ack = |id: &str, accepted| CommandAck {
        id: id.into(),
        verb: "promote-full".into(),
        accepted,
        message: "refused after a failed verdict".into(),
        at: at(),
    };
    st.last_command = Some(ack("a", true));
    assert_eq!(assess(&goal, Some(9), Some(&st)), Progress::Waiting);
    st.last_command = Some(ack("b", false));
    assert_eq!(
        assess(&goal, Some(9), Some(&st)),
        Progress::Failed("promote-full refused: refused after a failed verdict".into())
    );
}

#[test]
fn status_shows_each_metric_with_its_counts_ratio_and_evidence() {
    let mut st = status(Phase::Progressing);
    st.canary = Some(rev("new", "auth:1.2"));
    st.step_label = Some("1/4".into());
    st.effective_weight = 5;
    st.desired_weight = 5;
    st.analysis = Some(AnalysisStatus {
        verdict: Some(Verdict::Inconclusive),
        last_reading_at: Some(at()),
        metrics: vec![MetricResult {
            name: "login-failure-ratio".into(),
            verdict: Some(Verdict::Inconclusive),
            canary: Some(TrackReading {
                failures: Some(3.0),
                total: Some(150.0),
                value: None,
            }),
            stable: Some(TrackReading {
                failures: Some(40.0),
                total: Some(2000.0),
                value: None,
            }),
            ratio: Some(1.0),
            ratio_lower: Some(0.25),
            ratio_upper: Some(3.5),
            evidence: Some(0.4),
            alpha: Some(0.01),
            ..Default::default()
        }],
        ..Default::default()
    });
    let ro = Rollout {
        metadata: kube::api::ObjectMeta {
            name: Some("auth-api".into()),
            namespace: Some("payments".into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: serde_json::from_value(serde_json::json!({
            "workloadRef": {"name": "auth-api"}, "service": "auth-api", "steps": [{"setWeight": 5}]
        }))
        .unwrap(),
        status: Some(st),
    };
    let now: Timestamp = "2026-12-01T10:00:30Z".parse().unwrap();
    let text = describe(&ro, now);
    for expected in [
        "Rollout payments/auth-api  (workload deployment/auth-api)",
        "Step:     1/4  weight 5% (asked 5%)",
        "Canary:   new (auth:1.2)",
        "Analysis: Inconclusive, last reading 30s ago",
        "login-failure-ratio: Inconclusive, canary 3/150, stable 40/2000, ratio 1 [0.250, 3.500], evidence 0.400 (fails at 100)",
    ] {
        assert!(text.contains(expected), "`{expected}` in\n{text}");
    }
}

#[test]
fn status_shows_what_a_release_waits_on_and_when_it_is_rolled_back() {
    let mut st = status(Phase::Blocked);
    st.message = Some("revision new (auth:1.2) waits: the HTTPRoute API is not served".into());
    st.waiting = Some(Wait {
        for_: WaitFor::Router,
        since: at(),
        deadline: Time("2026-12-01T10:05:00Z".parse().unwrap()),
    });
    let ro = Rollout {
        metadata: kube::api::ObjectMeta {
            name: Some("auth-api".into()),
            namespace: Some("payments".into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: serde_json::from_value(serde_json::json!({
            "workloadRef": {"name": "auth-api"}, "service": "auth-api", "steps": [{"setWeight": 5}]
        }))
        .unwrap(),
        status: Some(st),
    };
    let now: Timestamp = "2026-12-01T10:00:30Z".parse().unwrap();
    let text = describe(&ro, now);
    let expected = "Waiting:  on the traffic router since 30s ago; rolled back at 2026-12-01T10:05:00Z (in 4m)";
    assert!(text.contains(expected), "`{expected}` in\n{text}");
}
