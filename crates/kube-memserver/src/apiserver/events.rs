//! core/v1 and events.k8s.io/v1 Events share one storage, as in kube-apiserver: both
//! APIs list every Event, each in its own field names.
use serde_json::{Map, Value, json};

pub const GROUP: &str = "events.k8s.io";

/// (core/v1 name, events.k8s.io/v1 name) of the fields that are renamed.
const RENAMED: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename(obj: Value, to_new: bool, api_version: &str) -> Value {
    let Value::Object(fields) = obj else {
        return obj;
    };
    let mut out = Map::new();
    for (k, v) in fields {
        let name = RENAMED
            .iter()
            .find(|(core, new)| if to_new { core == &k } else { new == &k })
            .map(|(core, new)| if to_new { *new } else { *core })
            .unwrap_or(&k)
            .to_string();
        out.insert(name, v);
    }
    out.insert("apiVersion".into(), json!(api_version));
    Value::Object(out)
}

fn ensure(obj: &mut Value, key: &str, value: Value) {
    if let Some(o) = obj.as_object_mut() {
        o.entry(key).or_insert(value);
    }
}

fn drop_empty(obj: &mut Value, key: &str) {
    if let Some(o) = obj.as_object_mut()
        && matches!(o.get(key), Some(Value::String(s)) if s.is_empty())
    {
        o.remove(key);
    }
}

/// The stored (core/v1) form of an events.k8s.io/v1 Event.
pub fn to_core(obj: Value) -> Value {
    let mut core = rename(obj, false, "v1");
    complete_core(&mut core);
    core
}

/// The fields a core/v1 Event always carries when encoded.
pub fn complete_core(core: &mut Value) {
    ensure(core, "source", json!({}));
    ensure(core, "firstTimestamp", Value::Null);
    ensure(core, "lastTimestamp", Value::Null);
    ensure(core, "eventTime", Value::Null);
    ensure(core, "reportingComponent", json!(""));
    ensure(core, "reportingInstance", json!(""));
}

/// The events.k8s.io/v1 view of a stored Event.
pub fn to_events_api(core: Value) -> Value {
    let mut v = rename(core, true, "events.k8s.io/v1");
    for k in ["reportingController", "reportingInstance", "action"] {
        drop_empty(&mut v, k);
    }
    ensure(&mut v, "eventTime", Value::Null);
    ensure(&mut v, "deprecatedSource", json!({}));
    ensure(&mut v, "deprecatedFirstTimestamp", Value::Null);
    ensure(&mut v, "deprecatedLastTimestamp", Value::Null);
    v
}
