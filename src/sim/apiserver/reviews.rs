//! SelfSubjectAccessReview and SelfSubjectReview (`kubectl auth can-i`, `kubectl auth
//! whoami`): this server authenticates nobody and allows everything, and says so.
use super::http::{Reply, Request};
use super::meta::now;
use super::routes::Target;
use super::status::ApiError;
use super::write::{check_body_type, parse_object};
use serde_json::json;

pub fn create(t: &Target, req: &Request) -> Result<Reply, ApiError> {
    check_body_type(req)?;
    let res = &t.resource;
    let body = parse_object(res, &req.body)?;
    let answer = match res.plural.as_str() {
        "selfsubjectaccessreviews" => {
            json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {},
            "spec": body["spec"], "status": {"allowed": true}})
        }
        _ => {
            json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"creationTimestamp": now()},
            "status": {"userInfo": {"username": "admin", "uid": "admin-uid", "groups": ["system:masters", "system:authenticated"]}}})
        }
    };
    Ok(Reply::json(201, answer))
}
