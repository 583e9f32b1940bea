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
