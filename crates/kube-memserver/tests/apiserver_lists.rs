//! Lists and watches as kube-rs uses them: selectors, paging, exact versions, the
//! streaming watch-list and the metadata-only API.
#[path = "support/cluster.rs"]
mod cluster;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams, VersionMatch};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::time::Duration;

async fn seed(api: &Api<ConfigMap>, names_and_env: &[(&str, &str)]) {
    for (name, env) in names_and_env {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(BTreeMap::from([("env".to_string(), env.to_string())])),
                ..Default::default()
            },
            ..Default::default()
        };
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
}

fn names(list: &kube::core::ObjectList<ConfigMap>) -> Vec<String> {
    list.items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect()
}

/// kube-apiserver paging: `limit` answers a page, a continue token and the count of the
/// rest; following the token walks the remaining objects in name order.
#[tokio::test]
async fn limit_and_continue_page_through_a_list() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api, &[("a", "x"), ("b", "y"), ("c", "x")]).await;
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first.metadata.remaining_item_count, Some(1));
    let token = first.metadata.continue_.clone().unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["c"]);
    assert!(
        second
            .metadata
            .continue_
            .as_deref()
            .unwrap_or("")
            .is_empty()
    );
    server.shutdown().await;
}

/// Label selectors filter lists (equality and set-based).
#[tokio::test]
async fn label_selectors_filter_lists() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api, &[("a", "x"), ("b", "y"), ("c", "x")]).await;
    assert_eq!(
        names(
            &api.list(&ListParams::default().labels("env=x"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            &api.list(&ListParams::default().labels("env notin (x)"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    server.shutdown().await;
}

/// resourceVersionMatch=Exact lists the past; once compacted away it is 410 Expired.
#[tokio::test]
async fn exact_list_serves_the_past_until_compacted() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api, &[("a", "x")]).await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    seed(&api, &[("b", "x")]).await;
    let past = api
        .list(&ListParams::default().at(&rv).matching(VersionMatch::Exact))
        .await
        .unwrap();
    assert_eq!(names(&past), ["a"]);
    server.compact();
    match api
        .list(&ListParams::default().at(&rv).matching(VersionMatch::Exact))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("{other}"),
    }
    server.shutdown().await;
}

/// The streaming watch-list (sendInitialEvents + initial-events-end bookmark) that
/// kube-rs' watcher uses with `streaming_lists()`.
#[tokio::test]
async fn streaming_list_watcher_gets_initial_objects_then_changes() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api, &[("before", "x")]).await;
    let mut events = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.try_next().await.unwrap().unwrap() {
                watcher::Event::InitApply(c) => initial.push(c.metadata.name.unwrap()),
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
        seed(&api, &[("after", "x")]).await;
        loop {
            if let watcher::Event::Apply(c) = events.try_next().await.unwrap().unwrap() {
                return c.metadata.name.unwrap();
            }
        }
    })
    .await
    .expect("the watcher saw the new object");
    assert_eq!(
        (initial, seen),
        (vec!["before".to_string()], "after".to_string())
    );
    server.shutdown().await;
}

/// The metadata-only API (PartialObjectMetadata) answers objects without their data.
#[tokio::test]
async fn metadata_api_answers_partial_object_metadata() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api, &[("a", "x")]).await;
    let meta = api.get_metadata("a").await.unwrap();
    assert_eq!(meta.metadata.labels.unwrap()["env"], "x");
    let listed = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    server.shutdown().await;
}
