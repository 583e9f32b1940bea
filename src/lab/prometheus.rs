//! A real Prometheus (Debian's binary) started as a child process for tests, the demo and
//! the benchmarks: its own config and data dir under a temp dir, on a free loopback port,
//! scraping the given targets every second. Never a system service; killed on drop.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the prometheus binary (default: `prometheus` on PATH).
pub const BINARY_ENV: &str = "PORTCULLIS_PROMETHEUS";

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error(
        "cannot start `{binary}`: {source}; install Debian's prometheus (`make deps-prometheus`) or set {BINARY_ENV}"
    )]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("cannot prepare a temp dir for Prometheus: {0}")]
    TempDir(#[from] std::io::Error),
    #[error("Prometheus exited before it was ready ({status}); its log ends with:\n{log}")]
    Exited { status: String, log: String },
    #[error("Prometheus was not ready within {0:?}; its log ends with:\n{1}")]
    NotReady(Duration, String),
}

/// A running Prometheus; the process and its data die with this value.
pub struct Prometheus {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`host:port`, path `/metrics`) every second, and
    /// waits until `/-/ready` answers. Exporter labels (`namespace`, `pod`) are kept as sent.
    pub async fn start(targets: &[String]) -> Result<Self, PrometheusError> {
        Self::start_with_rules(targets, &[]).await
    }

    /// [`Prometheus::start`], also loading the rule files `rules` (evaluated every second).
    pub async fn start_with_rules(
        targets: &[String],
        rules: &[PathBuf],
    ) -> Result<Self, PrometheusError> {
        let binary = std::env::var(BINARY_ENV).unwrap_or_else(|_| "prometheus".to_string());
        let mut dir = tempfile::Builder::new()
            .prefix("portcullis-prometheus-")
            .tempdir()?;
        let config = dir.path().join("prometheus.yml");
        let mut text = scrape_config(targets);
        if !rules.is_empty() {
            text.push_str("rule_files:\n");
            for r in rules {
                text.push_str(&format!("  - \"{}\"\n", r.display()));
            }
        }
        std::fs::write(&config, text)?;
        // The port can be taken between probing and binding; a few attempts make that moot.
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let log_path = dir.path().join("prometheus.log");
            let log = std::fs::File::create(&log_path)?;
            let child = Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .map_err(|source| PrometheusError::Spawn {
                    binary: binary.clone(),
                    source,
                })?;
            let mut prometheus = Prometheus {
                child,
                url: format!("http://127.0.0.1:{port}"),
                dir,
            };
            match prometheus.wait_ready(Duration::from_secs(15)).await {
                Ok(()) => return Ok(prometheus),
                Err(e) => {
                    last_error = Some(e);
                    let _ = prometheus.child.kill();
                    let _ = prometheus.child.wait();
                    // Reuse the temp dir for the next attempt; Drop of the old value would delete it.
                    dir = std::mem::replace(&mut prometheus.dir, tempfile::tempdir()?);
                }
            }
        }
        Err(last_error.expect("at least one attempt ran"))
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The temp dir holding config, data and log (removed on drop).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Stops the process now (as if Prometheus went down), keeping its files.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), PrometheusError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("a plain HTTP client builds");
        let ready = format!("{}/-/ready", self.url);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                return Err(PrometheusError::Exited {
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            if let Ok(resp) = http.get(&ready).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(PrometheusError::NotReady(limit, self.log_tail()))
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("prometheus.log")) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The scrape configuration: one job, 1 s interval, exporter labels honoured.
pub fn scrape_config(targets: &[String]) -> String {
    let list = targets
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: portcullis-sim\n    honor_labels: true\n    \
         static_configs:\n      - targets: [{list}]\n"
    )
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
