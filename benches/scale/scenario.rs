//! The scale scenario (`make bench-scale`, and small in `tests/scale_smoke.rs`): the
//! operator binary against a cluster holding N Rollouts, each with its Deployment and
//! Service; canaries on 1% of them. Everything is measured from outside the operator:
//! its process (RSS, TCP connections to the API server from `/proc`), its `/metrics`
//! (`portcullis_api_requests_total`, `portcullis_reconciles_total`), the Rollouts'
//! status through a watch, and the queries a stand-in Prometheus answers.
#![allow(dead_code)]

// Beside this file, also when a test includes it by path.
#[path = "prometheus.rs"]
mod prometheus;
#[path = "soak.rs"]
mod soak;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use portcullis::api::Rollout;
use prometheus::StandIn;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Options {
    /// Rollouts (each with a Deployment and a Service).
    pub rollouts: usize,
    /// Replicas of each Deployment.
    pub replicas: i32,
    /// The operator binary.
    pub operator: PathBuf,
    /// A cluster to use instead of starting the local one (CRDs installed there).
    pub kubeconfig: Option<PathBuf>,
    pub namespace: String,
    /// Concurrent reconciles the operator runs (`--max-concurrent-reconciles`).
    pub concurrency: u16,
    /// Analysis interval of the canaries.
    pub interval: Duration,
    /// How long to wait for every Rollout to have a status.
    pub status_timeout: Duration,
    /// Extra environment of the operator (e.g. `LD_PRELOAD` to compare allocators).
    pub operator_env: Vec<(String, String)>,
    /// How long the leak check runs after the measurements (zero: none; at least ten
    /// minutes otherwise).
    pub soak: Duration,
}

#[derive(Debug, Default)]
pub struct Report {
    pub rollouts: usize,
    pub rss_mib: f64,
    pub status_all_s: f64,
    pub peak_connections: usize,
    pub requests_per_idle_reconcile: f64,
    pub prom_queries_per_interval: f64,
    /// Extra numbers for stderr.
    pub notes: Vec<String>,
}

impl Report {
    pub fn line(&self) -> String {
        format!(
            "scale: rollouts={} rss_mib={:.0} status_all_s={:.1} peak_connections={} requests_per_idle_reconcile={:.2} prom_queries_per_interval={:.1}",
            self.rollouts,
            self.rss_mib,
            self.status_all_s,
            self.peak_connections,
            self.requests_per_idle_reconcile,
            self.prom_queries_per_interval
        )
    }
}

/// A child process killed (by its own pid) when dropped.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[scale {}] {}", jiff_now(), msg.as_ref());
}

fn jiff_now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%H:%M:%S")
        .to_string()
}

pub async fn run(o: Options) -> Result<Report, String> {
    portcullis::install_crypto_provider();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut _cluster = None;
    let kubeconfig = match &o.kubeconfig {
        Some(k) => k.clone(),
        None => {
            let kc = dir.path().join("kubeconfig");
            _cluster = Some(local_cluster(&o.operator, &kc, dir.path())?);
            kc
        }
    };
    let client = portcullis::controller::client(Some(&kubeconfig))
        .await
        .map_err(|e| e.to_string())?;
    if o.kubeconfig.is_none() {
        portcullis::lab::setup::install_crds(&client, portcullis::api::crds())
            .await
            .map_err(|e| format!("installing CRDs: {e}"))?;
    }
    let api_addr = api_server_addr(&kubeconfig)?;
    let prom = StandIn::start().await?;
    given(&client, &o).await?;

    let metrics_port = free_port()?;
    let op_log = dir.path().join("operator.log");
    let mut operator = Proc(
        Command::new(&o.operator)
            .args(["controller", "--leader-election=false", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--namespace", &o.namespace, "--metrics-addr"])
            .arg(format!("127.0.0.1:{metrics_port}"))
            .args(["--prometheus-url", &prom.url])
            .args(["--max-concurrent-reconciles", &o.concurrency.to_string()])
            .env("RUST_LOG", "warn")
            .envs(o.operator_env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&op_log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", o.operator.display()))?,
    );
    let pid = operator.0.id();
    let cluster_pid = _cluster.as_ref().map(|c| c.0.id());
    let started = Instant::now();
    log(format!("operator started (pid {pid})"));
    let sampler = Sampler::start(pid, api_addr);

    let status_all = all_have_status(&client, &o, started).await;
    let status_all_s = match status_all {
        Ok(d) => d.as_secs_f64(),
        Err(e) => {
            let tail = std::fs::read_to_string(&op_log).unwrap_or_default();
            let tail: String = tail.lines().rev().take(20).collect::<Vec<_>>().join("\n");
            return Err(format!("{e}; operator log tail:\n{tail}"));
        }
    };
    log(format!(
        "every Rollout has a status after {status_all_s:.1}s (RSS {:.0} MiB, peak connections {}); CPU seconds so far: operator {:.1}, local cluster {}",
        sampler.rss_mib(),
        sampler.peak(),
        cpu_seconds(pid),
        cluster_pid.map_or("-".into(), |p| format!("{:.1}", cpu_seconds(p)))
    ));
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut notes = Vec::new();
    let start_requests = scrape(&metrics_url).await?;
    notes.push(format!(
        "requests at start: {:.0} ({:.1} per Rollout)",
        start_requests.requests(),
        start_requests.requests() / o.rollouts as f64
    ));
    quiet(&metrics_url, Duration::from_secs(120)).await?;
    let per_idle = idle_reconciles(&client, &o, &metrics_url).await?;
    log(format!(
        "{per_idle:.2} API requests per idle reconcile (RSS {:.0} MiB)",
        sampler.rss_mib()
    ));
    let q = canaries(&client, &o, &prom).await?;
    log(format!("{q:.1} Prometheus queries per analysis interval"));
    let after = scrape(&metrics_url).await?;
    let rss = sampler.rss_mib();
    if !o.soak.is_zero() {
        log(format!("leak check for {:?}", o.soak));
        let soaked = soak::run(
            &client,
            &o.namespace,
            o.rollouts,
            name,
            IMAGE,
            o.soak,
            || sampler.rss_mib(),
        )
        .await?;
        log(soaked.note());
        notes.push(soaked.note());
    }
    notes.push(format!(
        "requests after start: {:.0} in {:.0}s",
        after.requests() - start_requests.requests(),
        started.elapsed().as_secs_f64() - status_all_s
    ));
    notes.push(format!("reconciles: {:.0}", after.reconciles));
    drop(sampler);
    let _ = operator.0.kill();
    Ok(Report {
        rollouts: o.rollouts,
        rss_mib: rss,
        status_all_s,
        peak_connections: SAMPLED_PEAK.load(Ordering::Relaxed) as usize,
        requests_per_idle_reconcile: per_idle,
        prom_queries_per_interval: q,
        notes,
    })
}

/// Starts `portcullis local-cluster` (pods start at once: this is about the operator).
fn local_cluster(bin: &Path, kubeconfig: &Path, dir: &Path) -> Result<Proc, String> {
    let mut child = Command::new(bin)
        .args(["local-cluster", "--port", "0", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["--pod-start-delay", "0s", "--pod-readiness-delay", "0s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("cluster.log")).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("starting the local cluster: {e}"))?;
    let out = child.stdout.take().expect("piped stdout");
    let proc = Proc(child);
    for line in BufReader::new(out).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.starts_with("ready: ") {
            log(format!("local cluster {line}"));
            return Ok(proc);
        }
    }
    Err("the local cluster exited before it was ready".into())
}

fn api_server_addr(kubeconfig: &Path) -> Result<(Option<std::net::IpAddr>, u16), String> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| e.to_string())?;
    let ctx_name = kc.current_context.clone().unwrap_or_default();
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .or(kc.clusters.first())
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or("no server in the kubeconfig")?;
    let uri: http::Uri = server.parse().map_err(|e| format!("{server}: {e}"))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    let ip = uri
        .host()
        .and_then(|h| h.trim_matches(['[', ']']).parse().ok());
    Ok((ip, port))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

const TEMPLATE: &str = "scale-login-failures";
const IMAGE: &str = "auth:1.0";

/// Given: the namespace, the template, and N Deployments, Services and Rollouts.
async fn given(client: &Client, o: &Options) -> Result<(), String> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": o.namespace}})).unwrap();
    ignore_exists(
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await,
    )?;
    let template: portcullis::api::ClusterAnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "portcullis.dev/v1alpha1", "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": TEMPLATE},
        "spec": {"metrics": [{"name": "login-failure-ratio", "counts": {
            "failures": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",outcome=\"failure\",pod=~\"{{pods}}\"}[{{elapsed}}])) or vector(0)",
            "total": "sum(increase(auth_login_attempts_total{namespace=\"{{namespace}}\",pod=~\"{{pods}}\"}[{{elapsed}}]))",
            "maxIncrease": 0.2, "confidence": 0.99, "minTotal": 50}}]}
    }))
    .map_err(|e| e.to_string())?;
    ignore_exists(
        Api::all(client.clone())
            .create(&PostParams::default(), &template)
            .await,
    )?;
    let created = Instant::now();
    let n = o.rollouts;
    futures::stream::iter(0..n)
        .map(|i| create_app(client, o, i))
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    log(format!(
        "created {n} Deployments, Services and Rollouts in {:.1}s",
        created.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn ignore_exists<T>(r: Result<T, kube::Error>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn name(i: usize) -> String {
    format!("app-{i:05}")
}

async fn create_app(client: &Client, o: &Options, i: usize) -> Result<(), String> {
    let (ns, name) = (o.namespace.as_str(), name(i));
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": o.replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]}}}
    }))
    .unwrap();
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    let r: Rollout = serde_json::from_value(json!({
        "apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {"workloadRef": {"name": name}, "service": name, "traffic": {"replicas": {}},
            "steps": [{"setWeight": 20}, {"pause": {"duration": "30m"}}],
            "analysis": {"interval": format!("{}s", o.interval.as_secs()),
                "templates": [{"name": TEMPLATE, "clusterScope": true}]}}
    }))
    .map_err(|e| e.to_string())?;
    let pp = PostParams::default();
    ignore_exists(Api::namespaced(client.clone(), ns).create(&pp, &d).await)?;
    ignore_exists(Api::namespaced(client.clone(), ns).create(&pp, &s).await)?;
    ignore_exists(Api::namespaced(client.clone(), ns).create(&pp, &r).await)?;
    Ok(())
}

/// Waits (through a watch) until every Rollout has a phase in status.
async fn all_have_status(
    client: &Client,
    o: &Options,
    started: Instant,
) -> Result<Duration, String> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), &o.namespace);
    let mut with: HashSet<String> = HashSet::new();
    let stream = watcher::watcher(api, watcher::Config::default());
    let mut stream = std::pin::pin!(stream);
    let deadline = started + o.status_timeout;
    let mut last_log = Instant::now();
    loop {
        let next = tokio::time::timeout_at(deadline.into(), stream.next()).await;
        let ev = match next {
            Err(_) => {
                return Err(format!(
                    "only {}/{} Rollouts had a status after {:?}",
                    with.len(),
                    o.rollouts,
                    o.status_timeout
                ));
            }
            Ok(None) => return Err("the Rollout watch ended".into()),
            Ok(Some(Err(e))) => {
                log(format!("watch: {e}"));
                continue;
            }
            Ok(Some(Ok(ev))) => ev,
        };
        let mut see = |r: &Rollout| {
            if r.status.as_ref().is_some_and(|s| s.phase.is_some()) {
                with.insert(r.name_any());
            }
        };
        match &ev {
            watcher::Event::Apply(r) | watcher::Event::InitApply(r) => see(r),
            _ => {}
        }
        if last_log.elapsed() > Duration::from_secs(5) {
            log(format!(
                "{}/{} Rollouts have a status",
                with.len(),
                o.rollouts
            ));
            last_log = Instant::now();
        }
        if with.len() >= o.rollouts {
            return Ok(started.elapsed());
        }
    }
}

/// The operator's own numbers from its `/metrics`.
#[derive(Debug, Default, Clone)]
struct Scraped {
    by_verb: HashMap<String, f64>,
    reconciles: f64,
}

impl Scraped {
    /// Requests other than starting a watch.
    fn requests(&self) -> f64 {
        self.by_verb
            .iter()
            .filter(|(v, _)| v.as_str() != "watch")
            .map(|(_, n)| n)
            .sum()
    }
}

async fn scrape(url: &str) -> Result<Scraped, String> {
    let body = reqwest::get(url)
        .await
        .map_err(|e| format!("{url}: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let mut s = Scraped::default();
    for line in body.lines() {
        let value = || {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        if let Some(rest) = line.strip_prefix("portcullis_api_requests_total{verb=\"") {
            let verb = rest.split('"').next().unwrap_or_default().to_string();
            s.by_verb.insert(verb, value());
        } else if line.starts_with("portcullis_reconciles_total ") {
            s.reconciles = value();
        }
    }
    Ok(s)
}

/// Waits until the operator is done with the start: at most one request (the periodic
/// look for the Gateway API) in 3 s. Rechecks of idle Rollouts may go on meanwhile.
async fn quiet(url: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last = scrape(url).await?;
    loop {
        if Instant::now() > deadline {
            log("the operator did not go quiet; measuring anyway");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = scrape(url).await?;
        if now.requests() - last.requests() <= 1.0 {
            return Ok(());
        }
        last = now;
    }
}

/// API requests per reconcile of an idle Rollout: touch up to 500 of them with an
/// annotation (each reconciles; nothing changed for it) and count what the operator sent.
async fn idle_reconciles(client: &Client, o: &Options, url: &str) -> Result<f64, String> {
    let before = scrape(url).await?;
    let touched = o.rollouts.min(500);
    let api: Api<Rollout> = Api::namespaced(client.clone(), &o.namespace);
    futures::stream::iter(0..touched)
        .map(|i| {
            let api = api.clone();
            async move {
                let patch =
                    json!({"metadata": {"annotations": {"bench.portcullis.dev/touched": "1"}}});
                api.patch(&name(i), &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = scrape(url).await?;
        if now.reconciles - before.reconciles >= touched as f64 || Instant::now() > deadline {
            break;
        }
    }
    quiet(url, Duration::from_secs(30)).await?;
    let after = scrape(url).await?;
    let reconciles = after.reconciles - before.reconciles;
    let requests = after.requests() - before.requests();
    log(format!(
        "touched {touched} idle Rollouts: {reconciles:.0} reconciles, {requests:.0} requests ({:?})",
        after
            .by_verb
            .iter()
            .map(|(v, n)| (v.clone(), n - before.by_verb.get(v).copied().unwrap_or(0.0)))
            .filter(|(_, n)| *n > 0.0)
            .collect::<Vec<_>>()
    ));
    Ok(requests / reconciles.max(1.0))
}

/// Starts canaries on 1% of the Rollouts (a new image) and counts the queries
/// Prometheus gets per analysis interval once they run.
async fn canaries(client: &Client, o: &Options, prom: &StandIn) -> Result<f64, String> {
    let n = (o.rollouts / 100).max(1);
    let api: Api<Deployment> = Api::namespaced(client.clone(), &o.namespace);
    for i in 0..n {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "auth:1.1"}]}}}});
        api.patch(&name(i), &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map_err(|e| e.to_string())?;
    }
    log(format!("started {n} canaries"));
    // Analysis starts once a canary's pods are ready: wait for the first query, then
    // one interval more for the others to catch up.
    let deadline = Instant::now() + Duration::from_secs(240);
    while prom.counts().queries == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(o.interval).await;
    let before = prom.counts();
    let intervals = 3;
    tokio::time::sleep(o.interval * intervals).await;
    let after = prom.counts();
    let per_interval = |a: u64, b: u64| (a - b) as f64 / intervals as f64;
    // Where the canaries are: a count per phase and the first one's message.
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &o.namespace);
    let mut phases: std::collections::BTreeMap<String, usize> = Default::default();
    let mut first = None;
    for i in 0..n {
        if let Ok(r) = rollouts.get(&name(i)).await {
            let st = r.status.unwrap_or_default();
            *phases.entry(format!("{:?}", st.phase)).or_default() += 1;
            first.get_or_insert(st.message);
        }
    }
    log(format!(
        "canaries by phase: {phases:?}; the first says {first:?}"
    ));
    log(format!(
        "per analysis interval: {:.1} Prometheus queries selecting {:.1} windows (batched) and {:.1} pods",
        per_interval(after.queries, before.queries),
        per_interval(after.arms, before.arms),
        per_interval(after.pods, before.pods),
    ));
    Ok(per_interval(after.queries, before.queries))
}

static SAMPLED_PEAK: AtomicU64 = AtomicU64::new(0);

/// Samples the operator's RSS and its connections to the API server every 100 ms.
struct Sampler {
    pid: u32,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sampler {
    fn start(pid: u32, api: (Option<std::net::IpAddr>, u16)) -> Sampler {
        SAMPLED_PEAK.store(0, Ordering::Relaxed);
        let task = tokio::spawn(async move {
            loop {
                let n = connections(pid, api) as u64;
                SAMPLED_PEAK.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Sampler { pid, task }
    }

    fn peak(&self) -> u64 {
        SAMPLED_PEAK.load(Ordering::Relaxed)
    }

    fn rss_mib(&self) -> f64 {
        rss_mib(self.pid)
    }
}

/// User + system CPU time of process `pid` (`/proc/PID/stat`, in clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) end with ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Established TCP connections of process `pid` to the API server: the sockets among its
/// file descriptors (`/proc/PID/fd`) whose remote end (`/proc/PID/net/tcp{,6}`) is it.
pub fn connections(pid: u32, (ip, port): (Option<std::net::IpAddr>, u16)) -> usize {
    let inodes: HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    ["tcp", "tcp6"]
        .iter()
        .flat_map(|t| {
            std::fs::read_to_string(format!("/proc/{pid}/net/{t}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) = (f.get(2), f.get(3), f.get(9)) else {
                return false;
            };
            let established = *state == "01";
            let ours = inode.parse::<u64>().is_ok_and(|i| inodes.contains(&i));
            established && ours && remote_is(remote, ip, port)
        })
        .count()
}

/// Whether `remote` (`HEXIP:HEXPORT` as /proc/net/tcp writes it) is `ip`:`port`.
fn remote_is(remote: &str, ip: Option<std::net::IpAddr>, port: u16) -> bool {
    let Some((hex_ip, hex_port)) = remote.split_once(':') else {
        return false;
    };
    if u16::from_str_radix(hex_port, 16) != Ok(port) {
        return false;
    }
    match ip {
        None => true,
        Some(std::net::IpAddr::V4(v4)) => {
            // Little-endian 32-bit words; an IPv4 peer of a tcp6 socket is ::ffff:a.b.c.d.
            let want = format!("{:08X}", u32::from_le_bytes(v4.octets()));
            hex_ip.ends_with(&want)
        }
        Some(std::net::IpAddr::V6(_)) => true,
    }
}
