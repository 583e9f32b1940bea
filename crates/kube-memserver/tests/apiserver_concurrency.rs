//! Optimistic concurrency under contention, as controllers meet it on kube-apiserver:
//! conflicting writers retry on 409, no update is lost, and a watch sees every version
//! in increasing resourceVersion order.
#[path = "support/cluster.rs"]
mod cluster;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams, WatchEvent, WatchParams};
use std::collections::BTreeMap;
use std::time::Duration;

const WRITERS: usize = 8;
const INCREMENTS: usize = 10;

/// Each writer increments a counter with read-modify-write and retries on Conflict.
async fn increment(api: Api<ConfigMap>) -> usize {
    let mut conflicts = 0;
    for _ in 0..INCREMENTS {
        loop {
            let mut cm = api.get("counter").await.unwrap();
            let n: usize = cm.data.as_ref().unwrap()["n"].parse().unwrap();
            cm.data = Some(BTreeMap::from([("n".to_string(), (n + 1).to_string())]));
            match api.replace("counter", &PostParams::default(), &cm).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 409 => conflicts += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    conflicts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_loses_no_update() {
    let (server, client) = cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let counter = ConfigMap {
        metadata: ObjectMeta {
            name: Some("counter".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("n".to_string(), "0".to_string())])),
        ..Default::default()
    };
    let created = api.create(&PostParams::default(), &counter).await.unwrap();
    let start = created.metadata.resource_version.unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(increment(api.clone())))
        .collect();
    let mut conflicts = 0;
    for w in writers {
        conflicts += w.await.unwrap();
    }
    let total = WRITERS * INCREMENTS;
    let last = api.get("counter").await.unwrap();
    assert_eq!(
        last.data.unwrap()["n"],
        total.to_string(),
        "({conflicts} conflicts were retried)"
    );

    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &start)
        .await
        .unwrap()
        .boxed();
    let (mut versions, mut values) = (Vec::new(), Vec::new());
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while values.len() < total {
            if let Some(WatchEvent::Modified(cm)) = stream.try_next().await.unwrap() {
                versions.push(
                    cm.metadata
                        .resource_version
                        .unwrap()
                        .parse::<u64>()
                        .unwrap(),
                );
                values.push(cm.data.unwrap()["n"].parse::<usize>().unwrap());
            }
        }
    })
    .await;
    assert!(
        seen.is_ok(),
        "the watch replayed {} of {total} updates",
        values.len()
    );
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "resourceVersions increase"
    );
    assert_eq!(
        values,
        (1..=total).collect::<Vec<_>>(),
        "every value, in order"
    );
    server.shutdown().await;
}
