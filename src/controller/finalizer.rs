//! The Rollout's finalizer: held on every Rollout so that deleting one runs a cleanup
//! (traffic back to stable) before the object goes.
//!
//! The same flow as kube-runtime's `finalizer` helper, written here so that its patches
//! carry the operator's field manager and a patch made from a stale cached copy (another
//! writer changed `metadata.finalizers` first: the JSON patch's `test` fails, 422, or a
//! 409) is a quiet retry instead of a reconcile failure.

use super::error::Error;
use crate::api::Rollout;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, TestOperation};
use kube::api::{Api, Patch};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use std::future::Future;
use std::time::Duration;

/// How soon a finalizer patch that lost a race is tried again (on a fresh copy by then).
pub const RETRY: Duration = Duration::from_millis(200);

/// What the reconcile runs, once the finalizer is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The Rollout lives: make the cluster match it.
    Apply,
    /// The Rollout is being deleted: undo what the operator did; the finalizer goes after.
    Cleanup,
}

/// Where the Rollout stands with `finalizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Alive without the finalizer: add it first.
    Missing,
    /// Alive with it: apply.
    Held,
    /// Deleting, the finalizer at this index: clean up, then remove it.
    Releasing(usize),
    /// Deleting without it (already removed): nothing to do.
    Released,
}

pub fn state(ro: &Rollout, finalizer: &str) -> State {
    let index = ro.finalizers().iter().position(|f| f == finalizer);
    match (ro.meta().deletion_timestamp.is_some(), index) {
        (false, None) => State::Missing,
        (false, Some(_)) => State::Held,
        (true, Some(i)) => State::Releasing(i),
        (true, None) => State::Released,
    }
}

/// Runs `reconcile` for `ro` behind `finalizer`: adds it to a live Rollout first; on
/// deletion runs [`Step::Cleanup`] and removes it once cleanup succeeded. `reconcile` gets
/// the server's fresh copy when the finalizer was just added (`None`: use `ro`).
pub async fn guard<F, Fut>(
    api: &Api<Rollout>,
    finalizer: &str,
    ro: &Rollout,
    reconcile: F,
) -> Result<Action, Error>
where
    F: FnOnce(Step, Option<Rollout>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    let name = ro.name_any();
    match state(ro, finalizer) {
        State::Held => reconcile(Step::Apply, None).await,
        State::Released => Ok(Action::await_change()),
        State::Missing => {
            let patch = add_patch(ro.finalizers(), finalizer);
            match write(api, &name, patch).await {
                // Go on with the copy the server answered: the cached one lags behind.
                Ok(fresh) => reconcile(Step::Apply, Some(fresh)).await,
                Err(e) if is_stale(&e) => Ok(quiet_retry(&name, "adding", &e)),
                Err(source) => Err(Error::AddFinalizer { name, source }),
            }
        }
        State::Releasing(index) => {
            // Cleanup must succeed before the finalizer goes: on error it stays.
            let action = reconcile(Step::Cleanup, None).await?;
            match write(api, &name, remove_patch(index, finalizer)).await {
                Ok(_) => Ok(action),
                Err(e) if is_stale(&e) => Ok(quiet_retry(&name, "removing", &e)),
                Err(source) => Err(Error::RemoveFinalizer { name, source }),
            }
        }
    }
}

fn quiet_retry(name: &str, doing: &str, e: &kube::Error) -> Action {
    tracing::debug!(rollout = %name, error = %e, "{doing} the finalizer raced another writer; retrying on a fresh copy");
    Action::requeue(RETRY)
}

/// Whether a finalizer patch failed because our copy of the Rollout was stale: a 409, or
/// the 422 kube-apiserver gives when a JSON patch does not apply (its `test` failed). A
/// 422 for an invalid object ("... is invalid: ...") is a real error.
pub fn is_stale(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) if s.code == 409 => true,
        kube::Error::Api(s) if s.code == 422 => s.message.starts_with(PATCH_NOT_APPLIED),
        _ => false,
    }
}

/// kube-apiserver's message for a 422 from a JSON patch that does not apply.
const PATCH_NOT_APPLIED: &str = "the server rejected our request due to an error in our request";

async fn write(
    api: &Api<Rollout>,
    name: &str,
    ops: Vec<PatchOperation>,
) -> Result<Rollout, kube::Error> {
    let pp = super::act::patch_params();
    api.patch(name, &pp, &Patch::Json::<()>(json_patch::Patch(ops)))
        .await
}

fn pointer(path: &str) -> PointerBuf {
    PointerBuf::parse(path).expect("a valid JSON pointer")
}

/// Adds `finalizer`, testing that the list is still the one we read: Kubernetes does not
/// deduplicate finalizers, so a concurrent add must fail rather than add it twice.
pub fn add_patch(current: &[String], finalizer: &str) -> Vec<PatchOperation> {
    if current.is_empty() {
        vec![
            PatchOperation::Test(TestOperation {
                path: pointer("/metadata/finalizers"),
                value: serde_json::Value::Null,
            }),
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers"),
                value: serde_json::json!([finalizer]),
            }),
        ]
    } else {
        vec![
            PatchOperation::Test(TestOperation {
                path: pointer("/metadata/finalizers"),
                value: serde_json::json!(current),
            }),
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers/-"),
                value: finalizer.into(),
            }),
        ]
    }
}

/// Removes `finalizer` at `index`, testing it is still there (never someone else's).
pub fn remove_patch(index: usize, finalizer: &str) -> Vec<PatchOperation> {
    let path = format!("/metadata/finalizers/{index}");
    vec![
        PatchOperation::Test(TestOperation {
            path: pointer(&path),
            value: finalizer.into(),
        }),
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&path),
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, message: &str) -> kube::Error {
        let mut s = Status::failure(message, "Invalid");
        s.code = code;
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn a_patch_from_a_stale_copy_is_a_race_not_a_failure() {
        assert!(is_stale(&api_error(409, "the object has been modified")));
        assert!(is_stale(&api_error(422, PATCH_NOT_APPLIED)));
    }

    #[test]
    fn an_invalid_object_or_a_denied_patch_is_a_real_failure() {
        assert!(!is_stale(&api_error(
            422,
            "Rollout.portcullis.dev \"auth\" is invalid: spec.steps: Required value"
        )));
        assert!(!is_stale(&api_error(403, "forbidden")));
        assert!(!is_stale(&api_error(404, "not found")));
    }

    fn rollout(finalizers: &[&str], deleting: bool) -> Rollout {
        let mut ro: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "portcullis.dev/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "auth", "namespace": "pay", "finalizers": finalizers},
            "spec": {"workloadRef": {"name": "auth"}, "service": "auth", "steps": []}
        }))
        .expect("a Rollout");
        if deleting {
            ro.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::now(),
                ));
        }
        ro
    }

    #[test]
    fn the_state_says_what_to_do() {
        let f = "portcullis.dev/release";
        assert_eq!(state(&rollout(&[], false), f), State::Missing);
        assert_eq!(state(&rollout(&["other"], false), f), State::Missing);
        assert_eq!(state(&rollout(&["other", f], false), f), State::Held);
        assert_eq!(state(&rollout(&["other", f], true), f), State::Releasing(1));
        assert_eq!(state(&rollout(&["other"], true), f), State::Released);
    }

    type Requests = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

    /// A client on which every request is answered with `code` and `message`.
    fn answering(code: u16, message: &'static str, requests: Requests) -> kube::Client {
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let uri = req.uri();
            requests.lock().unwrap().push(format!(
                "{} {}?{}",
                req.method(),
                uri.path(),
                uri.query().unwrap_or_default()
            ));
            let status = serde_json::json!({"kind": "Status", "apiVersion": "v1",
                "status": "Failure", "message": message, "reason": "Invalid", "code": code});
            let response = http::Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(kube::client::Body::from(
                    serde_json::to_vec(&status).unwrap(),
                ))
                .unwrap();
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        kube::Client::new(service, "pay")
    }

    async fn guard_on(
        ro: &Rollout,
        code: u16,
        message: &'static str,
    ) -> (Result<Action, Error>, Vec<Step>, Vec<String>) {
        let requests = Requests::default();
        let api = Api::namespaced(answering(code, message, requests.clone()), "pay");
        let mut ran = Vec::new();
        let result = guard(&api, "portcullis.dev/release", ro, |step, _| {
            ran.push(step);
            async { Ok(Action::await_change()) }
        })
        .await;
        let requests = requests.lock().unwrap().clone();
        (result, ran, requests)
    }

    #[tokio::test]
    async fn adding_the_finalizer_from_a_stale_copy_is_a_quiet_retry() {
        let (result, ran, requests) = guard_on(&rollout(&[], false), 422, PATCH_NOT_APPLIED).await;
        assert_eq!(
            result.unwrap(),
            Action::requeue(RETRY),
            "Ok: no reconcile failure"
        );
        assert!(
            ran.is_empty(),
            "nothing applied before the finalizer is held"
        );
        assert_eq!(requests.len(), 1, "{requests:?}");
        let path = "PATCH /apis/portcullis.dev/v1alpha1/namespaces/pay/rollouts/auth?";
        assert!(
            requests[0].starts_with(path) && requests[0].contains("fieldManager=portcullis"),
            "{requests:?}"
        );
    }

    #[tokio::test]
    async fn removing_the_finalizer_after_a_race_retries_quietly_after_the_cleanup() {
        let ro = rollout(&["portcullis.dev/release"], true);
        let (result, ran, _) = guard_on(&ro, 409, "the object has been modified").await;
        assert_eq!(result.unwrap(), Action::requeue(RETRY));
        assert_eq!(ran, vec![Step::Cleanup]);
    }

    #[tokio::test]
    async fn a_refused_finalizer_patch_is_an_error_that_names_the_rollout() {
        let (result, _, _) = guard_on(&rollout(&[], false), 403, "forbidden").await;
        let error = result.unwrap_err();
        assert!(matches!(error, Error::AddFinalizer { .. }), "{error}");
        assert!(error.to_string().contains("Rollout auth"), "{error}");
    }

    #[test]
    fn patches_test_what_they_change() {
        let f = "portcullis.dev/release";
        let add = serde_json::to_value(add_patch(&["other".into()], f)).unwrap();
        assert_eq!(
            add,
            serde_json::json!([
                {"op": "test", "path": "/metadata/finalizers", "value": ["other"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": f}
            ])
        );
        let remove = serde_json::to_value(remove_patch(1, f)).unwrap();
        assert_eq!(
            remove,
            serde_json::json!([
                {"op": "test", "path": "/metadata/finalizers/1", "value": f},
                {"op": "remove", "path": "/metadata/finalizers/1"}
            ])
        );
    }
}
