//! `make bench-scale`: N Rollouts (default 10,000; `SCALE_ROLLOUTS=N`) on one operator.
//! The last line is the summary:
//! `scale: rollouts=N rss_mib=M status_all_s=S peak_connections=C requests_per_idle_reconcile=R prom_queries_per_interval=Q`.
//! Against the local cluster by default; `SCALE_KUBECONFIG=PATH` uses any cluster with
//! Portcullis' CRDs installed (see README, "Scale").

mod scenario;

use std::time::Duration;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = scenario::Options {
        rollouts: env("SCALE_ROLLOUTS", 10_000),
        replicas: env("SCALE_REPLICAS", 1),
        // `SCALE_OPERATOR=PATH`: another build of the binary (e.g. main's, to compare).
        operator: std::env::var_os("SCALE_OPERATOR")
            .map_or_else(|| env!("CARGO_BIN_EXE_portcullis").into(), Into::into),
        kubeconfig: std::env::var_os("SCALE_KUBECONFIG").map(Into::into),
        namespace: env("SCALE_NAMESPACE", "portcullis-scale".to_string()),
        concurrency: env("SCALE_CONCURRENCY", 64),
        interval: Duration::from_secs(env("SCALE_INTERVAL_SECS", 10)),
        status_timeout: Duration::from_secs(env("SCALE_STATUS_TIMEOUT_SECS", 300)),
        // `SCALE_OPERATOR_ENV=K=V,K2=V2`: e.g. LD_PRELOAD=libjemalloc.so.2 to compare.
        // `SCALE_SOAK_SECS=3600`: the leak check (canaries starting and ending for an hour).
        soak: Duration::from_secs(env("SCALE_SOAK_SECS", 0)),
        operator_env: std::env::var("SCALE_OPERATOR_ENV")
            .unwrap_or_default()
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    match scenario::run(options).await {
        Ok(report) => {
            for n in &report.notes {
                eprintln!("{n}");
            }
            println!("{}", report.line());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scale bench failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
