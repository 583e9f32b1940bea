//! `portcullis lint` through the binary: manifests checked offline with the controller's
//! own validation, problems named by file, object and field, and the exit status a
//! pipeline can gate on.

use std::io::Write;
use std::process::{Command, Stdio};

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lint(args: &[&str], stdin: Option<&str>) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("lint")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The walkthrough and the gate library.
fn examples() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut files: Vec<String> = [root.to_string(), format!("{root}/gates")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_shipped_examples_lint_clean_together() {
    let files = examples();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let ran = lint(&args, None);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    assert!(
        !ran.stderr.contains("not among the files"),
        "every template is given: {}",
        ran.stderr
    );
    // The walkthrough's Namespace, Deployment and Service are skipped, not checked.
    let ours = files.len() - 2;
    assert!(
        ran.stderr.contains(&format!(
            "0 problems in {ours} portcullis.dev documents (3 other documents skipped)"
        )),
        "{}",
        ran.stderr
    );
}

const BROKEN: &str = r#"
apiVersion: portcullis.dev/v1alpha1
kind: Rollout
metadata: {name: auth-api, namespace: payments}
spec:
  workloadRef: {name: auth-api}
  service: auth-api
  steps:
  - setWeight: 150
  - pause: {duration: 5 minutes}
  analysis:
    interval: 5s
    templates:
    - {name: login-failures, args: [{name: ap, value: auth-api}]}
    - {name: elsewhere, clusterScope: true}
    metrics:
    - name: inline
      counts: {failures: 'sum(x{', total: 'sum(y)', maxIncrese: 0.1}
---
apiVersion: portcullis.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: login-failures, namespace: payments}
spec:
  args: [{name: app}]
  metrics:
  - name: ratio
    counts:
      failures: 'sum(increase(auth_login_attempts_total{app="{{args.app}}",outcome="failure"}[{{elapsed}}]))'
      total: 'sum(increase(auth_login_attempts_total{app="{{args.app}}"}[{{elapsed}}]))'
---
apiVersion: portcullis.dev/v1beta1
kind: Rollout
metadata: {name: old}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
"#;

#[test]
fn each_problem_names_the_document_object_and_field() {
    let ran = lint(&["-"], Some(BROKEN));
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    let at = "<stdin>#1: Rollout/auth-api: ";
    for expected in [
        format!("{at}spec.analysis.metrics[0].counts.maxIncrese: unknown field"),
        format!("{at}spec.steps[0].setWeight: 150 is outside 0..100"),
        format!("{at}spec.steps[1].pause.duration: `5 minutes` is not a duration"),
        format!("{at}spec.analysis.metrics[0].counts.failures: not valid PromQL"),
        format!(
            "{at}spec.analysis.templates[0].args[0].name: `ap` is not an argument of template `login-failures`"
        ),
        "<stdin>#3: Rollout/old: apiVersion: `portcullis.dev/v1beta1` is not served".to_string(),
    ] {
        assert!(
            ran.stdout.contains(&expected),
            "`{expected}` in\n{}",
            ran.stdout
        );
    }
    assert!(
        ran.stderr
            .contains("ClusterAnalysisTemplate `elsewhere` is not among the files given"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("in 3 portcullis.dev documents (1 other document skipped)"),
        "{}",
        ran.stderr
    );
    // Input order: every finding about document 1 comes before document 3's.
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines.last().unwrap().starts_with("<stdin>#3"),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_broken_template_is_reported_once_on_the_template_not_again_on_its_rollout() {
    let ran = lint(
        &["-"],
        Some(
            "apiVersion: portcullis.dev/v1alpha1\nkind: ClusterAnalysisTemplate\nmetadata: {name: t}\n\
             spec:\n  metrics:\n  - name: m\n    query: {query: 'rate(x[5m]', max: 1}\n\
             ---\napiVersion: portcullis.dev/v1alpha1\nkind: Rollout\nmetadata: {name: r}\n\
             spec:\n  workloadRef: {name: r}\n  service: r\n  steps: [{setWeight: 10}]\n\
             \x20 analysis: {templates: [{name: t, clusterScope: true}]}\n",
        ),
    );
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", ran.stdout);
    assert!(
        lines[0].starts_with("<stdin>#1: ClusterAnalysisTemplate/t: spec.metrics[0]"),
        "{}",
        ran.stdout
    );
}

#[test]
fn input_that_is_not_yaml_or_not_there_is_bad_input() {
    let ran = lint(&["-"], Some("kind: ["));
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("<stdin>: not YAML"), "{}", ran.stderr);
    let ran = lint(&["no/such/file.yaml"], None);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("no/such/file.yaml"), "{}", ran.stderr);
}

#[test]
fn a_template_without_the_rollout_is_checked_on_its_own() {
    let ran = lint(
        &["-"],
        Some(
            "apiVersion: portcullis.dev/v1alpha1\nkind: ClusterAnalysisTemplate\nmetadata: {name: t}\n\
             spec:\n  metrics:\n  - name: m\n    query: {query: 'rate(x[{{args.missing}}])', max: 1}\n",
        ),
    );
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains("<stdin>: ClusterAnalysisTemplate/t: spec.metrics"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("missing"), "{}", ran.stdout);
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const ROLLOUT_HEAD: &str = "apiVersion: portcullis.dev/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  workloadRef: {name: web}\n  service: web\n";

#[test]
fn a_folder_is_read_like_kubectl_apply_f_reads_it() {
    let ran = lint(&["examples/"], None);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("0 problems in"), "{}", ran.stderr);
}

#[test]
fn no_documents_at_all_is_bad_input_not_a_clean_bill() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.yaml", "");
    let ran = lint(&[&empty], None);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("no documents"), "{}", ran.stderr);
    let ran = lint(&["-"], Some("---\n# nothing\n"));
    assert_eq!(ran.code, 2, "{}", ran.stderr);
}

#[test]
fn set_weight_100_with_the_replicas_router_is_refused_as_the_controller_does() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "w.yaml",
        &format!("{ROLLOUT_HEAD}  steps: [{{setWeight: 100}}]\n"),
    );
    let ran = lint(&[&f], None);
    assert_eq!(ran.code, 1);
    assert!(
        ran.stdout
            .contains("Rollout/web: spec.steps[0].setWeight: 100 is not reachable"),
        "{}",
        ran.stdout
    );
}

#[test]
fn shape_errors_name_the_object_and_field_and_every_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = write(dir.path(), "missing.yaml", ROLLOUT_HEAD);
    let ran = lint(&[&missing], None);
    assert_eq!(ran.code, 1);
    assert!(
        ran.stdout
            .contains("Rollout/web: spec.steps: required field missing"),
        "{}",
        ran.stdout
    );
    let typed = write(
        dir.path(),
        "typed.yaml",
        &format!(
            "{ROLLOUT_HEAD}  steps: [{{setWeight: \"fifty\"}}]\n  analysis: {{onError: explode}}\n"
        ),
    );
    let ran = lint(&[&typed], None);
    assert_eq!(ran.code, 1);
    assert!(
        ran.stdout
            .contains("spec.steps[0].setWeight: must be an integer (found `fifty`)"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("spec.analysis.onError: `explode` is not one of: drain, pause, abort"),
        "{}",
        ran.stdout
    );
}

#[test]
fn yaml_errors_read_as_plain_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let dup = write(
        dir.path(),
        "dup.yaml",
        "apiVersion: portcullis.dev/v1alpha1\nkind: Rollout\nmetadata: {name: a}\nmetadata: {name: b}\n",
    );
    let ran = lint(&[&dup], None);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("duplicate key `metadata` at line 4"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("DuplicateKeyPolicy"), "{}", ran.stderr);

    let many = write(dir.path(), "many.yaml", &"a: 1\n---\n".repeat(1100));
    let ran = lint(&[&many], None);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("more than 1024 documents") && ran.stderr.contains("--max-documents"),
        "{}",
        ran.stderr
    );
    let ran = lint(&["--max-documents", "2000", &many], None);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let deep = write(
        dir.path(),
        "deep.yaml",
        &format!("a: {}{}\n", "[".repeat(70), "]".repeat(70)),
    );
    let ran = lint(&[&deep], None);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("levels deep at line 1"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("Depth {"), "{}", ran.stderr);
}
