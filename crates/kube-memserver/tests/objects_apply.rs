//! Server-side apply and managedFields, held to the answers kube-apiserver v1.36 gave in
//! `tests/fixtures/apiserver-transcripts/04-server-side-apply.json`:
//! each test replays recorded exchanges, starting from the recorded live object.

use kube_memserver::objects::TypeInfo;
use kube_memserver::objects::apply::{ApplyError, Manager, Operation, apply, conflict_message};
use serde_json::{Value, json};

const CONFIGMAP: TypeInfo<'static> = TypeInfo::BuiltIn {
    group: "",
    kind: "ConfigMap",
};

const DEPLOYMENT: TypeInfo<'static> = TypeInfo::BuiltIn {
    group: "apps",
    kind: "Deployment",
};

/// Every write in the transcripts happened within this second.
const TIME: &str = "2026-11-25T12:06:42Z";

fn exchange(file: &str, index: usize) -> Value {
    let path = format!(
        "{}/tests/fixtures/apiserver-transcripts/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("transcript")).expect("json");
    all[index].clone()
}

fn response(file: &str, index: usize) -> Value {
    exchange(file, index)["response"]["body"].clone()
}

/// The request body: apply bodies are YAML (JSON is YAML too).
fn request(file: &str, index: usize) -> Value {
    match &exchange(file, index)["request"]["body"] {
        Value::String(yaml) => serde_saphyr::from_str(yaml).expect("YAML body"),
        other => other.clone(),
    }
}

fn query_param(file: &str, index: usize, name: &str) -> Option<String> {
    let path = exchange(file, index)["request"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = path.split_once('?')?.1.to_owned();
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn manager<'a>(
    name: &'a str,
    operation: Operation,
    subresource: Option<&'a str>,
    api_version: &'a str,
) -> Manager<'a> {
    Manager {
        name,
        operation,
        subresource,
        api_version,
        time: TIME,
    }
}

/// Replays apply exchange `index` of `file` on the live object `live`.
fn replay_apply(
    file: &str,
    index: usize,
    live: Option<&Value>,
    types: TypeInfo<'_>,
) -> Result<Value, ApplyError> {
    let name = query_param(file, index, "fieldManager").expect("fieldManager");
    let force = query_param(file, index, "force").as_deref() == Some("true");
    let path = exchange(file, index)["request"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub = path
        .split('?')
        .next()
        .unwrap()
        .ends_with("/status")
        .then_some("status");
    let applied = request(file, index);
    let api_version = applied["apiVersion"].as_str().unwrap().to_owned();
    apply(
        live,
        &applied,
        &manager(&name, Operation::Apply, sub, &api_version),
        force,
        types,
    )
}

/// The object without what the storage layer sets (uid, resourceVersion, ...).
fn stored(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
            m.remove(k);
        }
    }
    v
}

fn assert_replays(file: &str, index: usize, live: Option<&Value>, types: TypeInfo<'_>) -> Value {
    let got =
        replay_apply(file, index, live, types).unwrap_or_else(|e| panic!("exchange {index}: {e}"));
    assert_eq!(
        stored(got.clone()),
        stored(response(file, index)),
        "exchange {index} of {file}"
    );
    got
}

fn assert_conflicts(file: &str, index: usize, live: &Value, types: TypeInfo<'_>) {
    let want = response(file, index);
    assert_eq!(want["code"], 409);
    match replay_apply(file, index, Some(live), types) {
        Err(ApplyError::Conflicts(conflicts)) => {
            assert_eq!(
                conflict_message(&conflicts),
                want["message"].as_str().unwrap(),
                "exchange {index}"
            );
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.cause_message(), "field": c.field}))
                .collect();
            assert_eq!(
                Value::from(causes),
                want["details"]["causes"],
                "exchange {index}"
            );
        }
        other => panic!("exchange {index}: expected conflicts, got {other:?}"),
    }
}

const SSA: &str = "04-server-side-apply.json";

#[test]
fn apply_creates_the_object_and_records_the_applier_as_apply_manager() {
    // 04 #1: "apply as manager-a (creates the object) -> 201; managedFields shows
    // manager-a with operation Apply" ({"f:data":{"f:a1":{},...},"f:metadata":{"f:labels":...}}).
    let got = replay_apply(SSA, 1, None, CONFIGMAP).unwrap();
    let want = response(SSA, 1);
    assert_eq!(got["data"], want["data"]);
    assert_eq!(got["metadata"]["labels"], want["metadata"]["labels"]);
    assert_eq!(
        got["metadata"]["managedFields"],
        want["metadata"]["managedFields"]
    );
}

#[test]
fn apply_removes_a_field_its_manager_stopped_applying() {
    // 04 #2: "apply again as manager-a without key a2 -> a2 is REMOVED".
    assert_replays(SSA, 2, Some(&response(SSA, 1)), CONFIGMAP);
}

#[test]
fn apply_of_a_field_another_applier_owns_with_another_value_conflicts() {
    // 04 #3: 409 `Apply failed with 1 conflict: conflict with "manager-a": .data.shared`.
    assert_conflicts(SSA, 3, &response(SSA, 2), CONFIGMAP);
}

#[test]
fn forced_apply_takes_the_field_over() {
    // 04 #4: "force=true -> 200; data.shared ownership moves to manager-b".
    assert_replays(SSA, 4, Some(&response(SSA, 2)), CONFIGMAP);
}

#[test]
fn conflict_with_an_update_manager_says_using_v1() {
    // 04 #7: two conflicts, plural wording, grouped by manager, `using v1` for the
    // Update manager; 04 #8: one conflict with the Update manager.
    assert_conflicts(SSA, 7, &response(SSA, 6), CONFIGMAP);
    assert_conflicts(SSA, 8, &response(SSA, 6), CONFIGMAP);
}

#[test]
fn forced_apply_takes_a_field_back_from_an_update_manager() {
    // 04 #9: "forced apply by manager-a -> a1 back to 'one', manager-a regains a1".
    assert_replays(SSA, 9, Some(&response(SSA, 6)), CONFIGMAP);
}

#[test]
fn applying_an_equal_value_shares_ownership_without_conflict() {
    // 04 #10-#12: manager-b applies shared=from-a, then manager-a applies the same value
    // (no conflict, both own it), then manager-b drops it and the value stays.
    let live = assert_replays(SSA, 10, Some(&response(SSA, 9)), CONFIGMAP);
    let live = assert_replays(SSA, 11, Some(&live), CONFIGMAP);
    let live = assert_replays(SSA, 12, Some(&live), CONFIGMAP);
    // 04 #15: a JSON body; manager-a drops its label, which nobody else owns.
    let live = assert_replays(SSA, 15, Some(&live), CONFIGMAP);
    assert_eq!(stored(live), stored(response(SSA, 17)));
}

#[test]
fn apply_of_a_deployment_keys_containers_by_name() {
    // 04 #18: "managedFields shows fields by name keys k:{...}"; selector is atomic.
    let got = replay_apply(SSA, 18, None, DEPLOYMENT).unwrap();
    assert_eq!(
        got["metadata"]["managedFields"],
        response(SSA, 18)["metadata"]["managedFields"]
    );
}

#[test]
fn apply_removes_a_list_item_its_manager_stopped_applying() {
    // 04 #19: "apply again without the sidecar container -> container removed" (with
    // the fields the server defaulted in it, which nobody owns).
    assert_replays(SSA, 19, Some(&response(SSA, 18)), DEPLOYMENT);
}

#[test]
fn a_second_applier_owns_an_env_var_inside_a_container_it_shares() {
    // 04 #20: "second manager applies an env var into container 'app' (granular
    // ownership inside an associative list) -> 200, no conflict".
    assert_replays(SSA, 20, Some(&response(SSA, 19)), DEPLOYMENT);
}

#[test]
fn status_apply_records_the_status_subresource() {
    // 04 #21, #22: SSA on /status; the entry carries `subresource: status`.
    let status = assert_replays(SSA, 21, Some(&response(SSA, 20)), DEPLOYMENT);
    let entry = &status["metadata"]["managedFields"][2];
    assert_eq!(
        (&entry["manager"], &entry["subresource"]),
        (&json!("my-controller"), &json!("status"))
    );
    assert_replays(SSA, 22, Some(&status), DEPLOYMENT);
}

#[test]
fn conflict_with_a_status_manager_says_with_subresource() {
    // 04 #23: `conflict with "my-controller" with subresource "status": .status.readyReplicas`.
    assert_conflicts(SSA, 23, &response(SSA, 22), DEPLOYMENT);
}

#[test]
fn an_applied_list_item_without_its_key_is_invalid() {
    // structured-merge-diff refuses a container without `name` before merging anything.
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}});
    let e = apply(
        None,
        &applied,
        &manager("m", Operation::Apply, None, "apps/v1"),
        false,
        DEPLOYMENT,
    )
    .unwrap_err();
    assert_eq!(
        e,
        ApplyError::Invalid(
            ".spec.template.spec.containers: element 0: associative list with keys has an element that omits key \
             field \"name\" (and doesn't have default value)"
                .into()
        )
    );
    let with_fields = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": []}});
    let e = apply(
        None,
        &with_fields,
        &manager("m", Operation::Apply, None, "v1"),
        false,
        CONFIGMAP,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "metadata.managedFields must be nil");
}
