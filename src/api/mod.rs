//! The Rollout API (`portcullis.dev/v1alpha1`): CRD types and their validation.
//! Depends on nothing else in the crate.

pub mod command;
mod crdgen;
pub mod duration;
pub mod rollout;
pub mod status;
pub mod template;
pub mod validate;

pub use crdgen::{KNOWN_FORMATS, crds, crds_yaml};
pub use duration::Duration;
pub use rollout::*;
pub use status::*;
pub use template::*;

pub const GROUP: &str = "portcullis.dev";
pub const VERSION: &str = "v1alpha1";
