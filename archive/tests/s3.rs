//! The `s3://` path against a real S3-compatible server on loopback: moto (`pip install
//! "moto[server]"`). Fails, never skips, when it cannot be started.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use weir_archive::sink::CrashPoint;
use weir_archive::{ArchiveQuery, ArchiveRoot, StoreConfig};
use weir_tests::Moto;

fn store_config(endpoint: &str) -> StoreConfig {
    StoreConfig {
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: Some(true),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_archive_writes_recovers_compacts_and_queries() {
    let m = Moto::start("weir-test");
    let cfg = store_config(&m.endpoint);
    let url = "s3://weir-test/lake";
    let dir = tempfile::tempdir().unwrap();
    let lines = |from: i64, to: i64| -> String {
        (from..to)
            .map(|i| format!("cpu,host=h{} v={i}i {}\n", i % 3, T0 + i * 1_000_000_000))
            .collect()
    };
    let mut s = spec("lake", std::path::Path::new("/unused"));
    s.url = url.into();

    let node = start_on(dir.path(), s.clone(), 1, &cfg).await;
    node.write(lines(0, 100)).await;
    node.flush().await.unwrap();
    node.stop().await;

    // Dies between the PUTs of a roll writing two partitions.
    let mut crashing = s.clone();
    crashing.crash_at = Some(CrashPoint::AfterFirstPut);
    let node = start_on(dir.path(), crashing, 1, &cfg).await;
    node.write(lines(100, 200)).await;
    node.write(lines(3600, 3700)).await;
    assert!(node.flush().await.is_err());
    node.crash().await;

    let node = start_on(dir.path(), s.clone(), 1, &cfg).await;
    node.write(lines(200, 250)).await;
    node.flush().await.unwrap();
    assert_eq!(
        node.archive().compact(true).await.unwrap(),
        1,
        "hour 00 has two files, hour 01 one"
    );
    node.stop().await;

    let root = ArchiveRoot::open(url, &cfg).unwrap();
    let listed = root
        .store
        .list_with_delimiter(Some(
            &"lake/telegraf/autogen/cpu/date=2024-01-01/hour=00".into(),
        ))
        .await
        .unwrap();
    let names: Vec<String> = listed
        .objects
        .iter()
        .map(|o| o.location.to_string())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("lake/telegraf/autogen/cpu/date=2024-01-01/hour=00/lake-c"),
        "{names:?}"
    );
    let q = ArchiveQuery::new(root);
    let r = weir_archive::query::to_json(
        &q.sql("SELECT count(*), count(DISTINCT v), sum(v) FROM telegraf.autogen.cpu")
            .await
            .unwrap(),
    )
    .unwrap();
    let want: i64 = (0..250).sum::<i64>() + (3600..3700).sum::<i64>();
    assert_eq!(r["rows"], serde_json::json!([[350, 350, want]]));
    let r = weir_archive::query::to_json(
        &q.sql("SELECT count(*) FROM telegraf.autogen.cpu WHERE time >= '2024-01-01T01:00:00Z'")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r["rows"], serde_json::json!([[100]]));
}
