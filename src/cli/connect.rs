//! Which cluster and namespace a command talks to: kubectl's rules (`--kubeconfig`, then
//! `$KUBECONFIG`, then `~/.kube/config` or the in-cluster service account; the context's
//! namespace unless `-n` says otherwise).

use super::CliError;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The API server this process talks to, for messages when nothing answers there.
static SERVER_URL: OnceLock<String> = OnceLock::new();

pub fn server_url() -> Option<&'static str> {
    SERVER_URL.get().map(String::as_str)
}

#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current one).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace of the Rollout (default: the context's namespace, else `default`).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
}

impl Connection {
    /// A client, and the namespace to use.
    pub async fn connect(&self) -> Result<(Client, String), CliError> {
        crate::install_crypto_provider();
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?
            }
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| CliError::Config(e.to_string()))?,
            None => Config::infer()
                .await
                .map_err(|e| CliError::Config(e.to_string()))?,
        };
        let _ = SERVER_URL.set(config.cluster_url.to_string());
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| CliError::Config(e.to_string()))?;
        Ok((client, namespace))
    }
}
