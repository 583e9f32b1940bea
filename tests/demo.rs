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
    assert!(
        stdout
            .trim_end()
            .ends_with("demo: good release promoted, bad authentication release rolled back"),
        "{stdout}"
    );
}
