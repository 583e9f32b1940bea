//! `portcullis demo`, run as a user runs it (`make demo`): the good release is promoted,
//! the bad authentication release is rolled back, and it says so.

use std::process::Command;

#[test]
fn the_demo_promotes_the_good_release_and_rolls_back_the_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("demo")
        .arg("--kubeconfig")
        .arg(dir.path().join("demo.kubeconfig"))
        .output()
        .expect("the portcullis binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("promoted: auth:1.1 is stable"), "{stdout}");
    assert!(stdout.contains("rolled back"), "{stdout}");
    // The pipeline's part is played by the command line, as a CI job would run it.
    assert!(
        stdout.contains("$ portcullis push auth-api auth:1.1 --wait"),
        "{stdout}"
    );
    assert!(
        stdout.contains("revision ") && stdout.contains("(auth:1.1) is stable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Rejected: "),
        "`portcullis status` shows the rejected revision: {stdout}"
    );
    // The CI story: the pipeline's exit status, shown.
    assert!(stdout.contains("exit status 0 (promoted"), "{stdout}");
    assert!(stdout.contains("exit status 1 (rolled back"), "{stdout}");
    // Timed from the canary's first traffic, as the README promises, and from the push.
    assert!(
        stdout.contains("after the canary's first traffic (") && stdout.contains("after the push)"),
        "{stdout}"
    );
    // The verdict is printed by the pipeline's outcome and in `status`'s last abort,
    // not at every progress line.
    assert!(
        stdout.matches("evidence worse").count() <= 2,
        "the verdict at most twice in:\n{stdout}"
    );
    assert!(
        stdout.contains("Canary:   ") && stdout.contains(", rolled back"),
        "after the abort the canary reads as rolled back, not as started: {stdout}"
    );
    assert!(
        !dir.path().join("demo.kubeconfig").exists(),
        "the kubeconfig of a cluster that is gone is removed"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("demo: good release promoted, bad authentication release rolled back"),
        "{stdout}"
    );
}
