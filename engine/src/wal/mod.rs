//! The write-ahead log.
//!
//! A write request is acknowledged only after its accepted lines are in the log. A single
//! writer thread appends records and, with `fsync = always`, commits everything that queued
//! up during the previous fsync with one more fsync (group commit), so throughput scales with
//! concurrency instead of paying one fsync per request. Segments are deleted once every
//! subscriber has durably consumed them ([`Wal::release_through`]).

pub mod fsio;
pub mod record;
mod segment;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;

pub use record::WalRecord;
use writer::{Command, WriterThread};

use crate::line_protocol::Precision;
use crate::seq::SeqTracker;

/// When the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before every acknowledgement (group commit). Survives power loss.
    Always,
    /// Every interval. Survives a crash of weir (the OS has the data) but not of the host.
    Interval(Duration),
}

/// Log settings.
#[derive(Debug, Clone)]
pub struct WalConfig {
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
}

/// Log failures.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write-ahead log is shut down")]
    Closed,
}

/// A handle to the log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Wal {
    inner: Arc<WalInner>,
}

#[derive(Debug)]
struct WalInner {
    tx: std::sync::mpsc::Sender<Command>,
    tracker: Arc<SeqTracker>,
    stats: Arc<writer::WalStats>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A record to append.
#[derive(Debug)]
pub struct Append {
    pub receive_time_ns: i64,
    pub precision: Precision,
    pub db: String,
    pub rp: String,
    pub body: Bytes,
}

impl Wal {
    /// Opens the log in `config.dir`, calling `replay` with every record still in it (oldest
    /// first) before any new record can be written. A torn record at the end (a crash in the
    /// middle of a write that was therefore never acknowledged) is cut off.
    pub fn open(
        config: WalConfig,
        tracker: Arc<SeqTracker>,
        mut replay: impl FnMut(WalRecord),
    ) -> Result<Wal, WalError> {
        std::fs::create_dir_all(&config.dir).map_err(|source| WalError::Io {
            path: config.dir.clone(),
            source,
        })?;
        let segments = segment::list(&config.dir)?;
        let mut last_seq = 0u64;
        let mut kept = Vec::new();
        let count = segments.len();
        for (i, seg) in segments.into_iter().enumerate() {
            let scan = segment::scan(&seg.path)?;
            if let Some(why) = &scan.stopped {
                tracing::warn!(
                    segment = %seg.path.display(),
                    valid_bytes = scan.valid_len,
                    reason = %why,
                    last = i + 1 == count,
                    "write-ahead log segment ends in an unreadable record; cutting it off"
                );
                truncate(&seg.path, scan.valid_len)?;
            }
            if scan.records.is_empty() && scan.valid_len == 0 {
                // An empty segment (the previous run wrote nothing to it): nothing to keep.
                let _ = std::fs::remove_file(&seg.path);
                continue;
            }
            let mut seg_last = None;
            for record in scan.records {
                if record.seq <= last_seq && last_seq != 0 {
                    // Replayed already (a segment can only overlap after manual tampering).
                    continue;
                }
                last_seq = record.seq;
                seg_last = Some(record.seq);
                replay(record);
            }
            kept.push(writer::ClosedSegment {
                path: seg.path,
                last_seq: seg_last.unwrap_or(seg.first_seq.saturating_sub(1)),
            });
        }
        let stats = Arc::new(writer::WalStats::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = WriterThread::start(
            config,
            rx,
            kept,
            last_seq + 1,
            Arc::clone(&tracker),
            Arc::clone(&stats),
        )?;
        Ok(Wal {
            inner: Arc::new(WalInner {
                tx,
                tracker,
                stats,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Appends a record; resolves with its sequence number once it is as durable as the
    /// fsync policy promises. The record holds one reference in the [`SeqTracker`]; the caller
    /// releases it once the record is handed downstream.
    pub async fn append(&self, append: Append) -> Result<u64, WalError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.inner
            .tx
            .send(Command::Append(append, done))
            .map_err(|_| WalError::Closed)?;
        wait.await.map_err(|_| WalError::Closed)?
    }

    /// The tracker of records in transit.
    pub fn tracker(&self) -> &Arc<SeqTracker> {
        &self.inner.tracker
    }

    /// Deletes closed segments whose records are all at or below `seq`.
    pub fn release_through(&self, seq: u64) {
        let _ = self.inner.tx.send(Command::Release(seq));
    }

    /// Forces an fsync of everything written so far.
    pub async fn sync(&self) -> Result<(), WalError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.inner
            .tx
            .send(Command::Sync(done))
            .map_err(|_| WalError::Closed)?;
        wait.await.map_err(|_| WalError::Closed)?
    }

    /// Bytes currently on disk in segments.
    pub fn size_bytes(&self) -> u64 {
        self.inner.stats.bytes_on_disk()
    }

    /// Counters for metrics.
    pub fn stats(&self) -> WalStatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Syncs and stops the writer thread; later appends fail with [`WalError::Closed`].
    pub fn close(&self) {
        let _ = self.inner.tx.send(Command::Shutdown);
        if let Some(handle) = self.inner.thread.lock().take() {
            let _ = handle.join();
        }
    }
}

pub use writer::WalStatsSnapshot;

fn truncate(path: &Path, len: u64) -> Result<(), WalError> {
    let io = |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.set_len(len).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
