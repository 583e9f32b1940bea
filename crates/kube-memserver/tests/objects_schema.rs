//! Structural schema checks of custom resources, held to kube-apiserver v1.36's answers
//! in `tests/fixtures/apiserver-transcripts/07-crd.json` (the Widget CRD).

use kube_memserver::objects::schema::{SchemaCause, apply_defaults, prune, validate};
use serde_json::{Value, json};

fn exchange(index: usize) -> Value {
    let path = format!(
        "{}/tests/fixtures/apiserver-transcripts/07-crd.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("transcript")).expect("json");
    all[index].clone()
}

fn widget_schema() -> Value {
    exchange(1)["request"]["body"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn causes_json(causes: &[SchemaCause]) -> Value {
    causes
        .iter()
        .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
        .collect()
}

#[test]
fn a_valid_widget_has_no_causes() {
    // 07 #7: "valid object -> 201".
    assert_eq!(
        validate(&widget_schema(), &exchange(7)["request"]["body"]),
        vec![]
    );
}

#[test]
fn schema_violations_are_worded_as_kube_apiserver_words_them() {
    // 07 #8: wrong type, maximum and enum -> 422 with one cause per field, then the
    // "some validation rules were not checked" cause because the CRD has CEL rules.
    let this = exchange(8);
    let causes = validate(&widget_schema(), &this["request"]["body"]);
    assert_eq!(
        causes_json(&causes),
        this["response"]["body"]["details"]["causes"]
    );
    // The Status message lists the causes as `field: message`.
    let summary: Vec<String> = causes.iter().map(SchemaCause::summary).collect();
    let message = format!(
        "Widget.tx.example.com \"bad-schema\" is invalid: [{}]",
        summary.join(", ")
    );
    assert_eq!(
        message,
        this["response"]["body"]["message"].as_str().unwrap()
    );
}

#[test]
fn a_missing_required_field_is_a_required_value_cause() {
    // 07 #9: "missing required weight -> 422".
    let this = exchange(9);
    let causes = validate(&widget_schema(), &this["request"]["body"]);
    assert_eq!(
        causes_json(&causes),
        this["response"]["body"]["details"]["causes"]
    );
}

#[test]
fn unknown_fields_are_pruned_and_reported_for_the_warning_header() {
    // 07 #11: 201 with `Warning: 299 - "unknown field \"extra\"", 299 - "unknown field
    // \"spec.bogus\""` and the fields gone from the stored object.
    let this = exchange(11);
    let mut obj = this["request"]["body"].clone();
    let pruned = prune(&widget_schema(), &mut obj);
    let header: Vec<String> = pruned
        .iter()
        .map(|p| format!("299 - {:?}", format!("unknown field {p:?}")))
        .collect();
    assert_eq!(
        header.join(", "),
        this["response"]["warning_header"].as_str().unwrap()
    );
    assert_eq!(obj["spec"], this["response"]["body"]["spec"]);
    assert_eq!(obj.get("extra"), None);
    assert_eq!(obj["metadata"], json!({"name": "unknown-default"}));
}

#[test]
fn pruning_keeps_object_meta_and_preserved_unknown_fields() {
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "byName": {"type": "object", "additionalProperties": {"type": "object", "properties": {"a": {"type": "string"}}}},
            "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {}}
        }}
    }});
    let mut obj = json!({
        "apiVersion": "x/v1", "kind": "K",
        "metadata": {"name": "n", "labels": {"a": "b"}, "colour": "red"},
        "spec": {
            "free": {"anything": {"goes": 1}},
            "byName": {"one": {"a": "x", "b": "y"}},
            "items": [{"n": "1", "m": "2"}],
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
        }
    });
    let pruned = prune(&schema, &mut obj);
    assert_eq!(
        pruned,
        vec![
            "metadata.colour",
            "spec.byName.one.b",
            "spec.items[0].m",
            "spec.template.spec"
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "x/v1", "kind": "K",
            "metadata": {"name": "n", "labels": {"a": "b"}},
            "spec": {
                "free": {"anything": {"goes": 1}},
                "byName": {"one": {"a": "x"}},
                "items": [{"n": "1"}],
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
            }
        })
    );
}

#[test]
fn defaults_fill_absent_fields_and_non_nullable_nulls() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "default": {}, "properties": {
        "replicas": {"type": "integer", "default": 1},
        "mode": {"type": "string", "default": "auto"},
        "note": {"type": "string"},
        "limits": {"type": "object", "properties": {"cpu": {"type": "string", "default": "1"}}},
        "ports": {"type": "array", "items": {"type": "object", "properties": {"protocol": {"type": "string", "default": "TCP"}}}}
    }}}});
    let mut obj =
        json!({"spec": {"mode": null, "note": null, "limits": {}, "ports": [{"port": 80}]}});
    apply_defaults(&schema, &mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"replicas": 1, "mode": "auto", "limits": {"cpu": "1"}, "ports": [{"port": 80, "protocol": "TCP"}]}})
    );
    let mut empty = json!({});
    apply_defaults(&schema, &mut empty);
    assert_eq!(empty, json!({"spec": {"replicas": 1, "mode": "auto"}}));
}

#[test]
fn string_number_array_and_format_checks() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 3, "maxLength": 5, "pattern": "^[a-z]+$"},
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "small": {"type": "integer", "format": "int32"},
        "ratio": {"type": "number", "minimum": 0, "exclusiveMaximum": true, "maximum": 1},
        "tags": {"type": "array", "maxItems": 2, "minItems": 1, "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "opt": {"type": "string", "nullable": true},
        "req": {"type": "string"}
    }}}});
    let bad = json!({"spec": {
        "name": "Ab", "at": "yesterday", "day": "2024-01-01", "small": 3_000_000_000u64,
        "ratio": 1, "tags": ["a", "b", "a"], "opt": null, "req": null
    }});
    let got: Vec<(String, String, String)> = validate(&schema, &bad)
        .into_iter()
        .map(|c| (c.field, c.reason, c.message))
        .collect();
    let want = [
        (
            "spec.at",
            "FieldValueTypeInvalid",
            r#"Invalid value: "yesterday": spec.at in body must be of type date-time: "yesterday""#,
        ),
        (
            "spec.name",
            "FieldValueInvalid",
            r#"Invalid value: "Ab": spec.name in body should be at least 3 chars long"#,
        ),
        (
            "spec.name",
            "FieldValueInvalid",
            r#"Invalid value: "Ab": spec.name in body should match '^[a-z]+$'"#,
        ),
        (
            "spec.ratio",
            "FieldValueInvalid",
            "Invalid value: 1: spec.ratio in body should be less than 1",
        ),
        (
            "spec.req",
            "FieldValueTypeInvalid",
            r#"Invalid value: "null": spec.req in body must be of type string: "null""#,
        ),
        (
            "spec.small",
            "FieldValueTypeInvalid",
            r#"Invalid value: 3000000000: spec.small in body must be of type int32: "3000000000""#,
        ),
        (
            "spec.tags",
            "FieldValueTooMany",
            "Too many: 3: must have at most 2 items",
        ),
        (
            "spec.tags[2]",
            "FieldValueDuplicate",
            r#"Duplicate value: "a""#,
        ),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(f, r, m)| ((*f).to_owned(), (*r).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(got, want);
    // No CEL rules in this schema: no "rules were not checked" cause.
    let long = json!({"spec": {"name": "abcdefg"}});
    assert_eq!(
        validate(&schema, &long),
        vec![SchemaCause {
            reason: "FieldValueTooLong".into(),
            field: "spec.name".into(),
            message: "Too long: may not be more than 5 bytes".into()
        }]
    );
}

#[test]
fn every_recorded_widget_create_and_replace_is_pruned_and_checked_as_kube_apiserver_did() {
    // 07 #7-#13 and 12 #1, #13, #14: what was accepted is stored pruned (the Warning
    // header lists the pruned fields) and passes; what was refused for its schema or
    // its CEL rules (07 #10) has the recorded causes.
    let schema = widget_schema();
    let mut checked = 0;
    for file in ["07-crd.json", "12-operator-patterns.json"] {
        let path = format!(
            "{}/tests/fixtures/apiserver-transcripts/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let all: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (index, e) in all.iter().enumerate() {
            let (req, resp) = (&e["request"], &e["response"]);
            let writes = matches!(req["method"].as_str(), Some("POST" | "PUT"));
            let path = req["path"].as_str().unwrap();
            // Strict decoding and /status (which ignores spec) are the server's concern.
            let widget =
                path.contains("/widgets") && !path.contains("Strict") && !path.ends_with("/status");
            if !writes || !widget {
                continue;
            }
            let mut obj = req["body"].clone();
            let pruned = prune(&schema, &mut obj);
            let causes = validate(&schema, &obj);
            let label = format!("{file} #{index}");
            match resp["status"].as_u64().unwrap() {
                200 | 201 => {
                    assert_eq!(causes, vec![], "{label}");
                    assert_eq!(obj["spec"], resp["body"]["spec"], "{label}");
                    let header: Vec<String> = pruned
                        .iter()
                        .map(|p| format!("299 - {:?}", format!("unknown field {p:?}")))
                        .collect();
                    let recorded = resp["warning_header"].as_str().unwrap_or("");
                    // fieldValidation=Ignore prunes without warning.
                    if !req["path"]
                        .as_str()
                        .unwrap()
                        .contains("fieldValidation=Ignore")
                    {
                        assert_eq!(header.join(", "), recorded, "{label}");
                    }
                }
                422 => assert_eq!(
                    causes_json(&causes),
                    resp["body"]["details"]["causes"],
                    "{label}"
                ),
                other => panic!("{label}: unexpected status {other}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 9);
}
