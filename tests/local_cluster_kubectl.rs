//! kubectl 1.32 as a new user drives `portcullis local-cluster` (issue 12): its typed
//! generator commands (protobuf bodies), `auth can-i`, `explain` (OpenAPI v3), `apply`
//! with its default client-side validation, and server-side dry-run of invalid Rollouts
//! and AnalysisTemplates refused by their CRDs' CEL rules with the field named.
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/kubectl.rs"]
mod kubectl;

use serde_json::Value;
use std::path::Path;

use kubectl::{kubectl, ok};

/// kubectl's stderr for a command that must fail.
fn refused(kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args);
    assert!(
        !out.status.success(),
        "kubectl {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Cluster {
    server: kube_memserver::apiserver::LocalApiServer,
    dir: tempfile::TempDir,
    kc: std::path::PathBuf,
}

async fn cluster() -> Cluster {
    let (server, _client) = cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    Cluster { server, dir, kc }
}

/// `kubectl create namespace|configmap|secret|serviceaccount|deployment|service` and
/// `kubectl run` send protobuf bodies (and ask for protobuf answers); the objects land
/// as a JSON client reads them back.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_create_sends_protobuf_and_the_objects_are_stored() {
    let c = cluster().await;
    let kc = &c.kc;
    let out = ok(kc, &["create", "namespace", "x"]);
    assert_eq!(out.trim(), "namespace/x created");
    let out = ok(
        kc,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "x",
            "--from-literal=mode=canary",
            "--from-literal=weight=10",
        ],
    );
    assert_eq!(out.trim(), "configmap/settings created");
    let out = ok(
        kc,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "x",
            "--from-literal=token=s3cret",
        ],
    );
    assert_eq!(out.trim(), "secret/creds created");
    let out = ok(kc, &["create", "serviceaccount", "robot", "-n", "x"]);
    assert_eq!(out.trim(), "serviceaccount/robot created");

    let cm: serde_json::Value = serde_json::from_str(&ok(
        kc,
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            "x",
            "-o",
            "json",
            "--show-managed-fields",
        ],
    ))
    .unwrap();
    assert_eq!(
        cm["data"],
        serde_json::json!({"mode": "canary", "weight": "10"})
    );
    assert_eq!(
        cm["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
    let token = ok(
        kc,
        &[
            "get",
            "secret",
            "creds",
            "-n",
            "x",
            "-o",
            "jsonpath={.type} {.data.token}",
        ],
    );
    assert_eq!(token, "Opaque czNjcmV0");
    let phase = ok(
        kc,
        &["get", "namespace", "x", "-o", "jsonpath={.status.phase}"],
    );
    assert_eq!(phase, "Active");

    // Workload generators: decoded from protobuf, answered as JSON.
    let out = ok(
        kc,
        &[
            "create",
            "deployment",
            "web",
            "-n",
            "x",
            "--image=nginx",
            "--port=80",
            "--replicas=2",
        ],
    );
    assert_eq!(out.trim(), "deployment.apps/web created");
    let spec = ok(
        kc,
        &[
            "get",
            "deployment",
            "web",
            "-n",
            "x",
            "-o",
            "jsonpath={.spec.replicas} {.spec.strategy.type} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.selector.matchLabels.app}",
        ],
    );
    assert_eq!(spec, "2 RollingUpdate 80 web");
    let out = ok(
        kc,
        &[
            "create",
            "service",
            "clusterip",
            "web",
            "-n",
            "x",
            "--tcp=80:8080",
        ],
    );
    assert_eq!(out.trim(), "service/web created");
    let port = ok(
        kc,
        &[
            "get",
            "service",
            "web",
            "-n",
            "x",
            "-o",
            "jsonpath={.spec.ports[0].targetPort} {.spec.selector.app}",
        ],
    );
    assert_eq!(port, "8080 web");
    let out = ok(
        kc,
        &[
            "run",
            "shell",
            "-n",
            "x",
            "--image=busybox",
            "--env=A=b",
            "--",
            "sleep",
            "60",
        ],
    );
    assert_eq!(out.trim(), "pod/shell created");
    let args = ok(
        kc,
        &[
            "get",
            "pod",
            "shell",
            "-n",
            "x",
            "-o",
            "jsonpath={.spec.containers[0].args} {.spec.containers[0].env[0].value}",
        ],
    );
    assert_eq!(args, r#"["sleep","60"] b"#);

    // A second create is refused with the real server's words (a protobuf Status).
    let err = refused(kc, &["create", "namespace", "x"]);
    assert!(err.contains(r#"namespaces "x" already exists"#), "{err}");
    let err = refused(kc, &["create", "configmap", "Bad_Name", "-n", "x"]);
    assert!(err.contains("is invalid"), "{err}");
    c.server.shutdown().await;
}

/// `kubectl auth can-i` (SelfSubjectAccessReview), `--list` (SelfSubjectRulesReview)
/// and `kubectl auth whoami` (SelfSubjectReview), all in protobuf: everything is
/// allowed, and the review says why.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_auth_can_i_is_always_yes() {
    let c = cluster().await;
    let kc = &c.kc;
    assert_eq!(
        ok(kc, &["auth", "can-i", "create", "deployments"]).trim(),
        "yes"
    );
    assert_eq!(
        ok(
            kc,
            &[
                "auth",
                "can-i",
                "delete",
                "rollouts.portcullis.dev",
                "-n",
                "prod"
            ]
        )
        .trim(),
        "yes"
    );
    let me = ok(kc, &["auth", "whoami"]);
    assert!(me.contains("admin"), "{me}");
    let list = ok(kc, &["auth", "can-i", "--list"]);
    assert!(list.contains("*.*"), "{list}");
    let review = c.dir.path().join("review.yaml");
    std::fs::write(
        &review,
        "apiVersion: authorization.k8s.io/v1\nkind: SelfSubjectAccessReview\n\
         spec:\n  resourceAttributes:\n    verb: get\n    resource: secrets\n",
    )
    .unwrap();
    let why = ok(
        kc,
        &[
            "create",
            "-f",
            review.to_str().unwrap(),
            "-o",
            "jsonpath={.status}",
        ],
    );
    assert!(why.contains("no authorization"), "{why}");
    c.server.shutdown().await;
}

/// Applies the CRDs (ours and Gateway API's HTTPRoute) as a user would.
fn apply_crds(kc: &Path) {
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/portcullis.dev.yaml");
    let routes = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/kube-memserver/tests/fixtures/gateway-api/httproutes.yaml"
    );
    ok(kc, &["apply", "-f", crds, "-f", routes]);
}

/// `kubectl explain` reads `/openapi/v3`: built-in kinds from the recorded kube-apiserver
/// documents, custom kinds from their CRDs' schemas.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_explain_reads_the_openapi_documents() {
    let c = cluster().await;
    let kc = &c.kc;
    apply_crds(kc);
    let steps = ok(kc, &["explain", "rollout.spec.steps"]);
    assert!(steps.contains("KIND:       Rollout"), "{steps}");
    assert!(steps.contains("FIELD: steps <[]Object>"), "{steps}");
    assert!(steps.contains("setWeight\t<integer>"), "{steps}");
    let strategy = ok(kc, &["explain", "deployment.spec.strategy"]);
    assert!(
        strategy.contains("rollingUpdate\t<RollingUpdateDeployment>"),
        "{strategy}"
    );
    let weight = ok(kc, &["explain", "httproute.spec.rules.backendRefs.weight"]);
    assert!(weight.contains("FIELD: weight <integer>"), "{weight}");
    let cm = ok(kc, &["explain", "configmap", "--recursive"]);
    assert!(cm.contains("binaryData\t<map[string]string>"), "{cm}");
    c.server.shutdown().await;
}

/// `kubectl apply -f` with kubectl's default validation creates, then patches (a merge
/// patch for custom resources, a strategic one for Deployments) the project's examples.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_with_default_validation_creates_and_updates_the_examples() {
    let c = cluster().await;
    let kc = &c.kc;
    apply_crds(kc);
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let gates = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gates");
    let first = ok(kc, &["apply", "-f", examples]);
    assert!(
        first.contains("rollout.portcullis.dev/auth-api created"),
        "{first}"
    );
    assert!(
        first.contains("deployment.apps/auth-api created"),
        "{first}"
    );
    let gated = ok(kc, &["apply", "-f", gates]);
    assert!(
        gated.contains("rollout.portcullis.dev/auth-api configured"),
        "{gated}"
    );
    let again = ok(kc, &["apply", "-f", examples, "-f", gates]);
    assert!(
        !again.contains("configured\n") || again.contains("unchanged"),
        "{again}"
    );
    assert!(
        again.contains("deployment.apps/auth-api unchanged"),
        "{again}"
    );

    // A misspelt field of a built-in kind is refused, as kube-apiserver's strict
    // decoding refuses it (kubectl asks for fieldValidation=Strict).
    let typo = c.dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\nspec:\n  \
         selector:\n    matchLabels: {app: typo}\n  template:\n    metadata:\n      \
         labels: {app: typo}\n    spec:\n      containers:\n      - name: web\n        \
         image: nginx\n        imagePullPolcy: Always\n",
    )
    .unwrap();
    let err = refused(kc, &["apply", "-f", typo.to_str().unwrap()]);
    assert!(
        err.contains(r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolcy""#),
        "{err}"
    );
    ok(
        kc,
        &["apply", "--validate=false", "-f", typo.to_str().unwrap()],
    );
    c.server.shutdown().await;
}

const ROLLOUT: &str = "apiVersion: portcullis.dev/v1alpha1
kind: Rollout
metadata:
  name: auth-api
  namespace: default
spec:
  workloadRef:
    name: auth-api
  service: auth-api
  traffic:
    replicas: {}
  steps:
";

const TEMPLATE: &str = "apiVersion: portcullis.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: probe
  namespace: default
spec:
  metrics:
";

/// `kubectl apply --dry-run=server` of `yaml`: kubectl's stderr when refused, else "".
fn dry_run(c: &Cluster, yaml: &str) -> String {
    let file = c.dir.path().join("object.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = kubectl(
        &c.kc,
        &["apply", "--dry-run=server", "-f", file.to_str().unwrap()],
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Statically invalid Rollouts and AnalysisTemplates are refused at admission by their
/// CRDs' CEL rules, as kube-apiserver refuses them: a 422 naming the field and the rule's
/// message. Valid ones pass.
#[tokio::test(flavor = "multi_thread")]
async fn server_side_dry_run_refuses_invalid_rollouts_and_templates_naming_the_field() {
    let c = cluster().await;
    apply_crds(&c.kc);
    assert_eq!(
        dry_run(
            &c,
            &format!("{ROLLOUT}  - setWeight: 10\n  - pause: {{}}\n")
        ),
        ""
    );

    let cases = [
        (
            format!("{ROLLOUT}    []\n"),
            r#"The Rollout "auth-api" is invalid: spec.steps: Invalid value: steps must not be empty"#,
        ),
        (
            format!("{ROLLOUT}  - setWeight: 10\n    pause: {{}}\n"),
            "spec.steps[0]: Invalid value: each step must have exactly one of setWeight, pause, analysis",
        ),
        (
            format!(
                "{ROLLOUT}  - pause: {{}}\n  analysis:\n    metrics:\n    - name: m\n      counts:\n        failures: f\n        total: t\n        confidence: 1.5\n"
            ),
            "spec.analysis.metrics[0].counts.confidence: Invalid value: confidence must be strictly between 0 and 1",
        ),
        (
            ROLLOUT.replace(
                "    replicas: {}",
                "    replicas: {}\n    gatewayAPI:\n      httpRoute: auth-api",
            ) + "  - pause: {}\n",
            "spec.traffic: Invalid value: set exactly one traffic router: replicas or gatewayAPI",
        ),
        (
            format!("{TEMPLATE}    []\n"),
            r#"The AnalysisTemplate "probe" is invalid: spec.metrics: Invalid value: a template needs at least one metric"#,
        ),
        (
            format!(
                "{TEMPLATE}  - name: m\n    query:\n      query: up\n    probe:\n      path: /login\n      port: 8080\n"
            ),
            "spec.metrics[0]: Invalid value: each metric must have exactly one of counts, query, probe",
        ),
    ];
    for (yaml, want) in cases {
        let err = dry_run(&c, &yaml);
        assert!(err.contains(want), "want {want:?} in:\n{err}\nfor:\n{yaml}");
    }
    // Nothing was stored by the dry runs.
    let listed = ok(
        &c.kc,
        &["get", "rollouts,analysistemplates", "-A", "-o", "name"],
    );
    assert_eq!(listed.trim(), "", "{listed}");
    c.server.shutdown().await;
}

/// The recording carries Go's wrapper objects (`SchemaProps`, ...) around the OpenAPI
/// fields; lifting their contents gives the document as OpenAPI.
fn unwrap_go_fields(v: Value) -> Value {
    const WRAPPERS: &[&str] = &[
        "ArbitraryKeys",
        "SchemaProps",
        "SwaggerSchemaProps",
        "Extensions",
        "ParameterProps",
        "MediaTypeProps",
        "OperationProps",
        "RequestBodyProps",
    ];
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                match unwrap_go_fields(x) {
                    Value::Object(inner) if WRAPPERS.contains(&k.as_str()) => out.extend(inner),
                    _ if WRAPPERS.contains(&k.as_str()) => {}
                    x => {
                        out.insert(k, x);
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(unwrap_go_fields).collect()),
        other => other,
    }
}

/// The OpenAPI v3 document of a CRD's group is the one kube-apiserver v1.36 published
/// for the same CRD (Gateway API's HTTPRoute), but for the group-version-kinds listed
/// on DeleteOptions (there: every group that server served).
#[tokio::test(flavor = "multi_thread")]
async fn a_crd_openapi_document_is_the_one_kube_apiserver_publishes() {
    use std::io::Read;
    let c = cluster().await;
    apply_crds(&c.kc);
    let index: Value = serde_json::from_str(&ok(&c.kc, &["get", "--raw", "/openapi/v3"])).unwrap();
    let url = index["paths"]["apis/gateway.networking.k8s.io/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with("/openapi/v3/apis/gateway.networking.k8s.io/v1?hash="),
        "{url}"
    );
    let mut ours: Value = serde_json::from_str(&ok(&c.kc, &["get", "--raw", &url])).unwrap();
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openapi-v3/apis_gateway.networking.k8s.io_v1.json.gz"
    ))
    .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    let mut recorded = unwrap_go_fields(serde_json::from_str(&text).unwrap());
    let gvks = "/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions/x-kubernetes-group-version-kind";
    for doc in [&mut ours, &mut recorded] {
        *doc.pointer_mut(gvks).unwrap() = Value::Null;
    }
    assert_eq!(ours["paths"], recorded["paths"]);
    assert_eq!(ours["components"], recorded["components"]);
    assert_eq!(ours["info"], recorded["info"]);
    c.server.shutdown().await;
}
