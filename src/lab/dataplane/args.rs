//! `portcullis local-cluster` options of the simulated login traffic.

use super::bursts::Bursts;
use super::release::{AuthBehaviour, Release};
use super::traffic::{Population, TrafficModel};
use std::str::FromStr;

/// `NAMESPACE/NAME` of the Service that receives the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
}

/// A header `NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrafficArgError {
    #[error("`{0}`: write the Service as NAMESPACE/NAME, e.g. shop/auth")]
    Service(String),
    #[error("`{0}`: write the header as NAME=VALUE, e.g. x-canary=true")]
    Header(String),
    #[error("`{0}`: {1}")]
    Number(String, &'static str),
}

impl FromStr for ServiceRef {
    type Err = TrafficArgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(ServiceRef {
                    namespace: ns.into(),
                    name: name.into(),
                })
            }
            _ => Err(TrafficArgError::Service(s.into())),
        }
    }
}

impl FromStr for Header {
    type Err = TrafficArgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                Ok(Header {
                    name: name.to_ascii_lowercase(),
                    value: value.into(),
                })
            }
            _ => Err(TrafficArgError::Header(s.into())),
        }
    }
}

fn rate(s: &str) -> Result<f64, TrafficArgError> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| {
            TrafficArgError::Number(s.into(), "requests per second must be a number ≥ 0")
        })
}

fn speedup(s: &str) -> Result<f64, TrafficArgError> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            TrafficArgError::Number(
                s.into(),
                "the speed-up must be a number > 0 (1 = real time)",
            )
        })
}

fn at_least_one(s: &str) -> Result<f64, TrafficArgError> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 1.0)
        .ok_or_else(|| {
            TrafficArgError::Number(
                s.into(),
                "mean attempts must be a number ≥ 1 (1 = no retries)",
            )
        })
}

fn share(s: &str) -> Result<f64, TrafficArgError> {
    s.parse::<f64>()
        .ok()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| TrafficArgError::Number(s.into(), "a share must be between 0 and 1"))
}

/// Simulated login traffic and its `/metrics`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct TrafficArgs {
    /// Send simulated logins to this Service (through the HTTPRoutes that reference it,
    /// if any). Without it no traffic runs; /metrics is served all the same.
    #[arg(long = "traffic-service", value_name = "NAMESPACE/NAME")]
    pub service: Option<ServiceRef>,
    /// Logins per second of simulated time.
    #[arg(long = "traffic-rps", value_name = "RATE", default_value = "20", value_parser = rate)]
    pub rps: f64,
    /// Distinct users who log in, each drawn uniformly per request.
    #[arg(long = "traffic-users", value_name = "N", default_value_t = 1000)]
    pub users: u32,
    /// How many of those users are staff, whose requests carry --traffic-canary-header.
    #[arg(long = "traffic-staff", value_name = "N", default_value_t = 0)]
    pub staff: u32,
    /// The header staff requests carry, matched by HTTPRoute header rules.
    #[arg(
        long = "traffic-canary-header",
        value_name = "NAME=VALUE",
        default_value = "x-canary=true"
    )]
    pub canary_header: Header,
    /// Share of logins failing with a wrong password, for images without a --release.
    #[arg(long = "traffic-baseline", value_name = "SHARE", default_value = "0.02", value_parser = share)]
    pub baseline: f64,
    /// How pods of IMAGE answer logins, e.g. auth:2.0=baseline:0.02,bug:1.0,bug-users:0.1:
    /// `baseline` wrong-password share; `bug` share of logins a bug fails, for the share
    /// `bug-users` of users (default 1); `bug-code` its status (401, 403 or 500; default
    /// 401). Repeatable, one per image.
    #[arg(long = "release", value_name = "IMAGE=SETTINGS")]
    pub releases: Vec<Release>,
    /// Simulated time runs this many times faster than real time. Keep 1 when Prometheus
    /// scrapes: it sees real seconds.
    #[arg(long = "traffic-speedup", value_name = "FACTOR", default_value = "1", value_parser = speedup)]
    pub speedup: f64,
    /// Seed of the random source: the same seed gives the same traffic.
    #[arg(long = "traffic-seed", value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Mean attempts of a person whose login failed (1 = no retries); the retries fail
    /// the same way, on the same pod.
    #[arg(long = "traffic-retries", value_name = "MEAN", default_value = "1", value_parser = at_least_one)]
    pub retries: f64,
    /// Share of logins that are bots, each making --traffic-bot-attempts failing attempts
    /// on one pod.
    #[arg(long = "traffic-bots", value_name = "SHARE", default_value = "0", value_parser = share)]
    pub bots: f64,
    #[arg(long = "traffic-bot-attempts", value_name = "N", default_value_t = 30)]
    pub bot_attempts: u32,
    /// Credential stuffing: failing logins per second, over --traffic-stuffing-connections
    /// sticky connections re-dialled after --traffic-stuffing-lifetime seconds on average.
    #[arg(long = "traffic-stuffing-rps", value_name = "RATE", default_value = "0", value_parser = rate)]
    pub stuffing_rps: f64,
    #[arg(
        long = "traffic-stuffing-connections",
        value_name = "N",
        default_value_t = 4
    )]
    pub stuffing_connections: u32,
    #[arg(long = "traffic-stuffing-lifetime", value_name = "SECONDS", default_value = "60", value_parser = speedup)]
    pub stuffing_lifetime: f64,
    /// Port of /metrics on 127.0.0.1 (0 = a free one).
    #[arg(long = "metrics-port", value_name = "PORT", default_value_t = 0)]
    pub metrics_port: u16,
}

impl TrafficArgs {
    /// The traffic model these options describe, if a Service was named.
    pub fn model(&self) -> Option<TrafficModel> {
        let service = self.service.as_ref()?;
        Some(TrafficModel {
            namespace: service.namespace.clone(),
            service: service.name.clone(),
            population: Population {
                users: self.users.max(1),
                staff: self.staff,
                canary_header: (
                    self.canary_header.name.clone(),
                    self.canary_header.value.clone(),
                ),
            },
            releases: self.releases.clone(),
            default: AuthBehaviour {
                baseline: self.baseline,
                ..AuthBehaviour::default()
            },
            bursts: Bursts {
                retries: self.retries,
                bot_share: self.bots,
                bot_attempts: self.bot_attempts,
                stuffing_rps: self.stuffing_rps,
                stuffing_connections: self.stuffing_connections,
                stuffing_lifetime: std::time::Duration::from_secs_f64(self.stuffing_lifetime),
            },
        })
    }
}
