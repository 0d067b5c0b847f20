//! The ingest pipeline: one call per write request, from bytes to durable, routed batches.
//!
//! Order of events for a request: parse and check every line (building Arrow columns as we
//! go), persist any new column types, append the accepted lines to the write-ahead log, wait
//! for the log to be durable, hand the batches to the batcher, and only then acknowledge.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::batch::{BuiltMeasurement, LineRejection, RequestBuilder};
use crate::batcher::{Batcher, BatcherConfig};
use crate::clock::SharedClock;
use crate::line_protocol::{lines, parse_line, ParsedLine, Precision};
use crate::router::Router;
use crate::schema::{RegistryError, SchemaRegistry};
use crate::seq::SeqTracker;
use crate::wal::{Append, FsyncPolicy, Wal, WalConfig, WalError, WalRecord};

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// State directory; the log goes to `<dir>/wal`, the schema registry to `<dir>/schema.json`.
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub segment_bytes: u64,
    pub batcher: BatcherConfig,
}

/// One write request, as the HTTP layer received it.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub db: String,
    pub rp: String,
    pub precision: Precision,
    /// Line protocol, already decompressed.
    pub body: Bytes,
}

/// What happened to a request's lines.
#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    pub accepted: usize,
    pub rejected: Vec<LineRejection>,
}

/// Why a request failed as a whole (nothing of it was acknowledged).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("internal error building batches: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    pub points_accepted: AtomicU64,
    pub points_rejected: AtomicU64,
    pub points_replayed: AtomicU64,
}

/// Starting the pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot create state directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The ingest pipeline. Create it, subscribe to its [`Router`], then [`IngestPipeline::start`].
#[derive(Debug)]
pub struct IngestPipeline {
    config: PipelineConfig,
    clock: SharedClock,
    registry: SchemaRegistry,
    tracker: Arc<SeqTracker>,
    router: Arc<Router>,
    batcher: Batcher,
    wal: parking_lot::RwLock<Option<Wal>>,
    stats: IngestStats,
}

/// The parsed and checked lines of one request.
struct Built {
    measurements: Vec<BuiltMeasurement>,
    outcome: WriteOutcome,
    accepted_body: Bytes,
    registry_changed: bool,
}

impl IngestPipeline {
    /// Opens the schema registry and sets up routing; the log is opened by `start`.
    pub fn new(config: PipelineConfig, clock: SharedClock) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let registry = SchemaRegistry::open(&config.data_dir.join("schema.json"))?;
        let tracker = Arc::new(SeqTracker::default());
        let router = Arc::new(Router::new(Arc::clone(&tracker)));
        let batcher = Batcher::new(config.batcher, Arc::clone(&router), Arc::clone(&tracker));
        Ok(Self {
            config,
            clock,
            registry,
            tracker,
            router,
            batcher,
            wal: parking_lot::RwLock::new(None),
            stats: IngestStats::default(),
        })
    }

    /// The router, to subscribe to before `start`.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// Ingest counters.
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// The schema registry.
    pub fn registry(&self) -> &SchemaRegistry {
        &self.registry
    }

    /// The log, once started.
    pub fn wal(&self) -> Option<Wal> {
        self.wal.read().clone()
    }

    /// Rows waiting in the batcher.
    pub fn buffered_rows(&self) -> usize {
        self.batcher.buffered_rows()
    }

    /// Opens the log and replays what is in it to the subscribers. Subscribers must be
    /// consuming already: replay waits on their queues.
    pub async fn start(&self) -> Result<usize, StartError> {
        let mut records: Vec<WalRecord> = Vec::new();
        let wal = Wal::open(
            WalConfig {
                dir: self.config.data_dir.join("wal"),
                fsync: self.config.fsync,
                segment_bytes: self.config.segment_bytes,
            },
            Arc::clone(&self.tracker),
            |r| records.push(r),
        )?;
        let replayed = self.replay(records).await;
        *self.wal.write() = Some(wal);
        Ok(replayed)
    }

    async fn replay(&self, records: Vec<WalRecord>) -> usize {
        let mut cursors = self.router.cursors();
        cursors.sort_unstable();
        let mut points = 0;
        let mut prev = 0u64;
        for record in records {
            // Cut batches at subscriber cursors, so each replayed batch is wanted entirely or
            // not at all by every subscriber.
            if cursors.iter().any(|c| *c >= prev && *c < record.seq) {
                self.batcher.flush_all(true).await;
            }
            prev = record.seq;
            self.tracker.assign(record.seq, record.seq);
            let built = self.build(
                &record.db,
                record.precision,
                record.receive_time_ns,
                &record.body,
            );
            for r in &built.outcome.rejected {
                tracing::warn!(seq = record.seq, rejection = %r, "line in the write-ahead log no longer accepted");
            }
            points += built.outcome.accepted;
            let db: Arc<str> = Arc::from(record.db.as_str());
            let rp: Arc<str> = Arc::from(record.rp.as_str());
            for m in built.measurements {
                self.batcher
                    .add(&db, &rp, m.measurement, m.batch, record.seq, true)
                    .await;
            }
            self.tracker.release(record.seq);
        }
        self.batcher.flush_all(true).await;
        self.stats
            .points_replayed
            .fetch_add(points as u64, Ordering::Relaxed);
        if points > 0 {
            tracing::info!(points, "replayed the write-ahead log");
        }
        points
    }

    /// Handles one write request. Resolves once the accepted lines are durable and handed to
    /// the batcher; the outcome lists the rejected lines.
    pub async fn write(&self, req: WriteRequest) -> Result<WriteOutcome, WriteError> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(req.body.len() as u64, Ordering::Relaxed);
        let receive_time_ns = self.clock.now_ns();
        let built = self.build(&req.db, req.precision, receive_time_ns, &req.body);
        self.stats
            .points_rejected
            .fetch_add(built.outcome.rejected.len() as u64, Ordering::Relaxed);
        if built.registry_changed {
            self.registry.persist()?;
        }
        if built.outcome.accepted == 0 {
            return Ok(built.outcome);
        }
        let wal = self.wal().ok_or(WalError::Closed)?;
        let seq = wal
            .append(Append {
                receive_time_ns,
                precision: req.precision,
                db: req.db.clone(),
                rp: req.rp.clone(),
                body: built.accepted_body,
            })
            .await?;
        let db: Arc<str> = Arc::from(req.db.as_str());
        let rp: Arc<str> = Arc::from(req.rp.as_str());
        for m in built.measurements {
            self.batcher
                .add(&db, &rp, m.measurement, m.batch, seq, false)
                .await;
        }
        self.tracker.release(seq);
        self.stats
            .points_accepted
            .fetch_add(built.outcome.accepted as u64, Ordering::Relaxed);
        Ok(built.outcome)
    }

    fn build(&self, db: &str, precision: Precision, receive_time_ns: i64, body: &Bytes) -> Built {
        let default_time = truncate_to(receive_time_ns, precision);
        let mut builder = RequestBuilder::new(db, &self.registry, precision, default_time, 1024);
        let mut outcome = WriteOutcome::default();
        let mut line = ParsedLine::default();
        // Byte ranges of accepted lines, only tracked once a line was rejected.
        let mut accepted_ranges: Option<Vec<(usize, usize)>> = None;
        let base = body.as_ptr() as usize;
        for (line_no, text) in lines(body) {
            let result = parse_line(text, line_no, &mut line)
                .map_err(|e| LineRejection {
                    line: e.line,
                    column: Some(e.column),
                    reason: e.kind.to_string(),
                })
                .and_then(|()| builder.add_line(line_no, &line));
            let start = text.as_ptr() as usize - base;
            match result {
                Ok(()) => {
                    outcome.accepted += 1;
                    if let Some(ranges) = &mut accepted_ranges {
                        ranges.push((start, start + text.len()));
                    }
                }
                Err(rejection) => {
                    if accepted_ranges.is_none() {
                        // Everything before this line was accepted: record it as one range.
                        accepted_ranges = Some(vec![(0, start)]);
                    }
                    outcome.rejected.push(rejection);
                }
            }
        }
        let registry_changed = builder.registry_changed();
        let measurements = match builder.finish() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot build record batches");
                outcome.rejected.push(LineRejection {
                    line: 0,
                    column: None,
                    reason: format!("internal error building batches: {e}"),
                });
                outcome.accepted = 0;
                Vec::new()
            }
        };
        let accepted_body = match accepted_ranges {
            None => body.clone(),
            Some(ranges) => {
                let mut out = Vec::with_capacity(body.len());
                for (s, e) in ranges {
                    if e > s {
                        out.extend_from_slice(&body[s..e]);
                        if out.last() != Some(&b'\n') {
                            out.push(b'\n');
                        }
                    }
                }
                Bytes::from(out)
            }
        };
        Built {
            measurements,
            outcome,
            accepted_body,
            registry_changed,
        }
    }

    /// Runs housekeeping until `shutdown` resolves: publishes lingering buffers and releases
    /// log segments every subscriber has made durable.
    pub async fn run_background(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let tick = (self.config.batcher.linger / 2).max(Duration::from_millis(5));
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_release = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => break,
            }
            self.batcher.flush_expired().await;
            if last_release.elapsed() >= Duration::from_millis(500) {
                last_release = std::time::Instant::now();
                if let Some(wal) = self.wal() {
                    wal.release_through(self.router.release_point());
                }
            }
        }
    }

    /// Publishes every buffered row and closes the log (syncing it).
    pub async fn shutdown(&self) {
        self.batcher.flush_all(false).await;
        let wal = self.wal.write().take();
        if let Some(wal) = wal {
            wal.release_through(self.router.release_point());
            let _ = tokio::task::spawn_blocking(move || wal.close()).await;
        }
    }
}

/// Server time truncated to the request's precision, as InfluxDB stamps lines without a time.
fn truncate_to(ns: i64, precision: Precision) -> i64 {
    let unit = precision.nanos_per_unit();
    ns - ns.rem_euclid(unit)
}
