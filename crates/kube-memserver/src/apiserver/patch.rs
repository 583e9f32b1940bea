//! PATCH: JSON merge patch, JSON patch, strategic merge patch and server-side apply.
use super::http::{Reply, Request};
use super::objects_glue as glue;
use super::routes::Target;
use super::scale;
use super::state::Inner;
use super::status::{ApiError, Cause};
use super::update::{commit_update, merge_subresource};
use super::write::{self, parse_json};
use serde_json::{Value, json};

const APPLY: &str = "application/apply-patch+yaml";

pub fn patch(inner: &mut Inner, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let name = t.name.clone().unwrap_or_default();
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let is_apply = ct == APPLY;
    if is_apply && req.query.get("fieldManager").is_none() {
        let cause = Cause::new(
            "FieldValueRequired",
            "Required value: is required for apply patch",
            Some("fieldManager"),
        );
        let mut e = ApiError::invalid_kind("PatchOptions", "meta.k8s.io", "", vec![cause]);
        if let Some(d) = e.details.as_mut().and_then(Value::as_object_mut) {
            d.remove("name");
        }
        return Err(e);
    }
    let old = inner.store.get(&t.key(&name)).map(|o| res.present(o));
    if t.subresource.as_deref() == Some("scale") {
        let old = old.ok_or_else(|| ApiError::not_found(&res, &name))?;
        let current = scale::view(&res, &old)?;
        let patched = apply_patch(&ct, &current, &req.body, &res)?;
        return scale::update(inner, t, req, patched);
    }
    if is_apply {
        let mut applied = parse_apply_body(&req.body)?;
        // Status applied to the main resource of a kind with a status subresource is
        // ignored, as kube-apiserver's strategy resets it (and owns none of it).
        if t.subresource.is_none()
            && res.status
            && let Some(o) = applied.as_object_mut()
        {
            o.remove("status");
        }
        let manager = req
            .query
            .get("fieldManager")
            .unwrap_or_default()
            .to_string();
        let force = req.query.flag("force");
        let sub = t.subresource.as_deref();
        if sub.is_some() && old.is_none() {
            // Applying a subresource does not create the object.
            return Err(ApiError::not_found(&res, &name));
        }
        let result = glue::server_side_apply(&res, old.as_ref(), &applied, &manager, sub, force)?;
        return match old {
            None => write::create_object(inner, t, req, result, false),
            Some(old) => {
                let fields = result["metadata"]["managedFields"].clone();
                let mut new = merge_subresource(&res, sub, &old, result)?;
                // The ownership apply computed holds for a subresource write too.
                new["metadata"]["managedFields"] = fields;
                commit_update(inner, t, req, &old, new, &manager, false)
            }
        };
    }
    let old = old.ok_or_else(|| ApiError::not_found(&res, &name))?;
    let patched = apply_patch(&ct, &old, &req.body, &res)?;
    let new = merge_subresource(&res, t.subresource.as_deref(), &old, patched)?;
    commit_update(inner, t, req, &old, new, &req.manager(), true)
}

/// The document a patch of media type `ct` makes of `original`.
fn apply_patch(
    ct: &str,
    original: &Value,
    body: &[u8],
    res: &super::resources::Resource,
) -> Result<Value, ApiError> {
    let mut doc = original.clone();
    match ct {
        "application/merge-patch+json" => {
            let p = parse_json(body)?;
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        "application/json-patch+json" => {
            let mut ops = parse_json(body)?;
            // As kube-apiserver's JSON patch library: `test` of null passes on a missing path.
            if let Some(list) = ops.as_array_mut() {
                list.retain(|op| {
                    !(op["op"] == "test"
                        && op["value"].is_null()
                        && op["path"]
                            .as_str()
                            .is_some_and(|p| doc.pointer(p).is_none()))
                });
            }
            let p: json_patch::Patch = serde_json::from_value(ops).map_err(|e| {
                ApiError::bad_request(format!("json: cannot unmarshal the patch: {e}"))
            })?;
            json_patch::patch(&mut doc, &p).map_err(|_| ApiError::unprocessable_patch())?;
            Ok(doc)
        }
        "application/strategic-merge-patch+json" => {
            let p = parse_json(body)?;
            glue::strategic_merge(res, original, &p)
        }
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// An apply body is YAML (JSON is YAML too).
fn parse_apply_body(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    let v: Value = serde_saphyr::from_str(text).map_err(|e| {
        ApiError::bad_request(format!(
            "error decoding YAML: error converting YAML to JSON: {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the apply body is not an object",
        ));
    }
    Ok(json!(v))
}
