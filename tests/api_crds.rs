//! The CRDs in `crds/` (and the Helm chart's copy) are generated from the Rust types and install cleanly.

use portcullis::api::{KNOWN_FORMATS, crds, crds_yaml};

#[test]
fn committed_crds_match_the_rust_types() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/portcullis.dev.yaml"
    ))
    .expect("crds/portcullis.dev.yaml exists (run `make crds`)");
    assert!(
        committed == crds_yaml(),
        "crds/portcullis.dev.yaml is stale: run `make crds` and commit the result"
    );
}

#[test]
fn the_helm_charts_crds_match_the_rust_types() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/portcullis/crds/portcullis.dev.yaml"
    ))
    .expect("charts/portcullis/crds/portcullis.dev.yaml exists (run `make crds`)");
    assert!(
        committed == crds_yaml(),
        "charts/portcullis/crds/portcullis.dev.yaml is stale: run `make crds` and commit the result"
    );
}

#[test]
fn schemas_carry_only_formats_kubernetes_knows() {
    fn walk(v: &serde_json::Value, path: &str, found: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(f)) = m.get("format")
                    && !KNOWN_FORMATS.contains(&f.as_str())
                {
                    found.push(format!("{path}: {f}"));
                }
                for (k, v) in m {
                    walk(v, &format!("{path}.{k}"), found);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, path, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for crd in crds() {
        walk(
            &serde_json::to_value(&crd).unwrap(),
            &crd.metadata.name.clone().unwrap(),
            &mut found,
        );
    }
    assert!(
        found.is_empty(),
        "unknown formats would make kubectl warn: {found:?}"
    );
}

#[test]
fn rollout_crd_has_status_subresource_short_name_and_printer_columns() {
    let rollout = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "Rollout")
        .unwrap();
    assert_eq!(rollout.spec.group, "portcullis.dev");
    assert_eq!(rollout.spec.scope, "Namespaced");
    assert_eq!(rollout.spec.names.short_names, Some(vec!["ro".to_string()]));
    let version = &rollout.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<_> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Phase", "Step", "Weight", "Stable", "Canary", "Age"]
    );
}

#[test]
fn static_rules_are_enforced_by_cel_at_admission() {
    let yaml = crds_yaml();
    for rule in [
        "has(self.replicas) != has(self.gatewayAPI)",
        "(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1",
        "size(self) > 0",
        "self > 0.0 && self < 1.0",
    ] {
        assert!(yaml.contains(rule), "missing CEL rule {rule}");
    }
    assert!(
        yaml.contains("maximum: 100"),
        "setWeight must be capped at 100"
    );
    assert!(
        yaml.contains(portcullis::api::duration::DURATION_PATTERN),
        "durations need a pattern"
    );
}
