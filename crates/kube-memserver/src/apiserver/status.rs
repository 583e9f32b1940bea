//! Kubernetes `Status` objects: every error the server answers, shaped as kube-apiserver
//! shapes them (`details.kind` is the plural resource for NotFound/AlreadyExists/Conflict,
//! the Kind for Invalid).
use super::resources::Resource;
use serde_json::{Value, json};

/// One `details.causes[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: Option<String>,
}

impl Cause {
    pub fn new(reason: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        Cause {
            reason: reason.into(),
            message: message.into(),
            field: field.map(String::from),
        }
    }
    fn to_json(&self) -> Value {
        let mut v = json!({"reason": self.reason, "message": self.message});
        if let Some(f) = &self.field {
            v["field"] = json!(f);
        }
        v
    }
}

/// An error answer: HTTP code plus the `Status` body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
        }
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    pub fn to_status(&self) -> Value {
        let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code});
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        if self.reason.is_empty() {
            v.as_object_mut().map(|o| o.remove("reason"));
        }
        v
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }
    /// A path that names no served resource.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }
    pub fn not_found(r: &Resource, name: &str) -> Self {
        Self::named(
            404,
            "NotFound",
            r,
            name,
            format!("{} \"{name}\" not found", r.qualified_plural()),
        )
    }
    pub fn namespace_not_found(ns: &str) -> Self {
        Self::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({"name": ns, "kind": "namespaces"}))
    }
    pub fn already_exists(r: &Resource, name: &str) -> Self {
        Self::named(
            409,
            "AlreadyExists",
            r,
            name,
            format!("{} \"{name}\" already exists", r.qualified_plural()),
        )
    }
    pub fn conflict(r: &Resource, name: &str) -> Self {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            r.qualified_plural()
        );
        Self::named(409, "Conflict", r, name, msg)
    }
    /// A failed delete precondition: here kube-apiserver names the Kind, not the resource.
    pub fn precondition_conflict(
        r: &Resource,
        name: &str,
        what: &str,
        wanted: &str,
        actual: &str,
    ) -> Self {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the {what} in the precondition ({wanted}) does not match the {what} in record ({actual}). The object might have been modified",
            r.kind
        );
        let mut details = json!({"name": name, "kind": r.kind});
        if !r.group.is_empty() {
            details["group"] = json!(r.group);
        }
        Self::new(409, "Conflict", msg).with_details(details)
    }
    fn named(code: u16, reason: &str, r: &Resource, name: &str, message: String) -> Self {
        let mut details = json!({"name": name, "kind": r.plural});
        if !r.group.is_empty() {
            details["group"] = json!(r.group);
        }
        Self::new(code, reason, message).with_details(details)
    }
    /// 422 with one cause per field; the message lists them as kube-apiserver does.
    pub fn invalid(r: &Resource, name: &str, causes: Vec<Cause>) -> Self {
        // events.k8s.io Events are validated as the internal core Event: no group.
        let group = if r.group == "events.k8s.io" {
            ""
        } else {
            r.group.as_str()
        };
        Self::invalid_kind(&r.kind, group, name, causes)
    }
    pub fn invalid_kind(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut parts: Vec<String> = causes
            .iter()
            .map(|c| match &c.field {
                Some(f) => format!("{f}: {}", c.message),
                None => c.message.clone(),
            })
            .collect();
        // kube-apiserver lists a repeated cause once in the message (but twice in causes).
        let mut seen = std::collections::HashSet::new();
        parts.retain(|p| seen.insert(p.clone()));
        let listed = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let message = format!("{qualified} \"{name}\" is invalid: {listed}");
        let mut details = json!({"name": name, "kind": kind, "causes": causes.iter().map(Cause::to_json).collect::<Vec<_>>()});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(422, "Invalid", message).with_details(details)
    }
    /// The generic 422 of a patch that cannot be applied (a failing JSON patch `test`).
    pub fn unprocessable_patch() -> Self {
        Self::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        )
        .with_details(json!({}))
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(415, "UnsupportedMediaType", "415: Unsupported Media Type")
            .with_details(json!({}))
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }
}

/// `Status` Success for a deleted object.
pub fn deleted_status(r: &Resource, name: &str, uid: &Value) -> Value {
    let mut details = json!({"name": name, "kind": r.plural, "uid": uid});
    if !r.group.is_empty() {
        details["group"] = json!(r.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
