//! The `portcullis` commands for people and CI pipelines: a Kubernetes client of the
//! Rollout API. It reads status, sends commands (the `portcullis.dev/command`
//! annotation, see `api::command`), pushes releases and waits for their outcome, and
//! lints manifests offline with the same validation the controller applies.
//!
//! Pure parts (what a status means for a waiting pipeline, how status reads) live in
//! [`progress`] and [`describe`]; the rest are thin calls to the API server.

pub mod connect;
pub mod describe;
pub mod lint;
pub mod progress;
pub mod rbac;
mod run;
pub mod schema;
mod watch;

pub use connect::Connection;
pub use run::{RolloutCommand, run, run_on};

use std::process::ExitCode;

/// How a command ended, as its exit status: pipelines branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done: promoted, accepted, clean.
    Success = 0,
    /// The release was rejected, the command refused, or lint found problems.
    Failed = 1,
    /// Bad input: unreadable file, unknown container, a name that does not exist.
    Usage = 2,
    /// No outcome within `--timeout`.
    Timeout = 3,
    /// The API server could not be reached or answered with an error.
    Api = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// What the commands print after `--help`: the exit statuses.
pub const EXIT_HELP: &str = "Exit status: 0 done (promoted, accepted, clean); 1 the release was \
rejected, the command refused or lint found problems; 2 bad input; 3 no outcome within \
--timeout; 4 the API server could not be reached or answered with an error.";

/// Why a command could not do its job; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Input(String),
    #[error("cannot load the kubeconfig: {0}")]
    Config(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{}", api_message(.0))]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Timeout(String),
    #[error("watching {0}")]
    Watch(String),
}

/// The API server's answer; or, when nothing answered, where Portcullis knocked.
fn api_message(e: &kube::Error) -> String {
    let unreachable = matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_));
    match connect::server_url() {
        Some(url) if unreachable => {
            format!("nothing answered at {url} (the kubeconfig's API server): {e}")
        }
        _ => format!("the API server answered: {e}"),
    }
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Input(_) | CliError::NotFound(_) | CliError::Config(_) => Exit::Usage,
            CliError::Api(_) | CliError::Watch(_) => Exit::Api,
            CliError::Timeout(_) => Exit::Timeout,
        }
    }
}
