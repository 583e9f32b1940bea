//! GET and list: one object, the status and scale views, lists with label and field
//! selectors, `limit`/`continue`, resourceVersion semantics, and the Table and
//! PartialObjectMetadata renderings clients ask for with `Accept`.
use super::http::{Reply, Request};
use super::resources::Resource;
use super::routes::Target;
use super::scale;
use super::selectors::{FieldSelector, LabelSelector};
use super::state::Shared;
use super::status::{ApiError, Cause};
use super::store::{TooOld, view};
use super::table;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::Duration;

/// What shape the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    Full,
    Table,
    Metadata,
}

pub fn rendering(accept: &str) -> Rendering {
    let first = accept.split(',').next().unwrap_or("");
    if first.contains("as=Table") {
        Rendering::Table
    } else if first.contains("as=PartialObjectMetadata") {
        Rendering::Metadata
    } else {
        Rendering::Full
    }
}

pub fn selectors(req: &Request) -> Result<(LabelSelector, FieldSelector), ApiError> {
    Ok((
        LabelSelector::parse(req.query.get("labelSelector").unwrap_or(""))?,
        FieldSelector::parse(req.query.get("fieldSelector").unwrap_or(""))?,
    ))
}

pub fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
}

pub fn get(shared: &Shared, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    let res = &t.resource;
    let name = t.name.clone().unwrap_or_default();
    parse_rv(req)?;
    let inner = shared.lock();
    let obj = inner
        .store
        .get(&t.key(&name))
        .map(|o| res.present(o))
        .ok_or_else(|| ApiError::not_found(res, &name))?;
    let body = match t.subresource.as_deref() {
        Some("scale") => scale::view(res, &obj)?,
        Some("status") if res.status => obj,
        Some(_) => return Err(ApiError::no_route()),
        None => match rendering(&req.accept) {
            Rendering::Table => table::table(res, &[obj], inner.store.current_rv(), None, req),
            Rendering::Metadata => partial(&obj),
            Rendering::Full => obj,
        },
    };
    Ok(Reply::json(200, body))
}

/// `resourceVersion` as a number; kube-apiserver answers a non-numeric one with a 500.
pub fn parse_rv(req: &Request) -> Result<Option<u64>, ApiError> {
    match req.query.get("resourceVersion") {
        None => Ok(None),
        Some(rv) => rv
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::new(500, "", format!("resourceVersion: Invalid value: \"{rv}\": strconv.ParseUint: parsing \"{rv}\": invalid syntax"))),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    v: String,
    rv: u64,
    start: String,
}

fn decode_continue(token: &str) -> Result<Continue, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| {
            ApiError::bad_request(format!(
                "invalid continue token: continue key is not valid: {e}"
            ))
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: {e}"
        ))
    })
}

fn too_old_list(_: TooOld) -> ApiError {
    ApiError::expired("The resourceVersion for the provided list is too old.")
}

pub async fn list(shared: &Shared, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let rv = parse_rv(req)?;
    let rv_match = req.query.get("resourceVersionMatch");
    if rv_match.is_some() && rv.is_none() {
        let cause = Cause::new(
            "FieldValueForbidden",
            "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            Some("resourceVersionMatch"),
        );
        let mut e = ApiError::invalid_kind("ListOptions", "meta.k8s.io", "", vec![cause]);
        if let Some(d) = e.details.as_mut().and_then(Value::as_object_mut) {
            d.remove("name");
        }
        return Err(e);
    }
    if let Some(want) = rv.filter(|rv| *rv > 0) {
        // A list at a version the server has not reached waits for it, then times out.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while shared.lock().store.current_rv() < want {
            if tokio::time::Instant::now() >= deadline {
                let current = shared.lock().store.current_rv();
                return Err(ApiError::new(504, "Timeout", format!("Timeout: Too large resource version: {want}, current: {current}"))
                    .with_details(json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1})));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (label, field) = selectors(req)?;
    let limit = req
        .query
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let cont = req.query.get("continue").map(decode_continue).transpose()?;
    let inner = shared.lock();
    let ns = t.namespace.as_deref();
    let exact = match (&cont, rv) {
        (Some(c), _) => Some(c.rv),
        (None, Some(rv))
            if rv > 0 && (rv_match == Some("Exact") || (rv_match.is_none() && limit.is_some())) =>
        {
            Some(rv)
        }
        _ => None,
    };
    let (list_rv, stored) = match exact {
        Some(rv) => (
            rv,
            inner
                .store
                .stored_at(&res.group, &res.plural, ns, Some(rv))
                .map_err(too_old_list)?,
        ),
        None => (
            inner.store.current_rv(),
            inner
                .store
                .stored_at(&res.group, &res.plural, ns, None)
                .expect("the current state is always there"),
        ),
    };
    let start = cont.as_ref().map(|c| c.start.clone());
    let key_of = |o: &Value| {
        format!(
            "{}/{}",
            o["metadata"]["namespace"].as_str().unwrap_or(""),
            o["metadata"]["name"].as_str().unwrap_or("")
        )
    };
    // Objects are cloned (and converted for this API) only once they are answered: a
    // page of a large list must not cost a copy of every object after it. Storage and
    // API forms share metadata, so the continue key reads the stored object.
    let mut rest = stored.into_iter().filter(|o| {
        start
            .as_ref()
            .is_none_or(|s| key_of(o).as_str() >= s.as_str())
    });
    let mut items: Vec<Value> = Vec::new();
    for o in rest.by_ref() {
        // Labels are metadata, the same in both forms: a label-selected list (a
        // controller's pods among thousands) copies only the objects it selects.
        if !label.matches(o) {
            continue;
        }
        let o = res.present(view(&res.group, &res.plural, o.clone()));
        if field.matches(&o) {
            items.push(o);
            if limit.is_some_and(|limit| items.len() > limit) {
                break;
            }
        }
    }
    let (mut next, mut remaining) = (None, None);
    if let Some(limit) = limit
        && items.len() > limit
    {
        items.truncate(limit);
        let last = key_of(items.last().expect("limit > 0"));
        let token = Continue {
            v: "meta.k8s.io/v1".into(),
            rv: list_rv,
            start: format!("{last}\u{0}"),
        };
        next = Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("serializable")));
        if req.query.get("labelSelector").is_none() && req.query.get("fieldSelector").is_none() {
            // No selector: every object after the page counts, and none needs a copy.
            remaining = Some(1 + rest.count());
        }
    }
    let body = match rendering(&req.accept) {
        Rendering::Table => table::table(&res, &items, list_rv, next, req),
        Rendering::Metadata => {
            let metas: Vec<Value> = items.iter().map(partial).collect();
            let mut b = list_meta(list_rv, next, remaining);
            b["kind"] = json!("PartialObjectMetadataList");
            b["apiVersion"] = json!("meta.k8s.io/v1");
            b["items"] = if metas.is_empty() {
                Value::Null
            } else {
                json!(metas)
            };
            b
        }
        Rendering::Full => list_body(&res, items, list_rv, next, remaining),
    };
    Ok(Reply::json(200, body))
}

fn list_meta(rv: u64, next: Option<String>, remaining: Option<usize>) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = next {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    json!({"metadata": metadata})
}

/// A `<Kind>List`; items of built-in kinds carry no kind/apiVersion, as typed lists don't.
pub fn list_body(
    res: &Resource,
    items: Vec<Value>,
    rv: u64,
    next: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if !res.is_custom()
                && let Some(m) = o.as_object_mut()
            {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    // Lists of custom resources are encoded unstructured: an empty `continue` stays.
    let next = next.or_else(|| res.is_custom().then(String::new));
    let mut b = list_meta(rv, next, remaining);
    let m = b.as_object_mut().expect("object");
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), json!(res.list_kind()));
    out.insert("apiVersion".into(), json!(res.api_version()));
    out.insert("metadata".into(), m.remove("metadata").expect("metadata"));
    out.insert("items".into(), json!(items));
    Value::Object(out)
}
