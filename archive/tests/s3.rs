//! The `s3://` path against a real S3-compatible server on loopback: moto (`pip install
//! "moto[server]"`). Fails, never skips, when it cannot be started.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use weir_archive::sink::CrashPoint;
use weir_archive::{ArchiveQuery, ArchiveRoot, StoreConfig};

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn moto(bucket: &str) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} -m moto.server: {e}; this test needs `pip install \"moto[server]\"`",
                python()
            )
        });
    let mut m = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = m.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = m.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("moto.server exited ({status}): {err}\nthis test needs `pip install \"moto[server]\"`");
        }
        assert!(
            Instant::now() < deadline,
            "moto.server did not listen on {port} within 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = Command::new(python())
        .args([
            "-c",
            &format!(
                "import boto3; boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='{bucket}')",
                m.endpoint
            ),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot create the bucket: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    m
}

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
    let m = moto("weir-test");
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
