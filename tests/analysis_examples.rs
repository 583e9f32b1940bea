//! The ready-gate library under `examples/` parses, validates, renders and parses as
//! PromQL; and `resolve` turns a Rollout's analysis into metrics or names what is wrong.

use portcullis::analysis::resolve::resolve;
use portcullis::api::validate::validate_rollout;
use portcullis::api::{
    AnalysisTemplate, AnalysisTemplateSpec, Arg, ClusterAnalysisTemplate, Rollout, RolloutAnalysis,
    TemplateRef,
};
use std::collections::BTreeMap;

/// The walkthrough (`examples/`) and the gate library (`examples/gates/`).
fn examples() -> Vec<(String, serde_json::Value)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut docs = Vec::new();
    let mut paths: Vec<_> = [root.to_string(), format!("{root}/gates")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(&p).unwrap();
        for doc in text.split("\n---\n") {
            let v: serde_json::Value =
                serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            docs.push((p.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    docs
}

fn templates() -> BTreeMap<String, AnalysisTemplateSpec> {
    let mut out = BTreeMap::new();
    for (file, v) in examples() {
        let (name, spec) = match v["kind"].as_str().unwrap() {
            "ClusterAnalysisTemplate" => {
                let t: ClusterAnalysisTemplate =
                    serde_json::from_value(v).unwrap_or_else(|e| panic!("{file}: {e}"));
                (t.metadata.name.clone().unwrap(), t.spec.into())
            }
            "AnalysisTemplate" => {
                let t: AnalysisTemplate =
                    serde_json::from_value(v).unwrap_or_else(|e| panic!("{file}: {e}"));
                (t.metadata.name.clone().unwrap(), t.spec)
            }
            _ => continue,
        };
        out.insert(name, spec);
    }
    out
}

#[test]
fn every_example_template_resolves_with_its_required_args() {
    let all = templates();
    assert!(all.len() >= 7, "{:?}", all.keys());
    for (name, spec) in &all {
        let args = spec
            .args
            .iter()
            .filter(|a| a.value.is_none())
            .map(|a| Arg::new(&a.name, "auth-api"))
            .collect();
        let analysis = RolloutAnalysis {
            templates: vec![TemplateRef {
                name: name.clone(),
                cluster_scope: true,
                args,
            }],
            ..Default::default()
        };
        let resolved = resolve(&analysis, &[Some(spec.clone())]);
        assert!(resolved.is_ok(), "{name}: {:?}", resolved.err());
    }
}

#[test]
fn the_example_rollouts_are_valid_and_find_their_templates() {
    let all = templates();
    let rollouts: Vec<_> = examples()
        .into_iter()
        .filter(|(_, v)| v["kind"] == "Rollout")
        .collect();
    let files: Vec<&str> = rollouts.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files, ["30-rollout.yaml", "rollout-with-gates.yaml"]);
    let mut counts = Vec::new();
    for (file, v) in rollouts {
        let r: Rollout = serde_json::from_value(v).unwrap();
        assert_eq!(validate_rollout(&r.spec), vec![], "{file}");
        let analysis = r.spec.analysis.unwrap();
        let found: Vec<_> = analysis
            .templates
            .iter()
            .map(|t| all.get(&t.name).cloned())
            .collect();
        let metrics = resolve(&analysis, &found).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        if let Some(session) = metrics
            .iter()
            .find(|m| m.metric.name == "session-creation-errors")
        {
            assert_eq!(session.args["app"], "auth-api");
        }
        counts.push(metrics.len());
    }
    assert_eq!(counts, [1, 3]);
}

#[test]
fn missing_templates_unknown_args_bad_promql_and_duplicate_names_are_field_errors() {
    let all = templates();
    let login = all["session-creation-failures"].clone();
    let mut broken = login.clone();
    broken.metrics[0].counts.as_mut().unwrap().total = "sum(rate(x[5m])".into();
    let analysis = RolloutAnalysis {
        templates: vec![
            TemplateRef {
                name: "nope".into(),
                cluster_scope: true,
                args: vec![],
            },
            TemplateRef {
                name: "session-creation-failures".into(),
                cluster_scope: true,
                args: vec![Arg::new("ap", "x")],
            },
            TemplateRef {
                name: "session-creation-failures".into(),
                cluster_scope: false,
                args: vec![Arg::new("app", "a")],
            },
            TemplateRef {
                name: "session-creation-failures".into(),
                cluster_scope: false,
                args: vec![Arg::new("app", "b")],
            },
        ],
        ..Default::default()
    };
    let errors = resolve(
        &analysis,
        &[None, Some(login.clone()), Some(broken), Some(login)],
    )
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(
        errors[0]
            .message
            .contains("ClusterAnalysisTemplate `nope` not found"),
        "{errors:?}"
    );
    assert_eq!(fields[0], "spec.analysis.templates[0].name");
    assert!(
        fields.contains(&"spec.analysis.templates[1].args[0].name"),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"spec.analysis.templates[1].args"),
        "missing `app`: {fields:?}"
    );
    assert!(
        fields
            .contains(&"AnalysisTemplate `session-creation-failures` spec.metrics[0].counts.total"),
        "{fields:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("named `session-creation-errors`")),
        "{errors:?}"
    );
}
