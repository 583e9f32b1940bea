//! SelfSubjectAccessReview, SelfSubjectRulesReview and SelfSubjectReview (`kubectl auth
//! can-i [--list]`, `kubectl auth whoami`): this server authenticates nobody and allows
//! everything, and says so.
use super::http::{Reply, Request};
use super::meta::now;
use super::routes::Target;
use super::status::ApiError;
use super::write::{check_body_type, parse_object};
use serde_json::json;

/// The reason every access review gives.
pub const NO_AUTHORIZATION: &str =
    "this local API server has no authorization: every request is allowed";

pub fn create(t: &Target, req: &Request) -> Result<Reply, ApiError> {
    check_body_type(req)?;
    let res = &t.resource;
    let body = parse_object(res, &req.body)?;
    let answer = match res.plural.as_str() {
        "selfsubjectaccessreviews" => {
            json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {},
            "spec": body["spec"], "status": {"allowed": true, "reason": NO_AUTHORIZATION}})
        }
        "selfsubjectrulesreviews" => {
            json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {},
            "spec": body["spec"], "status": {
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": false}})
        }
        _ => {
            json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"creationTimestamp": now()},
            "status": {"userInfo": {"username": "admin", "uid": "admin-uid", "groups": ["system:masters", "system:authenticated"]}}})
        }
    };
    Ok(Reply::json(201, answer))
}
