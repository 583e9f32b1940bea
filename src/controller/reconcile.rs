//! One reconcile: observe → engine → act, then status, events and notifications.
//!
//! The decision is written to status before the cluster is changed: if acting fails or
//! the process dies halfway, the next reconcile finds the decision (an abort, say) in
//! status and the engine asks for the same desired state again, so nothing is lost and
//! nothing is done twice.

use super::analysis_source::{AnalysisSource, ReadingRequest};
use super::cache::Caches;
use super::error::Error;
use super::finalizer::{self, Step};
use super::metrics::Metrics;
use super::{act, events, observe, status, webhooks};
use crate::api::{Phase, Rollout, Verdict};
use crate::engine::{self, Input};
use crate::traffic::router_for;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};
use rand::RngExt;
use rand::rngs::StdRng;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Held on every Rollout so that deleting one gives traffic back to stable first.
pub const FINALIZER: &str = "portcullis.dev/release";

/// How often a quiet Rollout is looked at anyway (`--resync-interval` by default).
pub const RESYNC: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub recorder: Arc<events::Recorder>,
    pub analysis: Arc<dyn AnalysisSource>,
    pub metrics: Arc<Metrics>,
    pub http: reqwest::Client,
    /// The clock; tests may move it.
    pub now: fn() -> Timestamp,
    /// Watch caches to read from; `None`: read everything live.
    pub caches: Option<Caches>,
    /// The longest a Rollout goes without a reconcile; each recheck lands at a random
    /// point of its last quarter, so thousands of Rollouts do not recheck at once.
    pub resync: Duration,
    pub jitter: Arc<Mutex<StdRng>>,
    /// Turns to reconcile, shared by the controllers of every watched namespace, so
    /// `--max-concurrent-reconciles` bounds them all together; `None`: no bound.
    pub turns: Option<Arc<Semaphore>>,
}

impl Context {
    /// When a quiet Rollout is looked at again: within [¾, 1] × `resync`.
    fn recheck(&self) -> Duration {
        let quarter = self.resync / 4;
        let mut rng = self.jitter.lock().expect("jitter lock");
        self.resync - quarter.mul_f64(rng.random_range(0.0..1.0))
    }
}

pub async fn reconcile(ro: Arc<Rollout>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _turn = match &ctx.turns {
        Some(turns) => Some(turns.acquire().await.expect("the turns are never closed")),
        None => None,
    };
    let started = Instant::now();
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<Rollout> = Api::namespaced(ctx.client.clone(), &ns);
    let (r, c) = (ro.as_ref(), ctx.as_ref());
    let result = finalizer::guard(&api, FINALIZER, r, |step, fresh| async move {
        // Right after adding the finalizer: the copy the API server answered with, not
        // the cached one (which may not have the finalizer yet).
        let r = fresh.as_ref().unwrap_or(r);
        match step {
            Step::Apply => apply(r, c).await,
            Step::Cleanup => cleanup(r, c).await,
        }
    })
    .await;
    ctx.metrics.observe_reconcile(started.elapsed());
    result
}

pub fn error_policy(ro: Arc<Rollout>, error: &Error, ctx: Arc<Context>) -> Action {
    let kind = if error.is_conflict() {
        "conflict"
    } else {
        "error"
    };
    ctx.metrics
        .errors
        .get_or_create(&super::metrics::ErrorLabel { kind: kind.into() })
        .inc();
    tracing::warn!(rollout = %ro.name_any(), namespace = %ro.namespace().unwrap_or_default(), %error, "reconcile failed");
    // A conflict is cured by reading again: retry at once; anything else backs off.
    if error.is_conflict() {
        Action::requeue(Duration::from_millis(200))
    } else {
        Action::requeue(Duration::from_secs(5))
    }
}

fn key(ro: &Rollout) -> String {
    format!("{}/{}", ro.namespace().unwrap_or_default(), ro.name_any())
}

async fn apply(ro: &Rollout, ctx: &Context) -> Result<Action, Error> {
    let router = router_for(&ro.spec);
    let mut world = match &ctx.caches {
        Some(caches) => {
            caches.ready().await.map_err(Error::CachesNotReady)?;
            observe::world_cached(caches, ro, router.as_ref())?
        }
        None => observe::world(&ctx.client, ro, router.as_ref()).await?,
    };
    let mut obs = observe::observations(ro, &world, router.as_ref());
    let before = ro.status.clone().unwrap_or_default();
    let now = (ctx.now)();
    if obs.spec_errors.is_empty() && engine::analysis_due(&ro.spec, &before, now) {
        observe::pods(&ctx.client, ro, &mut world).await?;
        let stable_rev = before
            .stable
            .as_ref()
            .map(|s| s.revision.clone())
            .unwrap_or_default();
        let canary = world.canary_pods();
        let drained = before.analysis.as_ref().is_some_and(|a| a.draining);
        let request = ReadingRequest {
            // A drained canary without pods cannot be measured: only check that metrics
            // can be read again, so it comes back on its own.
            readability_only: drained && canary.is_empty(),
            rollout: ro,
            metrics: &world.metrics,
            canary_pods: observe::World::names(&canary),
            stable_pods: observe::World::names(&world.stable_pods(&stable_rev)),
            canary_ips: observe::World::ips(&canary),
        };
        obs.analysis = Some(ctx.analysis.read(request).await);
    }
    let decide = |obs: &engine::Observations| {
        engine::decide(&Input {
            spec: &ro.spec,
            generation: ro.metadata.generation,
            status: &before,
            observations: obs,
            now,
        })
    };
    let mut decision = decide(&obs);
    if decision.wants.pre_rollout_gate || decision.wants.pre_promotion_gate {
        obs.gates = webhooks::gates(&ctx.http, ro, &decision.wants).await;
        decision = decide(&obs);
    }
    status::write(&ctx.client, ro, &before, &decision.status).await?;
    let failing = decision
        .status
        .analysis
        .as_ref()
        .is_some_and(|a| a.verdict == Some(Verdict::Fail));
    if decision.status.phase == Some(Phase::Aborted) && failing {
        ctx.metrics.rollback_started(&key(ro), Instant::now());
    }
    let rejected = &decision.status.rejected_revisions;
    if decision.desired.is_none() && decision.hold {
        act::hold(&ctx.client, ro, &world, rejected).await?;
    }
    if let Some(desired) = &decision.desired {
        act::act(
            &ctx.client,
            ro,
            &world,
            router.as_ref(),
            desired,
            obs.routed_weight,
            rejected,
        )
        .await?;
        if desired.weight == 0 && (obs.routed_weight == 0 || router.route_name().is_some()) {
            ctx.metrics.traffic_restored(&key(ro), Instant::now());
        }
    }
    events::publish(&ctx.recorder, ro, &decision.events).await;
    webhooks::notify(&ctx.http, ro, &decision.events);
    ctx.metrics.phase(&key(ro), decision.status.phase);
    let ns = ro.namespace().unwrap_or_default();
    ctx.metrics.rollout(&ns, &ro.name_any(), &decision.status);
    let recheck = ctx.recheck();
    Ok(Action::requeue(
        decision.requeue_after.unwrap_or(recheck).min(recheck),
    ))
}

async fn cleanup(ro: &Rollout, ctx: &Context) -> Result<Action, Error> {
    let router = router_for(&ro.spec);
    let world = observe::world(&ctx.client, ro, router.as_ref()).await?;
    let handback = act::release(&ctx.client, ro, &world, router.as_ref()).await?;
    ctx.metrics.phase(&key(ro), None);
    let workload = &ro.spec.workload_ref.name;
    let (warn, note) = match &handback {
        act::Handback::Unpaused => (
            false,
            format!(
                "Rollout {} deleted: traffic on stable, Deployment {workload} unpaused",
                ro.name_any()
            ),
        ),
        act::Handback::Restored { revision } => (
            false,
            format!(
                "Rollout {} deleted: revision {revision} was never promoted, so the stable pod template was put back before unpausing Deployment {workload}",
                ro.name_any()
            ),
        ),
        act::Handback::KeptPaused { revision } => (
            true,
            format!(
                "Rollout {} deleted: revision {revision} was never promoted and the stable template could not be found, so Deployment {workload} stays paused; fix its template, then `kubectl rollout resume`",
                ro.name_any()
            ),
        ),
        act::Handback::NotOurs => (
            false,
            format!(
                "Rollout {} deleted: Deployment {workload} is managed by another Rollout and was left alone",
                ro.name_any()
            ),
        ),
    };
    tracing::info!(rollout = %ro.name_any(), ?handback, "{note}");
    if let Some(d) = &world.workload {
        let type_ = if warn {
            engine::EventType::Warning
        } else {
            engine::EventType::Normal
        };
        let reference = kube::Resource::object_ref(d, &());
        events::publish_about(&ctx.recorder, &reference, type_, "RolloutDeleted", &note).await;
    }
    Ok(Action::await_change())
}
