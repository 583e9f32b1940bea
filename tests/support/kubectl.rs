//! The machine's kubectl, run against a kubeconfig (shared via `#[path]`).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub const KUBECTL: &str = "/usr/bin/kubectl";

pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// kubectl's stdout for a command that must succeed.
pub fn ok(kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
