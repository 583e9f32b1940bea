//! README's "Try it by hand", step by step, through the same programs a person runs:
//! `portcullis local-cluster`, Debian's `prometheus` with the README's scrape config,
//! `kubectl apply -f crds/ -f examples/`, `portcullis controller`, and `portcullis push
//! --wait` — a healthy release promoted, a broken one rolled back. Ports are picked free
//! here where the README names fixed ones.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KUBECTL: &str = "/usr/bin/kubectl";

/// A background program, killed when the test ends however it ends.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn portcullis(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(mut c: Command) -> Output {
    let out = c.output().expect("the program runs");
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn wait_for_http(url: &str, limit: Duration) {
    let start = Instant::now();
    while !http::answers(url) {
        assert!(
            start.elapsed() < limit,
            "{url} did not answer within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

mod http {
    /// A plain HTTP GET on loopback that says whether a 2xx came back.
    pub fn answers(url: &str) -> bool {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let Ok(mut s) = std::net::TcpStream::connect(host) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        if write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && head[9] == b'2'
    }
}

#[test]
fn the_examples_applied_by_hand_see_a_good_release_through_and_a_bad_one_back() {
    if !Path::new(KUBECTL).exists() {
        panic!("kubectl is needed at {KUBECTL} (it is on these machines)");
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("local-cluster.kubeconfig");
    let k = kubeconfig.to_str().unwrap();
    let (api_port, metrics_port, prom_port) = (free_port(), free_port(), free_port());

    // 1. The local cluster, with login traffic to payments/auth-api; auth:1.2 fails logins.
    let mut cluster = portcullis(&[
        "local-cluster",
        "--port",
        &api_port.to_string(),
        "--kubeconfig",
        k,
        "--metrics-port",
        &metrics_port.to_string(),
        "--traffic-service",
        "payments/auth-api",
        "--traffic-rps",
        "200",
        "--release",
        "auth:1.2=baseline:0.02,bug:1.0",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut ready = String::new();
    BufReader::new(cluster.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let _cluster = Background(cluster);
    assert!(ready.starts_with("ready: "), "{ready}");

    // 2. Prometheus scraping the pods' counters every second (README's config).
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        portcullis::lab::prometheus::scrape_config(&[format!("127.0.0.1:{metrics_port}")]),
    )
    .unwrap();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .arg("--log.level=warn")
        .stderr(Stdio::null())
        .spawn()
        .expect("Debian's prometheus (make deps-prometheus)");
    let _prometheus = Background(prometheus);
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    wait_for_http(&format!("{prom_url}/-/ready"), Duration::from_secs(30));

    // 3. The CRDs, then the examples in order: namespace, app, login gate, Rollout.
    let mut apply = Command::new(KUBECTL);
    apply.args(["--kubeconfig", k, "apply", "-f", "crds/"]);
    apply.current_dir(env!("CARGO_MANIFEST_DIR"));
    assert!(run(apply).status.success(), "kubectl apply -f crds/");
    let mut apply = Command::new(KUBECTL);
    apply.args(["--kubeconfig", k, "apply", "-f", "examples/"]);
    apply.current_dir(env!("CARGO_MANIFEST_DIR"));
    let applied = run(apply);
    assert!(applied.status.success(), "kubectl apply -f examples/");
    let said = String::from_utf8_lossy(&applied.stdout);
    for object in [
        "namespace/payments",
        "deployment.apps/auth-api",
        "service/auth-api",
        "clusteranalysistemplate.portcullis.dev/login-failures",
        "rollout.portcullis.dev/auth-api",
    ] {
        assert!(said.contains(object), "{object} in:\n{said}");
    }

    // 4. The operator, its log in a file as a log collector would have it.
    let log_path = dir.path().join("controller.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let controller = portcullis(&[
        "controller",
        "--kubeconfig",
        k,
        "--prometheus-url",
        &prom_url,
        "--leader-election=false",
        "--metrics-addr",
        "127.0.0.1:0",
    ])
    .env("RUST_LOG", "info")
    .stdout(log)
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _controller = Background(controller);

    // 5. Once the Rollout has adopted the running release (README: wait for `Idle`),
    //    a pipeline's pushes.
    let start = Instant::now();
    loop {
        let mut get = Command::new(KUBECTL);
        get.args([
            "--kubeconfig",
            k,
            "get",
            "rollout",
            "auth-api",
            "-n",
            "payments",
            "-o",
            "jsonpath={.status.phase}",
        ]);
        if String::from_utf8_lossy(&get.output().unwrap().stdout) == "Idle" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the Rollout adopted auth:1.0"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let wait = |image: &str| {
        run(portcullis(&[
            "push",
            "auth-api",
            image,
            "-n",
            "payments",
            "--kubeconfig",
            k,
            "--wait",
            "--timeout",
            "240s",
        ]))
    };
    let dump = || {
        let mut get = Command::new(KUBECTL);
        get.args([
            "--kubeconfig",
            k,
            "get",
            "rollout",
            "auth-api",
            "-n",
            "payments",
            "-o",
            "yaml",
        ]);
        let mut pods = Command::new(KUBECTL);
        pods.args([
            "--kubeconfig",
            k,
            "get",
            "rs,pods",
            "-n",
            "payments",
            "--show-labels",
        ]);
        let mut deploy = Command::new(KUBECTL);
        deploy.args([
            "--kubeconfig",
            k,
            "get",
            "deploy",
            "auth-api",
            "-n",
            "payments",
            "-o",
            "yaml",
            "--show-managed-fields",
        ]);
        eprintln!(
            "DEPLOY {}",
            String::from_utf8_lossy(&deploy.output().unwrap().stdout)
        );
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&get.output().unwrap().stdout),
            String::from_utf8_lossy(&pods.output().unwrap().stdout)
        )
    };
    let good = wait("auth:1.1");
    assert_eq!(good.status.code(), Some(0), "auth:1.1 promoted: {}", dump());
    let bad = wait("auth:1.2");
    assert_eq!(
        bad.status.code(),
        Some(1),
        "auth:1.2 rolled back: {}",
        dump()
    );
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("was rolled back"),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
    // Plain text in a file: no colour codes, no Rust debug syntax.
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("INFO"), "the controller logged: {logged}");
    assert!(
        !logged.contains('\u{1b}'),
        "colour codes in a file: {logged}"
    );
    assert!(!logged.contains("Some("), "{logged}");
}
