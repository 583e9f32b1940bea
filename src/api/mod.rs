//! The Rollout API (`portcullis.dev/v1alpha1`): CRD types and their validation.

/// The CRDs as one multi-document YAML stream.
pub fn crds_yaml() -> String {
    String::new()
}
