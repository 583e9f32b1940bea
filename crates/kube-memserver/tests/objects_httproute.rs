//! The real Gateway API HTTPRoute CRD (`tests/fixtures/gateway-api/httproutes.yaml`)
//! through this library, as the local API server will use it for the routes the operator
//! writes: a valid route is neither pruned nor refused, gets the CRD's defaults, and
//! server-side apply follows the CRD's list types.

use kube_memserver::objects::TypeInfo;
use kube_memserver::objects::apply::{ApplyError, Manager, Operation, apply, record_update};
use kube_memserver::objects::schema::{apply_defaults, prune, validate};
use serde_json::{Value, json};

fn httproute_schema() -> Value {
    let path = format!(
        "{}/tests/fixtures/gateway-api/httproutes.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let crd: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let versions = crd["spec"]["versions"].as_array().unwrap();
    let v1 = versions.iter().find(|v| v["name"] == "v1").expect("v1");
    v1["schema"]["openAPIV3Schema"].clone()
}

fn route(stable: u32, canary: u32) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "auth-api", "namespace": "shop"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["auth.example.com"],
            "rules": [{"backendRefs": [
                {"name": "auth-api-stable", "port": 8080, "weight": stable},
                {"name": "auth-api-canary", "port": 8080, "weight": canary}
            ]}]
        }
    })
}

fn manager<'a>(name: &'a str, operation: Operation) -> Manager<'a> {
    Manager {
        name,
        operation,
        subresource: None,
        api_version: "gateway.networking.k8s.io/v1",
        time: "2026-11-25T12:00:00Z",
    }
}

#[test]
fn a_weighted_route_is_valid_and_keeps_every_field() {
    let schema = httproute_schema();
    let mut obj = route(90, 10);
    assert_eq!(prune(&schema, &mut obj), Vec::<String>::new());
    assert_eq!(obj, route(90, 10));
    apply_defaults(&schema, &mut obj);
    assert_eq!(validate(&schema, &obj), vec![]);
}

#[test]
fn the_crd_defaults_fill_parent_and_backend_kinds_and_the_catch_all_match() {
    // The HTTPRoute CRD's `default`s: parentRefs group/kind, backendRefs group/kind, and
    // a rule without matches matching every path.
    let schema = httproute_schema();
    let mut obj = route(90, 10);
    apply_defaults(&schema, &mut obj);
    assert_eq!(
        obj["spec"]["parentRefs"][0]["group"],
        "gateway.networking.k8s.io"
    );
    assert_eq!(obj["spec"]["parentRefs"][0]["kind"], "Gateway");
    let backend = &obj["spec"]["rules"][0]["backendRefs"][1];
    assert_eq!(
        (&backend["group"], &backend["kind"]),
        (&json!(""), &json!("Service"))
    );
    assert_eq!(
        obj["spec"]["rules"][0]["matches"],
        json!([{"path": {"type": "PathPrefix", "value": "/"}}])
    );
}

#[test]
fn an_invalid_route_is_refused_with_its_fields_named() {
    let schema = httproute_schema();
    let mut obj = route(90, 10);
    obj["spec"]["hostnames"] = json!(["Not A Host"]);
    obj["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(2_000_000);
    apply_defaults(&schema, &mut obj);
    let fields: Vec<String> = validate(&schema, &obj)
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert!(
        fields.contains(&"spec.hostnames[0]".to_owned()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"spec.rules[0].backendRefs[0].weight".to_owned()),
        "{fields:?}"
    );
}

#[test]
fn the_operator_reapplying_new_weights_takes_them_from_a_hand_edit_when_forced() {
    // The operator (an applier) shifts weights; someone edits the route by hand (an
    // Update manager owning the rules, an atomic list); the operator's next apply
    // conflicts on `.spec.rules` unless forced.
    let schema = httproute_schema();
    let types = TypeInfo::Schema(&schema);
    let operator = manager("portcullis", Operation::Apply);
    let live = apply(None, &route(90, 10), &operator, false, types).unwrap();
    let mut edited = live.clone();
    edited["spec"]["rules"][0]["backendRefs"][1]["weight"] = json!(50);
    record_update(
        Some(&live),
        &mut edited,
        &manager("kubectl-edit", Operation::Update),
        types,
    );
    let Err(ApplyError::Conflicts(conflicts)) =
        apply(Some(&edited), &route(75, 25), &operator, false, types)
    else {
        panic!("expected a conflict");
    };
    let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, [".spec.rules"]);
    let forced = apply(Some(&edited), &route(75, 25), &operator, true, types).unwrap();
    assert_eq!(forced["spec"]["rules"], route(75, 25)["spec"]["rules"]);
    let managers: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["portcullis"]);
}
