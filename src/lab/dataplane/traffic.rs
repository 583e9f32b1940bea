//! The traffic model: who logs in (a user population, some of them staff whose requests
//! carry the canary header), where each request goes and how the release answers it.

use super::bursts::Bursts;
use super::metrics::DataPlaneMetrics;
use super::release::{Answer, AuthBehaviour, Release};
use super::routing::{self, Request, Unrouted};
use super::snapshot::Snapshot;
use rand::{Rng, RngExt};

/// Users `0..users`; the first `staff` of them send `canary_header`.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    pub users: u32,
    pub staff: u32,
    pub canary_header: (String, String),
}

/// Login traffic to one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficModel {
    pub namespace: String,
    pub service: String,
    pub population: Population,
    /// Behaviour per image; images not listed answer with `default`.
    pub releases: Vec<Release>,
    pub default: AuthBehaviour,
    /// Retries, bots and credential stuffing (none by default).
    pub bursts: Bursts,
}

/// Where one request went and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub pod: String,
    pub image: String,
    pub user: u32,
    pub code: u16,
}

impl TrafficModel {
    pub fn behaviour(&self, image: &str) -> AuthBehaviour {
        self.releases
            .iter()
            .find(|r| r.image == image)
            .map_or(self.default, |r| r.behaviour)
    }

    /// A login by a uniformly drawn user.
    pub fn request(&self, rng: &mut impl Rng) -> Request {
        let user = rng.random_range(0..self.population.users.max(1));
        let mut headers = Vec::new();
        if user < self.population.staff {
            let (name, value) = &self.population.canary_header;
            headers.push((name.to_ascii_lowercase(), value.clone()));
        }
        Request {
            user,
            method: "POST",
            path: "/login",
            headers,
        }
    }

    /// Sends `req` and counts it.
    pub fn serve(
        &self,
        snapshot: &Snapshot,
        metrics: &DataPlaneMetrics,
        req: &Request,
        rng: &mut impl Rng,
    ) -> Result<Served, Unrouted> {
        match routing::route(snapshot, &self.namespace, &self.service, req, rng) {
            Ok(pod) => {
                if self.bursts.is_bot(rng) {
                    // A bot's attempts all fail, on the connection the first one opened.
                    let answer = Answer { code: 401 };
                    for _ in 0..self.bursts.bot_attempts.max(1) {
                        metrics.record(pod, req.user, answer);
                    }
                    return Ok(Served {
                        pod: pod.pod.clone(),
                        image: pod.image.clone(),
                        user: req.user,
                        code: answer.code,
                    });
                }
                let answer: Answer = self.behaviour(&pod.image).answer(
                    req.user,
                    rng.random::<f64>(),
                    rng.random::<f64>(),
                );
                metrics.record(pod, req.user, answer);
                if !answer.success() {
                    // A person retries, and fails the same way (same password, same bug).
                    for _ in 0..self.bursts.retries_after_failure(rng) {
                        metrics.record(pod, req.user, answer);
                    }
                }
                Ok(Served {
                    pod: pod.pod.clone(),
                    image: pod.image.clone(),
                    user: req.user,
                    code: answer.code,
                })
            }
            Err(e) => {
                metrics.record_unrouted(&self.namespace, &self.service, e.reason());
                Err(e)
            }
        }
    }

    /// `n` logins by drawn users; returns the ones that reached a pod.
    pub fn serve_many(
        &self,
        snapshot: &Snapshot,
        metrics: &DataPlaneMetrics,
        n: u64,
        rng: &mut impl Rng,
    ) -> Vec<Served> {
        (0..n)
            .filter_map(|_| {
                let req = self.request(rng);
                self.serve(snapshot, metrics, &req, rng).ok()
            })
            .collect()
    }
}
