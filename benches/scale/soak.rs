//! The leak check: canaries starting and ending on a rotating 1% of the Rollouts for a
//! while after the measurements, the operator's RSS read after ten minutes and at the
//! end. Each cycle pushes a new image to its Rollouts' Deployments (a canary starts),
//! and after two minutes puts the old one back (a revert to stable ends it).

use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::time::{Duration, Instant};

const CANARY_FOR: Duration = Duration::from_secs(120);
const SETTLE_FOR: Duration = Duration::from_secs(60);
const FIRST_READING: Duration = Duration::from_secs(600);

/// What the check saw: RSS after ten minutes and at the end, cycles run.
pub struct Soak {
    pub rss_at_ten_min: f64,
    pub rss_at_end: f64,
    pub minutes: f64,
    pub cycles: usize,
    pub canaries_per_cycle: usize,
}

impl Soak {
    pub fn note(&self) -> String {
        format!(
            "leak check: RSS {:.0} MiB after 10 min of canaries starting and ending, {:.0} MiB after {:.0} min ({:+.1}%); {} cycles of {} canaries",
            self.rss_at_ten_min,
            self.rss_at_end,
            self.minutes,
            100.0 * (self.rss_at_end / self.rss_at_ten_min - 1.0),
            self.cycles,
            self.canaries_per_cycle
        )
    }
}

/// Runs cycles for `length` (at least ten minutes, so the first reading exists).
/// `name(i)` names Rollout i's Deployment; `image` is the stable image.
pub async fn run(
    client: &Client,
    namespace: &str,
    rollouts: usize,
    name: impl Fn(usize) -> String,
    image: &str,
    length: Duration,
    rss: impl Fn() -> f64,
) -> Result<Soak, String> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let per_cycle = (rollouts / 100).max(1);
    let set_image = |i: usize, image: String| {
        let api = api.clone();
        let name = name(i);
        async move {
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
            api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
                .await
                .map(|_| ())
                .map_err(|e| format!("patching {name}: {e}"))
        }
    };
    let start = Instant::now();
    let length = length.max(FIRST_READING + CANARY_FOR + SETTLE_FOR);
    let (mut at_ten, mut cycles) = (None, 0);
    while start.elapsed() < length {
        cycles += 1;
        let group: Vec<usize> = (0..per_cycle)
            .map(|j| (cycles * per_cycle + j) % rollouts)
            .collect();
        for &i in &group {
            set_image(i, format!("auth:soak-{cycles}")).await?;
        }
        tokio::time::sleep(CANARY_FOR).await;
        for &i in &group {
            set_image(i, image.to_string()).await?;
        }
        tokio::time::sleep(SETTLE_FOR).await;
        if at_ten.is_none() && start.elapsed() >= FIRST_READING {
            at_ten = Some(rss());
        }
    }
    Ok(Soak {
        rss_at_ten_min: at_ten.unwrap_or_else(&rss),
        rss_at_end: rss(),
        minutes: start.elapsed().as_secs_f64() / 60.0,
        cycles,
        canaries_per_cycle: per_cycle,
    })
}
