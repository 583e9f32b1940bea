//! Shared test fixtures: a Rollout spec builder and a tiny world that makes the engine's
//! desired state come true, so scenarios run end to end without Kubernetes.
#![allow(dead_code)]

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use portcullis::api::{
    Duration, GatewayApiRouter, Metric, QueryMetric, Revision, RolloutAnalysis, RolloutSpec,
    RolloutStatus, Step, Traffic, WorkloadRef,
};
use portcullis::engine::{
    self, CanaryObservation, Decision, Input, Observations, WorkloadObservation, sizing,
};

pub fn rev(hash: &str, image: &str) -> Revision {
    Revision {
        revision: hash.into(),
        images: vec![image.into()],
    }
}

pub fn spec(steps: Vec<Step>) -> RolloutSpec {
    RolloutSpec {
        workload_ref: WorkloadRef {
            name: "auth-api".into(),
        },
        service: "auth-api".into(),
        traffic: Traffic::default(),
        steps,
        analysis: None,
        gates: None,
        progress_deadline: None,
        deadlines: None,
        notifications: vec![],
        history_limit: None,
    }
}

pub fn with_analysis(mut s: RolloutSpec) -> RolloutSpec {
    s.analysis = Some(RolloutAnalysis {
        interval: Some(Duration::from("10s")),
        metrics: vec![Metric {
            name: "login-failure-ratio".into(),
            counts: None,
            query: Some(QueryMetric {
                query: "x".into(),
                min: None,
                max: Some(1.0),
                compare_to_stable: None,
                failure_limit: None,
                confidence: None,
            }),
            probe: None,
        }],
        ..Default::default()
    });
    s
}

pub fn gateway(mut s: RolloutSpec) -> RolloutSpec {
    s.traffic = Traffic {
        replicas: None,
        gateway_api: Some(GatewayApiRouter {
            http_route: "auth-api".into(),
            rule: None,
            header_routes: vec![],
        }),
    };
    s
}

/// A cluster that obeys: canary pods become ready at once (unless `canary_ready` is
/// off), the router reports what it was told, a Deployment rolls out when unpaused.
pub struct World {
    pub spec: RolloutSpec,
    pub status: RolloutStatus,
    pub obs: Observations,
    pub now: Timestamp,
    pub canary_ready: bool,
    pub decisions: Vec<Decision>,
    /// Every revision that reached the workload's own pods (Kubernetes rolled it out
    /// because the workload was unpaused while it held that template), in order.
    pub live: Vec<String>,
}

impl World {
    pub fn new(spec: RolloutSpec, stable: Revision, replicas: i32) -> Self {
        let obs = Observations {
            workload: Some(WorkloadObservation {
                revision: stable,
                replicas,
                paused: false,
                rolled_out: true,
                ready_replicas: replicas,
                updated_replicas: replicas,
                serving: None,
                rejected_revisions: vec![],
            }),
            ..Default::default()
        };
        World {
            spec,
            status: RolloutStatus::default(),
            obs,
            now: "2026-11-25T10:00:00Z".parse().unwrap(),
            canary_ready: true,
            decisions: vec![],
            live: vec![],
        }
    }

    /// The user pushes a new pod template: Kubernetes does not roll it out (paused).
    pub fn push(&mut self, r: Revision) {
        let w = self.obs.workload.as_mut().unwrap();
        w.revision = r;
        w.rolled_out = false;
    }

    pub fn advance_time(&mut self, secs: i64) {
        self.now += SignedDuration::from_secs(secs);
    }

    /// One decision, with the status kept and the desired state applied to the world.
    pub fn step(&mut self) -> Decision {
        let d = engine::decide(&Input {
            spec: &self.spec,
            generation: Some(1),
            status: &self.status,
            observations: &self.obs,
            now: self.now,
        });
        self.status = d.status.clone();
        self.obs.analysis = None;
        self.obs.gates = Default::default();
        if d.desired.is_none() && d.hold {
            self.obs.workload.as_mut().unwrap().paused = true;
        }
        // Whenever the controller writes the Deployment it records the rejections there.
        if d.desired.is_some() || d.hold {
            self.obs.workload.as_mut().unwrap().rejected_revisions =
                d.status.rejected_revisions.clone();
        }
        if let Some(desired) = &d.desired {
            let w = self.obs.workload.as_mut().unwrap();
            w.paused = desired.workload_paused;
            if !w.paused {
                w.rolled_out = true;
            }
            self.obs.canary = desired.canary.as_ref().map(|c| CanaryObservation {
                revision: c.revision.clone(),
                replicas: c.replicas,
                ready_replicas: if self.canary_ready { c.replicas } else { 0 },
            });
            let canary_ready = self.obs.canary.as_ref().map_or(0, |c| c.ready_replicas);
            self.obs.routed_weight = if self.spec.traffic.gateway_api.is_some() {
                desired.weight
            } else {
                sizing::ready_share(canary_ready, w.ready_replicas)
            };
        }
        // An unpaused workload rolls its template out (the world's Kubernetes).
        let w = self.obs.workload.as_mut().unwrap();
        if !w.paused {
            w.rolled_out = true;
            if self.live.last() != Some(&w.revision.revision) {
                self.live.push(w.revision.revision.clone());
            }
        }
        self.decisions.push(d.clone());
        d
    }

    /// Decides until nothing changes (at most `n` times); returns the last decision.
    pub fn settle(&mut self) -> Decision {
        let mut last = self.step();
        for _ in 0..20 {
            let next = self.step();
            if next.status == last.status && next.events.is_empty() {
                return next;
            }
            last = next;
        }
        last
    }

    pub fn reasons(&self) -> Vec<String> {
        self.decisions
            .iter()
            .flat_map(|d| d.events.iter().map(|e| e.reason.clone()))
            .collect()
    }
}
