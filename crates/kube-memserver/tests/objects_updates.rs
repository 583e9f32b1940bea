//! managedFields of non-apply writes (create, PUT, patches, subresource updates), held
//! to the entries kube-apiserver v1.36 wrote in `tests/fixtures/apiserver-transcripts/`
//! (03, 04, 09, 10): each test records a write on the recorded "before" object.

use kube_memserver::objects::TypeInfo;
use kube_memserver::objects::apply::{Manager, Operation, record_update};
use serde_json::{Value, json};

const CONFIGMAP: TypeInfo<'static> = TypeInfo::BuiltIn {
    group: "",
    kind: "ConfigMap",
};
const DEPLOYMENT: TypeInfo<'static> = TypeInfo::BuiltIn {
    group: "apps",
    kind: "Deployment",
};
/// The writes of 03 and 04 happened within this second.
const TIME: &str = "2026-11-25T12:06:42Z";
const SSA: &str = "04-server-side-apply.json";

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

fn request(file: &str, index: usize) -> Value {
    exchange(file, index)["request"]["body"].clone()
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

/// The object without what the storage layer sets.
fn stored(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
            m.remove(k);
        }
    }
    v
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
