//! Create, and the checks every write shares (body decoding, kind, namespace, admission).
use super::crd;
use super::defaults;
use super::http::{Reply, Request};
use super::meta::{self, name_of, str_at};
use super::objects_glue::{self as glue, FieldValidation};
use super::openapi;
use super::resources::Resource;
use super::routes::Target;
use super::state::Inner;
use super::status::ApiError;
use super::store::ObjKey;
use crate::objects::duplicates::duplicate_fields;
use crate::objects::unknown_fields::unknown_fields;
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

pub fn field_validation(req: &Request) -> FieldValidation {
    match req.query.get("fieldValidation") {
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        _ => FieldValidation::Warn,
    }
}

pub fn dry_run(req: &Request) -> bool {
    req.query.get("dryRun") == Some("All")
}

/// The body must be this resource's kind (or carry no kind, as kube-apiserver fills it in).
pub fn check_kind(res: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ));
    }
    let kind = obj["kind"].as_str().unwrap_or("");
    if !kind.is_empty() && kind != res.kind {
        let internal = if res.group.is_empty() {
            "core"
        } else {
            res.group.as_str()
        };
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {want}: converting ({v}.{kind}) to ({internal}.{want}): unknown conversion",
            v = res.version,
            want = res.kind
        )));
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    if !api_version.is_empty() && api_version != res.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            res.api_version()
        )));
    }
    obj["kind"] = json!(res.kind);
    obj["apiVersion"] = json!(res.api_version());
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    Ok(())
}

pub fn check_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
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

/// Fields of a built-in kind its OpenAPI schema does not declare: a 400 under
/// `fieldValidation=Strict` (kube-apiserver's strict decoding error), else warnings.
/// Unlike kube-apiserver, which drops them, they are kept.
fn unknown_built_in_fields(
    res: &Resource,
    obj: &Value,
    fv: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    if res.is_custom() || fv == FieldValidation::Ignore {
        return Ok(vec![]);
    }
    let Some(schema) = openapi::built_in_kind(&res.group, &res.version, &res.kind) else {
        return Ok(vec![]);
    };
    let unknown: Vec<String> = unknown_fields(schema, openapi::components(), obj)
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    if fv == FieldValidation::Strict && !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            unknown.join(", "),
            kind = res.kind,
            v = res.version
        )));
    }
    Ok(unknown)
}

/// Defaults plus schema (custom) or built-in validation. Returns warnings.
pub fn admit(
    res: &Resource,
    obj: &mut Value,
    old: Option<&Value>,
    fv: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    meta::compact_metadata(obj);
    let mut warnings = unknown_built_in_fields(res, obj, fv)?;
    defaults::decode(res, obj)?;
    defaults::apply(res, obj);
    warnings.extend(glue::admit_custom(res, obj, old, fv)?);
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
    let duplicated = duplicates(&t.resource, req)?;
    with_warnings(create_object(inner, t, req, obj, true), duplicated)
}

/// Fields a JSON body gives twice: a 400 under `fieldValidation=Strict`
/// (kube-apiserver's strict decoding error), else warnings.
pub fn duplicates(res: &Resource, req: &Request) -> Result<Vec<String>, ApiError> {
    let fv = field_validation(req);
    if fv == FieldValidation::Ignore || !req.content_type.contains("json") {
        return Ok(vec![]);
    }
    let found: Vec<String> = duplicate_fields(&req.body)
        .iter()
        .map(|p| format!("duplicate field \"{p}\""))
        .collect();
    if fv == FieldValidation::Strict && !found.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            found.join(", "),
            kind = res.kind,
            v = res.version
        )));
    }
    Ok(found)
}

/// `reply` with `first` ahead of its own warnings.
pub fn with_warnings(
    reply: Result<Reply, ApiError>,
    first: Vec<String>,
) -> Result<Reply, ApiError> {
    let mut reply = reply?;
    if let Reply::Json { warnings, .. } = &mut reply {
        warnings.splice(0..0, first);
    }
    Ok(reply)
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
    let warnings = admit(&res, &mut obj, None, field_validation(req))?;
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
