//! The scale subresource (`autoscaling/v1` Scale) of Deployments, ReplicaSets and custom
//! resources whose CRD declares one.
use super::http::{Reply, Request};
use super::meta::{dotted, set_dotted};
use super::resources::Resource;
use super::routes::Target;
use super::selectors::LabelSelector;
use super::state::Inner;
use super::status::ApiError;
use super::update::commit_update;
use serde_json::{Value, json};

/// The Scale object of `obj`; 404 when the resource has no scale subresource.
pub fn view(res: &Resource, obj: &Value) -> Result<Value, ApiError> {
    let paths = res
        .scale
        .as_ref()
        .ok_or_else(|| ApiError::not_found(res, super::meta::name_of(obj)))?;
    let md = &obj["metadata"];
    let mut metadata = json!({});
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if !md[k].is_null() {
            metadata[k] = md[k].clone();
        }
    }
    let selector = if res.is_custom() {
        paths
            .label_selector
            .as_deref()
            .and_then(|p| dotted(obj, p))
            .cloned()
    } else {
        obj["spec"]
            .get("selector")
            .map(|s| json!(LabelSelector::from_object(s).to_query()))
    };
    let mut status =
        json!({"replicas": dotted(obj, &paths.status_replicas).cloned().unwrap_or(json!(0))});
    if let Some(s) = selector.filter(|s| !s.is_null()) {
        status["selector"] = s;
    }
    let spec = match dotted(obj, &paths.spec_replicas) {
        Some(r) => json!({"replicas": r}),
        None => json!({}),
    };
    Ok(
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata, "spec": spec, "status": status}),
    )
}

/// PUT (or the result of a PATCH) of a Scale: writes `spec.replicas` of the object.
pub fn update(
    inner: &mut Inner,
    t: &Target,
    req: &Request,
    scale: Value,
) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let name = t.name.clone().unwrap_or_default();
    let paths = res
        .scale
        .clone()
        .ok_or_else(|| ApiError::not_found(&res, &name))?;
    let old = inner
        .store
        .get(&t.key(&name))
        .ok_or_else(|| ApiError::not_found(&res, &name))?;
    let mut new = old.clone();
    if let Some(rv) = scale["metadata"]["resourceVersion"]
        .as_str()
        .filter(|rv| !rv.is_empty())
    {
        new["metadata"]["resourceVersion"] = json!(rv);
    }
    let replicas = scale["spec"]["replicas"].clone();
    set_dotted(
        &mut new,
        &paths.spec_replicas,
        if replicas.is_null() {
            json!(0)
        } else {
            replicas
        },
    );
    match commit_update(inner, t, req, &old, new, &req.manager(), true)? {
        Reply::Json {
            code,
            body,
            warnings,
        } => Ok(Reply::Json {
            code,
            body: view(&res, &body)?,
            warnings,
        }),
        other => Ok(other),
    }
}
