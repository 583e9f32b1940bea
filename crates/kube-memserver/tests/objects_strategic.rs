//! Strategic merge patch, held to the answers kube-apiserver v1.36 recorded in
//! `tests/fixtures/apiserver-transcripts/` (each test names the exchange it replays).

use kube_memserver::objects::TypeInfo;
use kube_memserver::objects::strategic::strategic_merge_patch;
use serde_json::{Value, json};

const DEPLOYMENT: TypeInfo<'static> = TypeInfo::BuiltIn {
    group: "apps",
    kind: "Deployment",
};

fn exchange(file: &str, index: usize) -> Value {
    let path = format!(
        "{}/tests/fixtures/apiserver-transcripts/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("transcript")).expect("json");
    all[index].clone()
}

/// Replays exchange `index`: the previous exchange's answer patched with this request's
/// body must give this exchange's answer (metadata aside: the server owns it).
fn replay(file: &str, index: usize, types: TypeInfo<'_>) -> (Value, Value) {
    let before = exchange(file, index - 1)["response"]["body"].clone();
    let this = exchange(file, index);
    assert!(
        this["request"]["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/strategic-merge-patch"),
        "exchange {index} of {file} is not a strategic merge patch"
    );
    let mut got =
        strategic_merge_patch(&before, &this["request"]["body"], types).expect("patch applies");
    let mut want = this["response"]["body"].clone();
    got.as_object_mut().unwrap().remove("metadata");
    want.as_object_mut().unwrap().remove("metadata");
    (got, want)
}

#[test]
fn strategic_merge_merges_containers_by_name() {
    // 03-deployment.json #11: "containers merged by name -> 'app' untouched, sidecar image
    // changed, env added".
    let (got, want) = replay("03-deployment.json", 11, DEPLOYMENT);
    assert_eq!(got, want);
}

#[test]
fn strategic_merge_merges_env_by_name_and_puts_new_entries_first() {
    // 03-deployment.json #12: "env merged by name too (MODE kept, EXTRA added)"; the
    // recorded answer lists EXTRA before MODE (apimachinery's element-order rule).
    let (got, want) = replay("03-deployment.json", 12, DEPLOYMENT);
    assert_eq!(got, want);
    let env = &got["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([{"name": "EXTRA", "value": "1"}, {"name": "MODE", "value": "prod"}])
    );
}

#[test]
fn strategic_merge_patch_delete_removes_one_list_element_by_key() {
    // 03-deployment.json #13: "$patch: delete removes one env entry by name".
    let (got, want) = replay("03-deployment.json", 13, DEPLOYMENT);
    assert_eq!(got, want);
}

#[test]
fn strategic_merge_of_an_event_replaces_scalars() {
    // 09-events.json #8: "bump count like client-go's recorder does".
    let before = exchange("09-events.json", 7)["response"]["body"].clone();
    let this = exchange("09-events.json", 8);
    let mut want = this["response"]["body"].clone();
    let original = {
        let mut o = want.clone();
        o["count"] = json!(1);
        o["lastTimestamp"] = before["items"][0]["deprecatedLastTimestamp"].clone();
        o
    };
    let mut got = strategic_merge_patch(
        &original,
        &this["request"]["body"],
        TypeInfo::BuiltIn {
            group: "",
            kind: "Event",
        },
    )
    .unwrap();
    got["metadata"] = json!(null);
    want["metadata"] = json!(null);
    assert_eq!(got, want);
}

#[test]
fn null_deletes_a_key_and_lists_without_merge_key_are_replaced() {
    let original = json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "nodeSelector": {"zone": "a", "disk": "ssd"},
        "containers": [{"name": "app", "args": ["--one", "--two"]}]
    }}}});
    let patch = json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "nodeSelector": {"disk": null},
        "containers": [{"name": "app", "args": ["--three"]}]
    }}}});
    let got = strategic_merge_patch(&original, &patch, DEPLOYMENT).unwrap();
    assert_eq!(
        got,
        json!({"spec": {"template": {"spec": {
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "nodeSelector": {"zone": "a"},
            "containers": [{"name": "app", "args": ["--three"]}]
        }}}})
    );
}

#[test]
fn ports_merge_by_container_port_and_service_port() {
    let container = json!({"spec": {"containers": [{"name": "app", "ports": [
        {"containerPort": 80, "name": "http"}, {"containerPort": 9090, "name": "metrics"}]}]}});
    let patch = json!({"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 9090, "name": "prom"}]}]}});
    let got = strategic_merge_patch(
        &container,
        &patch,
        TypeInfo::BuiltIn {
            group: "",
            kind: "Pod",
        },
    )
    .unwrap();
    assert_eq!(
        got["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "name": "http"}, {"containerPort": 9090, "name": "prom"}])
    );

    let service = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}});
    let patch = json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}]}});
    let got = strategic_merge_patch(
        &service,
        &patch,
        TypeInfo::BuiltIn {
            group: "",
            kind: "Service",
        },
    )
    .unwrap();
    assert_eq!(
        got["spec"]["ports"],
        json!([{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 9443}])
    );
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list_removes_members() {
    let original = json!({"metadata": {"finalizers": ["a", "b"], "ownerReferences": [{"uid": "1", "name": "x"}]}});
    let patch = json!({"metadata": {
        "finalizers": ["b", "c"],
        "ownerReferences": [{"uid": "2", "name": "y"}]
    }});
    let got = strategic_merge_patch(
        &original,
        &patch,
        TypeInfo::BuiltIn {
            group: "",
            kind: "ConfigMap",
        },
    )
    .unwrap();
    assert_eq!(got["metadata"]["finalizers"], json!(["a", "b", "c"]));
    // New keyed items go before the live ones they do not follow, as EXTRA went before
    // MODE in 03-deployment.json #12.
    assert_eq!(
        got["metadata"]["ownerReferences"],
        json!([{"uid": "2", "name": "y"}, {"uid": "1", "name": "x"}])
    );

    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "c"]}});
    let got = strategic_merge_patch(
        &got,
        &patch,
        TypeInfo::BuiltIn {
            group: "",
            kind: "ConfigMap",
        },
    )
    .unwrap();
    assert_eq!(got["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn patch_replace_and_delete_directives_on_maps_and_lists() {
    let original = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}},
        "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
    let patch = json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}, "annotations": {"$patch": "delete"}},
        "spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "i"}]}}}});
    let got = strategic_merge_patch(&original, &patch, DEPLOYMENT).unwrap();
    assert_eq!(
        got,
        json!({"metadata": {"labels": {"c": "3"}},
            "spec": {"template": {"spec": {"containers": [{"name": "z", "image": "i"}]}}}})
    );
}

#[test]
fn retain_keys_drops_fields_the_patch_does_not_keep() {
    // What kubectl sends for `volumes` (patchStrategy merge,retainKeys) when a volume
    // changes source: the old source must go.
    let original = json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}});
    let patch = json!({"spec": {"volumes": [{"name": "data", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]}});
    let got = strategic_merge_patch(
        &original,
        &patch,
        TypeInfo::BuiltIn {
            group: "",
            kind: "Pod",
        },
    )
    .unwrap();
    assert_eq!(
        got["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "cm"}}])
    );
}

#[test]
fn set_element_order_reorders_the_merged_list() {
    // kubectl apply sends `$setElementOrder/containers` with the order of its config.
    let original =
        json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}});
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
        "containers": [{"name": "c", "image": "3"}]
    }});
    let got = strategic_merge_patch(
        &original,
        &patch,
        TypeInfo::BuiltIn {
            group: "",
            kind: "Pod",
        },
    )
    .unwrap();
    assert_eq!(
        got["spec"]["containers"],
        json!([{"name": "b", "image": "2"}, {"name": "a", "image": "1"}, {"name": "c", "image": "3"}])
    );
}

#[test]
fn a_list_element_without_its_merge_key_is_an_error() {
    let original = json!({"spec": {"containers": [{"name": "a"}]}});
    let patch = json!({"spec": {"containers": [{"image": "x"}]}});
    let e = strategic_merge_patch(
        &original,
        &patch,
        TypeInfo::BuiltIn {
            group: "",
            kind: "Pod",
        },
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("does not contain declared merge key: name"),
        "{e}"
    );
}
