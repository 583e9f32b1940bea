//! managedFields and server-side apply of custom resources, whose list semantics come
//! from the CRD schema, held to `07-crd.json` and `12-operator-patterns.json`.

use kube_memserver::objects::TypeInfo;
use kube_memserver::objects::apply::{
    ApplyError, Manager, Operation, apply, conflict_message, record_update,
};
use serde_json::{Value, json};

const API_VERSION: &str = "tx.example.com/v1";

fn transcript(file: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/apiserver-transcripts/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("transcript")).expect("json")
}

fn body(file: &str, index: usize, side: &str) -> Value {
    match &transcript(file)[index][side]["body"] {
        Value::String(yaml) => serde_saphyr::from_str(yaml).expect("YAML body"),
        other => other.clone(),
    }
}

fn widget_schema() -> Value {
    transcript("07-crd.json")[1]["request"]["body"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn manager<'a>(
    name: &'a str,
    operation: Operation,
    subresource: Option<&'a str>,
    time: &'a str,
) -> Manager<'a> {
    Manager {
        name,
        operation,
        subresource,
        api_version: API_VERSION,
        time,
    }
}

#[test]
fn creating_a_custom_resource_records_spec_as_an_added_node() {
    // 07 #7: a custom resource's zero value is empty, so `spec` itself is recorded
    // (`".": {}`); `tags` has no x-kubernetes-list-type, so it is atomic (`f:tags: {}`).
    let schema = widget_schema();
    let mut created = body("07-crd.json", 7, "response");
    let want = created["metadata"]["managedFields"].take();
    created["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    let time = "2026-11-25T12:07:14Z";
    record_update(
        None,
        &mut created,
        &manager("tx-recorder", Operation::Update, None, time),
        TypeInfo::Schema(&schema),
    );
    assert_eq!(created["metadata"]["managedFields"], want);
}

#[test]
fn applying_over_an_update_managers_fields_conflicts_using_the_crd_version() {
    // 07 #23: `Apply failed with 2 conflicts: conflicts with "tx-recorder" using
    // tx.example.com/v1:\n- .spec.tags\n- .spec.weight`; 07 #24: forced, tx-applier
    // takes tags and weight, tx-recorder keeps color/replicas and its labels.
    let schema = widget_schema();
    let types = TypeInfo::Schema(&schema);
    let live = body("07-crd.json", 19, "response");
    let applied = body("07-crd.json", 23, "request");
    let time = "2026-11-25T12:07:14Z";
    let applier = manager("tx-applier", Operation::Apply, None, time);
    let Err(ApplyError::Conflicts(conflicts)) =
        apply(Some(&live), &applied, &applier, false, types)
    else {
        panic!("expected conflicts");
    };
    let want = body("07-crd.json", 23, "response");
    assert_eq!(
        conflict_message(&conflicts),
        want["message"].as_str().unwrap()
    );

    let got = apply(Some(&live), &applied, &applier, true, types).unwrap();
    let want = body("07-crd.json", 24, "response");
    assert_eq!(got["spec"], want["spec"]);
    assert_eq!(
        got["metadata"]["managedFields"],
        want["metadata"]["managedFields"]
    );
}

#[test]
fn forced_status_apply_shares_equal_values_and_takes_the_rest() {
    // 12 #16: widget-controller force-applies /status; tx-recorder's status entry keeps
    // observedGeneration (same value: shared) and loses phase.
    let schema = widget_schema();
    let live = body("12-operator-patterns.json", 15, "response");
    let applied = body("12-operator-patterns.json", 16, "request");
    let time = "2026-11-25T12:07:17Z";
    let controller = manager("widget-controller", Operation::Apply, Some("status"), time);
    let got = apply(
        Some(&live),
        &applied,
        &controller,
        true,
        TypeInfo::Schema(&schema),
    )
    .unwrap();
    let want = body("12-operator-patterns.json", 16, "response");
    assert_eq!(got["status"], want["status"]);
    assert_eq!(
        got["metadata"]["managedFields"],
        want["metadata"]["managedFields"]
    );
}

#[test]
fn an_apply_that_changes_nothing_keeps_managed_fields_and_their_times() {
    // 12 #17: an apply whose only content the main resource ignores answers the object
    // unchanged (same resourceVersion): no new entry, no new timestamps. The server
    // strips `status` from a custom resource's main-resource apply (its CRD has a
    // status subresource), so the apply carries nothing.
    let schema = widget_schema();
    let live = body("12-operator-patterns.json", 16, "response");
    let mut applied = body("12-operator-patterns.json", 17, "request");
    applied.as_object_mut().unwrap().remove("status");
    let later = manager(
        "widget-controller",
        Operation::Apply,
        None,
        "2026-11-25T13:00:00Z",
    );
    let got = apply(
        Some(&live),
        &applied,
        &later,
        false,
        TypeInfo::Schema(&schema),
    )
    .unwrap();
    assert_eq!(got, live);
}

#[test]
fn a_status_merge_patch_takes_the_changed_field_from_the_status_applier() {
    // 12 #18: tx-recorder merge-patches /status phase; widget-controller (Apply,
    // status) loses phase, tx-recorder's status entry gains it.
    let schema = widget_schema();
    let old = body("12-operator-patterns.json", 17, "response");
    let mut new = old.clone();
    new["status"]["phase"] = json!("Merged");
    let time = "2026-11-25T12:07:17Z";
    let recorder = manager("tx-recorder", Operation::Update, Some("status"), time);
    record_update(Some(&old), &mut new, &recorder, TypeInfo::Schema(&schema));
    let mut want = body("12-operator-patterns.json", 18, "response");
    // The storage layer bumps resourceVersion; the rest is this library's answer.
    want["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    assert_eq!(new, want);
}

#[test]
fn list_types_come_from_the_schema() {
    // x-kubernetes-list-type map/set: items are owned one by one (k:/v: keys).
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
            "items": {"type": "object", "properties": {
                "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}, "name": {"type": "string"}}}},
        "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}}
    }}}});
    let applied = json!({"apiVersion": API_VERSION, "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"ports": [{"port": 80, "name": "http"}], "hosts": ["a.example"], "selector": {"app": "w"}}});
    let got = apply(
        None,
        &applied,
        &manager("m", Operation::Apply, None, "2026-11-25T12:00:00Z"),
        false,
        TypeInfo::Schema(&schema),
    )
    .unwrap();
    assert_eq!(
        got["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {
            "f:hosts": {"v:\"a.example\"": {}},
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}}},
            "f:selector": {}
        }})
    );
}

#[test]
fn an_applied_scalar_of_the_wrong_type_is_refused_as_structured_merge_diff_words_it() {
    // 07 #22: YAML 1.1 reads the bare `y` of `tags: [x, y]` as true: 500 "failed to
    // create typed patch object (tx-crd/good; tx.example.com/v1, Kind=Widget):
    // .spec.tags[1]: expected string, got &value.valueUnstructured{Value:true}".
    let schema = widget_schema();
    let live = body("07-crd.json", 19, "response");
    let mut applied = body("07-crd.json", 22, "request");
    applied["spec"]["tags"][1] = json!(true); // what Go's YAML 1.1 decoder made of `y`
    let applier = manager("tx-applier", Operation::Apply, None, "2026-11-25T12:07:14Z");
    let Err(ApplyError::Invalid(message)) = apply(
        Some(&live),
        &applied,
        &applier,
        false,
        TypeInfo::Schema(&schema),
    ) else {
        panic!("expected the typed check to fail");
    };
    let recorded = body("07-crd.json", 22, "response");
    let prefix =
        "failed to create typed patch object (tx-crd/good; tx.example.com/v1, Kind=Widget): ";
    assert_eq!(
        format!("{prefix}{message}"),
        recorded["message"].as_str().unwrap()
    );
}
