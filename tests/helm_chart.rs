//! The Helm chart (`charts/portcullis/`), rendered by Helm's own engine the way `helm
//! install` renders it (helm-python-sdk: the Helm v4 Go SDK as a library, through
//! `charts/tests/render.py`), and every manifest checked against Kubernetes' schemas
//! (kubernetes-validate, strict: unknown fields are errors). Needs `make deps-helm`.
#[path = "support/cluster.rs"]
mod cluster;

use clap::Parser;
use portcullis::controller::rbac::RULES;
use portcullis::controller::{ControllerArgs, LogFormat};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const RELEASE: &str = "portcullis";
const NAMESPACE: &str = "portcullis-system";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    root().join("charts/portcullis")
}

/// What `charts/tests/render.py` reports for one set of values.
struct Chart(Value);

/// Lints and renders the chart with `values` over its defaults.
fn render(values: Value) -> Chart {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make deps-helm` (a venv with helm-python-sdk and kubernetes-validate)",
        python.display()
    );
    let out = Command::new(&python)
        .arg(root().join("charts/tests/render.py"))
        .arg(chart_dir())
        .arg(values.to_string())
        .arg(RELEASE)
        .arg(NAMESPACE)
        .output()
        .expect("the venv's python runs");
    assert!(
        out.status.success(),
        "render.py failed (run `make deps-helm` if a package is missing): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Chart(serde_json::from_slice(&out.stdout).expect("render.py prints JSON"))
}

impl Chart {
    /// Helm's rendering error, if the values were refused.
    fn error(&self) -> Option<&str> {
        self.0["error"].as_str()
    }

    /// The rendered objects (templates only; CRDs are in `crds()`).
    fn objects(&self) -> Vec<&Value> {
        assert_eq!(self.error(), None, "the chart renders");
        self.0["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["object"])
            .collect()
    }

    fn crds(&self) -> Vec<&Value> {
        self.0["crds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["object"])
            .collect()
    }

    fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self
            .objects()
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        kinds.sort();
        kinds
    }

    fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects()
            .into_iter()
            .filter(|o| o["kind"] == kind)
            .collect()
    }

    /// The one object of `kind`.
    fn one(&self, kind: &str) -> &Value {
        let found = self.all(kind);
        assert_eq!(found.len(), 1, "one {kind} among {:?}", self.kinds());
        found[0]
    }

    /// The one ClusterRole named `name`.
    fn role(&self, name: &str) -> &Value {
        let found: Vec<&Value> = self
            .all("ClusterRole")
            .into_iter()
            .filter(|r| r["metadata"]["name"] == name)
            .collect();
        assert_eq!(found.len(), 1, "one ClusterRole {name}");
        found[0]
    }

    fn container(&self) -> &Value {
        let containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        &containers[0]
    }

    /// The container's args after `controller`, as strings.
    fn controller_flags(&self) -> Vec<String> {
        let args: Vec<String> = self.container()["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            args[0], "controller",
            "the container runs `portcullis controller`"
        );
        args[1..].to_vec()
    }

    /// The container's args, parsed by the operator's own flag parser.
    fn controller_args(&self) -> ControllerArgs {
        let flags = self.controller_flags();
        Controller::try_parse_from(std::iter::once("portcullis-controller".into()).chain(flags))
            .unwrap_or_else(|e| panic!("the chart's flags are the controller's: {e}"))
            .args
    }

    fn env(&self, name: &str) -> &Value {
        self.container()["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("env {name} is set"))
    }
}

/// `portcullis controller`'s flags, as src/main.rs takes them.
#[derive(Parser)]
struct Controller {
    #[command(flatten)]
    args: ControllerArgs,
}

#[test]
fn helm_lint_strict_passes() {
    let chart = render(json!({}));
    let lint = &chart.0["lint"];
    assert_eq!(lint["errors"], json!([]), "helm lint --strict: {lint}");
    let findings: Vec<&Value> = lint["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["severity"].as_u64().unwrap() >= 2)
        .collect();
    assert!(
        findings.is_empty(),
        "helm lint --strict warnings or errors: {findings:?}"
    );
}

#[test]
fn chart_version_and_app_version_follow_cargo() {
    let chart = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    assert!(chart.contains("apiVersion: v2\n"), "{chart}");
    assert!(chart.contains("\nname: portcullis\n"), "{chart}");
    assert!(chart.contains("\nversion: 0.1.0\n"), "{chart}");
    let app = format!("\nappVersion: \"{}\"\n", env!("CARGO_PKG_VERSION"));
    assert!(
        chart.contains(&app),
        "Chart.yaml's appVersion is Cargo.toml's version ({app:?})"
    );
}

#[test]
fn default_values_render_an_operator_kubernetes_accepts() {
    let chart = render(json!({}));
    assert_eq!(
        chart.kinds(),
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Service",
            "ServiceAccount"
        ]
    );
    let crds: Vec<&str> = chart
        .crds()
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        crds,
        [
            "rollouts.portcullis.dev",
            "analysistemplates.portcullis.dev",
            "clusteranalysistemplates.portcullis.dev"
        ]
    );
    let checked = chart.0["validation"].as_array().unwrap();
    assert_eq!(checked.len(), 6 + 3, "every manifest and CRD is validated");
    let bad: Vec<&Value> = checked.iter().filter(|v| v["result"] != "valid").collect();
    assert!(
        bad.is_empty(),
        "manifests Kubernetes {} would refuse (strict): {bad:#?}",
        chart.0["kubernetes"]
    );
    for o in chart.objects() {
        let namespaced = !matches!(
            o["kind"].as_str(),
            Some("ClusterRole" | "ClusterRoleBinding")
        );
        if namespaced {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", o["kind"]);
        }
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/instance"],
            RELEASE
        );
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "Helm"
        );
    }
}

/// The operator can never lack a permission the code uses: RULES is what the code may
/// call (tests/operator_rbac.rs), and the ClusterRole is RULES, rule for rule.
/// A ClusterRole's rules as (group, resource, verbs), checking each has one group and one
/// resource and nothing else, as the RULES lists do.
fn rules_of(role: &Value) -> Vec<(String, String, Vec<String>)> {
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let strings = |k: &str| -> Vec<String> {
                r[k].as_array()
                    .unwrap_or_else(|| panic!("rule {r} has {k}"))
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            let (groups, resources) = (strings("apiGroups"), strings("resources"));
            assert!(
                groups.len() == 1 && resources.len() == 1,
                "one group and one resource per rule, as in RULES: {r}"
            );
            assert_eq!(r.as_object().unwrap().len(), 3, "no other fields: {r}");
            (groups[0].clone(), resources[0].clone(), strings("verbs"))
        })
        .collect()
}

fn owned(rules: portcullis::controller::rbac::Rules) -> Vec<(String, String, Vec<String>)> {
    rules
        .iter()
        .map(|(g, r, verbs)| {
            (
                g.to_string(),
                r.to_string(),
                verbs.iter().map(|v| v.to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn the_cluster_role_grants_exactly_rbac_rules() {
    let chart = render(json!({}));
    let role = chart.role(RELEASE);
    assert_eq!(
        rules_of(role),
        owned(RULES),
        "charts/portcullis/templates/clusterrole.yaml must list controller::rbac::RULES"
    );

    let binding = chart.one("ClusterRoleBinding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
               "name": role["metadata"]["name"]})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": chart.one("ServiceAccount")["metadata"]["name"],
                "namespace": NAMESPACE}])
    );
}

/// Pipelines get a role with exactly what the command line uses (tests/cli_rbac.rs
/// records it), bound to nobody: the platform team binds it to its CI.
#[test]
fn the_pipeline_role_grants_exactly_what_the_command_line_uses() {
    let chart = render(json!({}));
    let role = chart.role(&format!("{RELEASE}-pipeline"));
    assert_eq!(
        rules_of(role),
        owned(portcullis::cli::rbac::RULES),
        "charts/portcullis/templates/pipeline-clusterrole.yaml must list cli::rbac::RULES"
    );
    assert_eq!(
        chart.all("ClusterRoleBinding").len(),
        1,
        "only the operator's role is bound"
    );
    let off = render(json!({"rbac": {"pipelineRole": false}}));
    assert_eq!(off.all("ClusterRole").len(), 1);
}

#[test]
fn the_deployment_runs_the_controller_with_flags_it_accepts() {
    let chart = render(json!({}));
    let deployment = chart.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"];
    assert_eq!(
        pod["spec"]["serviceAccountName"],
        chart.one("ServiceAccount")["metadata"]["name"]
    );
    let c = chart.container();
    assert_eq!(
        c["image"], "ghcr.io/portcullis/portcullis:0.1.0",
        "tag = appVersion"
    );
    assert_eq!(c["command"], json!(["portcullis"]));

    let args = chart.controller_args();
    assert!(args.namespaces.is_empty(), "all namespaces by default");
    assert_eq!(
        args.prometheus_url,
        "http://prometheus-server.monitoring.svc:80"
    );
    assert_eq!(args.metrics_addr.to_string(), "0.0.0.0:8080");
    assert!(args.leader_election);
    assert_eq!(args.lease_name, "portcullis");
    assert_eq!(args.lease_duration, 15);
    assert!(matches!(args.log_format, LogFormat::Json));
    assert!(args.kubeconfig.is_none(), "the in-cluster service account");

    // The Lease goes in the release namespace: --lease-namespace comes from POD_NAMESPACE.
    assert!(
        !chart
            .controller_flags()
            .iter()
            .any(|f| f.starts_with("--lease-namespace"))
    );
    assert_eq!(
        chart.env("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        chart.env("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );

    assert_eq!(
        c["ports"],
        json!([{"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http-metrics"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http-metrics"})
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());

    let service = chart.one("Service");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http-metrics", "port": 8080, "targetPort": "http-metrics", "protocol": "TCP"}])
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][k], v, "the pods carry {k}");
    }
}

#[test]
fn values_reach_the_controller_flags() {
    let chart = render(json!({
        "watchNamespaces": ["payments", "identity"],
        "prometheusUrl": "http://prometheus.obs.svc:9090",
        "logFormat": "text",
        "logLevel": "debug,kube=info",
        "metrics": {"port": 9090},
        "leaderElection": {"leaseName": "auth-rollouts", "leaseDuration": 30},
        "image": {"repository": "registry.example/portcullis", "tag": "0.1.0-rc1", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "podAnnotations": {"example.com/team": "platform"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    }));
    let args = chart.controller_args();
    assert_eq!(args.namespaces, ["payments", "identity"]);
    assert_eq!(args.prometheus_url, "http://prometheus.obs.svc:9090");
    assert!(matches!(args.log_format, LogFormat::Text));
    assert_eq!(args.metrics_addr.to_string(), "0.0.0.0:9090");
    assert_eq!(args.lease_name, "auth-rollouts");
    assert_eq!(args.lease_duration, 30);
    assert_eq!(chart.env("RUST_LOG")["value"], "debug,kube=info");
    assert_eq!(chart.env("HTTPS_PROXY")["value"], "http://proxy:3128");

    let c = chart.container();
    assert_eq!(c["image"], "registry.example/portcullis:0.1.0-rc1");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["ports"][0]["containerPort"], 9090);
    assert_eq!(chart.one("Service")["spec"]["ports"][0]["port"], 9090);
    let pod = &chart.one("Deployment")["spec"]["template"];
    assert_eq!(
        pod["metadata"]["annotations"]["example.com/team"],
        "platform"
    );
    assert_eq!(
        pod["spec"]["imagePullSecrets"],
        json!([{"name": "registry"}])
    );
    assert_eq!(pod["spec"]["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["spec"]["tolerations"][0]["key"], "dedicated");
    let bad: Vec<&Value> = chart.0["validation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["result"] != "valid")
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A flag the controller does not know (a renamed one, say) fails here, not in a pod's
/// CrashLoopBackOff.
#[test]
fn a_flag_the_controller_does_not_know_is_caught() {
    let chart = render(json!({"extraArgs": ["--watch-namespace=payments"]}));
    let flags = chart.controller_flags();
    let parsed =
        Controller::try_parse_from(std::iter::once("portcullis-controller".into()).chain(flags));
    let err = parsed
        .err()
        .expect("an unknown flag is refused")
        .to_string();
    assert!(err.contains("--watch-namespace"), "{err}");
}

#[test]
fn two_replicas_come_with_a_pod_disruption_budget() {
    assert!(
        render(json!({})).all("PodDisruptionBudget").is_empty(),
        "not for one replica"
    );
    let chart = render(json!({"replicas": 2}));
    assert_eq!(chart.one("Deployment")["spec"]["replicas"], 2);
    assert!(
        chart.controller_args().leader_election,
        "one leader, one standby"
    );
    let pdb = chart.one("PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        chart.one("Deployment")["spec"]["selector"]["matchLabels"]
    );
    let pdb_check = chart.0["validation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == "PodDisruptionBudget")
        .unwrap();
    assert_eq!(pdb_check["result"], "valid", "{pdb_check}");
    assert!(
        render(json!({"replicas": 2, "podDisruptionBudget": {"enabled": false}}))
            .all("PodDisruptionBudget")
            .is_empty()
    );
}

#[test]
fn replicas_without_leader_election_are_refused() {
    let chart = render(json!({"replicas": 2, "leaderElection": {"enabled": false}}));
    let err = chart.error().expect("refused");
    assert!(err.contains("leaderElection.enabled"), "{err}");
    let single = render(json!({"leaderElection": {"enabled": false}}));
    assert!(!single.controller_args().leader_election);
}

#[test]
fn an_existing_service_account_is_used_when_create_is_false() {
    let chart = render(json!({"serviceAccount": {"create": false, "name": "platform-operators"}}));
    assert!(chart.all("ServiceAccount").is_empty());
    assert_eq!(
        chart.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"],
        "platform-operators"
    );
    assert_eq!(
        chart.one("ClusterRoleBinding")["subjects"][0]["name"],
        "platform-operators"
    );
    let named = render(json!({"serviceAccount": {"name": "rollouts"}}));
    assert_eq!(named.one("ServiceAccount")["metadata"]["name"], "rollouts");
    let no_rbac = render(json!({"rbac": {"create": false}}));
    assert!(no_rbac.all("ClusterRole").is_empty() && no_rbac.all("ClusterRoleBinding").is_empty());
}

#[test]
fn a_service_monitor_scrapes_the_metrics_port_when_enabled() {
    assert!(
        render(json!({})).all("ServiceMonitor").is_empty(),
        "off by default"
    );
    let chart = render(
        json!({"serviceMonitor": {"enabled": true, "labels": {"release": "kube-prometheus"}}}),
    );
    let sm = chart.one("ServiceMonitor");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus");
    assert_eq!(
        sm["spec"]["endpoints"],
        json!([{"port": "http-metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s",
                "honorLabels": true}]),
        "per-Rollout series keep the Rollout's namespace label"
    );
    let service = chart.one("Service");
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &service["metadata"]["labels"][k], v,
            "it selects the metrics Service"
        );
    }
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        json!([NAMESPACE])
    );
    // Kubernetes' schemas do not cover the Prometheus Operator's kinds; that is the only
    // manifest left unchecked.
    let unchecked: Vec<&Value> = chart.0["validation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["result"] != "valid")
        .collect();
    assert_eq!(unchecked.len(), 1, "{unchecked:#?}");
    assert_eq!(unchecked[0]["kind"], "ServiceMonitor");
    assert_eq!(unchecked[0]["result"], "no schema");
}

/// The Grafana dashboard and the alerts (charts/portcullis/files/, checked against the
/// operator's metrics in tests/observability.rs) ship as they are, when asked for.
#[test]
fn the_dashboard_and_the_alerts_ship_when_enabled() {
    let off = render(json!({}));
    assert!(off.all("ConfigMap").is_empty(), "no dashboard by default");
    assert!(off.all("PrometheusRule").is_empty(), "no alerts by default");

    let chart = render(json!({
        "grafanaDashboard": {"enabled": true, "annotations": {"grafana_folder": "Portcullis"}},
        "prometheusRule": {"enabled": true, "labels": {"release": "kube-prometheus"}},
    }));
    let cm = chart.one("ConfigMap");
    assert_eq!(cm["metadata"]["name"], "portcullis-dashboard");
    assert_eq!(cm["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"], "1",
        "the Grafana sidecar's label (kube-prometheus-stack's default)"
    );
    assert_eq!(
        cm["metadata"]["annotations"]["grafana_folder"],
        "Portcullis"
    );
    let dashboard = std::fs::read_to_string(chart_dir().join("files/dashboard.json")).unwrap();
    assert_eq!(
        cm["data"]["portcullis.json"].as_str().unwrap(),
        dashboard.trim_end()
    );

    let rule = chart.one("PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus");
    let rules = std::fs::read_to_string(chart_dir().join("files/prometheus-rules.yaml")).unwrap();
    let groups: Value = serde_saphyr::from_str(&rules).unwrap();
    assert_eq!(
        rule["spec"], groups,
        "the rules file is the PrometheusRule's spec"
    );
    let checked: Vec<(&str, &str)> = chart.0["validation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["kind"] == "ConfigMap" || v["kind"] == "PrometheusRule")
        .map(|v| (v["kind"].as_str().unwrap(), v["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checked,
        [("ConfigMap", "valid"), ("PrometheusRule", "no schema")]
    );

    let elsewhere = render(
        json!({"grafanaDashboard": {"enabled": true, "namespace": "monitoring",
        "label": "dashboards", "labelValue": "portcullis"}}),
    );
    let cm = elsewhere.one("ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["dashboards"], "portcullis");
}

/// values.schema.json: Helm refuses bad values before rendering, naming the field.
#[test]
fn bad_values_fail_with_the_field_named() {
    for (values, field) in [
        (
            json!({"replicas": "two"}),
            "at '/replicas': got string, want integer",
        ),
        (
            json!({"replicsa": 2}),
            "additional properties 'replicsa' not allowed",
        ),
        (json!({"logFormat": "xml"}), "at '/logFormat'"),
        (json!({"image": {"tag": 1}}), "at '/image/tag'"),
        (
            json!({"leaderElection": {"enable": false}}),
            "'enable' not allowed",
        ),
        (
            json!({"watchNamespaces": "payments"}),
            "at '/watchNamespaces'",
        ),
        (json!({"metrics": {"port": 70000}}), "at '/metrics/port'"),
        (
            json!({"prometheusUrl": "prometheus:9090"}),
            "at '/prometheusUrl'",
        ),
        (
            json!({"prometheusRule": {"enable": true}}),
            "'enable' not allowed",
        ),
        (
            json!({"grafanaDashboard": {"enabled": "yes"}}),
            "at '/grafanaDashboard/enabled'",
        ),
    ] {
        let chart = render(values.clone());
        let err = chart
            .error()
            .unwrap_or_else(|| panic!("{values} is refused"));
        assert!(err.contains(field), "{values}: expected {field:?} in {err}");
        let lint = chart.0["lint"]["errors"].to_string();
        assert!(lint.contains(field), "helm lint says so too: {lint}");
    }
}

#[test]
fn notes_say_where_it_runs_and_how_to_check() {
    let chart = render(json!({"watchNamespaces": ["payments"]}));
    let notes = chart.0["notes"].as_str().unwrap();
    assert!(notes.contains("namespace portcullis-system"), "{notes}");
    assert!(notes.contains("namespaces payments"), "{notes}");
    assert!(notes.contains("get lease portcullis"), "{notes}");
}

/// The rendered chart applied to the local cluster with kubectl: the CRDs first, as Helm
/// does, then every object of a kind it serves. It serves no RBAC kinds (listed here) and
/// publishes no OpenAPI for built-in kinds (so `--validate=false`): those checks are the
/// schema validation above.
#[tokio::test(flavor = "multi_thread")]
async fn the_rendered_chart_applies_to_the_local_cluster() {
    const NOT_SERVED: [&str; 2] = ["ClusterRole", "ClusterRoleBinding"];
    let chart = render(json!({"replicas": 1}));
    let (server, _client) = cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    let kubectl = |args: &[&str]| {
        let out = Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let crds = chart_dir().join("crds/portcullis.dev.yaml");
    let applied = kubectl(&["apply", "-f", crds.to_str().unwrap()]);
    assert!(
        applied.contains("rollouts.portcullis.dev created"),
        "{applied}"
    );

    let ns = dir.path().join("namespace.yaml");
    std::fs::write(
        &ns,
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"),
    )
    .unwrap();
    kubectl(&["apply", "-f", ns.to_str().unwrap()]);

    let (served, not_served): (Vec<&Value>, Vec<&Value>) = chart
        .objects()
        .into_iter()
        .partition(|o| !NOT_SERVED.contains(&o["kind"].as_str().unwrap()));
    assert_eq!(
        not_served.len(),
        3,
        "the operator's ClusterRole and binding, and the pipeline role"
    );
    let list = json!({"apiVersion": "v1", "kind": "List", "items": served});
    let file = dir.path().join("chart.json");
    std::fs::write(&file, list.to_string()).unwrap();
    let applied = kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]);
    for expected in [
        "serviceaccount/portcullis created",
        "service/portcullis-metrics created",
        "deployment.apps/portcullis created",
    ] {
        assert!(applied.contains(expected), "{applied}");
    }
    let deployment: Value = serde_json::from_str(&kubectl(&[
        "-n",
        NAMESPACE,
        "get",
        "deployment",
        "portcullis",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["args"],
        chart.container()["args"]
    );
    server.shutdown().await;
}

/// Every value in values.yaml has a comment above it (or above the run of sibling keys it
/// belongs to); group headers such as `image:` are explained by their children's comments,
/// and the contents of Kubernetes-shaped blocks (resources, securityContext, probes) by the
/// comment on the block.
#[test]
fn every_value_is_documented_in_values_yaml() {
    const KUBERNETES_SHAPED: [&str; 5] = [
        "resources",
        "podSecurityContext",
        "securityContext",
        "livenessProbe",
        "readinessProbe",
    ];
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let key = |line: &str| -> Option<(usize, String, bool)> {
        let indent = line.len() - line.trim_start().len();
        let (name, rest) = line.trim_start().split_once(':')?;
        let is_key = !name.is_empty()
            && !name.starts_with('#')
            && !name.starts_with('-')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        is_key.then(|| (indent, name.to_string(), rest.trim().is_empty()))
    };
    let mut parent = String::new();
    let mut undocumented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((indent, name, header)) = key(line) else {
            continue;
        };
        if indent == 0 {
            parent = name.clone();
        }
        if indent > 2 || header || (indent == 2 && KUBERNETES_SHAPED.contains(&parent.as_str())) {
            continue;
        }
        let above = lines[..i]
            .iter()
            .rev()
            .find(|l| !matches!(key(l), Some((n, _, false)) if n == indent));
        let documented = above.is_some_and(|l| {
            l.trim_start().starts_with('#') && l.len() - l.trim_start().len() == indent
        });
        if !documented {
            undocumented.push(format!("line {}: {}", i + 1, line.trim()));
        }
    }
    assert!(
        undocumented.is_empty(),
        "values.yaml values without a comment: {undocumented:#?}"
    );
}
