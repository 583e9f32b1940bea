//! Properties of server-side apply, managedFields and strategic merge that must hold for
//! any object, not only the recorded ones.

use kube_memserver::objects::TypeInfo;
use kube_memserver::objects::apply::{Manager, Operation, apply, record_update};
use kube_memserver::objects::fieldset::{FieldSet, PathElement};
use kube_memserver::objects::strategic::strategic_merge_patch;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const DEPLOYMENT: TypeInfo<'static> = TypeInfo::BuiltIn {
    group: "apps",
    kind: "Deployment",
};

fn manager<'a>(name: &'a str, operation: Operation, time: &'a str) -> Manager<'a> {
    Manager {
        name,
        operation,
        subresource: None,
        api_version: "apps/v1",
        time,
    }
}

fn env() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["A", "B", "C"]),
        "[a-z]{1,3}",
        0..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect()
    })
}

fn containers() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["app", "sidecar", "proxy"]),
        ("[a-z]{1,4}:[0-9]", env()),
        1..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(name, (image, env))| {
                let mut c = json!({"name": name, "image": image});
                if !env.is_empty() {
                    c["env"] = Value::from(env);
                }
                c
            })
            .collect()
    })
}

fn labels() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["app", "tier", "team"]),
        "[a-z]{1,3}",
        0..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect()
    })
}

fn deployment() -> impl Strategy<Value = Value> {
    (containers(), labels(), 0..5u32).prop_map(|(containers, labels, replicas)| {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}
        });
        if !labels.is_empty() {
            d["metadata"]["labels"] = Value::Object(labels);
        }
        d
    })
}

/// The value a managedFields path points at, if the object has it.
fn resolve<'v>(value: &'v Value, path: &[PathElement]) -> Option<&'v Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match first {
        PathElement::Field(name) => value.get(name)?,
        PathElement::Key(fields) => value.as_array()?.iter().find(|item| {
            fields.iter().all(|(k, v)| {
                item.get(k)
                    .is_some_and(|iv| iv == &serde_json::from_str::<Value>(v).unwrap())
            })
        })?,
        PathElement::Value(v) => value
            .as_array()?
            .iter()
            .find(|item| item.to_string() == *v)?,
        PathElement::Index(i) => value.as_array()?.get(*i)?,
    };
    resolve(next, rest)
}

/// Every entry is non-empty, decodable, unique per manager identity, and owns only
/// fields the object has.
fn assert_well_formed(obj: &Value) {
    let Some(entries) = obj["metadata"]["managedFields"].as_array() else {
        return;
    };
    let mut identities = Vec::new();
    for e in entries {
        let set = FieldSet::from_fields_v1(&e["fieldsV1"]).expect("decodable fieldsV1");
        assert!(!set.is_empty(), "empty entry {e}");
        assert_eq!(set.to_fields_v1(), e["fieldsV1"], "fieldsV1 round-trips");
        let id = (
            e["manager"].clone(),
            e["operation"].clone(),
            e["subresource"].clone(),
        );
        assert!(!identities.contains(&id), "two entries for {id:?}");
        identities.push(id);
        for path in set.paths() {
            assert!(
                resolve(obj, &path).is_some(),
                "{e} owns a missing field {path:?} of {obj}"
            );
        }
    }
}

proptest! {
    #[test]
    fn applying_the_same_config_twice_is_a_no_op(config in deployment()) {
        let first = apply(None, &config, &manager("deployer", Operation::Apply, "2026-11-25T12:00:00Z"), false, DEPLOYMENT).unwrap();
        let again = apply(Some(&first), &config, &manager("deployer", Operation::Apply, "2026-11-25T13:00:00Z"), false, DEPLOYMENT).unwrap();
        prop_assert_eq!(again, first);
    }

    #[test]
    fn applies_and_updates_keep_managed_fields_well_formed(a in deployment(), b in deployment(), edit in deployment()) {
        let live = apply(None, &a, &manager("a", Operation::Apply, "2026-11-25T12:00:00Z"), false, DEPLOYMENT).unwrap();
        assert_well_formed(&live);
        let live = apply(Some(&live), &b, &manager("b", Operation::Apply, "2026-11-25T12:00:01Z"), true, DEPLOYMENT).unwrap();
        assert_well_formed(&live);
        let mut edited = edit.clone();
        edited["metadata"]["managedFields"] = live["metadata"]["managedFields"].clone();
        record_update(Some(&live), &mut edited, &manager("editor", Operation::Update, "2026-11-25T12:00:02Z"), DEPLOYMENT);
        assert_well_formed(&edited);
        // a re-applies: it may conflict, but forced it must succeed and stay well formed.
        let live = apply(Some(&edited), &a, &manager("a", Operation::Apply, "2026-11-25T12:00:03Z"), true, DEPLOYMENT).unwrap();
        assert_well_formed(&live);
        // What a applies is in the object afterwards.
        for c in a["spec"]["template"]["spec"]["containers"].as_array().unwrap() {
            let found = live["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().find(|l| l["name"] == c["name"]);
            prop_assert_eq!(&found.unwrap()["image"], &c["image"]);
        }
    }

    #[test]
    fn a_strategic_merge_patch_of_an_object_with_itself_changes_nothing(d in deployment()) {
        prop_assert_eq!(strategic_merge_patch(&d, &d, DEPLOYMENT).unwrap(), d);
    }
}
