//! Simulated login traffic for the judge's Monte Carlo test and the bench (shared via
//! `#[path]`). Clients arrive as a Poisson stream; each fails with the track's failure
//! probability. A failing client may retry in a burst over a sticky connection (so the
//! whole burst lands on one track), which is what makes raw failure counts overdispersed.

use rand::RngExt;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Geometric, Poisson};

/// What one track saw in one stretch of time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Failed login attempts (every retry counted).
    pub failed_attempts: f64,
    pub attempts: f64,
    /// Distinct clients that failed, and distinct clients.
    pub failed_clients: f64,
    pub clients: f64,
}

impl Tally {
    pub fn add(&mut self, o: Tally) {
        self.failed_attempts += o.failed_attempts;
        self.attempts += o.attempts;
        self.failed_clients += o.failed_clients;
        self.clients += o.clients;
    }
}

pub fn poisson(rng: &mut StdRng, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    rng.sample(Poisson::new(mean).expect("a positive mean"))
}

pub fn binomial(rng: &mut StdRng, n: f64, p: f64) -> f64 {
    if n <= 0.0 || p <= 0.0 {
        return 0.0;
    }
    rng.sample(Binomial::new(n as u64, p.min(1.0)).expect("a probability")) as f64
}

/// `mean_clients` clients, each failing with `fail`; a failing client makes a burst of
/// attempts with mean `burst` (1 = no retries).
pub fn sample(rng: &mut StdRng, mean_clients: f64, fail: f64, burst: f64) -> Tally {
    let clients = poisson(rng, mean_clients);
    let failed_clients = binomial(rng, clients, fail);
    let mut failed_attempts = failed_clients;
    if burst > 1.0 {
        let g = Geometric::new(1.0 / burst).expect("a probability");
        for _ in 0..failed_clients as u64 {
            failed_attempts += rng.sample(g) as f64;
        }
    }
    Tally {
        failed_attempts,
        attempts: clients - failed_clients + failed_attempts,
        failed_clients,
        clients,
    }
}

/// Healthy traffic as it really comes: what makes failed logins cluster.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Every attempt independent.
    Independent,
    /// A person whose login fails retries: mean 3 attempts per failure (geometric).
    Retries,
    /// 2% of clients are bots making 30 failing attempts each, in one burst.
    Bots,
    /// Credential stuffing over 4 sticky connections, together 40% as many attempts as
    /// the legitimate traffic, all failing; each connection sticks to one track and
    /// re-dials (re-balanced by weight) after an exponential lifetime of mean 60 s.
    Stuffing,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Independent => "healthy",
            Kind::Retries => "h+retries",
            Kind::Bots => "h+bots",
            Kind::Stuffing => "h+stuffing",
        }
    }
}

/// What is wrong with the canary, if anything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Incident {
    None,
    /// Every canary login fails.
    Outage,
    /// A share of users always fails on the canary, and retries (mean 3 attempts).
    Users(f64),
    /// The canary's failure ratio is this many times stable's.
    Times(f64),
}

impl Incident {
    pub fn label(self) -> String {
        match self {
            Incident::None => "none".into(),
            Incident::Outage => "outage".into(),
            Incident::Users(u) => format!("{}% users", u * 100.0),
            Incident::Times(x) => format!("{x}x"),
        }
    }
    /// The canary's per-client failure probability (what the oracle knows).
    pub fn client_failure(self, baseline: f64) -> f64 {
        match self {
            Incident::None => baseline,
            Incident::Outage => 1.0,
            Incident::Users(u) => baseline + u * (1.0 - baseline),
            Incident::Times(x) => (baseline * x).min(1.0),
        }
    }
}

const RETRY_MEAN: f64 = 3.0;
const BOT_SHARE: f64 = 0.02;
const BOT_ATTEMPTS: f64 = 30.0;
const STUFFING_CONNECTIONS: usize = 4;
const STUFFING_SHARE: f64 = 0.4;
const STUFFING_LIFETIME_S: f64 = 60.0;
/// Stable's pods, when a rule reads them one by one.
pub const STABLE_PODS: usize = 10;

/// One second of both tracks (and of each stable pod, when asked for).
#[derive(Clone, Default)]
pub struct Second {
    pub canary: Tally,
    pub stable: Tally,
    pub stable_pods: Vec<Tally>,
}

/// Login traffic at `rate` clients per second, split by the canary weight.
pub struct World {
    pub rate: f64,
    pub baseline: f64,
    pub kind: Kind,
    pub incident: Incident,
    /// Per stuffing connection: on the canary?, seconds left, its stable pod.
    connections: Vec<(bool, f64, usize)>,
    /// Whether stable is simulated pod by pod (clients spread evenly over the pods).
    pub pods: bool,
    /// Attack attempts that reached the canary.
    pub attack_on_canary: f64,
}

impl World {
    /// Stable simulated pod by pod (what a rule reading `by (pod)` sees).
    pub fn by_pod(mut self, pods: bool) -> Self {
        self.pods = pods;
        self
    }

    pub fn new(rate: f64, baseline: f64, kind: Kind, incident: Incident) -> Self {
        World {
            rate,
            baseline,
            kind,
            incident,
            connections: vec![(false, 0.0, 0); STUFFING_CONNECTIONS],
            pods: false,
            attack_on_canary: 0.0,
        }
    }

    fn track(&self, rng: &mut StdRng, clients_per_s: f64, canary: bool) -> Tally {
        let burst = if self.kind == Kind::Retries {
            RETRY_MEAN
        } else {
            1.0
        };
        let mut t = match (canary, self.incident) {
            (true, Incident::Outage) => sample(rng, clients_per_s, 1.0, burst),
            (true, Incident::Times(x)) => {
                sample(rng, clients_per_s, (self.baseline * x).min(1.0), burst)
            }
            (true, Incident::Users(u)) => {
                // Users hit by the bug fail and retry; the rest behave as on stable.
                let mut hit = sample(rng, clients_per_s * u, 1.0, RETRY_MEAN);
                hit.add(sample(rng, clients_per_s * (1.0 - u), self.baseline, burst));
                hit
            }
            _ => sample(rng, clients_per_s, self.baseline, burst),
        };
        if self.kind == Kind::Bots {
            let bots = poisson(rng, clients_per_s * BOT_SHARE);
            t.add(Tally {
                failed_attempts: bots * BOT_ATTEMPTS,
                attempts: bots * BOT_ATTEMPTS,
                failed_clients: bots,
                clients: bots,
            });
        }
        t
    }

    /// The next second at canary weight `w` (0–1).
    pub fn second(&mut self, rng: &mut StdRng, w: f64) -> Second {
        let mut s = Second {
            canary: self.track(rng, self.rate * w, true),
            ..Default::default()
        };
        if self.pods {
            let per_pod = self.rate * (1.0 - w) / STABLE_PODS as f64;
            s.stable_pods = (0..STABLE_PODS)
                .map(|_| self.track(rng, per_pod, false))
                .collect();
            s.stable_pods.iter().for_each(|p| s.stable.add(*p));
        } else {
            s.stable = self.track(rng, self.rate * (1.0 - w), false);
        }
        if self.kind == Kind::Stuffing {
            let per = self.rate * STUFFING_SHARE / STUFFING_CONNECTIONS as f64;
            for c in self.connections.iter_mut() {
                if c.1 <= 0.0 {
                    c.0 = rng.random::<f64>() < w;
                    c.1 = -STUFFING_LIFETIME_S * (1.0 - rng.random::<f64>()).ln();
                    c.2 = rng.random_range(0..STABLE_PODS);
                }
                c.1 -= 1.0;
                let n = poisson(rng, per);
                let on_canary = c.0 && w > 0.0;
                if on_canary {
                    self.attack_on_canary += n;
                }
                let attack = Tally {
                    failed_attempts: n,
                    attempts: n,
                    failed_clients: 0.0,
                    clients: 0.0,
                };
                if on_canary {
                    s.canary.add(attack);
                } else {
                    s.stable.add(attack);
                    if let Some(p) = s.stable_pods.get_mut(c.2) {
                        p.add(attack);
                    }
                }
            }
        }
        s
    }
}
