//! How failed logins cluster in real traffic, so the judge meets more than independent
//! attempts: people retry, bots hammer, credential stuffing runs over a few keep-alive
//! connections. Every burst stays on the pod its first attempt reached (a sticky
//! connection), which is what makes failure counts overdispersed.

use super::metrics::DataPlaneMetrics;
use super::release::Answer;
use super::routing::{self, Request};
use super::snapshot::Snapshot;
use rand::{Rng, RngExt};
use std::time::Duration;

/// The user id stuffing attempts are counted under (none of the population's).
pub const ATTACKER: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq)]
pub struct Bursts {
    /// Mean attempts of a person whose login failed (1 = no retries): the retries fail
    /// the same way, on the same pod.
    pub retries: f64,
    /// Share of logins that are bots, each making `bot_attempts` failing attempts.
    pub bot_share: f64,
    pub bot_attempts: u32,
    /// Credential stuffing: failing logins per second in all, over `connections` sticky
    /// connections, each re-dialled (through the router) after an exponential lifetime
    /// of mean `lifetime`, or when its pod is gone.
    pub stuffing_rps: f64,
    pub stuffing_connections: u32,
    pub stuffing_lifetime: Duration,
}

impl Default for Bursts {
    fn default() -> Self {
        Bursts {
            retries: 1.0,
            bot_share: 0.0,
            bot_attempts: 30,
            stuffing_rps: 0.0,
            stuffing_connections: 4,
            stuffing_lifetime: Duration::from_secs(60),
        }
    }
}

impl Bursts {
    /// Further failing attempts after a failed login: geometric, mean `retries − 1`.
    pub fn retries_after_failure(&self, rng: &mut impl Rng) -> u32 {
        let mut n = 0;
        let go_on = 1.0 - 1.0 / self.retries.max(1.0);
        while n < 1000 && rng.random::<f64>() < go_on {
            n += 1;
        }
        n
    }

    /// Whether this login is a bot's.
    pub fn is_bot(&self, rng: &mut impl Rng) -> bool {
        self.bot_share > 0.0 && rng.random::<f64>() < self.bot_share
    }
}

/// One attacker connection: the pod it is pinned to and how long it lasts.
#[derive(Debug, Clone, Default)]
struct Connection {
    pod: Option<(String, String)>,
    left: f64,
    carry: f64,
}

/// The running credential-stuffing attack on one Service.
#[derive(Debug, Clone, Default)]
pub struct Stuffing {
    connections: Vec<Connection>,
}

impl Stuffing {
    /// Sends the attack's attempts due in `elapsed` of simulated time.
    pub fn advance(
        &mut self,
        bursts: &Bursts,
        snapshot: &Snapshot,
        metrics: &DataPlaneMetrics,
        (namespace, service): (&str, &str),
        elapsed: Duration,
        rng: &mut impl Rng,
    ) {
        if bursts.stuffing_rps <= 0.0 || bursts.stuffing_connections == 0 {
            return;
        }
        let n = bursts.stuffing_connections as usize;
        self.connections.resize(n, Connection::default());
        let per = bursts.stuffing_rps / n as f64 * elapsed.as_secs_f64();
        let mean_life = bursts.stuffing_lifetime.as_secs_f64().max(1.0);
        for c in &mut self.connections {
            c.left -= elapsed.as_secs_f64();
            let gone = c
                .pod
                .as_ref()
                .is_some_and(|(ns, pod)| snapshot.endpoint(ns, pod).is_none());
            if c.pod.is_none() || c.left <= 0.0 || gone {
                let req = Request {
                    user: ATTACKER,
                    method: "POST",
                    path: "/login",
                    headers: vec![],
                };
                c.pod = routing::route(snapshot, namespace, service, &req, rng)
                    .ok()
                    .map(|e| (e.namespace.clone(), e.pod.clone()));
                c.left = -mean_life * (1.0 - rng.random::<f64>()).ln();
            }
            let due = per + c.carry;
            let k = due.floor();
            c.carry = due - k;
            if let Some((ns, pod)) = &c.pod
                && let Some(e) = snapshot.endpoint(ns, pod)
            {
                for _ in 0..k as u64 {
                    metrics.record(e, ATTACKER, Answer { code: 401 });
                }
            }
        }
    }
}
