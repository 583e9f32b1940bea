//! The operator's image (`make image`, `make image-push`, the Dockerfile): built without a
//! Docker daemon, it holds only the binary, its shared libraries and the CA bundle, runs
//! as a numeric non-root user on a read-only root, reports the chart's appVersion, and is
//! what the chart installs by default.
//!
//! Slow (a release build, minutes cold): runs only with PORTCULLIS_IMAGE_TESTS=1, which
//! `make test` sets when buildah and docker-registry are installed (`make deps-image`).
//! Needs root (buildah's vfs storage, chroot, mount).

mod operator_support;

use operator_support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const GATE: &str = "PORTCULLIS_IMAGE_TESTS";

fn enabled() -> bool {
    let on = std::env::var(GATE).is_ok_and(|v| v == "1");
    if !on {
        eprintln!(
            "skipped: set {GATE}=1 (make test does when buildah and docker-registry are installed: make deps-image)"
        );
    }
    on
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

fn app_version() -> String {
    yaml("charts/portcullis/Chart.yaml")["appVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `make image` run once for all tests, and its archive loaded into a buildah store of
/// the tests' own.
struct Built {
    reference: String,
    archive: PathBuf,
    /// The tests' buildah store (vfs copies of the image), emptied at each run's start.
    store: PathBuf,
    id: String,
}

impl Built {
    fn buildah(&self) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.store.join("root"))
            .arg("--runroot")
            .arg(self.store.join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    }

    fn config(&self) -> Value {
        let out = run(self
            .buildah()
            .args(["inspect", "--type", "image", &self.id]));
        let v: Value = serde_json::from_str(&out).unwrap();
        v["OCIv1"]["config"].clone()
    }

    /// A working container of the image, mounted: its root directory.
    fn mount(&self) -> Mounted<'_> {
        let name = run(self.buildah().args(["from", &self.id]))
            .trim()
            .to_string();
        let dir = run(self.buildah().args(["mount", &name])).trim().into();
        Mounted {
            built: self,
            name,
            dir,
        }
    }
}

struct Mounted<'a> {
    built: &'a Built,
    name: String,
    dir: PathBuf,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self.built.buildah().args(["umount", &self.name]).output();
        let _ = self.built.buildah().args(["rm", &self.name]).output();
    }
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let stdout = run(Command::new("make")
            .arg("--no-print-directory")
            .arg("image")
            .current_dir(root()));
        eprintln!("make image took {:?}", started.elapsed());
        let last = stdout.lines().last().unwrap_or_default();
        let mut words = last.split(' ');
        assert_eq!(words.next(), Some("image:"), "the last line: {last:?}");
        let reference = words.next().unwrap().to_string();
        let archive = root().join(words.next().unwrap());
        assert_eq!(words.next(), None, "{last:?}");
        let store = root().join("target/image/test-storage");
        if store.exists() {
            std::fs::remove_dir_all(&store).unwrap();
        }
        let mut built = Built {
            reference,
            archive,
            store,
            id: String::new(),
        };
        let pulled = run(built
            .buildah()
            .args(["pull", "--quiet"])
            .arg(format!("oci-archive:{}", built.archive.display())));
        built.id = pulled.trim().to_string();
        built
    })
}

#[test]
fn make_image_builds_the_image_the_chart_installs_by_default() {
    if !enabled() {
        return;
    }
    let b = built();
    let values = yaml("charts/portcullis/values.yaml");
    assert_eq!(
        values["image"]["tag"], "",
        "the tag defaults to the chart's appVersion"
    );
    assert_eq!(
        b.reference,
        format!(
            "{}:{}",
            values["image"]["repository"].as_str().unwrap(),
            app_version()
        ),
        "make image tags what `helm install` pulls"
    );
    assert!(b.archive.starts_with(root().join("target")));
    let listing = run(Command::new("tar").arg("-tf").arg(&b.archive));
    for entry in ["oci-layout", "index.json"] {
        assert!(
            listing.lines().any(|l| l == entry),
            "an OCI archive: {listing}"
        );
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        !readme.contains("registry.example/portcullis"),
        "no placeholder image left in the README"
    );
}

/// Every file in the image, `path → (mode, uid, size)`.
fn files(dir: &Path) -> BTreeMap<String, (u32, u32, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(e.path());
                continue;
            }
            let path = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.insert(format!("/{path}"), (meta.mode(), meta.uid(), meta.len()));
        }
    }
    out
}

#[test]
fn the_image_holds_the_binary_its_libraries_and_ca_certificates_only() {
    if !enabled() {
        return;
    }
    let b = built();
    let m = b.mount();
    let files = files(&m.dir);
    let binary = root().join("target/release/portcullis");
    let ldd = run(Command::new("ldd").arg(&binary));
    let mut expected: Vec<String> = ldd
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(String::from)
        .collect();
    expected.push("/usr/local/bin/portcullis".into());
    expected.push("/etc/ssl/certs/ca-certificates.crt".into());
    expected.sort();
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        expected,
        "the binary, what ldd lists, the CA bundle: no shell, no package manager"
    );
    for (path, (mode, uid, _)) in &files {
        assert_eq!(*uid, 0, "{path} is root's");
        assert_eq!(mode & 0o022, 0, "{path} is writable by nobody but root");
        assert_eq!(mode & 0o6000, 0, "{path} is not setuid/setgid");
    }
    let size: u64 = files.values().map(|f| f.2).sum();
    eprintln!(
        "image: {} files, {:.1} MB uncompressed; archive {:.1} MB",
        files.len(),
        size as f64 / 1e6,
        std::fs::metadata(&b.archive).unwrap().len() as f64 / 1e6
    );
    assert!(size < 40_000_000, "small: {size} bytes");
}

#[test]
fn the_entrypoint_runs_as_its_user_and_reports_the_charts_app_version() {
    if !enabled() {
        return;
    }
    let b = built();
    let config = b.config();
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/portcullis"])
    );
    let user = config["User"].as_str().unwrap().to_string();
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    let (uid, gid): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    assert!(uid > 0 && gid > 0, "a numeric non-root user: {user}");
    let values = yaml("charts/portcullis/values.yaml");
    assert_eq!(
        values["podSecurityContext"]["runAsUser"].as_u64(),
        Some(uid.into()),
        "the chart runs the image's user"
    );
    // The chart runs `command: [portcullis]`: it must be found on the image's PATH.
    let path = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.as_str().unwrap().strip_prefix("PATH="))
        .expect("PATH set")
        .to_string();
    let m = b.mount();
    let command = values["command"][0].as_str().unwrap();
    assert!(
        path.split(':')
            .any(|d| m.dir.join(d.trim_start_matches('/')).join(command).exists()),
        "`{command}` is on the image's PATH {path}"
    );

    let entrypoint = "/usr/local/bin/portcullis";
    let chroot = |args: &[&str]| {
        run(Command::new("/usr/sbin/chroot")
            .arg(format!("--userspec={user}"))
            .arg(&m.dir)
            .arg(entrypoint)
            .args(args)
            .env_clear()
            .env("PATH", &path))
    };
    assert_eq!(
        chroot(&["--version"]).trim(),
        format!("portcullis {}", app_version()),
        "--version is the chart's appVersion"
    );
    let help = chroot(&["controller", "--help"]);
    for flag in ["--metrics-addr", "--leader-election", "--prometheus-url"] {
        assert!(help.contains(flag), "{help}");
    }
    // Built without the `lab` feature: no local cluster, no demo in the image.
    let commands = chroot(&["--help"]);
    assert!(commands.contains("controller"), "{commands}");
    for lab in ["local-cluster", "demo"] {
        assert!(
            !commands.contains(lab),
            "the image carries `{lab}`: {commands}"
        );
    }
}

/// The Dockerfile (for Docker/BuildKit, not built here: no base images offline) and
/// `make image` describe one image: the Dockerfile's build stage stages the root with the
/// script `make image` uses, and its last stage sets what the built image has.
#[test]
fn the_dockerfile_gives_the_same_entrypoint_user_and_files() {
    if !enabled() {
        return;
    }
    let b = built();
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    // Instructions, continuation lines joined, comments dropped.
    let joined = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let instructions: Vec<(&str, &str)> = joined
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().split_once(' ').unwrap())
        .collect();
    let last_from = instructions
        .iter()
        .rposition(|(i, _)| *i == "FROM")
        .unwrap();
    let (build, last) = instructions.split_at(last_from);
    let arg = |stage: &[(&str, &str)], name: &str| -> Vec<String> {
        stage
            .iter()
            .filter(|(i, _)| *i == name)
            .map(|(_, a)| a.to_string())
            .collect()
    };
    assert_eq!(arg(last, "FROM"), ["scratch"]);
    assert_eq!(arg(last, "COPY"), ["--from=build /rootfs/ /"]);
    let run_steps = arg(build, "RUN").join(" ");
    assert!(
        run_steps.contains("cargo build --release --locked --no-default-features")
            && run_steps.contains("scripts/image-rootfs.sh target/release/portcullis /rootfs"),
        "the build stage stages the root as make image does: {run_steps}"
    );

    let config = b.config();
    let entrypoint: Value = serde_json::from_str(&arg(last, "ENTRYPOINT")[0]).unwrap();
    assert_eq!(config["Entrypoint"], entrypoint);
    let cmd: Value = serde_json::from_str(&arg(last, "CMD")[0]).unwrap();
    assert_eq!(config["Cmd"], cmd);
    assert_eq!(config["User"], arg(last, "USER")[0]);
    for env in arg(last, "ENV") {
        assert!(
            config["Env"]
                .as_array()
                .unwrap()
                .contains(&Value::from(env.clone())),
            "{env} in {}",
            config["Env"]
        );
    }

    // The files: what the build stage's staging gives from the release binary.
    let staged = tempfile::tempdir().unwrap();
    let rootfs = staged.path().join("rootfs");
    run(Command::new(root().join("scripts/image-rootfs.sh"))
        .arg(root().join("target/release/portcullis"))
        .arg(&rootfs));
    let m = b.mount();
    let in_image: BTreeMap<String, (u32, u64)> = files(&m.dir)
        .into_iter()
        .map(|(p, (mode, _, size))| (p, (mode & 0o7777, size)))
        .collect();
    let from_script: BTreeMap<String, (u32, u64)> = files(&rootfs)
        .into_iter()
        .map(|(p, (mode, _, size))| (p, (mode & 0o7777, size)))
        .collect();
    assert_eq!(in_image, from_script, "the same files, modes and sizes");
}

/// Kills and waits for a child process when dropped; unmounts a bind mount.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
struct BindMount(PathBuf);
impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The image's operator, as its user, on a read-only root (a read-only bind mount of the
/// image's root), reconciles a Rollout on the local cluster.
#[tokio::test(flavor = "multi_thread")]
async fn the_image_runs_the_operator_on_a_read_only_root() {
    if !enabled() {
        return;
    }
    let b = built();
    let user = b.config()["User"].as_str().unwrap().to_string();
    let m = b.mount();
    let c = cluster::Cluster::start().await;
    let ns = "image";
    given_app(
        &c.client,
        ns,
        2,
        serde_json::json!({"workloadRef": {"name": APP}, "service": APP,
                           "steps": [{"setWeight": 50}, {"pause": {}}]}),
    )
    .await;
    // The kubeconfig goes into the working container, readable by the image's user.
    std::fs::copy(c.kubeconfig_path(), m.dir.join("kubeconfig")).unwrap();
    let ro = tempfile::tempdir().unwrap();
    run(Command::new("mount")
        .arg("--bind")
        .arg(&m.dir)
        .arg(ro.path()));
    let _bind = BindMount(ro.path().to_path_buf());
    run(Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(ro.path()));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let operator = Command::new("/usr/sbin/chroot")
        .arg(format!("--userspec={user}"))
        .arg(ro.path())
        .args([
            "/usr/local/bin/portcullis",
            "controller",
            "--kubeconfig=/kubeconfig",
            &format!("--namespace={ns}"),
            &format!("--metrics-addr=127.0.0.1:{port}"),
            "--leader-election=false",
        ])
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _operator = Running(operator);
    adopted(&c.client, ns).await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("portcullis_leader 1"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            r#"portcullis_rollout_phase{{namespace="{ns}",rollout="{APP}",phase="Idle"}} 1"#
        )),
        "{metrics}"
    );
}

/// `make image-push IMAGE_REPO=...` to a registry (Debian's docker-registry on a free
/// loopback port), pulled back: the same image, by digest.
#[test]
fn make_image_push_pushes_to_a_registry_and_the_pull_has_the_same_digest() {
    if !enabled() {
        return;
    }
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let registry = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry runs (make deps-image)");
    let _registry = Running(registry);
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the registry listens");
        std::thread::sleep(Duration::from_millis(100));
    }

    let repo = format!("127.0.0.1:{port}/platform/portcullis");
    let started = Instant::now();
    let stdout = run(Command::new("make")
        .args(["--no-print-directory", "image-push"])
        .arg(format!("IMAGE_REPO={repo}"))
        .arg("IMAGE_TLS_VERIFY=false")
        .current_dir(root()));
    eprintln!("make image-push took {:?}", started.elapsed());
    let last = stdout.lines().last().unwrap_or_default();
    let pushed = last
        .strip_prefix(&format!("pushed: {repo}:{}@", app_version()))
        .unwrap_or_else(|| panic!("the last line names what was pushed: {last:?}"));
    assert!(pushed.starts_with("sha256:"), "{pushed}");

    // Pulled back into a store of its own.
    let store = tempfile::tempdir().unwrap();
    let buildah = || {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(store.path().join("root"))
            .arg("--runroot")
            .arg(store.path().join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    };
    let reference = format!("{repo}:{}", app_version());
    let id = run(buildah()
        .args(["pull", "--quiet", "--tls-verify=false"])
        .arg(format!("docker://{reference}")))
    .trim()
    .to_string();
    assert_eq!(
        id, b.id,
        "the same image (config digest) as the archive make image wrote"
    );
    let inspect: Value = serde_json::from_str(&run(
        buildah().args(["inspect", "--type", "image", &reference])
    ))
    .unwrap();
    assert_eq!(
        inspect["FromImageDigest"], pushed,
        "the pulled manifest's digest is the pushed one"
    );
}
