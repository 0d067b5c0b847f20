//! The archive sink: a durable router subscriber that writes Parquet files.
//!
//! # Exactly once across `kill -9`
//!
//! The sink keeps a small state file, `<state_dir>/<archive>.json`, written atomically
//! (temp file, fsync, rename, fsync dir). It holds the *watermark* `W`: the archive's files
//! hold exactly the wanted rows of write-ahead-log records `<= W`, no more and no fewer. On
//! start the sink subscribes with `cursor = W`, so the log replays exactly the rest.
//!
//! Keeping "no more" true takes care, because a delivered batch may carry records above the
//! router's watermark (another measurement's batch with older records may still be in
//! flight). At each roll the sink computes `W = acker.watermark_after(last received)` and
//! lowers it below every buffered batch that reaches above it (repeating until stable); it
//! writes only the batches entirely `<= W` and keeps the others for the next roll.
//!
//! A roll (flush number `N`) is a small two-phase commit:
//! 1. record `pending = {N, W, files}` in the state file;
//! 2. PUT every file (a PUT is atomic: readers never see a partial file); names are
//!    deterministic (`<archive>-f<N>-<k>.parquet`), so a retry overwrites;
//! 3. record `committed = N, watermark = W, pending = none`; then acknowledge to the router,
//!    which lets the log delete what is now in Parquet.
//!
//! After a crash with a pending flush, the sink rolls it forward if every file exists (the
//! watermark becomes `W`) or deletes the files that exist (the log replays their rows).
//!
//! # Query results (`CREATE ARCHIVE ... AS SELECT`)
//!
//! A derived archive runs a [`Derive`] (the continuous-query engine) over the source batches
//! and archives its result rows. The derivation's state (open windows) is part of each roll:
//! the flush records the state file `<archive>.state-<N>` next to its Parquet files, and the
//! watermark `W` is the one the state covers (a source batch is folded in only once
//! [`Acker::covered_watermark`] reaches it, see [`FoldGate`]). So after a crash the sink
//! restores the committed state, the log replays the source records after `W`, and every
//! result row lands exactly once.
//!
//! # Compaction
//!
//! See [`crate::compact`]: partitions the sink wrote to are remembered in the state file and
//! compacted once their time range ended `compact_after` ago.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{AsArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::TimestampNanosecondType;
use arrow::record_batch::RecordBatch;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use weir_engine::fold_gate::FoldGate;
use weir_engine::router::{Acker, Delivery, Router, SubscriptionSpec};
use weir_engine::schema::TIME_COLUMN;

use crate::encode::{file_schema, record_columns, sorted_rows, write_parquet, Columns};
use crate::layout::{data_file_name, partition_dir, partition_start};
use crate::spec::{ArchiveSpec, StoreConfig};
use crate::store::ArchiveRoot;
use crate::ArchiveError;

/// Parquet key-value metadata keys written into every file.
pub const META_ARCHIVE: &str = "weir.archive";
/// The flush that wrote the file.
pub const META_FLUSH: &str = "weir.flush";

/// Test hook: where to stop as if killed.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After recording the pending flush, before any PUT.
    BeforePut,
    /// After the first PUT of a flush.
    AfterFirstPut,
    /// After every PUT, before committing.
    BeforeCommit,
}

/// One partition of one measurement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionKey {
    pub db: String,
    pub rp: String,
    pub measurement: String,
    /// Start of the partition, ns since the epoch.
    pub start: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingFlush {
    flush: u64,
    watermark: u64,
    files: Vec<String>,
    partitions: Vec<PartitionKey>,
    /// Derived archives: the state file written with this flush.
    #[serde(default)]
    snapshot: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MeasurementColumns {
    db: String,
    rp: String,
    measurement: String,
    columns: Columns,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SinkState {
    /// Last committed flush number.
    committed_flush: u64,
    /// Every wanted log record up to here is in the archive (None: nothing recorded yet).
    watermark: Option<u64>,
    pending: Option<PendingFlush>,
    /// Partitions written to since they were last compacted.
    dirty: BTreeSet<PartitionKey>,
    /// Every column each measurement has had, so every file carries all of them.
    measurements: Vec<MeasurementColumns>,
    /// Derived archives: the state file of the committed flush (in the state directory).
    #[serde(default)]
    snapshot: Option<String>,
}

/// Result rows of a derived archive, and where they go.
#[derive(Debug, Clone)]
pub struct DerivedBatch {
    pub db: String,
    pub rp: String,
    pub measurement: String,
    pub batch: RecordBatch,
}

/// What turns source batches into the rows a derived archive writes
/// (`CREATE ARCHIVE ... AS SELECT`): the continuous-query engine, kept behind this trait so
/// the archive does not depend on the statement language.
pub trait Derive: Send + 'static {
    /// Which `(db, rp, measurement)` the archive reads.
    fn filter(&self) -> weir_engine::router::Filter;
    /// Folds a source batch in; returns the result rows it completes, if any.
    fn ingest(
        &mut self,
        measurement: &str,
        batch: &RecordBatch,
    ) -> Result<Vec<DerivedBatch>, String>;
    /// Result rows due now (windows closed by the clock); called every 100 ms.
    fn due(&mut self) -> Result<Vec<DerivedBatch>, String>;
    /// The state, for the next roll.
    fn checkpoint(&self) -> Result<Vec<u8>, String>;
    /// Continues from a state written by `checkpoint` in an earlier run.
    fn restore(&mut self, bytes: &[u8]) -> Result<(), String>;
}

/// Counters of one archive.
#[derive(Debug, Default)]
pub struct ArchiveStats {
    pub rows_written: AtomicU64,
    pub files_written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub files_compacted: AtomicU64,
    pub errors: AtomicU64,
    pub watermark: AtomicU64,
}

enum Command {
    Flush(oneshot::Sender<Result<(), ArchiveError>>),
    Compact {
        force: bool,
        reply: oneshot::Sender<Result<usize, ArchiveError>>,
    },
}

/// A running archive: one `CREATE ARCHIVE`, consuming the router's batches into Parquet.
///
/// Kept small on purpose: the statement layer starts it, may force a roll or a compaction
/// (tests, `weir` management commands), reads counters, and stops it.
#[derive(Debug)]
pub struct ArchiveSink {
    name: String,
    subscription: String,
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
    stats: Arc<ArchiveStats>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Flush(_) => "Flush",
            Command::Compact { .. } => "Compact",
        })
    }
}

impl ArchiveSink {
    /// Recovers the archive's state from `state_dir` (finishing or undoing an interrupted
    /// flush), subscribes to `router` from its durable watermark and starts consuming.
    ///
    /// Call it before `IngestPipeline::start` for archives that existed before (the log
    /// replays to them); an archive created later starts with the data arriving from then on.
    pub async fn start(
        spec: ArchiveSpec,
        router: &Router,
        state_dir: &FsPath,
        store: &StoreConfig,
    ) -> Result<Self, ArchiveError> {
        Self::start_with_root(
            spec.clone(),
            router,
            state_dir,
            ArchiveRoot::open(&spec.url, store)?,
        )
        .await
    }

    /// As [`ArchiveSink::start`], with an already opened root.
    pub async fn start_with_root(
        spec: ArchiveSpec,
        router: &Router,
        state_dir: &FsPath,
        root: ArchiveRoot,
    ) -> Result<Self, ArchiveError> {
        Self::start_inner(spec, router, state_dir, root, None).await
    }

    /// Starts a derived archive (`CREATE ARCHIVE ... AS SELECT`): `derive` turns the source
    /// batches into the rows written; its state is restored from the last committed roll.
    pub async fn start_derived(
        spec: ArchiveSpec,
        router: &Router,
        state_dir: &FsPath,
        store: &StoreConfig,
        derive: Box<dyn Derive>,
    ) -> Result<Self, ArchiveError> {
        let root = ArchiveRoot::open(&spec.url, store)?;
        Self::start_inner(spec, router, state_dir, root, Some(derive)).await
    }

    async fn start_inner(
        spec: ArchiveSpec,
        router: &Router,
        state_dir: &FsPath,
        root: ArchiveRoot,
        mut derive: Option<Box<dyn Derive>>,
    ) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| ArchiveError::State(format!("{}: {e}", state_dir.display())))?;
        let state_path = state_dir.join(format!("{}.json", spec.name));
        let mut state = load_state(&state_path)?;
        recover(&root, state_dir, &mut state).await?;
        persist(&state_path, &state).await?;
        if let (Some(d), Some(file)) = (derive.as_mut(), &state.snapshot) {
            let path = state_dir.join(file);
            let bytes = std::fs::read(&path)
                .map_err(|e| ArchiveError::State(format!("{}: {e}", path.display())))?;
            d.restore(&bytes).map_err(|e| {
                ArchiveError::State(format!("cannot resume from {}: {e}", path.display()))
            })?;
        }

        let subscription = format!("archive:{}", spec.name);
        let filter: weir_engine::router::Filter = match &derive {
            Some(d) => d.filter(),
            None => {
                let filter_spec = spec.clone();
                Arc::new(move |db, _rp, m| filter_spec.wants(db, m))
            }
        };
        let sub = router.subscribe(SubscriptionSpec {
            name: subscription.clone(),
            filter,
            cursor: state.watermark,
            capacity: 64,
        });
        if state.watermark.is_none() {
            // A new archive: remember where it starts, so a crash before its first roll
            // still replays everything it was given.
            state.watermark = Some(sub.acker.watermark_after(0));
            persist(&state_path, &state).await?;
        }
        let stats = Arc::new(ArchiveStats::default());
        stats
            .watermark
            .store(state.watermark.unwrap_or(0), Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(8);
        let columns = state
            .measurements
            .iter()
            .map(|m| {
                (
                    (m.db.clone(), m.rp.clone(), m.measurement.clone()),
                    m.columns.clone(),
                )
            })
            .collect();
        let worker = Worker {
            spec: spec.clone(),
            root,
            state_dir: state_dir.to_path_buf(),
            state_path,
            state,
            derive,
            gate: FoldGate::new(),
            derive_dirty: false,
            columns,
            acker: sub.acker,
            held: Vec::new(),
            last_ordinal: 0,
            buffered_rows: 0,
            buffered_bytes: 0,
            stats: Arc::clone(&stats),
        };
        let task = tokio::spawn(worker.run(sub.deliveries, rx));
        Ok(Self {
            name: spec.name,
            subscription,
            commands: tx,
            task,
            stats,
        })
    }

    /// The archive's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<ArchiveStats> {
        &self.stats
    }

    /// Rolls now: writes every buffered row that can be committed. Resolves once done.
    pub async fn flush(&self) -> Result<(), ArchiveError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| ArchiveError::Stopped)?;
        rx.await.map_err(|_| ArchiveError::Stopped)?
    }

    /// Compacts the partitions written to since their last compaction: those closed
    /// (`compact_after`), or all of them with `force`. Returns how many partitions had files
    /// merged.
    pub async fn compact(&self, force: bool) -> Result<usize, ArchiveError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Compact { force, reply: tx })
            .await
            .map_err(|_| ArchiveError::Stopped)?;
        rx.await.map_err(|_| ArchiveError::Stopped)?
    }

    /// Stops consuming: unsubscribes, writes what was received, and returns. Call it after
    /// the pipeline's `shutdown` so the batcher's last rows reach the archive first.
    pub async fn stop(self, router: &Router) {
        router.unsubscribe(&self.subscription);
        drop(self.commands);
        let _ = self.task.await;
    }

    /// Stops at once without writing anything (what `kill -9` does; tests use it).
    pub fn abort(self, router: &Router) {
        self.task.abort();
        router.unsubscribe(&self.subscription);
    }
}

/// A received delivery, split by partition.
#[derive(Debug)]
struct Held {
    ordinal: u64,
    min_seq: u64,
    max_seq: u64,
    parts: Vec<(PartitionKey, RecordBatch)>,
}

type MKey = (String, String, String);

struct Worker {
    spec: ArchiveSpec,
    root: ArchiveRoot,
    state_dir: PathBuf,
    state_path: PathBuf,
    state: SinkState,
    /// Derived archives: the derivation, the source batches waiting to be folded in, and
    /// whether its state changed since the last roll.
    derive: Option<Box<dyn Derive>>,
    gate: FoldGate,
    derive_dirty: bool,
    columns: BTreeMap<MKey, Columns>,
    acker: Acker,
    held: Vec<Held>,
    last_ordinal: u64,
    buffered_rows: usize,
    buffered_bytes: usize,
    stats: Arc<ArchiveStats>,
}

impl Worker {
    async fn run(
        mut self,
        mut deliveries: mpsc::Receiver<Delivery>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let roll = self.spec.roll_every.max(Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + roll, roll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut commands_open = true;
        // After a failed roll, stop taking deliveries while this much is buffered.
        let mut failing = false;
        // Derived archives: the derivation's clock.
        let mut derive_tick = tokio::time::interval(Duration::from_millis(100));
        derive_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let derived = self.derive.is_some();
        loop {
            let accept =
                !(failing && self.buffered_rows >= self.spec.max_file_rows.saturating_mul(4));
            tokio::select! {
                _ = derive_tick.tick(), if derived => {
                    self.fold_ready();
                    continue;
                }
                d = deliveries.recv(), if accept => match d {
                    Some(d) => {
                        self.add(d);
                        while let Ok(d) = deliveries.try_recv() {
                            self.add(d);
                        }
                        if self.buffered_rows >= self.spec.max_file_rows || self.buffered_bytes >= self.spec.max_file_bytes {
                            failing = self.roll_logged().await.is_err();
                        }
                    }
                    None => {
                        let _ = self.roll_logged().await;
                        break;
                    }
                },
                _ = tick.tick() => {
                    failing = self.roll_logged().await.is_err();
                    if !failing {
                        if let Err(e) = self.compact(false).await {
                            self.stats.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(archive = %self.spec.name, error = %e, "archive compaction failed; will retry");
                        }
                    }
                }
                c = commands.recv(), if commands_open => match c {
                    Some(Command::Flush(reply)) => {
                        while let Ok(d) = deliveries.try_recv() {
                            self.add(d);
                        }
                        let r = self.roll_logged().await;
                        failing = r.is_err();
                        let _ = reply.send(r);
                    }
                    Some(Command::Compact { force, reply }) => {
                        let _ = reply.send(self.compact(force).await);
                    }
                    None => commands_open = false,
                },
            }
        }
    }

    fn add(&mut self, d: Delivery) {
        self.last_ordinal = self.last_ordinal.max(d.ordinal);
        if self.derive.is_some() {
            self.gate.hold(d);
            self.fold_ready();
            return;
        }
        let b = &d.batch;
        self.hold_rows(
            (d.ordinal, b.min_seq, b.max_seq),
            &b.db,
            &b.rp,
            &b.measurement,
            &b.batch,
        );
    }

    /// Buffers rows to archive at the next roll.
    fn hold_rows(
        &mut self,
        (ordinal, min_seq, max_seq): (u64, u64, u64),
        db: &str,
        rp: &str,
        measurement: &str,
        batch: &RecordBatch,
    ) {
        let key: MKey = (db.to_string(), rp.to_string(), measurement.to_string());
        let cols = self.columns.entry(key).or_default();
        record_columns(cols, &batch.schema());
        let parts = split_by_partition(batch, self.spec.partition)
            .into_iter()
            .map(|(start, batch)| {
                (
                    PartitionKey {
                        db: db.to_string(),
                        rp: rp.to_string(),
                        measurement: measurement.to_string(),
                        start,
                    },
                    batch,
                )
            })
            .collect::<Vec<_>>();
        self.buffered_rows += batch.num_rows();
        self.buffered_bytes += batch.get_array_memory_size();
        self.held.push(Held {
            ordinal,
            min_seq,
            max_seq,
            parts,
        });
    }

    /// Derived archives: folds the source batches the watermark covers into the derivation
    /// and buffers the result rows it completes (and those due by its clock).
    fn fold_ready(&mut self) {
        let Some(mut derive) = self.derive.take() else {
            return;
        };
        let mut out = Vec::new();
        for d in self.gate.ready(&self.acker) {
            self.derive_dirty = true;
            match derive.ingest(&d.batch.measurement, &d.batch.batch) {
                Ok(rows) => out.extend(rows),
                Err(e) => self.derive_error(&e),
            }
        }
        match derive.due() {
            Ok(rows) => out.extend(rows),
            Err(e) => self.derive_error(&e),
        }
        self.derive = Some(derive);
        for r in out {
            self.derive_dirty = true;
            // Result rows carry no log positions: the roll's watermark comes from the gate.
            self.hold_rows((0, 0, 0), &r.db, &r.rp, &r.measurement, &r.batch);
        }
    }

    fn derive_error(&self, e: &str) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(archive = %self.spec.name, error = %e, "archive query");
    }

    async fn roll_logged(&mut self) -> Result<(), ArchiveError> {
        let r = self.roll().await;
        if let Err(e) = &r {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(archive = %self.spec.name, error = %e, "archive roll failed; rows stay in the write-ahead log and are retried");
        }
        r
    }

    /// Derived archives: writes every buffered result row with the derivation's state; the
    /// watermark is the one the state covers.
    async fn roll_derived(&mut self) -> Result<(), ArchiveError> {
        self.fold_ready();
        if !self.derive_dirty && self.held.is_empty() {
            return Ok(());
        }
        let w = self.acker.covered_watermark(&[]);
        let snapshot = match &self.derive {
            Some(d) => d.checkpoint().map_err(ArchiveError::State)?,
            None => return Ok(()),
        };
        let ready = std::mem::take(&mut self.held);
        match self.write_flush(&ready, w, Some(snapshot)).await {
            Ok(()) => {
                self.buffered_rows = 0;
                self.buffered_bytes = 0;
                self.derive_dirty = false;
                self.stats.watermark.store(w, Ordering::Relaxed);
                self.acker.durable_folded();
                Ok(())
            }
            Err(e) => {
                self.held = ready;
                Err(e)
            }
        }
    }

    /// Writes every held batch that can be committed (see the module docs).
    async fn roll(&mut self) -> Result<(), ArchiveError> {
        if self.derive.is_some() {
            return self.roll_derived().await;
        }
        let mut w = self.acker.watermark_after(self.last_ordinal);
        loop {
            let lowered = self
                .held
                .iter()
                .filter(|h| h.max_seq > w)
                .map(|h| h.min_seq.saturating_sub(1))
                .fold(w, u64::min);
            if lowered == w {
                break;
            }
            w = lowered;
        }
        let recorded = self.state.watermark.unwrap_or(0);
        if w < recorded {
            // Cannot happen (see the module docs); never move the watermark back.
            tracing::warn!(archive = %self.spec.name, w, recorded, "archive watermark would go back; keeping rows buffered");
            return Ok(());
        }
        let (ready, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.max_seq <= w);
        self.held = keep;
        if ready.is_empty() {
            if self.held.is_empty() {
                self.acker.durable_through(self.last_ordinal);
            }
            return Ok(());
        }
        let ack_through = self
            .held
            .iter()
            .map(|h| h.ordinal)
            .min()
            .map_or(self.last_ordinal, |o| o - 1);
        match self.write_flush(&ready, w, None).await {
            Ok(()) => {
                let rows: usize = ready
                    .iter()
                    .flat_map(|h| h.parts.iter())
                    .map(|(_, b)| b.num_rows())
                    .sum();
                self.buffered_rows = self.buffered_rows.saturating_sub(rows);
                let kept: usize = self
                    .held
                    .iter()
                    .flat_map(|h| h.parts.iter())
                    .map(|(_, b)| b.get_array_memory_size())
                    .sum();
                self.buffered_bytes = kept;
                self.stats.watermark.store(w, Ordering::Relaxed);
                self.acker.durable_through(ack_through);
                Ok(())
            }
            Err(e) => {
                // Keep the rows for the next attempt.
                let mut all = ready;
                all.append(&mut self.held);
                all.sort_by_key(|h| h.ordinal);
                self.held = all;
                Err(e)
            }
        }
    }

    async fn write_flush(
        &mut self,
        ready: &[Held],
        watermark: u64,
        snapshot: Option<Vec<u8>>,
    ) -> Result<(), ArchiveError> {
        let flush = self.state.committed_flush + 1;
        let mut groups: BTreeMap<PartitionKey, Vec<RecordBatch>> = BTreeMap::new();
        for h in ready {
            for (k, b) in &h.parts {
                groups.entry(k.clone()).or_default().push(b.clone());
            }
        }
        let jobs: Vec<(PartitionKey, Columns, Vec<RecordBatch>)> = groups
            .into_iter()
            .map(|(k, batches)| {
                let cols = self
                    .columns
                    .get(&(k.db.clone(), k.rp.clone(), k.measurement.clone()))
                    .cloned()
                    .unwrap_or_default();
                (k, cols, batches)
            })
            .collect();
        let spec = self.spec.clone();
        let prefix = self.root.prefix.clone();
        let encoded =
            tokio::task::spawn_blocking(move || encode_flush(&spec, &prefix, flush, jobs))
                .await
                .map_err(|e| ArchiveError::State(format!("encoder panicked: {e}")))??;

        let partitions: Vec<PartitionKey> = encoded
            .iter()
            .map(|f| f.partition.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let snapshot_file = snapshot
            .as_ref()
            .map(|_| format!("{}.state-{flush}", self.spec.name));
        self.state.pending = Some(PendingFlush {
            flush,
            watermark,
            files: encoded.iter().map(|f| f.path.to_string()).collect(),
            partitions: partitions.clone(),
            snapshot: snapshot_file.clone(),
        });
        self.sync_columns();
        persist(&self.state_path, &self.state).await?;
        if let (Some(bytes), Some(file)) = (snapshot, &snapshot_file) {
            let path = self.state_dir.join(file);
            tokio::task::spawn_blocking(move || {
                weir_engine::wal::fsio::write_atomic(&path, &bytes)
                    .map_err(|e| ArchiveError::State(format!("{}: {e}", path.display())))
            })
            .await
            .map_err(|e| ArchiveError::State(e.to_string()))??;
        }
        if self.spec.crash_at == Some(CrashPoint::BeforePut) {
            return self.crash();
        }
        let mut put = 0usize;
        for f in &encoded {
            if let Err(e) = self
                .root
                .store
                .put(&f.path, PutPayload::from(f.bytes.clone()))
                .await
            {
                // Undo what was written; the state keeps the flush pending (a restart
                // finishes the undo) unless every delete worked.
                let mut undone = true;
                for g in &encoded[..put] {
                    if let Err(e) = self.root.store.delete(&g.path).await {
                        undone &= matches!(e, object_store::Error::NotFound { .. });
                    }
                }
                if undone {
                    self.state.pending = None;
                    let _ = persist(&self.state_path, &self.state).await;
                }
                return Err(e.into());
            }
            put += 1;
            if put == 1 && self.spec.crash_at == Some(CrashPoint::AfterFirstPut) {
                return self.crash();
            }
        }
        if self.spec.crash_at == Some(CrashPoint::BeforeCommit) {
            return self.crash();
        }
        self.state.pending = None;
        self.state.committed_flush = flush;
        self.state.watermark = Some(watermark);
        self.state.dirty.extend(partitions);
        let previous = match snapshot_file {
            Some(f) => self.state.snapshot.replace(f),
            None => None,
        };
        persist(&self.state_path, &self.state).await?;
        if let Some(old) = previous {
            let _ = std::fs::remove_file(self.state_dir.join(old));
        }
        for f in &encoded {
            self.stats
                .rows_written
                .fetch_add(f.rows as u64, Ordering::Relaxed);
            self.stats
                .bytes_written
                .fetch_add(f.bytes.len() as u64, Ordering::Relaxed);
        }
        self.stats
            .files_written
            .fetch_add(encoded.len() as u64, Ordering::Relaxed);
        tracing::debug!(archive = %self.spec.name, flush, watermark, files = encoded.len(), "archive roll committed");
        Ok(())
    }

    fn crash(&mut self) -> Result<(), ArchiveError> {
        // Simulated kill -9: stop doing anything at all.
        self.held.clear();
        Err(ArchiveError::Stopped)
    }

    fn sync_columns(&mut self) {
        self.state.measurements = self
            .columns
            .iter()
            .map(|((db, rp, m), cols)| MeasurementColumns {
                db: db.clone(),
                rp: rp.clone(),
                measurement: m.clone(),
                columns: cols.clone(),
            })
            .collect();
    }

    async fn compact(&mut self, force: bool) -> Result<usize, ArchiveError> {
        let Some(after) = self.spec.compact_after.or(force.then_some(Duration::ZERO)) else {
            return Ok(0);
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let due: Vec<PartitionKey> = self
            .state
            .dirty
            .iter()
            .filter(|k| {
                force || k.start + self.spec.partition.nanos() + after.as_nanos() as i64 <= now
            })
            .cloned()
            .collect();
        let mut done = 0;
        for k in due {
            let dir = partition_dir(
                &self.root.prefix,
                &k.db,
                &k.rp,
                &k.measurement,
                k.start,
                self.spec.partition,
            );
            let cols = self
                .columns
                .get(&(k.db.clone(), k.rp.clone(), k.measurement.clone()))
                .cloned()
                .unwrap_or_default();
            let merged = crate::compact::compact_partition(
                &self.root,
                &dir,
                &self.spec.name,
                &cols,
                self.spec.time_unit,
                self.spec.max_file_bytes,
            )
            .await?;
            self.stats
                .files_compacted
                .fetch_add(merged as u64, Ordering::Relaxed);
            self.state.dirty.remove(&k);
            persist(&self.state_path, &self.state).await?;
            if merged > 0 {
                done += 1;
            }
        }
        Ok(done)
    }
}

struct EncodedFile {
    partition: PartitionKey,
    path: Path,
    bytes: bytes::Bytes,
    rows: usize,
}

fn encode_flush(
    spec: &ArchiveSpec,
    prefix: &Path,
    flush: u64,
    jobs: Vec<(PartitionKey, Columns, Vec<RecordBatch>)>,
) -> Result<Vec<EncodedFile>, ArchiveError> {
    let mut out = Vec::new();
    let mut k = 0usize;
    for (key, cols, batches) in jobs {
        let schema = file_schema(&cols, spec.time_unit);
        let sorted = sorted_rows(&batches, &schema)?;
        let dir = partition_dir(
            prefix,
            &key.db,
            &key.rp,
            &key.measurement,
            key.start,
            spec.partition,
        );
        let chunk = spec.max_file_rows.max(1);
        let mut offset = 0;
        while offset < sorted.num_rows() {
            let len = chunk.min(sorted.num_rows() - offset);
            let part = sorted.slice(offset, len);
            offset += len;
            let meta = vec![
                (META_ARCHIVE.to_string(), spec.name.clone()),
                (META_FLUSH.to_string(), flush.to_string()),
            ];
            let bytes = write_parquet(&part, meta)?;
            out.push(EncodedFile {
                partition: key.clone(),
                path: dir.clone().join(data_file_name(&spec.name, flush, k)),
                bytes,
                rows: len,
            });
            k += 1;
        }
    }
    Ok(out)
}

/// Splits a batch by partition of its `time` column.
pub(crate) fn split_by_partition(
    batch: &RecordBatch,
    partition: crate::spec::Partition,
) -> Vec<(i64, RecordBatch)> {
    let Some(time) = batch.column_by_name(TIME_COLUMN) else {
        tracing::error!("archive: a batch without a time column; its rows are not archived");
        return Vec::new();
    };
    let time = match arrow::compute::cast(time, &weir_engine::schema::time_type()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "archive: unusable time column; rows not archived");
            return Vec::new();
        }
    };
    let Some(time) = time.as_primitive_opt::<TimestampNanosecondType>() else {
        return Vec::new();
    };
    let values = time.values();
    let Some(&first) = values.first() else {
        return Vec::new();
    };
    let p0 = partition_start(first, partition);
    let len = partition.nanos();
    if values.iter().all(|&t| t >= p0 && t < p0 + len) {
        return vec![(p0, batch.clone())];
    }
    let mut groups: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, &t) in values.iter().enumerate() {
        groups
            .entry(partition_start(t, partition))
            .or_default()
            .push(i as u32);
    }
    groups
        .into_iter()
        .filter_map(|(start, idx)| {
            take_record_batch(batch, &UInt32Array::from(idx))
                .ok()
                .map(|b| (start, b))
        })
        .collect()
}

fn load_state(path: &FsPath) -> Result<SinkState, ArchiveError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ArchiveError::State(format!("{} is corrupt: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SinkState::default()),
        Err(e) => Err(ArchiveError::State(format!("{}: {e}", path.display()))),
    }
}

async fn persist(path: &FsPath, state: &SinkState) -> Result<(), ArchiveError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| ArchiveError::State(e.to_string()))?;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        weir_engine::wal::fsio::write_atomic(&path, &bytes)
            .map_err(|e| ArchiveError::State(format!("{}: {e}", path.display())))
    })
    .await
    .map_err(|e| ArchiveError::State(e.to_string()))?
}

/// Finishes (all files there) or undoes (some missing) a flush interrupted by a crash.
async fn recover(
    root: &ArchiveRoot,
    state_dir: &FsPath,
    state: &mut SinkState,
) -> Result<(), ArchiveError> {
    let Some(p) = state.pending.take() else {
        return Ok(());
    };
    // A derived flush is complete only with its state file.
    let snapshot_path = p.snapshot.as_ref().map(|f| state_dir.join(f));
    if let Some(path) = &snapshot_path {
        if !path.exists() {
            tracing::info!(
                flush = p.flush,
                "archive: undoing a roll whose state was not written"
            );
            for f in &p.files {
                match root.store.delete(&Path::from(f.as_str())).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        state.pending = Some(p);
                        return Err(e.into());
                    }
                }
            }
            return Ok(());
        }
    }
    let mut present = Vec::new();
    for f in &p.files {
        let path = Path::from(f.as_str());
        match root.store.head(&path).await {
            Ok(_) => present.push(path),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                state.pending = Some(p);
                return Err(e.into());
            }
        }
    }
    if present.len() == p.files.len() {
        tracing::info!(
            flush = p.flush,
            "archive: completing a roll interrupted by a crash"
        );
        state.committed_flush = p.flush;
        state.watermark = Some(p.watermark);
        state.dirty.extend(p.partitions);
        if let Some(f) = p.snapshot {
            if let Some(old) = state.snapshot.replace(f) {
                let _ = std::fs::remove_file(state_dir.join(old));
            }
        }
    } else {
        if let Some(path) = &snapshot_path {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!(
            flush = p.flush,
            "archive: undoing a roll interrupted by a crash; the log replays its rows"
        );
        for path in present {
            match root.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    state.pending = Some(p);
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}
