//! The `pod-template-hash` label: a 32-bit FNV-1a hash of the pod template (and the
//! Deployment's `collisionCount`), its decimal digits rendered in Kubernetes' "safe"
//! alphabet (`rand.SafeEncodeString`), so it has the shape of the real one (`66ff54db4b`).
//! kube-controller-manager hashes Go's dump of the struct; we hash its JSON, so the digits
//! differ from a real cluster's (they are volatile anyway) but not the shape.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// Label key the deployment controller adds to ReplicaSets and their pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Kubernetes' alphabet without vowels and look-alikes (`k8s.io/apimachinery/pkg/util/rand`).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The hash of `template`; the template must not carry the hash label itself.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serialising a k8s-openapi struct is deterministic: fields in declaration order, maps sorted.
    let mut bytes = serde_json::to_vec(template).expect("a PodTemplateSpec always serialises");
    if let Some(count) = collision_count {
        bytes.extend_from_slice(&(count as u32).to_le_bytes());
    }
    safe_encode(&fnv1a_32(&bytes).to_string())
}

/// FNV-1a, 32 bits: what Go's `hash/fnv.New32a` computes.
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_decimal_digits_like_kubernetes() {
        // 2299108606 is the number behind the recorded hash `66ff54db4b`.
        assert_eq!(safe_encode("2299108606"), "66ff54db4b");
    }
}
