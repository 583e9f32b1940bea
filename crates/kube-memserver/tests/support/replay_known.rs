// Exchanges excused from replaying identically, `(scenario, exchange index)` → reason.
// List the current differences with
// `REPLAY_VERBOSE=1 cargo test --test sim_apiserver_replay -- --nocapture`.

pub type Excused = std::collections::HashMap<(&'static str, usize), &'static str>;

fn add(map: &mut Excused, scenario: &'static str, indices: &[usize], reason: &'static str) {
    for i in indices {
        map.insert((scenario, *i), reason);
    }
}

/// Exchanges that differ only as a consequence of an earlier known difference.
pub fn needs_objects() -> Excused {
    Excused::new()
}

/// Lasting differences from kube-apiserver (the module docs of `crate::apiserver` list them).
pub fn known_differences() -> Excused {
    let mut m = Excused::new();
    add(
        &mut m,
        "04-server-side-apply",
        &[14],
        "malformed YAML error text comes from serde-saphyr, not Go's yaml",
    );
    add(
        &mut m,
        "01-discovery",
        &[0],
        "/version reports this server's own build, not kube-apiserver's",
    );
    add(
        &mut m,
        "01-discovery",
        &[1],
        "serverAddressByClientCIDRs names this server's own address",
    );
    add(
        &mut m,
        "02-configmap-crud",
        &[23],
        "a bad continue token's error text comes from serde_json, not Go's encoding/json",
    );
    add(
        &mut m,
        "05-finalizers-deletion",
        &[12, 16],
        "the built-in garbage collector finishes a Foreground delete; the recording had none",
    );
    add(
        &mut m,
        "06b-watch-bookmark",
        &[2],
        "a 75 s watch is too long to replay in a test",
    );
    add(
        &mut m,
        "07-crd",
        &[2],
        "a CRD is Established at once; kube-apiserver shows Established=False (Installing) first",
    );
    add(
        &mut m,
        "07-crd",
        &[5],
        "no 429 'storage is (re)initializing' on the first list of a new CRD",
    );
    add(
        &mut m,
        "07-crd",
        &[22],
        "apply bodies are YAML 1.2 (serde-saphyr): `y` stays a string where Go's YAML 1.1 makes it true",
    );
    add(
        &mut m,
        "08-leases",
        &[7],
        "no kube-apiserver identity lease in kube-system",
    );
    add(
        &mut m,
        "11-errors-auth",
        &[1, 2, 3, 4],
        "no authentication or authorization: every request acts as a cluster admin",
    );
    add(
        &mut m,
        "11-errors-auth",
        &[8],
        "a SelfSubjectAccessReview's status.reason says this server has no authorization",
    );
    add(
        &mut m,
        "11-errors-auth",
        &[5],
        "/version reports this server's own build, not kube-apiserver's",
    );
    add(
        &mut m,
        "11-errors-auth",
        &[7],
        "/readyz?verbose lists no kube-apiserver health checks",
    );
    add(
        &mut m,
        "11-errors-auth",
        &[10],
        "malformed JSON error text comes from serde_json, not Go's encoding/json",
    );
    add(
        &mut m,
        "11-errors-auth",
        &[19],
        "lists the object the unprivileged user created in exchange 4 (no authorization)",
    );
    add(
        &mut m,
        "13-namespace-deletion",
        &[6, 8, 10, 12, 14, 16, 18, 20, 22],
        "the namespace controller deletes contents at once; kube-controller-manager's waited about 6 s",
    );
    add(
        &mut m,
        "13-namespace-deletion",
        &[5, 7, 9, 11, 13, 15, 17, 19, 21, 23],
        "the namespace controller reports remaining content at once; kube-controller-manager's wrote its conditions after about 6 s",
    );
    add(
        &mut m,
        "13-namespace-deletion",
        &[28, 29, 30, 31, 32, 33, 34, 35, 36],
        "the namespace goes as soon as it is empty; kube-controller-manager took about 5 s",
    );
    let controllers: Vec<usize> = (3..=98).collect();
    add(
        &mut m,
        "10-deployment-controller",
        &controllers,
        "ReplicaSets, Pods and Deployment status are written by controllers this API server does not run",
    );
    m
}
