//! Every API call the command line makes, as RBAC rules: what a pipeline's
//! ServiceAccount (or a person) needs. The chart's `<release>-pipeline` ClusterRole is
//! this list, and `tests/cli_rbac.rs` checks the commands ask for nothing more.

use crate::controller::rbac::Rules;

pub const RULES: Rules = &[
    // status, wait, and the commands (an annotation, merge-patched).
    (
        "portcullis.dev",
        "rollouts",
        &["get", "list", "watch", "patch"],
    ),
    // push sets images; wait reads the pod template to name the revision.
    ("apps", "deployments", &["get", "patch"]),
];
