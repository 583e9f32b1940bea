//! Create, update (PUT) and patch, for main resources and the status and scale
//! subresources: the rules kube-apiserver applies on every write.
use super::crd;
use super::defaults;
use super::http::{Reply, Request};
use super::meta::{self, finalizers, name_of, spec_part, str_at};
use super::objects_glue::{self as glue, FieldValidation};
use super::resources::Resource;
use super::routes::Target;
use super::scale;
use super::state::Inner;
use super::status::{ApiError, Cause};
use super::store::ObjKey;
use serde_json::{Value, json};

/// Bodies must be JSON (or YAML for apply); a 415 makes client-go fall back from protobuf.
pub fn check_body_type(req: &Request) -> Result<(), ApiError> {
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    if ct.is_empty()
        || ct.ends_with("json")
        || ct == "application/apply-patch+yaml"
        || ct == "application/yaml"
    {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type())
    }
}

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

/// An object body for `res`; malformed JSON is a 400 naming the expected kind.
pub fn parse_object(res: &Resource, body: &[u8]) -> Result<Value, ApiError> {
    parse_json(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): {}",
            res.kind, e.message
        ))
    })
}

fn field_validation(req: &Request) -> FieldValidation {
    match req.query.get("fieldValidation") {
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        _ => FieldValidation::Warn,
    }
}

fn dry_run(req: &Request) -> bool {
    req.query.get("dryRun") == Some("All")
}

/// The body must be this resource's kind (or carry no kind, as kube-apiserver fills it in).
fn check_kind(res: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ));
    }
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
    if (!kind.is_empty() && kind != res.kind)
        || (!api_version.is_empty() && api_version != res.api_version())
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            res.api_version()
        ))
        .with_kind_mismatch(&kind, res));
    }
    obj["kind"] = json!(res.kind);
    obj["apiVersion"] = json!(res.api_version());
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    Ok(())
}

impl ApiError {
    fn with_kind_mismatch(self, kind: &str, res: &Resource) -> Self {
        if !kind.is_empty() && kind != res.kind {
            let internal = if res.group.is_empty() {
                "core"
            } else {
                res.group.as_str()
            };
            return ApiError::bad_request(format!(
                "{kind} in version \"{v}\" cannot be handled as a {want}: converting ({v}.{kind}) to ({internal}.{want}): unknown conversion",
                v = res.version,
                want = res.kind
            ));
        }
        self
    }
}

fn check_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    match (&t.namespace, str_at(obj, &["metadata", "namespace"])) {
        (Some(url), Some(body)) if !body.is_empty() && body != url => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(url), _) => {
            obj["metadata"]["namespace"] = json!(url);
            Ok(())
        }
        (None, _) => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            Ok(())
        }
    }
}

/// A namespaced write needs its namespace to exist and not be terminating.
fn check_namespace_open(inner: &Inner, t: &Target, name: &str) -> Result<(), ApiError> {
    let Some(ns) = &t.namespace else {
        return Ok(());
    };
    let key = ObjKey {
        group: String::new(),
        resource: "namespaces".into(),
        namespace: String::new(),
        name: ns.clone(),
    };
    match inner.store.get(&key) {
        None => Err(ApiError::namespace_not_found(ns)),
        Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => {
            let r = &t.resource;
            Err(ApiError::new(
                403,
                "Forbidden",
                format!("{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated", r.qualified_plural()),
            )
            .with_details(json!({"name": name, "kind": r.plural, "causes": [{"reason": "NamespaceTerminating",
                "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})))
        }
        Some(_) => Ok(()),
    }
}

/// Defaults plus schema (custom) or built-in validation. Returns warnings.
fn admit(res: &Resource, obj: &mut Value, fv: FieldValidation) -> Result<Vec<String>, ApiError> {
    meta::compact_metadata(obj);
    defaults::decode(res, obj)?;
    defaults::apply(res, obj);
    let warnings = glue::admit_custom(res, obj, fv)?;
    let causes = defaults::validate(res, obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(res, name_of(obj), causes));
    }
    if res.group == "apiextensions.k8s.io" {
        crd::validate(obj)?;
    }
    Ok(warnings)
}

pub fn create(inner: &mut Inner, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    check_body_type(req)?;
    let obj = parse_object(&t.resource, &req.body)?;
    create_object(inner, t, req, obj, true)
}

/// Stores a new object (`record` = record managedFields as an Update; SSA already did).
pub fn create_object(
    inner: &mut Inner,
    t: &Target,
    req: &Request,
    mut obj: Value,
    record: bool,
) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    check_kind(&res, &mut obj)?;
    check_namespace(t, &mut obj)?;
    let md = &mut obj["metadata"];
    if str_at(md, &["name"]).is_none_or(str::is_empty)
        && let Some(prefix) = md["generateName"].as_str().filter(|p| !p.is_empty())
    {
        md["name"] = json!(format!("{prefix}{}", meta::name_suffix()));
    }
    let name = name_of(&obj).to_string();
    if let Some(url_name) = &t.name
        && *url_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        )));
    }
    if let Some(cause) = meta::validate_name(&name, res.plural == "namespaces") {
        return Err(ApiError::invalid(&res, &name, vec![cause]));
    }
    check_namespace_open(inner, t, &name)?;
    let key = t.key(&name);
    if inner.store.get(&key).is_some() {
        return Err(ApiError::already_exists(&res, &name));
    }
    let md = obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object");
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        md.remove(k);
    }
    md.insert("uid".into(), json!(meta::new_uid()));
    md.insert("creationTimestamp".into(), json!(meta::now()));
    if res.generation || res.is_custom() {
        md.insert("generation".into(), json!(1));
    }
    if res.status {
        if res.is_custom() {
            obj.as_object_mut().map(|o| o.remove("status"));
        } else if res.group == "apps" {
            obj["status"] = json!({});
        }
    }
    if res.group == "apiextensions.k8s.io" {
        crd::initial_status(&mut obj);
    }
    let warnings = admit(&res, &mut obj, field_validation(req))?;
    if record {
        glue::record_update(&res, None, &mut obj, &req.manager(), None);
    }
    if dry_run(req) {
        return Ok(Reply::json_warn(201, obj, warnings));
    }
    let stored = inner.store.put(key, obj);
    if res.group == "apiextensions.k8s.io" {
        crd::establish(inner, &stored);
    }
    Ok(Reply::json_warn(201, stored, warnings))
}

pub fn update(inner: &mut Inner, t: &Target, req: &Request) -> Result<Reply, ApiError> {
    let res = t.resource.clone();
    let url_name = t.name.clone().unwrap_or_default();
    check_body_type(req)?;
    let mut body = parse_object(&res, &req.body)?;
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

fn strip_volatile(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("resourceVersion");
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
    if res.plural == "configmaps" || res.plural == "secrets" {
        check_immutable(&res, old, &new)?;
    }
    let warnings = admit(&res, &mut new, field_validation(req))?;
    if (res.generation || res.is_custom()) && spec_part(&new) != spec_part(old) {
        new["metadata"]["generation"] =
            json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
    }
    let mut candidate = new.clone();
    candidate["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
    if strip_volatile(&candidate) == strip_volatile(old) {
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
        // The last finalizer is gone: the object goes, and the answer keeps the old version.
        inner.store.remove_as(&key, new.clone());
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
