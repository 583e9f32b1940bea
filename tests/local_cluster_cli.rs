//! The local API server driven by the machine's kubectl, as a user drives a real cluster.
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/kubectl.rs"]
mod kubectl;

use std::io::{BufRead, BufReader};

use std::process::{Command, Stdio};
use std::time::Duration;

use kubectl::{KUBECTL, kubectl, ok};

const ROUTE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: auth-api
  namespace: default
spec:
  parentRefs:
  - name: gateway
  rules:
  - backendRefs:
    - name: auth-api-stable
      port: 80
      weight: 90
    - name: auth-api-canary
      port: 80
      weight: 10
"#;

/// kubectl against kube-apiserver: apply CRDs (ours and Gateway API's HTTPRoute) with
/// kubectl's default validation, apply a custom object, read it as JSON, patch it, see it
/// in `get` columns, delete it.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_applies_crds_and_manages_a_custom_object() {
    let (server, _client) = cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/portcullis.dev.yaml");
    let routes = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/kube-memserver/tests/fixtures/gateway-api/httproutes.yaml"
    );
    let applied = ok(&kc, &["apply", "-f", crds, "-f", routes]);
    assert!(
        applied.contains("rollouts.portcullis.dev created"),
        "{applied}"
    );
    assert!(
        applied.contains("httproutes.gateway.networking.k8s.io created"),
        "{applied}"
    );
    let route = dir.path().join("route.yaml");
    std::fs::write(&route, ROUTE).unwrap();
    let created = ok(&kc, &["apply", "-f", route.to_str().unwrap()]);
    assert!(
        created.contains("httproute.gateway.networking.k8s.io/auth-api created"),
        "{created}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&kc, &["get", "httproute", "auth-api", "-o", "json"])).unwrap();
    assert_eq!(json["spec"]["rules"][0]["backendRefs"][1]["weight"], 10);
    assert_eq!(json["metadata"]["generation"], 1);

    let patch = r#"[{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":50}]"#;
    ok(
        &kc,
        &["patch", "httproute", "auth-api", "--type=json", "-p", patch],
    );
    let weight = ok(
        &kc,
        &[
            "get",
            "httproute",
            "auth-api",
            "-o",
            "jsonpath={.spec.rules[0].backendRefs[1].weight} {.metadata.generation}",
        ],
    );
    assert_eq!(weight, "50 2");

    let table = ok(&kc, &["get", "httproutes"]);
    assert!(table.lines().next().unwrap().contains("NAME"), "{table}");
    assert!(table.contains("auth-api"), "{table}");

    let deleted = ok(&kc, &["delete", "httproute", "auth-api"]);
    assert!(deleted.contains("deleted"), "{deleted}");
    let gone = kubectl(&kc, &["get", "httproute", "auth-api"]);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{gone:?}"
    );
    server.shutdown().await;
}

/// `kubectl get -w` prints the object, then a line per change, as against a real cluster.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_watch_prints_changes() {
    let (server, _client) = cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    let cm = dir.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata:\n  k: '1'\n",
    )
    .unwrap();
    ok(&kc, &["apply", "-f", cm.to_str().unwrap()]);
    let mut watch = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "configmap", "watched", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("kubectl printed the header");
    assert!(first.contains("NAME"), "{first}");
    let added = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        added.contains("ADDED") && added.contains("watched"),
        "{added}"
    );
    ok(
        &kc,
        &[
            "patch",
            "configmap",
            "watched",
            "--type=merge",
            "-p",
            r#"{"data":{"k":"2","j":"3"}}"#,
        ],
    );
    let modified = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        modified.contains("MODIFIED") && modified.contains("watched"),
        "{modified}"
    );
    ok(&kc, &["delete", "configmap", "watched"]);
    let deleted = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(deleted.contains("DELETED"), "{deleted}");
    let _ = watch.kill();
    let _ = watch.wait();
    server.shutdown().await;
}

/// `portcullis local-cluster` prints one ready line, serves kubectl, and exits promptly on
/// SIGTERM even with a watch open.
#[test]
fn local_cluster_command_serves_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["local-cluster", "--port", "0", "--kubeconfig"])
        .arg(&kc)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("ready: http://127.0.0.1:")
            && line
                .trim_end()
                .ends_with(&format!("kubeconfig={}", kc.display())),
        "{line}"
    );
    let namespaces = ok(&kc, &["get", "namespaces", "-o", "name"]);
    assert!(
        namespaces.contains("namespace/default") && namespaces.contains("namespace/kube-system"),
        "{namespaces}"
    );
    // An open watch must not hold the process up.
    let mut watch = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "configmaps", "-A", "-w"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "local-cluster did not exit within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = watch.kill();
    let _ = watch.wait();
}

const ROLLOUT: &str = r#"
apiVersion: portcullis.dev/v1alpha1
kind: Rollout
metadata:
  name: auth-api
  namespace: default
spec:
  workloadRef: {name: auth-api}
  service: auth-api
  traffic: {replicas: {}}
  steps:
  - setWeight: 5
  - pause: {}
"#;

/// kube-apiserver renders a CRD's additionalPrinterColumns for `kubectl get`; status
/// written through `/status` shows in them.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_prints_the_rollout_printer_columns() {
    let (server, _client) = cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    ok(
        &kc,
        &[
            "apply",
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/crds/portcullis.dev.yaml"),
        ],
    );
    let rollout = dir.path().join("rollout.yaml");
    std::fs::write(&rollout, ROLLOUT).unwrap();
    ok(&kc, &["apply", "-f", rollout.to_str().unwrap()]);
    let status =
        r#"{"status":{"phase":"Progressing","stepLabel":"1/2 setWeight 5","effectiveWeight":5}}"#;
    ok(
        &kc,
        &[
            "patch",
            "rollout",
            "auth-api",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ],
    );
    let table = ok(&kc, &["get", "rollouts"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "STEP", "WEIGHT", "STABLE", "CANARY", "AGE"],
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("auth-api")
            && row.contains("Progressing")
            && row.contains("1/2 setWeight 5"),
        "{table}"
    );
    server.shutdown().await;
}

const EVENT: &str = r#"
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: auth-api.step, namespace: default}
regarding: {apiVersion: portcullis.dev/v1alpha1, kind: Rollout, name: auth-api, namespace: default}
reason: StepAdvanced
note: "step 2/5: setWeight 25"
type: Normal
action: Advance
reportingController: portcullis.dev/controller
reportingInstance: portcullis-0
eventTime: "2026-12-01T20:40:00.000000Z"
"#;

/// kube-apiserver keeps one storage for both Event APIs: an events.k8s.io Event (as
/// kube-runtime's recorder writes them) shows in `kubectl get events` with its columns.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_events_shows_events_k8s_io_events() {
    let (server, _client) = cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    let event = dir.path().join("event.yaml");
    std::fs::write(&event, EVENT).unwrap();
    ok(&kc, &["apply", "-f", event.to_str().unwrap()]);
    let table = ok(&kc, &["get", "events"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains("StepAdvanced")
            && row.contains("rollout/auth-api")
            && row.contains("step 2/5: setWeight 25"),
        "{table}"
    );
    server.shutdown().await;
}
