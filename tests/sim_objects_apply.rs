//! Server-side apply and managedFields, held to the answers kube-apiserver v1.36 gave in
//! `tests/fixtures/apiserver-transcripts/04-server-side-apply.json` (and 03, 07, 12):
//! each test replays recorded exchanges, starting from the recorded live object.

use portcullis::sim::objects::TypeInfo;
use portcullis::sim::objects::apply::{
    ApplyError, Manager, Operation, apply, conflict_message, record_update,
};
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
fn an_update_takes_the_fields_it_changes_from_their_owners_without_conflict() {
    // 04 #6: "a plain update (PUT) by manager-c changes a1 (owned by manager-a) and adds
    // c1 -> a1 ownership moves to manager-c (operation Update)".
    let old = response(SSA, 5);
    let mut new = request(SSA, 6);
    record_update(
        Some(&old),
        &mut new,
        &manager("manager-c", Operation::Update, None, "v1"),
        CONFIGMAP,
    );
    assert_eq!(stored(new), stored(response(SSA, 6)));
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
fn updates_of_a_deployment_record_added_nodes_with_a_dot() {
    // 03 #11 and #13: strategic merge patches by tx-recorder (operation Update). A new
    // env list gets `"."` (it was absent), while the containers list, present in the
    // Go zero value, does not.
    let file = "03-deployment.json";
    for index in [11, 12, 13, 14] {
        let old = response(file, index - 1);
        let mut new = response(file, index);
        new.as_object_mut().unwrap()["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        record_update(
            Some(&old),
            &mut new,
            &manager("tx-recorder", Operation::Update, None, "apps/v1"),
            DEPLOYMENT,
        );
        assert_eq!(
            new["metadata"]["managedFields"],
            response(file, index)["metadata"]["managedFields"],
            "exchange {index} of {file}"
        );
    }
}

#[test]
fn a_create_records_every_field_set_against_the_zero_value() {
    // 03 #1: the Deployment create's Update entry (spec, template, containers without
    // ".", labels/rollingUpdate/list items with ".").
    let file = "03-deployment.json";
    let mut created = response(file, 1);
    let want = created["metadata"]["managedFields"].clone();
    created["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    record_update(
        None,
        &mut created,
        &manager("tx-recorder", Operation::Update, None, "apps/v1"),
        DEPLOYMENT,
    );
    assert_eq!(created["metadata"]["managedFields"], want);
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

#[test]
fn a_scale_update_takes_replicas_into_an_entry_without_time() {
    // 03 #7/#8: PUT /scale replicas=5; the Deployment's managedFields then hold a
    // `subresource: scale` Update entry without `time`, owning spec.replicas, which the
    // main-resource entry no longer owns.
    let file = "03-deployment.json";
    let old = response(file, 5);
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(5);
    let scale = Manager {
        name: "tx-recorder",
        operation: Operation::Update,
        subresource: Some("scale"),
        api_version: "apps/v1",
        time: "",
    };
    record_update(Some(&old), &mut new, &scale, DEPLOYMENT);
    assert_eq!(
        new["metadata"]["managedFields"],
        response(file, 8)["metadata"]["managedFields"]
    );
}

#[test]
fn creating_events_records_what_the_zero_value_lacks() {
    // 09 #1 and #2: core/v1 and events.k8s.io/v1 Event creates. Object references are
    // atomic (`f:involvedObject: {}`), and the fields a Go zero value already has
    // (`eventTime: null`, `reportingComponent: ""`, `deprecatedSource: {}`) are not owned.
    for (index, group, api_version) in [(1, "", "v1"), (2, "events.k8s.io", "events.k8s.io/v1")] {
        let mut created = response("09-events.json", index);
        let want = created["metadata"]["managedFields"].take();
        created["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let recorder = Manager {
            time: "2026-11-25T12:07:14Z",
            ..manager("tx-recorder", Operation::Update, None, api_version)
        };
        record_update(
            None,
            &mut created,
            &recorder,
            TypeInfo::BuiltIn {
                group,
                kind: "Event",
            },
        );
        assert_eq!(
            created["metadata"]["managedFields"], want,
            "09-events.json #{index}"
        );
    }
}

/// The `index`th recorded body of `file`, or the item of a list body named `name`.
fn object_at(file: &str, index: usize, name: &str) -> Value {
    let body = response(file, index);
    match body["items"].as_array() {
        Some(items) => items
            .iter()
            .find(|i| i["metadata"]["name"] == name)
            .cloned()
            .expect("named item"),
        None => body,
    }
}

fn without_entry_of(mut obj: Value, manager: &str) -> (Value, Value) {
    let entries = obj["metadata"]["managedFields"].as_array().unwrap().clone();
    let (theirs, rest): (Vec<Value>, Vec<Value>) =
        entries.into_iter().partition(|e| e["manager"] == manager);
    obj["metadata"]["managedFields"] = Value::from(rest);
    (obj, Value::from(theirs))
}

#[test]
fn a_controller_created_replicaset_owns_its_owner_reference_whole() {
    // 10 #3: the ReplicaSet kube-controller-manager creates; OwnerReference is atomic, so
    // its item is `k:{"uid":...}: {}` under `f:ownerReferences: {".": {}}`.
    let file = "10-deployment-controller.json";
    let rs = response(file, 3);
    let rs = if rs["kind"] == "ReplicaSetList" {
        rs["items"][0].clone()
    } else {
        rs
    };
    let (mut created, want) = without_entry_of(rs, "kube-controller-manager");
    created["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    let kcm = Manager {
        time: "2026-11-25T12:07:53Z",
        ..manager(
            "kube-controller-manager",
            Operation::Update,
            None,
            "apps/v1",
        )
    };
    record_update(
        None,
        &mut created,
        &kcm,
        TypeInfo::BuiltIn {
            group: "apps",
            kind: "ReplicaSet",
        },
    );
    assert_eq!(created["metadata"]["managedFields"], want);
}

#[test]
fn a_status_update_may_own_annotations_of_a_deployment() {
    // 10 #4: kube-controller-manager's /status update of the Deployment sets the
    // revision annotation and status (conditions keyed by type, added with ".").
    let file = "10-deployment-controller.json";
    let old = object_at(file, 1, "ctrl");
    let (mut new, want) = without_entry_of(object_at(file, 4, "ctrl"), "kube-controller-manager");
    let kcm = Manager {
        time: "2026-11-25T12:07:53Z",
        ..manager(
            "kube-controller-manager",
            Operation::Update,
            Some("status"),
            "apps/v1",
        )
    };
    record_update(Some(&old), &mut new, &kcm, DEPLOYMENT);
    let got: Vec<Value> = new["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["manager"] == "kube-controller-manager")
        .cloned()
        .collect();
    assert_eq!(Value::from(got), want);
}
