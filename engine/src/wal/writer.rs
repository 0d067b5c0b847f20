//! The single writer thread: assigns sequence numbers, appends, fsyncs, rolls and deletes
//! segments.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::fsio::sync_dir;
use super::record::encode;
use super::segment::segment_path;
use super::{Append, FsyncPolicy, WalConfig, WalError};
use crate::seq::SeqTracker;

pub(crate) enum Command {
    Append(Append, oneshot::Sender<Result<u64, WalError>>),
    Sync(oneshot::Sender<Result<(), WalError>>),
    Release(u64),
    Shutdown,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Append(..) => "Append",
            Command::Sync(_) => "Sync",
            Command::Release(_) => "Release",
            Command::Shutdown => "Shutdown",
        })
    }
}

#[derive(Debug)]
pub(crate) struct ClosedSegment {
    pub path: PathBuf,
    pub last_seq: u64,
}

/// Counters shared with the handle.
#[derive(Debug, Default)]
pub(crate) struct WalStats {
    bytes_on_disk: AtomicU64,
    records: AtomicU64,
    bytes_written: AtomicU64,
    fsyncs: AtomicU64,
    segments: AtomicU64,
}

/// A copy of the log's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStatsSnapshot {
    pub bytes_on_disk: u64,
    pub records_written: u64,
    pub bytes_written: u64,
    pub fsyncs: u64,
    pub segments: u64,
}

impl WalStats {
    pub(crate) fn bytes_on_disk(&self) -> u64 {
        self.bytes_on_disk.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> WalStatsSnapshot {
        WalStatsSnapshot {
            bytes_on_disk: self.bytes_on_disk.load(Ordering::Relaxed),
            records_written: self.records.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            segments: self.segments.load(Ordering::Relaxed),
        }
    }
}

struct Active {
    file: File,
    path: PathBuf,
    len: u64,
    last_seq: u64,
    dirty: bool,
}

pub(crate) struct WriterThread {
    config: WalConfig,
    closed: Vec<ClosedSegment>,
    active: Active,
    next_seq: u64,
    tracker: Arc<SeqTracker>,
    stats: Arc<WalStats>,
    buf: Vec<u8>,
    last_sync: Instant,
    released: u64,
}

impl WriterThread {
    pub(crate) fn start(
        config: WalConfig,
        rx: Receiver<Command>,
        closed: Vec<ClosedSegment>,
        next_seq: u64,
        tracker: Arc<SeqTracker>,
        stats: Arc<WalStats>,
    ) -> Result<std::thread::JoinHandle<()>, WalError> {
        let active = open_segment(&config, next_seq)?;
        let mut on_disk = 0;
        for seg in &closed {
            on_disk += std::fs::metadata(&seg.path).map(|m| m.len()).unwrap_or(0);
        }
        stats.bytes_on_disk.store(on_disk, Ordering::Relaxed);
        stats
            .segments
            .store(closed.len() as u64 + 1, Ordering::Relaxed);
        let mut writer = WriterThread {
            config,
            closed,
            active,
            next_seq,
            tracker,
            stats,
            buf: Vec::with_capacity(1 << 20),
            last_sync: Instant::now(),
            released: 0,
        };
        std::thread::Builder::new()
            .name("weir-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| WalError::Io {
                path: PathBuf::from("<wal writer thread>"),
                source,
            })
    }

    fn run(&mut self, rx: Receiver<Command>) {
        let tick = match self.config.fsync {
            FsyncPolicy::Always => Duration::from_secs(3600),
            FsyncPolicy::Interval(d) => d.max(Duration::from_millis(1)),
        };
        let mut appends: Vec<(Append, oneshot::Sender<Result<u64, WalError>>)> = Vec::new();
        let mut syncs: Vec<oneshot::Sender<Result<(), WalError>>> = Vec::new();
        loop {
            let first = match rx.recv_timeout(tick) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Command::Shutdown),
            };
            let mut shutdown = false;
            let mut release = None;
            let mut take = |c: Command| match c {
                Command::Append(a, tx) => appends.push((a, tx)),
                Command::Sync(tx) => syncs.push(tx),
                Command::Release(s) => release = Some(release.map_or(s, |r: u64| r.max(s))),
                Command::Shutdown => shutdown = true,
            };
            if let Some(c) = first {
                take(c);
            }
            // Group commit: everything that queued while we were busy goes in one write.
            while let Ok(c) = rx.try_recv() {
                take(c);
            }
            if !appends.is_empty() {
                self.write_group(&mut appends);
            }
            if let Some(seq) = release {
                self.release(seq);
            }
            let interval_due = matches!(self.config.fsync, FsyncPolicy::Interval(d) if self.last_sync.elapsed() >= d);
            if !syncs.is_empty() || shutdown || interval_due {
                let result = self.sync();
                for tx in syncs.drain(..) {
                    let _ = tx.send(result.as_ref().map(|_| ()).map_err(clone_err));
                }
            }
            if shutdown {
                return;
            }
        }
    }

    fn write_group(&mut self, appends: &mut Vec<(Append, oneshot::Sender<Result<u64, WalError>>)>) {
        self.buf.clear();
        let first_seq = self.next_seq;
        for (a, _) in appends.iter() {
            encode(
                &mut self.buf,
                self.next_seq,
                a.receive_time_ns,
                a.precision,
                &a.db,
                &a.rp,
                &a.body,
            );
            self.next_seq += 1;
        }
        let last_seq = self.next_seq - 1;
        // Registered before anyone learns the numbers, so the delivered watermark can never
        // pass a record that is written but not yet handed downstream.
        self.tracker.assign(first_seq, last_seq);
        let mut result = self
            .active
            .file
            .write_all(&self.buf)
            .map_err(|source| WalError::Io {
                path: self.active.path.clone(),
                source,
            });
        if result.is_ok() {
            self.active.len += self.buf.len() as u64;
            self.active.last_seq = last_seq;
            self.active.dirty = true;
            self.stats
                .bytes_written
                .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
            self.stats
                .bytes_on_disk
                .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
            self.stats
                .records
                .fetch_add(appends.len() as u64, Ordering::Relaxed);
            if self.config.fsync == FsyncPolicy::Always {
                result = self.sync();
            }
        } else {
            // Cut off whatever part of the group reached the file, so the log stays readable.
            let _ = self.active.file.set_len(self.active.len);
        }
        match result {
            Ok(()) => {
                for (i, (_, tx)) in appends.drain(..).enumerate() {
                    let _ = tx.send(Ok(first_seq + i as u64));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write-ahead log append failed");
                for s in first_seq..=last_seq {
                    self.tracker.release(s);
                }
                for (_, tx) in appends.drain(..) {
                    let _ = tx.send(Err(clone_err(&e)));
                }
            }
        }
        if self.active.len >= self.config.segment_bytes {
            if let Err(e) = self.roll() {
                tracing::error!(error = %e, "cannot start a new write-ahead log segment");
            }
        }
        if self.released > 0 {
            self.release(self.released);
        }
    }

    fn sync(&mut self) -> Result<(), WalError> {
        if !self.active.dirty {
            return Ok(());
        }
        self.active
            .file
            .sync_data()
            .map_err(|source| WalError::Io {
                path: self.active.path.clone(),
                source,
            })?;
        self.active.dirty = false;
        self.last_sync = Instant::now();
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn roll(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let next = open_segment(&self.config, self.next_seq)?;
        let old = std::mem::replace(&mut self.active, next);
        self.closed.push(ClosedSegment {
            path: old.path,
            last_seq: old.last_seq,
        });
        self.stats.segments.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn release(&mut self, seq: u64) {
        self.released = self.released.max(seq);
        // Closed segments are in order; delete the prefix that is entirely released.
        let mut removed_any = false;
        while let Some(seg) = self.closed.first() {
            if seg.last_seq > self.released {
                break;
            }
            let len = std::fs::metadata(&seg.path).map(|m| m.len()).unwrap_or(0);
            match std::fs::remove_file(&seg.path) {
                Ok(()) => {
                    self.stats.bytes_on_disk.fetch_sub(len, Ordering::Relaxed);
                    self.stats.segments.fetch_sub(1, Ordering::Relaxed);
                    removed_any = true;
                }
                Err(e) => {
                    tracing::warn!(segment = %seg.path.display(), error = %e, "cannot delete released write-ahead log segment");
                    break;
                }
            }
            self.closed.remove(0);
        }
        if removed_any {
            let _ = sync_dir(&self.config.dir);
        }
    }
}

fn open_segment(config: &WalConfig, first_seq: u64) -> Result<Active, WalError> {
    let path = segment_path(&config.dir, first_seq);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| WalError::Io {
            path: path.clone(),
            source,
        })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    sync_dir(&config.dir).map_err(|source| WalError::Io {
        path: config.dir.clone(),
        source,
    })?;
    Ok(Active {
        file,
        path,
        len,
        last_seq: first_seq.saturating_sub(1),
        dirty: false,
    })
}

fn clone_err(e: &WalError) -> WalError {
    match e {
        WalError::Io { path, source } => WalError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        WalError::Closed => WalError::Closed,
    }
}
