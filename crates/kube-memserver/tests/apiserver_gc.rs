//! Deletion propagation and namespace deletion, as kube-apiserver with
//! kube-controller-manager's garbage collector and namespace controller behave.
#[path = "support/cluster.rs"]
mod cluster;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

fn cm(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn owned_by(mut c: ConfigMap, owner: &ConfigMap, block: bool) -> ConfigMap {
    c.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.metadata.name.clone().unwrap(),
        uid: owner.metadata.uid.clone().unwrap(),
        block_owner_deletion: Some(block),
        ..Default::default()
    }]);
    c
}

/// Polls `cond` for up to 10 s (the controllers act after the write, not inside it).
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut cond: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Foreground deletion: the owner stays (foregroundDeletion finalizer) while a dependent
/// that blocks owner deletion is held by its own finalizer, and goes once it is released.
#[tokio::test]
async fn foreground_delete_waits_for_blocking_dependents() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner"))
        .await
        .unwrap();
    let mut held = owned_by(cm("held"), &owner, true);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("the held dependent is terminating", || async {
        api.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    })
    .await;
    let waiting = api.get("owner").await.unwrap();
    assert_eq!(
        waiting.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()])
    );
    let release = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    eventually("the owner is gone", || async {
        api.get_opt("owner").await.unwrap().is_none()
    })
    .await;
    server.shutdown().await;
}

/// Orphan deletion: the owner goes, the dependent stays with the ownerReference removed.
#[tokio::test]
async fn orphan_delete_keeps_dependents_without_the_owner_reference() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner"))
        .await
        .unwrap();
    api.create(
        &PostParams::default(),
        &owned_by(cm("child"), &owner, false),
    )
    .await
    .unwrap();
    api.delete("owner", &DeleteParams::orphan()).await.unwrap();
    eventually("the owner is gone", || async {
        api.get_opt("owner").await.unwrap().is_none()
    })
    .await;
    let child = api.get("child").await.unwrap();
    assert!(
        child.metadata.owner_references.is_none(),
        "{:?}",
        child.metadata.owner_references
    );
    server.shutdown().await;
}

/// Namespace deletion: the namespace turns Terminating, refuses new content (403
/// NamespaceTerminating), its objects are deleted, and then it goes.
#[tokio::test]
async fn deleting_a_namespace_empties_it_then_removes_it() {
    let (server, client) = cluster::start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "doomed");
    let mut held = cm("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    let terminating = namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let refused = api
        .create(&PostParams::default(), &cm("late"))
        .await
        .unwrap_err();
    match refused {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden")),
        other => panic!("{other}"),
    }
    eventually("the held object is terminating", || async {
        api.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    })
    .await;
    assert!(
        namespaces.get_opt("doomed").await.unwrap().is_some(),
        "a held object keeps the namespace"
    );
    let release = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    eventually("the namespace is gone", || async {
        namespaces.get_opt("doomed").await.unwrap().is_none()
    })
    .await;
    server.shutdown().await;
}
