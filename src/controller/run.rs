//! `portcullis controller`: flags, clients, watches, leader election, shutdown.

use super::analysis_source::AnalysisSource;
use super::cache::{
    Caches, Indexes, cached, cached_dynamic, cached_replica_sets, controlling_rollout, owner_names,
};
use super::leader::{self, LeaseConfig, Lost};
use super::metrics::{self, Metrics};
use super::observe::http_route_resource;
use super::reconcile::{Context, error_policy, reconcile};
use super::{api_client, events, webhooks};
use crate::api::{AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of `portcullis controller`.
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// Kubeconfig file; without it: $KUBECONFIG, ~/.kube/config, or the in-cluster
    /// service account.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces to watch (repeat or comma-separate); default: all namespaces.
    #[arg(long = "namespace", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Prometheus used by templates that name none.
    #[arg(
        long,
        env = "PORTCULLIS_PROMETHEUS_URL",
        default_value = "http://prometheus-server.monitoring.svc:80"
    )]
    pub prometheus_url: String,
    /// How long a reading's count queries wait for other Rollouts' to go out as one
    /// Prometheus query per template and namespace, so queries do not grow with the
    /// number of canaries (`0s`: every query alone, each reading with its own HTTP client).
    #[arg(
        long,
        env = "PORTCULLIS_PROMETHEUS_BATCH_WINDOW",
        default_value = "500ms",
        value_parser = crate::api::duration::parse_duration
    )]
    pub prometheus_batch_window: Duration,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Reconcile only while holding the Lease (on by default; `false` for one replica).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease (in a cluster: the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "portcullis-controller")]
    pub lease_name: String,
    /// Seconds a leader's Lease is valid without renewal: the longest hand-over.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
    /// Log lines as text (colours only on a terminal) or as JSON objects.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// When the Gateway API is not installed at start, how often to look for it again;
    /// once HTTPRoutes are served the operator watches them too.
    #[arg(long, default_value = "30s", value_parser = crate::api::duration::parse_duration)]
    pub gateway_api_check_interval: Duration,
    /// Reconciles running at once, all watched namespaces together (0: no bound).
    #[arg(long, default_value_t = 64)]
    pub max_concurrent_reconciles: u16,
    /// Connections open to the API server at once, watches included (each watched
    /// namespace holds 7). A request that finds none free waits for one up to the connect
    /// timeout (30 s), then fails and is retried. 0: no bound.
    #[arg(long, default_value_t = 100)]
    pub max_api_connections: usize,
    /// Requests per second the operator may send to the API server (watches aside), on
    /// average; 0: no budget. Bursts up to `--api-burst` go at once.
    #[arg(long, default_value_t = 0.0)]
    pub api_qps: f64,
    /// Requests that may go at once within the `--api-qps` budget.
    #[arg(long, default_value_t = 100)]
    pub api_burst: u32,
    /// The longest a quiet Rollout goes without a recheck; rechecks are spread over the
    /// last quarter of it. A recheck of an idle Rollout reads only watch caches.
    #[arg(long, default_value = "5m", value_parser = crate::api::duration::parse_duration)]
    pub resync_interval: Duration,
}

impl ControllerArgs {
    /// The flags' own defaults for an operator run inside another process (the demo, the
    /// lab, tests): watching `namespace` only, reading `prometheus_url`, no leader
    /// election, `/metrics` on a free loopback port.
    pub fn in_process(namespace: &str, prometheus_url: &str) -> ControllerArgs {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            args: ControllerArgs,
        }
        use clap::Parser;
        Flags::try_parse_from([
            "controller",
            "--namespace",
            namespace,
            "--prometheus-url",
            prometheus_url,
            "--lease-namespace",
            namespace,
            "--leader-election=false",
            "--metrics-addr=127.0.0.1:0",
        ])
        .expect("the in-process flags parse")
        .args
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("no Kubernetes configuration found (pass --kubeconfig or set KUBECONFIG): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
    #[error(
        "--max-api-connections {given} leaves no connection for requests: the watches of \
         {scopes} namespace scope(s) hold {watches}; pass at least {needed}, or 0 for no bound"
    )]
    TooFewConnections {
        given: usize,
        scopes: usize,
        watches: usize,
        needed: usize,
    },
}

/// A client with kube's defaults for `kubeconfig` (or the inferred configuration).
pub async fn client(kubeconfig: Option<&PathBuf>) -> Result<Client, RunError> {
    Ok(Client::try_from(config(kubeconfig).await?)?)
}

/// The operator's own client: at most `--max-api-connections` connections to the API
/// server, enough of them left for requests beside the watches.
pub async fn operator_client(args: &ControllerArgs) -> Result<Client, RunError> {
    let max = match args.max_api_connections {
        0 => None,
        given => {
            let scopes = args.namespaces.len().max(1);
            let needed = api_client::connections_needed(scopes);
            if given < needed {
                return Err(RunError::TooFewConnections {
                    given,
                    scopes,
                    watches: needed - api_client::REQUEST_CONNECTIONS_MIN,
                    needed,
                });
            }
            Some(given)
        }
    };
    Ok(api_client::bounded(
        config(args.kubeconfig.as_ref()).await?,
        max,
    )?)
}

async fn config(kubeconfig: Option<&PathBuf>) -> Result<Config, RunError> {
    crate::install_crypto_provider();
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| RunError::Kubeconfig {
                path: path.clone(),
                source,
            })?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|source| RunError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?
        }
        None => Config::infer().await?,
    };
    Ok(config)
}

/// Runs the operator with the Prometheus-backed analysis until SIGINT/SIGTERM.
pub async fn run(args: ControllerArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logs(args.log_format);
    let client = operator_client(&args).await?;
    let source = super::measure::PrometheusAnalysis::new(client.clone(), &args.prometheus_url)
        .batch_window(args.prometheus_batch_window);
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    run_with_client(client, args, Arc::new(source), stop).await?;
    Ok(())
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Colour codes only for a person at a terminal, never in a file or a log pipeline.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs the operator with `analysis` as the source of readings until `stop` says true.
/// The library entry point: tests inject readings and stop it at will.
pub async fn run_with(
    args: ControllerArgs,
    analysis: Arc<dyn AnalysisSource>,
    stop: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let client = operator_client(&args).await?;
    run_with_client(client, args, analysis, stop).await
}

/// [`run_with`] on a client built by the caller (tests wrap it to record requests).
pub async fn run_with_client(
    client: Client,
    args: ControllerArgs,
    analysis: Arc<dyn AnalysisSource>,
    stop: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let budget =
        (args.api_qps > 0.0).then(|| super::counting::Budget::new(args.api_qps, args.api_burst));
    let client = super::counting::counting(client, metrics.clone(), budget);
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|source| RunError::Metrics {
            addr: args.metrics_addr,
            source,
        })?;
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /metrics, /healthz, /readyz");
    let mut metrics_stop = stop.clone();
    tokio::spawn(metrics::serve(listener, metrics.clone(), async move {
        let _ = metrics_stop.wait_for(|s| *s).await;
    }));
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Arc::new(events::Recorder::new(client.clone(), events::reporter())),
        analysis,
        metrics: metrics.clone(),
        http: webhooks::http_client(),
        now: k8s_openapi::jiff::Timestamp::now,
        caches: None,
        resync: args.resync_interval.max(Duration::from_secs(1)),
        jitter: Arc::new(Mutex::new(StdRng::seed_from_u64(seed()))),
        turns: (args.max_concurrent_reconciles > 0)
            .then(|| Arc::new(Semaphore::new(args.max_concurrent_reconciles.into()))),
    });
    let routes = has_http_routes(&client).await;
    let work = |lost: Lost| {
        let (ctx, args) = (ctx.clone(), args.clone());
        async move {
            ctx.metrics.leader.set(1);
            controllers(ctx.clone(), &args, routes, lost).await;
            ctx.metrics.stopped_leading();
        }
    };
    if args.leader_election {
        metrics.ready.store(true, Ordering::Relaxed);
        // Unique per replica even when two run in one process (or share a hostname).
        let identity = format!(
            "{}-{}",
            std::env::var("POD_NAME")
                .ok()
                .or(events::reporter().instance)
                .unwrap_or_else(|| "portcullis".into()),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let config = LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            identity,
            duration_secs: args.lease_duration.max(2),
            grace_secs: (args.lease_duration / 3).max(1),
        };
        leader::run(client, config, stop, work).await?;
    } else {
        metrics.ready.store(true, Ordering::Relaxed);
        let mut stop = stop;
        let lost: Lost = Box::pin(async move {
            let _ = stop.wait_for(|s| *s).await;
        });
        work(lost).await;
    }
    Ok(())
}

/// Whether the cluster serves HTTPRoutes (the Gateway API CRD is installed).
async fn has_http_routes(client: &Client) -> bool {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &http_route_resource());
    api.list(&kube::api::ListParams::default().limit(1))
        .await
        .is_ok()
}

/// One Controller per watched namespace (or one for all), until `lost` resolves. When the
/// Gateway API appears later, they are restarted with HTTPRoute watches (a restart only
/// re-lists: every reconcile is idempotent).
async fn controllers(ctx: Arc<Context>, args: &ControllerArgs, mut routes: bool, mut lost: Lost) {
    let scopes: Vec<Option<String>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().cloned().map(Some).collect()
    };
    loop {
        let (stop_tx, stop_rx) = watch::channel(false);
        let runs = scopes.iter().cloned().map(|ns| {
            let mut stop_rx = stop_rx.clone();
            let shutdown = async move {
                let _ = stop_rx.wait_for(|l| *l).await;
            };
            controller(
                ctx.clone(),
                ns,
                routes,
                args.max_concurrent_reconciles,
                shutdown,
            )
        });
        let all = futures::future::join_all(runs);
        tokio::pin!(all);
        let appeared = routes_appear(&ctx.client, routes, args.gateway_api_check_interval);
        let restart = tokio::select! {
            _ = &mut all => return,
            _ = &mut lost => false,
            _ = appeared => true,
        };
        let _ = stop_tx.send(true);
        // In-flight reconciles finish; bounded so a hung API call cannot hold the exit.
        let _ = tokio::time::timeout(Duration::from_secs(10), all).await;
        if !restart {
            return;
        }
        tracing::info!("the Gateway API is served now: watching HTTPRoutes too");
        routes = true;
    }
}

/// Resolves once HTTPRoutes are served, checking every `every`; never when `already`.
async fn routes_appear(client: &Client, already: bool, every: Duration) {
    if already {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(every).await;
        if has_http_routes(client).await {
            return;
        }
    }
}

fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A seed for the recheck jitter that differs between replicas and restarts.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

/// Every watch the controller runs feeds a cache (what reconciles read) and triggers
/// reconciles through an index (which Rollouts name the object), never a scan.
/// `api_client::WATCHES_PER_SCOPE` counts these watches (each holds a connection): a
/// watch added here is one more there.
async fn controller(
    ctx: Arc<Context>,
    ns: Option<String>,
    routes: bool,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let index = Arc::new(Indexes::default());
    let (rollouts, rollouts_w) = reflector::store();
    let (deployments, deployments_w) = reflector::store();
    let (replica_sets, replica_sets_w) = reflector::store();
    let (services, services_w) = reflector::store();
    let (templates, templates_w) = reflector::store();
    let (cluster_templates, cluster_templates_w) = reflector::store();
    let route_w = reflector::store::Writer::new(http_route_resource());
    let route_store = route_w.as_reader();
    let caches = Caches {
        rollouts: rollouts.clone(),
        deployments,
        replica_sets,
        services,
        routes: routes.then_some(route_store),
        templates,
        cluster_templates,
        index: index.clone(),
    };
    let ctx = Arc::new(Context {
        caches: Some(caches),
        ..ctx.as_ref().clone()
    });
    let all = watcher::Config::default;
    let i = index.clone();
    let trigger = cached(
        api::<Rollout>(&client, &ns),
        all().any_semantic(),
        rollouts_w,
        move |e| i.rollout_event(e),
    );
    // Templates only feed their caches: a template change shows at the next reading.
    let templates = futures::stream::select(
        cached(
            api::<AnalysisTemplate>(&client, &ns),
            all(),
            templates_w,
            |_| {},
        )
        .map(|r| r.map(drop)),
        cached(
            Api::<ClusterAnalysisTemplate>::all(client.clone()),
            all(),
            cluster_templates_w,
            |_| {},
        )
        .map(|r| r.map(drop)),
    );
    let (i1, i2, i3, i4) = (index.clone(), index.clone(), index.clone(), index.clone());
    let i_rs = index.clone();
    let mut c = Controller::for_stream(trigger, rollouts)
        .with_config(controller::Config::default().concurrency(concurrency))
        .watches_stream(
            cached(
                api::<Deployment>(&client, &ns),
                all(),
                deployments_w,
                |_| {},
            ),
            move |d: Deployment| {
                let ns = d.namespace().unwrap_or_default();
                let mut refs = Indexes::rollouts(&i1.by_workload, &ns, &d.name_any());
                refs.extend(controlling_rollout(&d));
                refs
            },
        )
        .watches_stream(
            cached_replica_sets(
                api::<ReplicaSet>(&client, &ns),
                all(),
                replica_sets_w,
                move |e| i_rs.replica_sets.apply(e, owner_names),
            ),
            move |rs: ReplicaSet| {
                let ns = rs.namespace().unwrap_or_default();
                owner_names(&rs)
                    .iter()
                    .flat_map(|d| Indexes::rollouts(&i2.by_workload, &ns, d))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(
            cached(api::<Service>(&client, &ns), all(), services_w, |_| {}),
            move |s: Service| {
                let ns = s.namespace().unwrap_or_default();
                let mut refs = Indexes::rollouts(&i3.by_service, &ns, &s.name_any());
                refs.extend(controlling_rollout(&s));
                refs
            },
        );
    if routes {
        let ar = http_route_resource();
        let route_api: Api<DynamicObject> = match &ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        c = c.watches_stream_with(
            cached_dynamic(route_api, all(), route_w),
            move |route: DynamicObject| {
                let ns = route.namespace().unwrap_or_default();
                Indexes::rollouts(&i4.by_route, &ns, &route.name_any())
            },
            ar,
        );
    }
    let run = c
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        });
    // The template caches live as long as the controller.
    tokio::select! {
        _ = run => {}
        _ = templates.for_each(|_| async {}) => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_batch_window_flag_defaults_to_what_embedded_operators_use() {
        let args = super::ControllerArgs::in_process("ns", "http://prometheus:9090");
        assert_eq!(
            args.prometheus_batch_window,
            super::super::measure::DEFAULT_BATCH_WINDOW
        );
    }
}
