//! `meta.k8s.io/v1` Table output (what `kubectl get` asks for): a few columns per built-in
//! kind, and a CRD's `additionalPrinterColumns` for custom resources.
use super::http::Request;
use super::meta::age;
use super::read::partial;
use super::resources::{PrinterColumn, Resource};
use serde_json::{Value, json};

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

type Cell = fn(&Value) -> Value;

fn s(v: &Value) -> Value {
    if v.is_null() {
        json!("<none>")
    } else {
        v.clone()
    }
}
fn count(v: &Value) -> usize {
    v.as_object().map(|o| o.len()).unwrap_or(0)
}
fn ready(ready: &Value, total: &Value) -> Value {
    json!(format!(
        "{}/{}",
        ready.as_i64().unwrap_or(0),
        total.as_i64().unwrap_or(0)
    ))
}

fn built_in_columns(res: &Resource) -> Vec<(&'static str, &'static str, Cell)> {
    match res.plural.as_str() {
        "configmaps" => vec![("Data", "integer", |o| {
            json!(count(&o["data"]) + count(&o["binaryData"]))
        })],
        "secrets" => vec![
            ("Type", "string", |o| s(&o["type"])),
            ("Data", "integer", |o| json!(count(&o["data"]))),
        ],
        "namespaces" => vec![("Status", "string", |o| s(&o["status"]["phase"]))],
        "pods" => vec![
            ("Ready", "string", |o| {
                let n = o["spec"]["containers"]
                    .as_array()
                    .map(|a| a.len())
                    .unwrap_or(0);
                let r = o["status"]["containerStatuses"]
                    .as_array()
                    .map(|a| a.iter().filter(|c| c["ready"] == true).count())
                    .unwrap_or(0);
                json!(format!("{r}/{n}"))
            }),
            ("Status", "string", |o| s(&o["status"]["phase"])),
            ("Restarts", "string", |_| json!("0")),
        ],
        "deployments" => vec![
            ("Ready", "string", |o| {
                ready(&o["status"]["readyReplicas"], &o["spec"]["replicas"])
            }),
            ("Up-to-date", "integer", |o| {
                json!(o["status"]["updatedReplicas"].as_i64().unwrap_or(0))
            }),
            ("Available", "integer", |o| {
                json!(o["status"]["availableReplicas"].as_i64().unwrap_or(0))
            }),
        ],
        "replicasets" => vec![
            ("Desired", "integer", |o| {
                json!(o["spec"]["replicas"].as_i64().unwrap_or(0))
            }),
            ("Current", "integer", |o| {
                json!(o["status"]["replicas"].as_i64().unwrap_or(0))
            }),
            ("Ready", "integer", |o| {
                json!(o["status"]["readyReplicas"].as_i64().unwrap_or(0))
            }),
        ],
        "services" => vec![
            ("Type", "string", |o| s(&o["spec"]["type"])),
            ("Cluster-IP", "string", |o| s(&o["spec"]["clusterIP"])),
            ("External-IP", "string", |o| {
                let ips: Vec<String> = o["status"]["loadBalancer"]["ingress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| {
                        i["ip"]
                            .as_str()
                            .or(i["hostname"].as_str())
                            .map(String::from)
                    })
                    .collect();
                json!(if ips.is_empty() {
                    "<none>".to_string()
                } else {
                    ips.join(",")
                })
            }),
            ("Port(s)", "string", |o| {
                let ports: Vec<String> = o["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect();
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                })
            }),
        ],
        "leases" => vec![("Holder", "string", |o| s(&o["spec"]["holderIdentity"]))],
        _ => vec![],
    }
}

/// Event columns for both Event APIs (core field names, else events.k8s.io ones).
fn event_columns() -> Vec<(&'static str, &'static str, Cell)> {
    fn either<'a>(o: &'a Value, core: &str, new: &str) -> &'a Value {
        if o[core].is_null() { &o[new] } else { &o[core] }
    }
    vec![
        ("Last Seen", "string", |o| {
            let at = either(o, "lastTimestamp", "deprecatedLastTimestamp");
            let at = if at.is_null() { &o["eventTime"] } else { at };
            let at = if at.is_null() {
                &o["metadata"]["creationTimestamp"]
            } else {
                at
            };
            json!(age(at.as_str()))
        }),
        ("Type", "string", |o| s(&o["type"])),
        ("Reason", "string", |o| s(&o["reason"])),
        ("Object", "string", |o| {
            let r = either(o, "involvedObject", "regarding");
            json!(format!(
                "{}/{}",
                r["kind"].as_str().unwrap_or("").to_lowercase(),
                r["name"].as_str().unwrap_or("")
            ))
        }),
        ("Message", "string", |o| s(either(o, "message", "note"))),
    ]
}

/// Evaluates the JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[?(@.k=="v")].b`.
pub fn json_path(obj: &Value, path: &str) -> Value {
    let mut cur = vec![obj.clone()];
    let mut rest = path.trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            let inner = &r[..end];
            rest = r.get(end + 1..).unwrap_or("").trim_start_matches('.');
            cur = cur
                .iter()
                .flat_map(|v| {
                    v.as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .enumerate()
                })
                .filter(|(i, item)| {
                    match inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                        Some(filter) => filter.split_once("==").is_some_and(|(k, want)| {
                            item.get(k.trim()).and_then(Value::as_str)
                                == Some(want.trim().trim_matches(['"', '\'']))
                        }),
                        None => inner.parse::<usize>().ok() == Some(*i) || inner == "*",
                    }
                })
                .map(|(_, item)| item)
                .collect();
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let key = &rest[..end];
        rest = rest[end..].trim_start_matches('.');
        cur = cur.iter().filter_map(|v| v.get(key).cloned()).collect();
    }
    match cur.len() {
        0 => Value::Null,
        1 => cur.remove(0),
        _ => json!(
            cur.iter()
                .map(|v| v.as_str().map(String::from).unwrap_or(v.to_string()))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn custom_cell(col: &PrinterColumn, obj: &Value) -> Value {
    let v = json_path(obj, &col.json_path);
    if v.is_null() {
        return Value::Null;
    }
    match col.type_.as_str() {
        "date" => json!(age(v.as_str())),
        _ => v,
    }
}

fn column(name: &str, type_: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

/// A Table of `objects`; row objects are PartialObjectMetadata unless `includeObject=Object`.
pub fn table(
    res: &Resource,
    objects: &[Value],
    rv: u64,
    next: Option<String>,
    req: &Request,
) -> Value {
    let mut defs = vec![column("Name", "string", "name", NAME_DESCRIPTION, 0)];
    let rows: Vec<Value>;
    let full = req.query.get("includeObject") == Some("Object");
    let row_object = |o: &Value| if full { o.clone() } else { partial(o) };
    if let Some(custom) = &res.custom {
        let cols: Vec<PrinterColumn> = if custom.columns.is_empty() {
            vec![PrinterColumn {
                name: "Age".into(),
                type_: "date".into(),
                format: String::new(),
                json_path: ".metadata.creationTimestamp".into(),
                priority: 0,
                description: None,
            }]
        } else {
            custom.columns.clone()
        };
        for c in &cols {
            let d = c.description.clone().unwrap_or(format!(
                "Custom resource definition column (in JSONPath format): {}",
                c.json_path
            ));
            defs.push(column(&c.name, &c.type_, &c.format, &d, c.priority));
        }
        rows = objects
            .iter()
            .map(|o| {
                let mut cells = vec![o["metadata"]["name"].clone()];
                cells.extend(cols.iter().map(|c| custom_cell(c, o)));
                json!({"cells": cells, "object": row_object(o)})
            })
            .collect();
    } else if res.plural == "events" {
        // Events print without Name and Age, as kubectl shows them from kube-apiserver.
        let cols = event_columns();
        defs.clear();
        for (name, type_, _) in &cols {
            defs.push(column(name, type_, "", "", 0));
        }
        rows = objects
            .iter()
            .map(|o| json!({"cells": cols.iter().map(|(_, _, f)| f(o)).collect::<Vec<_>>(), "object": row_object(o)}))
            .collect();
    } else {
        let cols = built_in_columns(res);
        for (name, type_, _) in &cols {
            defs.push(column(name, type_, "", "", 0));
        }
        let age_name = if res.plural == "customresourcedefinitions" {
            "Created At"
        } else {
            "Age"
        };
        defs.push(column(age_name, "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0));
        rows = objects
            .iter()
            .map(|o| {
                let mut cells = vec![o["metadata"]["name"].clone()];
                cells.extend(cols.iter().map(|(_, _, f)| f(o)));
                cells.push(if res.plural == "customresourcedefinitions" {
                    o["metadata"]["creationTimestamp"].clone()
                } else {
                    json!(age(o["metadata"]["creationTimestamp"].as_str()))
                });
                json!({"cells": cells, "object": row_object(o)})
            })
            .collect();
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = next {
        metadata["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::json_path;
    use serde_json::json;

    /// The JSONPath forms CRD printer columns use, as kubectl renders them.
    #[test]
    fn printer_column_paths_select_fields_items_and_filtered_items() {
        let obj = json!({"spec": {"weight": 5}, "status": {"conditions": [
            {"type": "Ready", "status": "False"}, {"type": "Progressing", "status": "True"}]}});
        assert_eq!(json_path(&obj, ".spec.weight"), json!(5));
        assert_eq!(
            json_path(&obj, ".status.conditions[1].type"),
            json!("Progressing")
        );
        assert_eq!(
            json_path(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            json!("False")
        );
        assert_eq!(json_path(&obj, ".status.phase"), json!(null));
    }
}
