//! Every write recorded in `tests/fixtures/apiserver-transcripts/` replayed through this
//! library: for each create, update, patch and server-side apply that kube-apiserver
//! v1.36 accepted, `record_update`/`apply` on the object as it was before must give the
//! managedFields kube-apiserver answered (the writer's time included), an apply onto a
//! live object and a strategic merge patch the object it answered, and each apply it
//! refused with a conflict the same message.

use kube_memserver::objects::TypeInfo;
use kube_memserver::objects::apply::{
    ApplyError, Manager, Operation, apply, conflict_message, record_update,
};
use kube_memserver::objects::strategic::strategic_merge_patch;
use serde_json::Value;
use std::collections::HashMap;

/// Writes whose "before" state the transcript does not show (the answer of a write to
/// `/scale` is a Scale, not the object), so they cannot be replayed.
const UNOBSERVED_BEFORE: &[(&str, usize)] = &[("03-deployment.json", 10)];

const WITH_CONTROLLERS: &[&str] = &[
    "05b-ownerref-gc.json",
    "10-deployment-controller.json",
    "13-namespace-deletion.json",
];

struct Write<'e> {
    file: String,
    index: usize,
    exchange: &'e Value,
    path: String,
    query: String,
}

impl Write<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }

    fn subresource(&self) -> Option<&str> {
        ["status", "scale"]
            .into_iter()
            .find(|s| self.path.ends_with(&format!("/{s}")))
    }

    /// The object the write is about: its collection path plus name.
    fn key(&self) -> String {
        let base = self
            .path
            .trim_end_matches("/status")
            .trim_end_matches("/scale");
        match self.exchange["request"]["method"].as_str() {
            Some("POST") => format!(
                "{base}/{}",
                self.exchange["response"]["body"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
            ),
            _ => base.to_owned(),
        }
    }
}

fn is_object(body: &Value) -> bool {
    let kind = body["kind"].as_str().unwrap_or("");
    body["metadata"]["name"].is_string()
        && !kind.ends_with("List")
        && !matches!(kind, "Status" | "Scale" | "Table" | "PartialObjectMetadata")
}

/// The object without what the storage layer sets.
fn stored(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj["metadata"].as_object_mut() {
        for volatile in ["resourceVersion", "generation", "managedFields"] {
            meta.remove(volatile);
        }
    }
    obj
}

#[derive(Default)]
struct Tally {
    replayed: usize,
    conflicts: usize,
    strategic: usize,
    mismatches: Vec<String>,
}

fn replay(write: &Write<'_>, old: Option<&Value>, crd_schema: Option<&Value>, tally: &mut Tally) {
    let request = &write.exchange["request"];
    let response = &write.exchange["response"];
    let body = &response["body"];
    let api_version = if is_object(body) {
        body["apiVersion"].as_str()
    } else {
        old.and_then(|o| o["apiVersion"].as_str())
    };
    let Some(api_version) = api_version.map(str::to_owned) else {
        return;
    };
    let kind = if is_object(body) {
        &body["kind"]
    } else {
        &old.unwrap()["kind"]
    };
    let kind = kind.as_str().unwrap().to_owned();
    let group = api_version
        .rsplit_once('/')
        .map_or("", |(g, _)| g)
        .to_owned();
    let custom = group == "tx.example.com";
    let types = match crd_schema {
        Some(schema) if custom => TypeInfo::Schema(schema),
        _ => TypeInfo::BuiltIn {
            group: &group,
            kind: &kind,
        },
    };
    // Without ?fieldManager= the manager is the User-Agent's first token (README).
    let name = write
        .param("fieldManager")
        .unwrap_or("tx-recorder")
        .to_owned();
    let want = &body["metadata"]["managedFields"];
    let time = want
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["time"].as_str())
        .max()
        .unwrap_or("")
        .to_owned();
    let sub = write.subresource();
    let apply_patch = request["content_type"]
        .as_str()
        .unwrap_or("")
        .contains("apply-patch");
    let operation = if apply_patch {
        Operation::Apply
    } else {
        Operation::Update
    };
    let manager = Manager {
        name: &name,
        operation,
        subresource: sub,
        api_version: &api_version,
        time: &time,
    };
    let label = format!(
        "{} #{} ({})",
        write.file, write.index, write.exchange["note"]
    );
    let got = if apply_patch {
        let mut applied: Value = match &request["body"] {
            Value::String(yaml) => serde_saphyr::from_str(yaml).expect("YAML"),
            other => other.clone(),
        };
        if custom && sub.is_none() {
            // The Widget CRD has a status subresource: the server drops status from a
            // main-resource apply before the field manager sees it.
            applied.as_object_mut().unwrap().remove("status");
        }
        match apply(
            old,
            &applied,
            &manager,
            write.param("force") == Some("true"),
            types,
        ) {
            Ok(obj) => {
                // Onto a live object (already defaulted), the merged object is the answer.
                if old.is_some() && stored(&obj) != stored(body) {
                    tally
                        .mismatches
                        .push(format!("{label}: object\n  got  {obj}\n  want {body}"));
                }
                obj["metadata"]["managedFields"].clone()
            }
            Err(ApplyError::Conflicts(c)) if response["status"] == 409 => {
                tally.replayed += 1;
                tally.conflicts += 1;
                if conflict_message(&c) != body["message"].as_str().unwrap() {
                    tally.mismatches.push(format!(
                        "{label}: conflict message {:?}",
                        conflict_message(&c)
                    ));
                }
                return;
            }
            Err(e) => Value::String(e.to_string()),
        }
    } else {
        if request["content_type"]
            .as_str()
            .is_some_and(|c| c.contains("strategic-merge-patch"))
        {
            let patched = strategic_merge_patch(
                old.expect("a patch has a live object"),
                &request["body"],
                types,
            )
            .unwrap_or_else(|e| panic!("{label}: {e}"));
            tally.strategic += 1;
            // With controllers running (README: 05b, 10, 13), status and annotations
            // move between exchanges; the patched spec is what the patch decides.
            let differs = if WITH_CONTROLLERS.contains(&write.file.as_str()) {
                patched["spec"] != body["spec"]
            } else {
                stored(&patched) != stored(body)
            };
            if differs {
                tally
                    .mismatches
                    .push(format!("{label}: object\n  got  {patched}\n  want {body}"));
            }
        }
        let mut new = body.clone();
        match old {
            Some(o) => new["metadata"]["managedFields"] = o["metadata"]["managedFields"].clone(),
            None => drop(
                new["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("managedFields"),
            ),
        }
        record_update(old, &mut new, &manager, types);
        new["metadata"]["managedFields"].clone()
    };
    tally.replayed += 1;
    // Controllers (05b, 10, 13) write between the recorded exchanges, so other
    // managers' times may have moved on since the "before" state; the writer's must match.
    let others_untimed = |v: &Value| -> Value {
        let mut v = v.clone();
        for entry in v.as_array_mut().into_iter().flatten() {
            if entry["manager"] != name.as_str() {
                entry.as_object_mut().unwrap().remove("time");
            }
        }
        v
    };
    if others_untimed(&got) != others_untimed(want) {
        tally
            .mismatches
            .push(format!("{label}:\n  got  {got}\n  want {want}"));
    }
}

#[test]
fn every_recorded_write_reproduces_kube_apiservers_managed_fields() {
    let dir = format!(
        "{}/tests/fixtures/apiserver-transcripts",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    let mut tally = Tally::default();
    let mut crd_schema = None;
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let exchanges: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut seen: HashMap<String, Value> = HashMap::new();
        for (index, exchange) in exchanges.iter().enumerate() {
            if exchange.get("comment").is_some() {
                continue;
            }
            let full = exchange["request"]["path"].as_str().unwrap();
            let (path, query) = full.split_once('?').unwrap_or((full, ""));
            let write = Write {
                file: file.clone(),
                index,
                exchange,
                path: path.to_owned(),
                query: query.to_owned(),
            };
            let method = exchange["request"]["method"].as_str().unwrap();
            let status = exchange["response"]["status"].as_u64().unwrap();
            let body = &exchange["response"]["body"];
            if file == "07-crd.json" && index == 1 {
                crd_schema = Some(
                    exchange["request"]["body"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                        .clone(),
                );
            }
            let dry_run = write.param("dryRun").is_some();
            let writes = matches!(method, "POST" | "PUT" | "PATCH")
                && write.subresource() != Some("scale")
                && !dry_run;
            let accepted = status < 300 && is_object(body);
            let conflict =
                status == 409 && body["details"]["causes"][0]["reason"] == "FieldManagerConflict";
            let key = write.key();
            let old = seen.get(&key).cloned();
            let replayable = (method == "POST" || old.is_some())
                && !UNOBSERVED_BEFORE.contains(&(file.as_str(), index));
            if writes && (accepted || conflict) && replayable {
                replay(
                    &write,
                    if method == "POST" { None } else { old.as_ref() },
                    crd_schema.as_ref(),
                    &mut tally,
                );
            }
            if accepted && !dry_run {
                seen.insert(key, body.clone());
            }
        }
    }
    assert!(
        tally.mismatches.is_empty(),
        "{} of {} writes differ:\n{}",
        tally.mismatches.len(),
        tally.replayed,
        tally.mismatches.join("\n")
    );
    // The transcripts hold over a hundred such writes; fewer means the walk broke.
    assert!(
        tally.replayed >= 100,
        "only {} writes replayed",
        tally.replayed
    );
    println!(
        "{} recorded writes replayed identically ({} apply conflicts, {} strategic merge patches)",
        tally.replayed, tally.conflicts, tally.strategic
    );
}
