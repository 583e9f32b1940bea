//! Replaying a recorded kube-apiserver transcript against the local API server, and
//! comparing the answers while ignoring the values the transcripts' README calls volatile.
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Recorded values (resourceVersions, uids, continue tokens, generated names) mapped to
/// the ones this server answered in the same places.
#[derive(Default)]
pub struct Mapper(HashMap<String, String>);

const MAPPED: [&str; 4] = ["resourceVersion", "uid", "continue", "name"];

impl Mapper {
    /// Learns the mapping by walking a recorded and an actual answer side by side.
    pub fn learn(&mut self, expected: &Value, actual: &Value) {
        match (expected, actual) {
            (Value::Object(e), Value::Object(a)) => {
                for (k, ev) in e {
                    let Some(av) = a.get(k) else { continue };
                    if let (true, Some(es), Some(as_)) =
                        (MAPPED.contains(&k.as_str()), ev.as_str(), av.as_str())
                        && es != as_
                        && (k != "name"
                            || e.contains_key("generateName")
                            || a.contains_key("generateName"))
                    {
                        self.0.insert(es.to_string(), as_.to_string());
                    }
                    self.learn(ev, av);
                }
            }
            (Value::Array(e), Value::Array(a)) => {
                e.iter().zip(a).for_each(|(e, a)| self.learn(e, a))
            }
            _ => {}
        }
    }
    pub fn path(&self, path: &str) -> String {
        let Some((p, q)) = path.split_once('?') else {
            return self.text(path);
        };
        let pairs: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if k == "resourceVersion" || k == "continue" => {
                    format!("{k}={}", self.0.get(v).map(String::as_str).unwrap_or(v))
                }
                _ => kv.to_string(),
            })
            .collect();
        format!("{}?{}", self.text(p), pairs.join("&"))
    }
    fn text(&self, s: &str) -> String {
        s.split('/')
            .map(|seg| self.0.get(seg).cloned().unwrap_or(seg.to_string()))
            .collect::<Vec<_>>()
            .join("/")
    }
    /// A recorded request body with recorded values replaced by this server's.
    pub fn body(&self, v: &Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(s) if MAPPED.contains(&k.as_str()) => (
                            k.clone(),
                            json!(self.0.get(s).map(String::as_str).unwrap_or(s)),
                        ),
                        _ => (k.clone(), self.body(v)),
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.body(v)).collect()),
            other => other.clone(),
        }
    }
}

const VOLATILE: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "time",
    "lastTransitionTime",
    "resourceVersion",
    "continue",
    "received_at_s",
    "lastUpdateTime",
    "renewTime",
];

fn digits_to_n(s: &str) -> String {
    let mut out = String::new();
    let mut last_digit = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out
}

/// The answer with volatile values blanked out (managedFields are pinned by
/// `crate::objects`' own tests; ages in Table cells change with time).
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                if k == "managedFields" || k == "received_at_s" || k == "storageVersionHash" {
                    continue;
                } else if VOLATILE.contains(&k.as_str()) {
                    out.insert(k.clone(), json!(if v.is_null() { "null" } else { "*" }));
                } else if k == "message" {
                    out.insert(
                        k.clone(),
                        json!(v.as_str().map(digits_to_n).unwrap_or_default()),
                    );
                } else if k == "name" && o.contains_key("generateName") {
                    out.insert(k.clone(), json!("*generated*"));
                } else if k == "cells" {
                    let cells: Vec<Value> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            if c.as_str().is_some_and(|s| {
                                s.ends_with('s') && s[..s.len() - 1].parse::<u64>().is_ok()
                            }) {
                                json!("<age>")
                            } else {
                                c.clone()
                            }
                        })
                        .collect();
                    out.insert(k.clone(), json!(cells));
                } else {
                    out.insert(k.clone(), normalize(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        // A YAML answer (Accept: application/yaml) compares as the object it encodes.
        Value::String(s) => match serde_saphyr::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => normalize(&v),
            _ => Value::String(s.trim().to_string()),
        },
        other => other.clone(),
    }
}

/// Discovery answers list groups, resources and subresources this server does not serve:
/// keep only the recorded entries the server also answered (legacy and aggregated forms).
pub fn restrict_discovery(expected: &mut Value, actual: &Value) {
    restrict(expected, actual, "resources", "name");
    restrict(expected, actual, "groups", "name");
    if expected["kind"] == "APIGroupDiscoveryList" {
        let name = |v: &Value| v["metadata"]["name"].clone();
        let have: Vec<Value> = actual["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(name)
            .collect();
        let Some(items) = expected["items"].as_array_mut() else {
            return;
        };
        items.retain(|i| have.contains(&name(i)));
        for item in items {
            let theirs = actual["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| name(a) == name(item))
                .cloned()
                .unwrap_or_default();
            for (v, av) in item["versions"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .zip(theirs["versions"].as_array().into_iter().flatten())
            {
                restrict(v, av, "resources", "resource");
                for (r, ar) in v["resources"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .zip(av["resources"].as_array().into_iter().flatten())
                {
                    if ar.get("subresources").is_none() {
                        // None served: the recorded ones are all of resources we lack.
                        r.as_object_mut().map(|o| o.remove("subresources"));
                    }
                    restrict(r, ar, "subresources", "subresource");
                }
            }
        }
    }
}

fn restrict(expected: &mut Value, actual: &Value, list: &str, key: &str) {
    let Some(have) = actual[list].as_array() else {
        return;
    };
    let names: Vec<&Value> = have.iter().map(|e| &e[key]).collect();
    if let Some(e) = expected[list].as_array_mut() {
        e.retain(|entry| names.contains(&&entry[key]));
    }
}
