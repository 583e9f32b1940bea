//! The `portcullis` binary: one entry point for every subcommand.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Staged releases that roll back on authentication regressions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML (what `crds/` holds).
    Crds,
    /// Run the whole story locally: a good release promoted, a bad one rolled back.
    #[cfg(feature = "lab")]
    Demo(portcullis::lab::demo::DemoArgs),
    /// Run the operator: reconcile Rollouts in the cluster your kubeconfig points to.
    Controller(portcullis::controller::ControllerArgs),
    /// Run a local, Kubernetes-protocol API server for tests and the demo (a test double, not a cluster).
    ///
    /// Serves the Kubernetes REST protocol from memory on 127.0.0.1 and writes a kubeconfig
    /// for it. It is a TEST DOUBLE for Portcullis' tests and demo, not a cluster: pods are
    /// simulated (no containers run; Deployments and ReplicaSets are driven by simulated
    /// controllers and a kubelet), login traffic is simulated and counted per pod on
    /// /metrics, there is no authentication, nothing is persisted. Real users install
    /// Portcullis on a real Kubernetes cluster.
    ///
    /// Prints `ready: <url> kubeconfig=<path>` once it accepts requests and stops on
    /// SIGINT/SIGTERM. With kubectl:
    /// `kubectl --kubeconfig ./local-cluster.kubeconfig apply -f crds/`
    #[cfg(feature = "lab")]
    LocalCluster(portcullis::lab::LocalClusterArgs),
    #[command(flatten)]
    Rollout(portcullis::cli::RolloutCommand),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    restore_sigpipe();
    portcullis::install_crypto_provider();
    let cli = parse();
    let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = match cli.command {
        Command::Crds => {
            print!("{}", portcullis::api::crds_yaml());
            Ok(())
        }
        #[cfg(feature = "lab")]
        Command::Demo(args) => portcullis::lab::demo::run(args).await,
        Command::Controller(args) => portcullis::controller::run(args).await,
        #[cfg(feature = "lab")]
        Command::LocalCluster(args) => portcullis::lab::run(args).await,
        Command::Rollout(c) => return portcullis::cli::run(c).await.into(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`portcullis lint … | head -1`)
/// would panic; like other command-line tools, end quietly instead.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The command line. Installed as `kubectl-portcullis` on PATH the binary is a kubectl
/// plugin: `kubectl portcullis status auth-api -n payments` runs `portcullis status ...`
/// (kubectl passes what follows the plugin name, `--kubeconfig`, `--context` and `-n`
/// included, and its environment, `KUBECONFIG` included); help then names it so.
fn parse() -> Cli {
    let invoked = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut command = Cli::command();
    if invoked.starts_with("kubectl-portcullis") {
        command = command.bin_name("kubectl portcullis");
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}
