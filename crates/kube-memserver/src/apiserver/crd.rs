//! CustomResourceDefinitions: a created CRD becomes Established and its kinds are served,
//! with the status and scale subresources, printer columns and schema it declares.
use super::meta::{self, name_of};
use super::resources::{CustomInfo, PrinterColumn, Resource, ScalePaths};
use super::state::Inner;
use super::status::{ApiError, Cause};
use super::store::ObjKey;
use serde_json::{Value, json};

fn storage_version(crd: &Value) -> Option<String> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .map(String::from)
}

/// The status kube-apiserver answers on create, before the CRD controllers have run.
pub fn initial_status(crd: &mut Value) {
    crd["status"] = json!({"conditions": null, "acceptedNames": {"plural": "", "kind": ""},
        "storedVersions": storage_version(crd).into_iter().collect::<Vec<_>>()});
}

/// The structural checks a CRD itself must pass.
pub fn validate(crd: &Value) -> Result<(), ApiError> {
    let name = name_of(crd);
    let spec = &crd["spec"];
    let mut causes = Vec::new();
    let group = spec["group"].as_str().unwrap_or("");
    let plural = spec["names"]["plural"].as_str().unwrap_or("");
    if group.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "Required value",
            Some("spec.group"),
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "Required value",
            Some("spec.names.plural"),
        ));
    }
    if spec["names"]["kind"].as_str().unwrap_or("").is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "Required value",
            Some("spec.names.kind"),
        ));
    }
    if !matches!(spec["scope"].as_str(), Some("Namespaced" | "Cluster")) {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "Unsupported value: \"\": supported values: \"Cluster\", \"Namespaced\"",
            Some("spec.scope"),
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::new(
            "FieldValueInvalid",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            Some("metadata.name"),
        ));
    }
    let storage = spec["versions"]
        .as_array()
        .map(|vs| vs.iter().filter(|v| v["storage"] == true).count())
        .unwrap_or(0);
    if storage != 1 {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "Invalid value: must have exactly one version marked as storage version",
            Some("spec.versions"),
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_kind(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            causes,
        ))
    }
}

/// Kubernetes' version priority (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other): the
/// first served version is the group's preferred one.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let minor = |p: &str| tail.strip_prefix(p).and_then(|m| m.parse::<u32>().ok());
    match (tail, minor("beta"), minor("alpha")) {
        ("", _, _) => (3, major, 0),
        (_, Some(m), _) => (2, major, m),
        (_, _, Some(m)) => (1, major, m),
        _ => (0, 0, 0),
    }
}

fn resources_of(crd: &Value) -> Vec<Resource> {
    let mut resources = served_resources(crd);
    resources.sort_by_key(|r| std::cmp::Reverse(version_priority(&r.version)));
    resources
}

fn served_resources(crd: &Value) -> Vec<Resource> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let str_list = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = names["kind"].as_str().unwrap_or("").to_string();
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] == true)
        .map(|v| {
            let scale = &v["subresources"]["scale"];
            let columns = v["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| PrinterColumn {
                    name: c["name"].as_str().unwrap_or("").into(),
                    type_: c["type"].as_str().unwrap_or("string").into(),
                    format: c["format"].as_str().unwrap_or("").into(),
                    json_path: c["jsonPath"].as_str().unwrap_or("").into(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                    description: c["description"].as_str().map(String::from),
                })
                .collect();
            Resource {
                group: spec["group"].as_str().unwrap_or("").into(),
                version: v["name"].as_str().unwrap_or("").into(),
                plural: names["plural"].as_str().unwrap_or("").into(),
                singular: names["singular"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or(kind.to_lowercase()),
                kind: kind.clone(),
                namespaced: spec["scope"] == "Namespaced",
                short_names: str_list(&names["shortNames"]),
                categories: str_list(&names["categories"]),
                status: v["subresources"].get("status").is_some(),
                scale: scale.is_object().then(|| ScalePaths {
                    spec_replicas: scale["specReplicasPath"]
                        .as_str()
                        .unwrap_or(".spec.replicas")
                        .trim_start_matches('.')
                        .into(),
                    status_replicas: scale["statusReplicasPath"]
                        .as_str()
                        .unwrap_or(".status.replicas")
                        .trim_start_matches('.')
                        .into(),
                    label_selector: scale["labelSelectorPath"]
                        .as_str()
                        .map(|p| p.trim_start_matches('.').to_string()),
                }),
                generation: true,
                review: false,
                custom: Some(CustomInfo {
                    crd: name_of(crd).to_string(),
                    schema: v["schema"].get("openAPIV3Schema").cloned(),
                    columns,
                }),
            }
        })
        .collect()
}

fn condition(type_: &str, reason: &str, message: &str, old: &Value) -> Value {
    let since = old["conditions"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == type_ && c["status"] == "True")
        })
        .map(|c| c["lastTransitionTime"].clone())
        .unwrap_or(json!(meta::now()));
    json!({"type": type_, "status": "True", "lastTransitionTime": since, "reason": reason, "message": message})
}

/// Serves the CRD's kinds and records that as its status (NamesAccepted, Established).
pub fn establish(inner: &mut Inner, crd: &Value) {
    if !crd["metadata"]["deletionTimestamp"].is_null() {
        return;
    }
    let name = name_of(crd).to_string();
    inner.registry.set_custom(&name, resources_of(crd));
    let old = &crd["status"];
    let mut accepted = crd["spec"]["names"].clone();
    let kind = accepted["kind"].as_str().unwrap_or("").to_string();
    if accepted["listKind"].is_null() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    if accepted["singular"].is_null() {
        accepted["singular"] = json!(kind.to_lowercase());
    }
    let mut stored: Vec<Value> = old["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(v) = storage_version(crd).map(Value::from)
        && !stored.contains(&v)
    {
        stored.push(v);
    }
    let status = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found", old),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted", old),
        ],
        "acceptedNames": accepted,
        "storedVersions": stored,
    });
    if *old != status {
        let mut new = crd.clone();
        new["status"] = status;
        let key = ObjKey {
            group: "apiextensions.k8s.io".into(),
            resource: "customresourcedefinitions".into(),
            namespace: String::new(),
            name,
        };
        inner.store.put(key, new);
    }
}

/// Stops serving a deleted CRD's kinds and deletes their objects.
pub fn remove(inner: &mut Inner, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or("").to_string();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or("")
        .to_string();
    inner.registry.remove_custom(name_of(crd));
    let keys: Vec<ObjKey> = inner
        .store
        .list(&group, &plural, None)
        .into_iter()
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        inner.store.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::version_priority;

    #[test]
    fn versions_sort_as_kubernetes_prefers_them() {
        let mut vs = vec!["v1alpha1", "v1beta1", "v1", "v2beta1", "v2", "foo"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(vs, ["v2", "v1", "v2beta1", "v1beta1", "v1alpha1", "foo"]);
    }
}
