//! The local API server driven by `kube::Client`, as the operator drives a real cluster.
#[path = "support/cluster.rs"]
mod cluster;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..Default::default()
    }
}

fn status_code(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

/// kube-apiserver: create answers the stored object with uid, creationTimestamp and a
/// numeric resourceVersion; a second create of the same name is 409 AlreadyExists.
#[tokio::test]
async fn create_then_duplicate_create_is_already_exists() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert!(
        created
            .metadata
            .resource_version
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    let err = api
        .create(&PostParams::default(), &cm("a", "2"))
        .await
        .unwrap_err();
    assert_eq!(status_code(err), (409, "AlreadyExists".into()));
    server.shutdown().await;
}

/// kube-apiserver: a PUT carrying a stale resourceVersion is 409 Conflict; with the
/// current one it succeeds and the resourceVersion grows.
#[tokio::test]
async fn stale_resource_version_update_conflicts() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api
        .create(&PostParams::default(), &cm("b", "1"))
        .await
        .unwrap();
    let mut next = first.clone();
    next.data = Some(BTreeMap::from([("k".into(), "2".into())]));
    let second = api
        .replace("b", &PostParams::default(), &next)
        .await
        .unwrap();
    let rv = |c: &ConfigMap| {
        c.metadata
            .resource_version
            .clone()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&second) > rv(&first));
    let err = api
        .replace("b", &PostParams::default(), &next)
        .await
        .unwrap_err();
    assert_eq!(status_code(err), (409, "Conflict".into()));
    server.shutdown().await;
}

/// kube-apiserver: a JSON merge patch changes only what it names; a patch that changes
/// nothing keeps the resourceVersion.
#[tokio::test]
async fn merge_patch_changes_named_fields_and_noop_keeps_version() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let patch = json!({"metadata": {"labels": {"x": "y"}}, "data": {"extra": "e"}});
    let patched = api
        .patch("c", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let data = patched.data.clone().unwrap();
    assert_eq!((data["k"].as_str(), data["extra"].as_str()), ("1", "e"));
    let again = api
        .patch("c", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        patched.metadata.resource_version
    );
    server.shutdown().await;
}

/// kube-apiserver: generation starts at 1 and bumps on spec changes only; status written
/// through /status leaves generation alone, and status sent to the main resource is ignored.
#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let (server, client) = cluster::start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}))
    .unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.spec.revision_history_limit,
        Some(10),
        "defaults are filled in"
    );
    let status = json!({"status": {"replicas": 1, "observedGeneration": 1}});
    let s = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        (s.metadata.generation, s.status.unwrap().replicas),
        (Some(1), Some(1))
    );
    let ignored = json!({"status": {"replicas": 7}});
    let i = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&ignored))
        .await
        .unwrap();
    assert_eq!(i.status.unwrap().replicas, Some(1));
    let spec = json!({"spec": {"replicas": 3}});
    let g = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .unwrap();
    assert_eq!(g.metadata.generation, Some(2));
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    server.shutdown().await;
}

/// kube-apiserver: a finalizer holds a deleted object (deletionTimestamp set); removing
/// the last finalizer lets it go.
#[tokio::test]
async fn finalizer_holds_deletion_until_removed() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut guarded = cm("guarded", "v");
    guarded.metadata.finalizers = Some(vec!["example.com/x".into()]);
    api.create(&PostParams::default(), &guarded).await.unwrap();
    let held = api
        .delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    let obj = held
        .left()
        .expect("the object is answered while a finalizer holds it");
    assert!(obj.metadata.deletion_timestamp.is_some());
    let clear = json!({"metadata": {"finalizers": null}});
    api.patch("guarded", &PatchParams::default(), &Patch::Merge(&clear))
        .await
        .unwrap();
    assert!(api.get_opt("guarded").await.unwrap().is_none());
    server.shutdown().await;
}

/// kube-controller-manager's garbage collector: deleting an owner (background
/// propagation) deletes the objects whose ownerReferences point at it.
#[tokio::test]
async fn deleting_an_owner_collects_its_dependents() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner", "o"))
        .await
        .unwrap();
    let mut child = cm("child", "c");
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.metadata.uid.unwrap(),
            ..Default::default()
        },
    ]);
    api.create(&PostParams::default(), &child).await.unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        while api.get_opt("child").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the dependent was not garbage-collected");
    server.shutdown().await;
}

/// kube-apiserver watch semantics as `kube::runtime::watcher` relies on them: the
/// initial list, then every create, update and delete, in order.
#[tokio::test]
async fn runtime_watcher_sees_every_change() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut seen = Vec::new();
    let writer = {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &cm("w", "1"))
                .await
                .unwrap();
            let p = json!({"data": {"k": "2"}});
            api.patch("w", &PatchParams::default(), &Patch::Merge(&p))
                .await
                .unwrap();
            api.delete("w", &DeleteParams::default()).await.unwrap();
        }
    };
    // Wait for the initial list before writing, so every write arrives as an event.
    loop {
        match events.try_next().await.unwrap().unwrap() {
            watcher::Event::InitDone => break,
            _ => continue,
        }
    }
    writer.await;
    let collected = tokio::time::timeout(Duration::from_secs(10), async {
        while seen.len() < 3 {
            match events.try_next().await.unwrap().unwrap() {
                watcher::Event::Apply(c) => seen.push(format!("apply {}", c.data.unwrap()["k"])),
                watcher::Event::Delete(c) => seen.push(format!("delete {}", c.data.unwrap()["k"])),
                _ => {}
            }
        }
    })
    .await;
    assert!(collected.is_ok(), "watcher saw only {seen:?}");
    assert_eq!(seen, ["apply 1", "apply 2", "delete 2"]);
    server.shutdown().await;
}

/// kube-apiserver: a watch from a resourceVersion older than the history answers 200 and
/// one ERROR event with a 410 Expired Status; the watcher recovers by re-listing.
#[tokio::test]
async fn watch_from_compacted_version_is_expired() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api
        .create(&PostParams::default(), &cm("old", "1"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("new", "1"))
        .await
        .unwrap();
    server.compact();
    let rv = first.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&kube::api::WatchParams::default().timeout(3), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(kube::api::WatchEvent::Error(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    server.shutdown().await;
}

/// Shutdown is bounded even with a watch open (kube-apiserver closes its watches too).
#[tokio::test]
async fn shutdown_ends_open_watches() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = api
        .watch(&kube::api::WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let done = tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await;
    assert!(done.is_ok(), "shutdown did not finish");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.try_next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the watch stream stayed open after shutdown");
}

/// kube-runtime's finalizer helper (JSON patches with `test` ops) against the API
/// server's finalizer semantics: added on first reconcile, cleanup on delete, then gone.
#[tokio::test]
async fn kube_runtime_finalizer_helper_adds_and_releases_its_finalizer() {
    use kube::runtime::controller::Action;
    use kube::runtime::finalizer::{Event, finalizer};
    use std::sync::atomic::{AtomicBool, Ordering};
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("f", "1"))
        .await
        .unwrap();
    let name = "portcullis.dev/cleanup";
    let cleaned = std::sync::Arc::new(AtomicBool::new(false));
    let run = |obj: ConfigMap| {
        let (api, cleaned) = (api.clone(), cleaned.clone());
        async move {
            finalizer(&api, name, std::sync::Arc::new(obj), |event| async move {
                if let Event::Cleanup(_) = event {
                    cleaned.store(true, Ordering::SeqCst);
                }
                Ok::<_, std::convert::Infallible>(Action::await_change())
            })
            .await
        }
    };
    run(api.get("f").await.unwrap()).await.unwrap();
    assert_eq!(
        api.get("f").await.unwrap().metadata.finalizers,
        Some(vec![name.to_string()])
    );
    api.delete("f", &DeleteParams::default()).await.unwrap();
    run(api.get("f").await.unwrap()).await.unwrap();
    assert!(cleaned.load(Ordering::SeqCst), "the cleanup arm ran");
    assert!(api.get_opt("f").await.unwrap().is_none());
    server.shutdown().await;
}
