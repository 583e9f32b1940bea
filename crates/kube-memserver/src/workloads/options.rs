//! Options of the simulated pods: `--pod-start-delay`, `--pod-readiness-delay`,
//! `--pod-failure IMAGE=MODE`.

use super::kubelet::{FailureMode, PodBehaviour};
use k8s_openapi::api::core::v1::Pod;
use std::str::FromStr;
use std::time::Duration;

/// An image whose pods misbehave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFailure {
    pub image: String,
    pub mode: FailureMode,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageFailureError {
    #[error(
        "`{0}`: write IMAGE=crash-loop, IMAGE=crash-loop:RUNS_FOR (e.g. auth:2.0=crash-loop:5s) or IMAGE=never-ready"
    )]
    Shape(String),
    #[error("`{0}`: unknown failure mode `{1}`; use crash-loop or never-ready")]
    Mode(String, String),
    #[error("`{0}`: {1}")]
    Duration(String, DurationError),
}

impl FromStr for ImageFailure {
    type Err = ImageFailureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (image, mode) = s
            .split_once('=')
            .filter(|(i, m)| !i.is_empty() && !m.is_empty())
            .ok_or_else(|| ImageFailureError::Shape(s.to_string()))?;
        let (name, arg) = mode
            .split_once(':')
            .map_or((mode, None), |(n, a)| (n, Some(a)));
        let mode = match (name, arg) {
            ("never-ready", None) => FailureMode::NeverReady,
            ("crash-loop", arg) => FailureMode::CrashLoop {
                runs_for: match arg {
                    None => Duration::from_secs(2),
                    Some(a) => {
                        parse_duration(a).map_err(|e| ImageFailureError::Duration(s.into(), e))?
                    }
                },
            },
            _ => return Err(ImageFailureError::Mode(s.into(), mode.into())),
        };
        Ok(ImageFailure {
            image: image.to_string(),
            mode,
        })
    }
}

/// A duration flag that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration: write e.g. 500ms, 2s or 1m30s")]
pub struct DurationError(String);

/// A Go-style duration (`500ms`, `2s`, `1m30s`), as Kubernetes' own flags take them.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(s.to_string());
    let d: jiff::SignedDuration = s.trim().parse().map_err(|_| err())?;
    Duration::try_from(d).map_err(|_| err())
}

fn duration(s: &str) -> Result<Duration, DurationError> {
    parse_duration(s)
}

/// How the simulated kubelet runs pods.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct WorkloadOptions {
    /// Time from a pod's creation until its containers run (e.g. 500ms, 1s).
    #[arg(long = "pod-start-delay", value_name = "DURATION", default_value = "1s", value_parser = duration)]
    pub start_delay: Duration,
    /// Time from a container's start until its pod is Ready.
    #[arg(long = "pod-readiness-delay", value_name = "DURATION", default_value = "2s", value_parser = duration)]
    pub readiness_delay: Duration,
    /// Pods of IMAGE misbehave: IMAGE=crash-loop or IMAGE=crash-loop:RUNS_FOR (the
    /// container exits after RUNS_FOR, default 2s, and restarts with back-off, never
    /// Ready), or IMAGE=never-ready (runs, never Ready). Repeatable.
    #[arg(long = "pod-failure", value_name = "IMAGE=MODE")]
    pub failures: Vec<ImageFailure>,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            start_delay: Duration::from_secs(1),
            readiness_delay: Duration::from_secs(2),
            failures: Vec::new(),
        }
    }
}

impl WorkloadOptions {
    /// The behaviour of `pod`: the failure of the first of its images that has one.
    pub fn behaviour(&self, pod: &Pod) -> PodBehaviour {
        let images = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .filter_map(|c| c.image.as_deref());
        let failure = images
            .into_iter()
            .find_map(|i| self.failures.iter().find(|f| f.image == i))
            .map(|f| f.mode);
        PodBehaviour {
            start_delay: self.start_delay,
            readiness_delay: self.readiness_delay,
            failure,
        }
    }
}
