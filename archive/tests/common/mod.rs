//! Shared helpers: a real ingest pipeline in a temp dir, an archive on it, and reading back.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use weir_archive::{ArchiveQuery, ArchiveRoot, ArchiveSink, ArchiveSpec, StoreConfig};
use weir_engine::batcher::BatcherConfig;
use weir_engine::clock::SystemClock;
use weir_engine::line_protocol::Precision;
use weir_engine::wal::FsyncPolicy;
use weir_engine::{IngestPipeline, PipelineConfig, WriteRequest};

pub struct Node {
    pub pipeline: Arc<IngestPipeline>,
    pub archive: Option<ArchiveSink>,
    stop_bg: tokio::sync::watch::Sender<bool>,
    bg: tokio::task::JoinHandle<()>,
}

pub fn spec(name: &str, root: &Path) -> ArchiveSpec {
    let mut s = ArchiveSpec::new(name, "telegraf", root.to_str().unwrap());
    s.roll_every = Duration::from_secs(3600);
    s.compact_after = None;
    s
}

/// Starts a pipeline on `dir` (batches of `batch_rows`) with `spec` subscribed, then replays.
pub async fn start(dir: &Path, spec: ArchiveSpec, batch_rows: usize) -> Node {
    start_on(dir, spec, batch_rows, &StoreConfig::default()).await
}

/// As `start`, with object store settings (s3://).
pub async fn start_on(
    dir: &Path,
    spec: ArchiveSpec,
    batch_rows: usize,
    store: &StoreConfig,
) -> Node {
    let pipeline = Arc::new(
        IngestPipeline::new(
            PipelineConfig {
                data_dir: dir.join("state"),
                fsync: FsyncPolicy::Always,
                segment_bytes: 1 << 16,
                batcher: BatcherConfig {
                    max_rows: batch_rows,
                    linger: Duration::from_millis(20),
                },
            },
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    let archive = ArchiveSink::start(
        spec,
        pipeline.router(),
        &dir.join("state").join("archives"),
        store,
    )
    .await
    .unwrap();
    pipeline.start().await.unwrap();
    let (stop_bg, rx) = tokio::sync::watch::channel(false);
    let p = Arc::clone(&pipeline);
    let bg = tokio::spawn(async move { p.run_background(rx).await });
    Node {
        pipeline,
        archive: Some(archive),
        stop_bg,
        bg,
    }
}

impl Node {
    pub async fn write(&self, body: impl Into<String>) {
        let out = self
            .pipeline
            .write(WriteRequest {
                db: "telegraf".into(),
                rp: "autogen".into(),
                precision: Precision::Nanoseconds,
                body: Bytes::from(body.into()),
            })
            .await
            .unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    }

    /// Waits for the batcher to hand everything to the router, then rolls the archive.
    pub async fn flush(&self) -> Result<(), weir_archive::ArchiveError> {
        for _ in 0..500 {
            if self.pipeline.buffered_rows() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        self.archive.as_ref().unwrap().flush().await
    }

    pub fn archive(&self) -> &ArchiveSink {
        self.archive.as_ref().unwrap()
    }

    /// Graceful stop: everything buffered is written.
    pub async fn stop(mut self) {
        let _ = self.stop_bg.send(true);
        let _ = (&mut self.bg).await;
        self.pipeline.shutdown().await;
        if let Some(a) = self.archive.take() {
            a.stop(self.pipeline.router()).await;
        }
    }

    /// `kill -9`: nothing is flushed, the archive task dies where it is.
    pub async fn crash(mut self) {
        if let Some(a) = self.archive.take() {
            a.abort(self.pipeline.router());
        }
        self.bg.abort();
        let _ = (&mut self.bg).await;
        drop(self.pipeline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every `.parquet` file under `root`, sorted.
pub fn parquet_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub async fn query(root: &Path, sql: &str) -> serde_json::Value {
    let q = ArchiveQuery::new(
        ArchiveRoot::open(root.to_str().unwrap(), &StoreConfig::default()).unwrap(),
    );
    let r = q.sql(sql).await.unwrap();
    weir_archive::query::to_json(&r).unwrap()
}

/// 2024-01-01T00:00:00Z in ns.
pub const T0: i64 = 1_704_067_200_000_000_000;
pub const HOUR: i64 = 3_600_000_000_000;
