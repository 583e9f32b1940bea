//! Writing status: a JSON merge patch of what changed, through the status subresource.
//! Fields that disappeared are sent as `null`, so the stored status is exactly the
//! engine's.

use super::error::Error;
use crate::api::{Rollout, RolloutStatus};
use kube::api::{Api, Patch};
use kube::{Client, ResourceExt};
use serde_json::{Map, Value, json};

/// The merge patch that turns `old` into `new` (`None`: nothing changed).
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (o, n) if o == n => None,
        (_, n) => Some(n.clone()),
    }
}

pub async fn write(
    client: &Client,
    ro: &Rollout,
    before: &RolloutStatus,
    after: &RolloutStatus,
) -> Result<(), Error> {
    let old = serde_json::to_value(before).unwrap_or_default();
    let new = serde_json::to_value(after).unwrap_or_default();
    let Some(diff) = merge_diff(&old, &new) else {
        return Ok(());
    };
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    let pp = super::act::patch_params();
    api.patch_status(
        &ro.name_any(),
        &pp,
        &Patch::Merge(json!({ "status": diff })),
    )
    .await
    .map_err(|source| Error::Status {
        name: ro.name_any(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_field_is_sent_as_null_and_unchanged_fields_are_not_sent() {
        let old = json!({"phase": "Paused", "pauseReason": "Step", "currentStep": 2,
                         "stable": {"revision": "a", "images": ["x"]}});
        let new = json!({"phase": "Progressing", "currentStep": 3,
                         "stable": {"revision": "a", "images": ["x"]}});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"phase": "Progressing", "pauseReason": null, "currentStep": 3}))
        );
        assert_eq!(merge_diff(&new, &new), None);
    }

    #[test]
    fn lists_are_replaced_whole() {
        let old = json!({"history": [{"r": 1}]});
        let new = json!({"history": [{"r": 2}, {"r": 1}]});
        assert_eq!(merge_diff(&old, &new), Some(new.clone()));
    }
}
