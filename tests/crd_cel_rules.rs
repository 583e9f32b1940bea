//! The CEL rules (`x-kubernetes-validations`) of the project's CRDs and of Gateway API's
//! HTTPRoute CRD, as the local API server evaluates them at admission.
use kube_memserver::objects::{cel, schema};
use serde_json::{Value, json};

fn crds(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.split("\n---")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect()
}

fn rules(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(rs)) = m.get("x-kubernetes-validations") {
                out.extend(
                    rs.iter()
                        .filter_map(|r| r["rule"].as_str().map(String::from)),
                );
            }
            m.values().for_each(|x| rules(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| rules(x, out)),
        _ => {}
    }
}

fn schema_of(crds: &[Value], kind: &str) -> Value {
    let crd = crds
        .iter()
        .find(|c| c["spec"]["names"]["kind"] == kind)
        .unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn every_rule_of_the_crds_compiles() {
    let mut all = Vec::new();
    for file in [
        "crds/portcullis.dev.yaml",
        "crates/kube-memserver/tests/fixtures/gateway-api/httproutes.yaml",
    ] {
        for crd in crds(file) {
            rules(&crd, &mut all);
        }
    }
    assert!(all.len() > 40, "{}", all.len());
    let broken: Vec<(String, String)> = all
        .iter()
        .filter_map(|r| cel::compile(r).err().map(|e| (r.clone(), e)))
        .collect();
    assert_eq!(broken, vec![]);
}

fn rollout(spec: Value) -> Value {
    json!({"apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r", "namespace": "default"}, "spec": spec})
}

fn fields(causes: &[schema::SchemaCause]) -> Vec<(String, String)> {
    causes
        .iter()
        .map(|c| (c.field.clone(), c.message.clone()))
        .collect()
}

#[test]
fn statically_invalid_rollouts_are_refused_by_their_rules() {
    let crds = crds("crds/portcullis.dev.yaml");
    let schema = schema_of(&crds, "Rollout");
    let base = json!({"workloadRef": {"name": "auth-api"}, "service": "auth-api",
        "traffic": {"replicas": {}}, "steps": [{"setWeight": 10}, {"pause": {}}]});
    assert_eq!(
        fields(&schema::validate(&schema, &rollout(base.clone()))),
        vec![]
    );

    let mut empty = base.clone();
    empty["steps"] = json!([]);
    assert_eq!(
        fields(&schema::validate(&schema, &rollout(empty))),
        vec![(
            "spec.steps".into(),
            "Invalid value: steps must not be empty".into()
        )]
    );

    let mut two = base.clone();
    two["steps"] = json!([{"setWeight": 10, "pause": {}}]);
    assert_eq!(
        fields(&schema::validate(&schema, &rollout(two))),
        vec![(
            "spec.steps[0]".into(),
            "Invalid value: each step must have exactly one of setWeight, pause, analysis".into()
        )]
    );

    let mut confident = base.clone();
    confident["analysis"] = json!({"metrics": [{"name": "m",
        "counts": {"failures": "f", "total": "t", "confidence": 1.5}}]});
    assert_eq!(
        fields(&schema::validate(&schema, &rollout(confident))),
        vec![(
            "spec.analysis.metrics[0].counts.confidence".into(),
            "Invalid value: confidence must be strictly between 0 and 1".into()
        )]
    );

    let mut routers = base.clone();
    routers["traffic"] = json!({"replicas": {}, "gatewayAPI": {"httpRoute": "r"}});
    assert_eq!(
        fields(&schema::validate(&schema, &rollout(routers))),
        vec![(
            "spec.traffic".into(),
            "Invalid value: set exactly one traffic router: replicas or gatewayAPI".into()
        )]
    );
}

#[test]
fn every_example_passes_the_rules() {
    let crds = crds("crds/portcullis.dev.yaml");
    let dir = format!("{}/examples", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for sub in [dir.clone(), format!("{dir}/gates")] {
        for entry in std::fs::read_dir(&sub).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for doc in text.split("\n---").filter(|d| !d.trim().is_empty()) {
                let obj: Value = serde_saphyr::from_str(doc).unwrap();
                let Some(kind) = obj["kind"].as_str() else {
                    continue;
                };
                if obj["apiVersion"]
                    .as_str()
                    .is_none_or(|v| !v.starts_with("portcullis.dev/"))
                {
                    continue;
                }
                let schema = schema_of(&crds, kind);
                assert_eq!(fields(&schema::validate(&schema, &obj)), vec![], "{path:?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "{checked}");
}
