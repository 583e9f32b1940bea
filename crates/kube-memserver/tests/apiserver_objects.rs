//! Writes whose rules live in `objects` (strategic merge, server-side apply,
//! managedFields, CRD schemas), driven through the local API server with `kube::Client`.
#[path = "support/cluster.rs"]
mod cluster;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

/// kube-apiserver SSA: a second manager changing a field the first one applied gets a
/// 409 with a FieldManagerConflict cause; with force it takes the field over.
#[tokio::test]

async fn server_side_apply_conflicts_unless_forced() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let applied = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"shared": v}});
    api.patch(
        "ssa",
        &PatchParams::apply("manager-a"),
        &Patch::Apply(applied("a")),
    )
    .await
    .unwrap();
    let err = api_error(
        api.patch(
            "ssa",
            &PatchParams::apply("manager-b"),
            &Patch::Apply(applied("b")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("conflict with \"manager-a\""),
        "{}",
        err.message
    );
    let forced = api
        .patch(
            "ssa",
            &PatchParams::apply("manager-b").force(),
            &Patch::Apply(applied("b")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["shared"], "b");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"manager-b".to_string()), "{managers:?}");
    server.shutdown().await;
}

/// kube-apiserver records the writer of a create in managedFields (operation Update).
#[tokio::test]

async fn create_records_managed_fields_for_the_field_manager() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "mf"}, "data": {"k": "v"}})).unwrap();
    let created = api
        .create(
            &PostParams {
                field_manager: Some("writer".into()),
                ..Default::default()
            },
            &cm,
        )
        .await
        .unwrap();
    let entry = &created.metadata.managed_fields.unwrap()[0];
    assert_eq!(
        (entry.manager.as_deref(), entry.operation.as_deref()),
        (Some("writer"), Some("Update"))
    );
    server.shutdown().await;
}

/// kube-apiserver strategic merge: containers merge by name, so patching one container's
/// image keeps the other container.
#[tokio::test]

async fn strategic_merge_patch_merges_containers_by_name() {
    let (server, client) = cluster::start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "app", "image": "nginx:1.27"}, {"name": "sidecar", "image": "busybox:1.36"}]}}}}))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.37"}]}}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let images: Vec<String> = patched
        .spec
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.image.unwrap())
        .collect();
    assert_eq!(images, ["nginx:1.27", "busybox:1.37"]);
    server.shutdown().await;
}

/// kube-apiserver checks custom resources against the CRD's schema: 422 with a cause per
/// field for a violation.
#[tokio::test]

async fn custom_resource_schema_violation_is_invalid() {
    let (server, client) = cluster::start().await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    let crd = serde_json::from_value(json!({"metadata": {"name": "widgets.tx.example.com"}, "spec": {"group": "tx.example.com",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"}, "scope": "Namespaced",
        "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object",
            "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer", "maximum": 10}}}}}}}]}}))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let gvk = GroupVersionKind::gvk("tx.example.com", "v1", "Widget");
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        client,
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    );
    let mut w = DynamicObject::new("big", &ApiResource::from_gvk_with_plural(&gvk, "widgets"));
    w.data = json!({"spec": {"replicas": 50}});
    let err = api_error(
        widgets
            .create(&PostParams::default(), &w)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(err.message.contains("spec.replicas"), "{}", err.message);
    server.shutdown().await;
}
