//! Update (PUT) and the status/finalize subresources, and the commit every update and
//! patch ends in: preconditions, immutable metadata, generation, no-op detection.
use super::crd;
use super::http::{Reply, Request};
use super::meta::{finalizers, name_of, spec_part, str_at};
use super::objects_glue as glue;
use super::resources::Resource;
use super::routes::Target;
use super::scale;
use super::state::Inner;
use super::status::{ApiError, Cause};
use super::write::{
    admit, check_body_type, check_kind, check_namespace, dry_run, duplicates, field_validation,
    parse_object, with_warnings,
};
use serde_json::{Value, json};

pub fn update(inner: &mut Inner, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    check_body_type(req)?;
    let body = parse_object(&t.resource, &req.body)?;
    let duplicated = duplicates(&t.resource, req)?;
    with_warnings(replace(inner, t, req, body), duplicated)
}

fn replace(
    inner: &mut Inner,
    t: &Target,
    req: &Request,
    mut body: Value,
) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let url_name = t.name.clone().unwrap_or_default();
    if t.subresource.as_deref() == Some("scale") {
        return scale::update(inner, t, req, body);
    }
    check_kind(&res, &mut body)?;
    check_namespace(t, &mut body)?;
    let name = name_of(&body).to_string();
    if name != url_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        )));
    }
    let key = t.key(&name);
    let old = inner
        .store
        .get(&key)
        .map(|o| res.present(o))
        .ok_or_else(|| ApiError::not_found(&res, &name))?;
    let new = merge_subresource(&res, t.subresource.as_deref(), &old, body)?;
    let manager = req.manager();
    commit_update(inner, t, req, &old, new, &manager, true)
}

/// The object a write to `sub` produces: `/status` takes only status, the main resource
/// keeps the stored status (when status is a subresource).
pub fn merge_subresource(
    res: &Resource,
    sub: Option<&str>,
    old: &Value,
    mut new: Value,
) -> Result<Value, ApiError> {
    match sub {
        None => {
            if res.status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        new.as_object_mut().map(|o| o.remove("status"));
                    }
                }
            }
            Ok(new)
        }
        Some("status") if res.status => {
            let mut merged = old.clone();
            merged["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"].clone();
            if merged["metadata"]["resourceVersion"].is_null() {
                merged["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("resourceVersion"));
            }
            match new.get("status") {
                Some(s) => merged["status"] = s.clone(),
                None => {
                    merged.as_object_mut().map(|o| o.remove("status"));
                }
            }
            // Built-in status strategies (e.g. Deployments') reset only spec and labels:
            // kube-controller-manager writes the revision annotation through /status.
            if !res.is_custom()
                && let Some(a) = new["metadata"].get("annotations")
            {
                merged["metadata"]["annotations"] = a.clone();
            }
            Ok(merged)
        }
        Some("finalize") if res.plural == "namespaces" && !res.is_custom() => {
            let mut merged = old.clone();
            merged["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"].clone();
            merged["spec"]["finalizers"] = new["spec"]["finalizers"].clone();
            Ok(merged)
        }
        Some(_) => Err(ApiError::no_route()),
    }
}

/// What a no-op check compares: everything but the resourceVersion, and managedFields
/// only when `ownership` (an apply, whose ownership changes are real changes) without
/// their timestamps.
fn comparable(obj: &Value, ownership: bool) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        if !ownership {
            m.remove("managedFields");
        }
        for entry in m
            .get_mut("managedFields")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            entry.as_object_mut().map(|e| e.remove("time"));
        }
    }
    v
}

/// Checks preconditions, keeps immutable metadata, admits, bumps generation, records
/// managedFields and stores; a no-op answers the stored object unchanged.
pub fn commit_update(
    inner: &mut Inner,
    t: &Target,
    req: &Request,
    old: &Value,
    mut new: Value,
    manager: &str,
    record: bool,
) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let name = name_of(old).to_string();
    let old_rv = old["metadata"]["resourceVersion"].clone();
    match str_at(&new, &["metadata", "resourceVersion"]) {
        Some(rv) if !rv.is_empty() && Some(rv) != old_rv.as_str() => {
            if rv.parse::<u64>().is_err() {
                return Err(ApiError::internal(format!(
                    "Precondition failed: invalid resource version: {rv}"
                )));
            }
            return Err(ApiError::conflict(&res, &name));
        }
        _ => {}
    }
    if let (Some(u), Some(o)) = (
        str_at(&new, &["metadata", "uid"]),
        str_at(old, &["metadata", "uid"]),
    ) && !u.is_empty()
        && u != o
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {o}, UID in object meta: {u}", res.qualified_plural()),
        )
        .with_details(json!({"name": name, "kind": res.plural})));
    }
    let md = new["metadata"]
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old["metadata"].get(k) {
            Some(v) => md.insert(k.into(), v.clone()),
            None => md.remove(k),
        };
    }
    if !old["metadata"]["deletionTimestamp"].is_null() {
        let before = finalizers(old);
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
            let msg = format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                quoted.join(", ")
            );
            let cause = Cause::new("FieldValueForbidden", msg, Some("metadata.finalizers"));
            return Err(ApiError::invalid(&res, &name, vec![cause.clone(), cause]));
        }
    }
    if res.plural == "services" && !res.is_custom() {
        // An allocated cluster IP stays when an update leaves it out.
        for k in ["clusterIP", "clusterIPs"] {
            if new["spec"].get(k).is_none()
                && let Some(v) = old["spec"].get(k)
            {
                new["spec"][k] = v.clone();
            }
        }
    }
    if res.plural == "configmaps" || res.plural == "secrets" {
        check_immutable(&res, old, &new)?;
    }
    let warnings = admit(&res, &mut new, Some(old), field_validation(req))?;
    if (res.generation || res.is_custom()) && spec_part(&new) != spec_part(old) {
        new["metadata"]["generation"] =
            json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
    }
    if comparable(&new, !record) == comparable(old, !record) {
        return Ok(Reply::json_warn(200, old.clone(), warnings));
    }
    if record {
        glue::record_update(&res, Some(old), &mut new, manager, t.subresource.as_deref());
    }
    if dry_run(req) {
        return Ok(Reply::json_warn(200, new, warnings));
    }
    let key = t.key(&name);
    if !new["metadata"]["deletionTimestamp"].is_null() && finalizers(&new).is_empty() {
        // The last finalizer is gone: the object goes (its DELETED event carries the stored
        // state), and the answer is the update with the old version.
        inner.store.remove(&key);
        new["metadata"]["resourceVersion"] = old_rv;
        if res.group == "apiextensions.k8s.io" {
            crd::remove(inner, &new);
        }
        return Ok(Reply::json_warn(200, new, warnings));
    }
    let stored = inner.store.put(key, new);
    if res.group == "apiextensions.k8s.io" {
        crd::establish(inner, &stored);
    }
    Ok(Reply::json_warn(200, stored, warnings))
}

fn check_immutable(res: &Resource, old: &Value, new: &Value) -> Result<(), ApiError> {
    if old["immutable"] != json!(true) {
        return Ok(());
    }
    let mut causes = Vec::new();
    for field in ["data", "binaryData", "stringData"] {
        if old.get(field) != new.get(field) && field != "stringData" {
            causes.push(Cause::new(
                "FieldValueForbidden",
                "Forbidden: field is immutable when `immutable` is set",
                Some(field),
            ));
        }
    }
    if new["immutable"] != json!(true) {
        causes.push(Cause::new(
            "FieldValueForbidden",
            "Forbidden: field is immutable when `immutable` is set",
            Some("immutable"),
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(res, name_of(old), causes))
    }
}
