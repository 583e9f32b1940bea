//! Strategic merge patch for built-in kinds.

use super::TypeInfo;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PatchError {
    pub message: String,
}

/// Applies a strategic merge patch (`application/strategic-merge-patch+json`) to
/// `original`: lists with a merge key merge by it, `$patch: delete|replace`,
/// `$retainKeys`, `$deleteFromPrimitiveList/...`, `null` deletes.
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    types: TypeInfo<'_>,
) -> Result<Value, PatchError> {
    let _ = (original, patch, types);
    unimplemented!("strategic merge patch")
}
