//! Portcullis' name for a release: a hash of the workload's pod template.
//!
//! Kubernetes' own `pod-template-hash` cannot serve: the canary runs the same template
//! with one more label, under another Deployment, so its hash differs from the one the
//! workload's ReplicaSet gets for the very same release. This hash leaves out the labels
//! that differ between the tracks, so stable and canary pods of one release share it.

use crate::traffic::{POD_TEMPLATE_HASH_LABEL, TRACK_LABEL};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// Characters Kubernetes uses for generated names (no vowels, no look-alikes).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The revision of a pod template: 10 characters, stable across processes and versions
/// of this program, and the same for both tracks of one release.
pub fn of_template(template: &PodTemplateSpec) -> String {
    let mut v = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = v
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
        labels.remove(TRACK_LABEL);
    }
    let mut canonical = String::new();
    write_canonical(&v, &mut canonical);
    encode(fnv1a64(canonical.as_bytes()))
}

/// The images of a pod template's containers, in order.
pub fn images(template: &PodTemplateSpec) -> Vec<String> {
    template
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// JSON with object keys sorted, whatever map type serde_json was built with. Empty
/// objects, empty arrays and nulls are left out, so `labels: {}` and no labels are one
/// template, as they are to Kubernetes.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().filter(|k| !is_empty(&m[*k])).collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn encode(mut h: u64) -> String {
    let mut s = String::with_capacity(10);
    for _ in 0..10 {
        s.push(ALPHABET[(h % ALPHABET.len() as u64) as usize] as char);
        h /= ALPHABET.len() as u64;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(v: Value) -> PodTemplateSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn both_tracks_of_one_release_share_a_revision() {
        let stable = template(json!({
            "metadata": {"labels": {"app": "auth", "pod-template-hash": "6d4f9c7b8"}},
            "spec": {"containers": [{"name": "app", "image": "auth:1.4"}]}
        }));
        let canary = template(json!({
            "metadata": {"labels": {"app": "auth", "portcullis.dev/track": "canary"}},
            "spec": {"containers": [{"name": "app", "image": "auth:1.4"}]}
        }));
        assert_eq!(of_template(&stable), of_template(&canary));
    }

    #[test]
    fn a_new_image_is_a_new_revision() {
        let a = template(json!({"spec": {"containers": [{"name": "app", "image": "auth:1.4"}]}}));
        let b = template(json!({"spec": {"containers": [{"name": "app", "image": "auth:1.5"}]}}));
        assert_ne!(of_template(&a), of_template(&b));
        assert_eq!(images(&b), vec!["auth:1.5".to_string()]);
    }

    #[test]
    fn the_revision_is_fixed_for_a_given_template() {
        // Pinned: a change here would make every running Rollout see a "new" release.
        let t = template(json!({
            "metadata": {"labels": {"app": "auth"}},
            "spec": {"containers": [{"name": "app", "image": "auth:1.4"}]}
        }));
        assert_eq!(of_template(&t), of_template(&t.clone()));
        assert_eq!(of_template(&t).len(), 10);
        assert_eq!(of_template(&t), "qlt7gtb5rq");
    }

    #[test]
    fn empty_labels_and_no_labels_are_the_same_template() {
        let a = template(
            json!({"metadata": {"labels": {}}, "spec": {"containers": [{"name": "app"}]}}),
        );
        let b = template(json!({"spec": {"containers": [{"name": "app"}]}}));
        assert_eq!(of_template(&a), of_template(&b));
    }
}
