//! Every YAML example in the README parses into the API types and passes validation.

use portcullis::api::validate::validate_rollout;
use portcullis::api::{AnalysisTemplate, ClusterAnalysisTemplate, Rollout};

fn readme_yaml_documents() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut docs = Vec::new();
    let mut block: Option<String> = None;
    for line in readme.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => block = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                docs.extend(b.split("\n---\n").map(str::to_string));
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    docs
}

#[test]
fn readme_examples_are_valid_portcullis_objects() {
    let docs = readme_yaml_documents();
    assert!(docs.len() >= 2, "the README shows a Rollout and a template");
    let mut kinds = Vec::new();
    for doc in docs {
        let value: serde_json::Value = serde_saphyr::from_str(&doc).unwrap();
        let kind = value["kind"].as_str().unwrap().to_string();
        match kind.as_str() {
            "Rollout" => {
                let r: Rollout = serde_json::from_value(value).unwrap();
                let errors = validate_rollout(&r.spec);
                assert!(errors.is_empty(), "README Rollout is invalid: {errors:?}");
                assert_eq!(r.spec.steps.len(), 6);
            }
            "AnalysisTemplate" => {
                serde_json::from_value::<AnalysisTemplate>(value).unwrap();
            }
            "ClusterAnalysisTemplate" => {
                let t: ClusterAnalysisTemplate = serde_json::from_value(value).unwrap();
                assert!(t.spec.metrics[0].counts.is_some());
            }
            other => panic!("unexpected kind {other} in README"),
        }
        kinds.push(kind);
    }
    assert!(kinds.contains(&"Rollout".to_string()));
    assert!(kinds.contains(&"ClusterAnalysisTemplate".to_string()));
}

#[test]
fn readme_examples_pass_portcullis_lint_together() {
    let mut docs = Vec::new();
    for (i, text) in readme_yaml_documents().iter().enumerate() {
        docs.extend(portcullis::cli::lint::documents(&format!("README#{i}"), text).unwrap());
    }
    let report = portcullis::cli::lint::lint(&docs);
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(report.checked >= 2);
}
