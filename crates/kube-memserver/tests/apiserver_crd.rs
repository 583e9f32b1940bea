//! CustomResourceDefinitions served as kube-apiserver serves them: Established status,
//! discovery, the status and scale subresources the CRD declares, and removal.
#[path = "support/cluster.rs"]
mod cluster;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

fn gadget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({"metadata": {"name": "gadgets.tx.example.com"}, "spec": {
        "group": "tx.example.com", "scope": "Namespaced",
        "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "shortNames": ["gd"]},
        "versions": [{"name": "v1", "served": true, "storage": true,
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}},
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
    .unwrap()
}

fn gadgets(client: kube::Client) -> (Api<DynamicObject>, ApiResource) {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tx.example.com", "v1", "Gadget"),
        "gadgets",
    );
    (Api::namespaced_with(client, "default", &ar), ar)
}

/// Creating a CRD makes it Established (NamesAccepted, acceptedNames, storedVersions) and
/// its kind appears in discovery.
#[tokio::test]
async fn a_created_crd_becomes_established_and_discoverable() {
    let (server, client) = cluster::start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &gadget_crd())
        .await
        .unwrap();
    let status = crds
        .get("gadgets.tx.example.com")
        .await
        .unwrap()
        .status
        .unwrap();
    let conditions: Vec<(String, String)> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert_eq!(
        conditions,
        [
            ("NamesAccepted".into(), "True".into()),
            ("Established".into(), "True".into())
        ]
    );
    assert_eq!(status.accepted_names.unwrap().kind, "Gadget");
    assert_eq!(status.stored_versions, Some(vec!["v1".to_string()]));
    let discovered = kube::Discovery::new(client).run().await.unwrap();
    assert!(discovered.groups().any(|g| g.name() == "tx.example.com"));
    server.shutdown().await;
}

/// Status subresource rules for custom resources: status is dropped on create and on
/// main-resource writes; `/status` writes only status and does not bump generation.
/// The scale subresource reads and writes the CRD's replica paths.
#[tokio::test]
async fn custom_resources_get_the_status_and_scale_subresources_of_their_crd() {
    let (server, client) = cluster::start().await;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &gadget_crd())
        .await
        .unwrap();
    let (api, ar) = gadgets(client);
    let mut g = DynamicObject::new("g1", &ar);
    g.data = json!({"spec": {"size": 2}, "status": {"size": 9}});
    let created = api.create(&PostParams::default(), &g).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create"
    );
    assert_eq!(created.metadata.generation, Some(1));
    let status = json!({"status": {"size": 2}, "spec": {"size": 7}});
    let s = api
        .patch_status("g1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        (
            s.data["status"]["size"].clone(),
            s.data["spec"]["size"].clone(),
            s.metadata.generation
        ),
        (json!(2), json!(2), Some(1))
    );
    let scale = api.get_scale("g1").await.unwrap();
    assert_eq!(
        (scale.spec.unwrap().replicas, scale.status.unwrap().replicas),
        (Some(2), 2)
    );
    let scaled = api
        .patch_scale(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(4));
    let after = api.get("g1").await.unwrap();
    assert_eq!(
        (
            after.data["spec"]["size"].clone(),
            after.metadata.generation
        ),
        (json!(4), Some(2))
    );
    server.shutdown().await;
}

/// Deleting a CRD deletes its objects and stops serving its kind.
#[tokio::test]
async fn deleting_a_crd_removes_its_kind_and_objects() {
    let (server, client) = cluster::start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &gadget_crd())
        .await
        .unwrap();
    let (api, ar) = gadgets(client);
    api.create(&PostParams::default(), &DynamicObject::new("g1", &ar))
        .await
        .unwrap();
    crds.delete("gadgets.tx.example.com", &DeleteParams::default())
        .await
        .unwrap();
    match api.get("g1").await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!(s.code, 404),
        other => panic!("{other}"),
    }
    server.shutdown().await;
}
