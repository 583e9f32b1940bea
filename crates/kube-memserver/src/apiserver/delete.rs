//! DELETE and deletecollection: finalizers and `deletionTimestamp`, propagation policies
//! (the garbage collector in `gc` does the rest), preconditions, dryRun.
use super::crd;
use super::http::{Reply, Request};
use super::meta::{self, finalizers, name_of};
use super::read;
use super::resources::Resource;
use super::routes::Target;
use super::state::Inner;
use super::status::{ApiError, deleted_status};
use super::store::ObjKey;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

struct Options {
    propagation: Propagation,
    dry_run: bool,
    rv: Option<String>,
    uid: Option<String>,
}

fn options(req: &Request) -> Result<Options, ApiError> {
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        super::write::parse_json(&req.body)?
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .map(String::from)
        .or(req.query.get("propagationPolicy").map(String::from));
    let orphan =
        body["orphanDependents"].as_bool() == Some(true) || req.query.flag("orphanDependents");
    let propagation = match policy.as_deref() {
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some("Background") | None if !orphan => Propagation::Background,
        None => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    };
    let dry_run = body["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "All"))
        || req.query.get("dryRun") == Some("All");
    Ok(Options {
        propagation,
        dry_run,
        rv: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
        uid: body["preconditions"]["uid"].as_str().map(String::from),
    })
}

pub fn delete(inner: &mut Inner, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let name = t.name.clone().unwrap_or_default();
    let opts = options(req)?;
    let key = t.key(&name);
    let old = inner
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(&res, &name))?;
    for (what, wanted, actual) in [
        (
            "ResourceVersion",
            &opts.rv,
            &old["metadata"]["resourceVersion"],
        ),
        ("UID", &opts.uid, &old["metadata"]["uid"]),
    ] {
        if let Some(w) = wanted
            && Some(w.as_str()) != actual.as_str()
        {
            return Err(ApiError::precondition_conflict(
                &res,
                &name,
                what,
                w,
                actual.as_str().unwrap_or(""),
            ));
        }
    }
    let body = delete_object(inner, &res, &key, &old, opts.propagation, opts.dry_run);
    Ok(Reply::json(200, body))
}

/// Deletes one object (or marks it terminating while finalizers hold it). Returns the
/// answer body: the object while it stays, a Success Status once it is gone.
pub fn delete_object(
    inner: &mut Inner,
    res: &Resource,
    key: &ObjKey,
    old: &Value,
    propagation: Propagation,
    dry_run: bool,
) -> Value {
    let name = name_of(old).to_string();
    let mut fins = finalizers(old);
    let terminating = !old["metadata"]["deletionTimestamp"].is_null();
    if res.plural == "namespaces" && !res.is_custom() {
        if terminating || dry_run {
            return old.clone();
        }
        let mut ns = old.clone();
        ns["metadata"]["deletionTimestamp"] = json!(meta::now());
        ns["status"]["phase"] = json!("Terminating");
        return inner.store.put(key.clone(), ns);
    }
    if !terminating {
        match propagation {
            Propagation::Foreground if !fins.iter().any(|f| f == FOREGROUND) => {
                fins.push(FOREGROUND.into())
            }
            Propagation::Orphan if !fins.iter().any(|f| f == ORPHAN) => fins.push(ORPHAN.into()),
            _ => {}
        }
    }
    if !fins.is_empty() {
        if terminating {
            return old.clone();
        }
        let mut new = old.clone();
        new["metadata"]["deletionTimestamp"] = json!(meta::now());
        new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        new["metadata"]["finalizers"] = json!(fins);
        if res.is_custom() {
            new["metadata"]["generation"] =
                json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
        }
        if dry_run {
            return new;
        }
        return inner.store.put(key.clone(), new);
    }
    let status = deleted_status(res, &name, &old["metadata"]["uid"]);
    if !dry_run {
        inner.store.remove(key);
        if res.group == "apiextensions.k8s.io" {
            crd::remove(inner, old);
        }
    }
    status
}

/// DELETE on a collection: deletes every object the selectors match and answers the
/// List of what was deleted.
pub fn delete_collection(inner: &mut Inner, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let opts = options(req)?;
    let (label, field) = read::selectors(req)?;
    let matching: Vec<(ObjKey, Value)> = inner
        .store
        .list(&res.group, &res.plural, t.namespace.as_deref())
        .into_iter()
        .filter(|(_, o)| label.matches(o) && field.matches(o))
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect();
    let mut deleted = Vec::new();
    for (key, obj) in matching {
        delete_object(inner, &res, &key, &obj, opts.propagation, opts.dry_run);
        deleted.push(obj);
    }
    let rv = inner.store.current_rv();
    Ok(Reply::json(
        200,
        read::list_body(&res, deleted, rv, None, None),
    ))
}
