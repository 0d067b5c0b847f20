//! Running `CREATE CONTINUOUS QUERY` tasks on the stream.
//!
//! The InfluxQL semantics — windows, groups, functions, fill, RESAMPLE, per-point queries —
//! live in [`weir_sql::cq`]; this runner subscribes the task to its source measurements,
//! feeds each delivery to the task's [`CqState`], ticks its clock, and hands what it emits to
//! an [`InfluxWriter`] (an on-disk outbox posted to InfluxDB's `/write`).
//!
//! Restarts resume the task where it was (see [`checkpoint`](self::Checkpoints)): every
//! `[engine] checkpoint_interval`, and when the task stops, the runner makes the outbox durable,
//! stores the state with the write-ahead-log position it covers, and only then acknowledges
//! those deliveries. After a crash the task restores its last checkpoint and the log replays
//! what came after it, so open windows, per-series state and unsent output all survive;
//! output emitted after the checkpoint is written again (InfluxDB overwrites equal points).

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weir_connectors::influx_writer::{InfluxWriter, WriterConfig};
use weir_engine::clock::{SharedClock, SystemClock};
use weir_engine::fold_gate::FoldGate;
use weir_engine::router::{Acker, Delivery, Router, SubscriptionSpec};
use weir_engine::store::{Change, Store, Table};
use weir_sql::cq::{CqPlan, CqSettings, CqState, Output};
use weir_sql::Statement;

use super::model::{TaskDef, TaskStats};
use super::runtime::{Runner, Running, StartContext};

/// Starts continuous queries.
#[derive(Debug, Clone)]
pub struct CqRunner {
    /// `[influxdb] url`; empty means none configured.
    pub influxdb_url: String,
    pub username: String,
    pub password: String,
    pub token: String,
    /// `[influxdb] gzip`.
    pub gzip: bool,
    /// `[influxdb] max_backlog`: bytes of output a task's outbox holds before it waits.
    pub max_backlog_bytes: u64,
    /// `[engine] lateness`.
    pub lateness: StdDuration,
    /// `[engine] series_ttl`.
    pub series_ttl: StdDuration,
    /// `[engine] checkpoint_interval`.
    pub checkpoint_interval: StdDuration,
    /// Where tasks keep their files (`<storage dir>/tasks`).
    pub state_dir: PathBuf,
}

fn plan(stmt: &Statement) -> Result<CqPlan, String> {
    weir_sql::cq::plan(stmt).map_err(|e| e.to_string())
}

/// A task name as a directory name: letters, digits, `-` and `_` as they are, every other
/// byte as `%XX`, so two names never share a directory.
fn dir_name(task: &str) -> String {
    let mut out = String::with_capacity(task.len());
    for b in task.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Checkpoints

/// What a checkpoint covers, stored next to its state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointMeta {
    /// The definition the state belongs to: another definition starts from nothing.
    statement: String,
    /// Every log record up to here that the task reads is in the state.
    watermark: u64,
    /// When it was taken (RFC 3339), for `GET /api/v1/tasks/{name}`.
    taken: String,
    /// Size of the state in bytes.
    bytes: usize,
}

/// The checkpoints of one task in the store.
#[derive(Debug, Clone)]
struct Checkpoints {
    store: Arc<Store>,
    task: String,
}

impl Checkpoints {
    /// The last checkpoint of this definition, if there is one.
    fn load(&self, statement: &str) -> Result<Option<(CheckpointMeta, Vec<u8>)>, String> {
        let meta: Option<CheckpointMeta> = self
            .store
            .get(Table::Checkpoints, &self.task)
            .map_err(|e| e.to_string())?;
        let Some(meta) = meta else { return Ok(None) };
        if meta.statement != statement {
            tracing::info!(task = %self.task, "the definition changed; starting without the old window state");
            return Ok(None);
        }
        let data = self
            .store
            .get_bytes(Table::CheckpointData, &self.task)
            .map_err(|e| e.to_string())?;
        Ok(data.map(|d| (meta, d)))
    }

    fn save(&self, meta: &CheckpointMeta, state: Vec<u8>) -> Result<(), String> {
        let meta = Change::put(Table::Checkpoints, &self.task, meta).map_err(|e| e.to_string())?;
        self.store
            .apply(&[meta, Change::Put(Table::CheckpointData, &self.task, state)])
            .map_err(|e| e.to_string())
    }
}

/// The task's side of checkpointing: what has been folded in since the last checkpoint.
struct Progress {
    checkpoints: Checkpoints,
    statement: String,
    acker: Acker,
    writer: InfluxWriter,
    /// Something changed since the last checkpoint.
    dirty: bool,
    /// Output could not be stored: the state must not move past it (the log keeps the input,
    /// and the next start recomputes it).
    poisoned: bool,
    last: Arc<Mutex<Option<CheckpointMeta>>>,
    stats: Arc<TaskStats>,
    /// The task is stopping: a push waiting for room in the outbox gives up.
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Progress {
    /// Stores the state and acknowledges what it covers. Outbox first, then the state with
    /// its log position, then the acknowledgement: a crash in between repeats work, never
    /// loses it.
    async fn checkpoint(&mut self, state: &CqState) {
        if !self.dirty || self.poisoned {
            return;
        }
        let bytes = match state.checkpoint() {
            Ok(b) => b,
            Err(e) => {
                self.stats.record_error(format!("checkpoint: {e}"));
                return;
            }
        };
        let meta = CheckpointMeta {
            statement: self.statement.clone(),
            // The gate folds a batch in only once this covers it: the state holds exactly
            // the wanted rows of the records up to here.
            watermark: self.acker.covered_watermark(&[]),
            taken: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            bytes: bytes.len(),
        };
        let writer = self.writer.clone();
        let checkpoints = self.checkpoints.clone();
        let saved_meta = meta.clone();
        let saved = tokio::task::spawn_blocking(move || {
            writer.sync().map_err(|e| e.to_string())?;
            checkpoints.save(&saved_meta, bytes)
        })
        .await
        .unwrap_or_else(|e| Err(format!("checkpoint task failed: {e}")));
        match saved {
            Ok(()) => {
                self.acker.durable_folded();
                self.dirty = false;
                *self.last.lock() = Some(meta);
            }
            Err(e) => {
                tracing::error!(task = %self.checkpoints.task, error = %e, "checkpoint failed; retrying at the next interval");
                self.stats.record_error(format!("checkpoint failed: {e}"));
            }
        }
    }

    /// Hands emitted lines to the outbox (waiting while it is full).
    async fn emit(&mut self, out: Output) {
        if out.windows > 0 {
            self.stats.windows_emitted.fetch_add(out.windows, Relaxed);
            self.dirty = true;
        }
        if out.lines == 0 {
            return;
        }
        self.dirty = true;
        let pushed = tokio::select! {
            r = self.writer.push(&out.body, out.lines) => r,
            _ = self.stop.wait_for(|stop| *stop) => {
                // Not stored: the next start recomputes it from the last checkpoint.
                self.poisoned = true;
                return;
            }
        };
        match pushed {
            Ok(()) => {
                self.stats.points_out.fetch_add(out.lines as u64, Relaxed);
            }
            Err(e) => {
                tracing::error!(task = %self.checkpoints.task, error = %e, "cannot store output in the outbox");
                self.stats.record_error(format!(
                    "cannot store output in the outbox: {e}; output since the last checkpoint is recomputed at the next start"
                ));
                self.poisoned = true;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The runner

impl Runner for CqRunner {
    fn start(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
    ) -> Result<Box<dyn Running>, String> {
        let plan = Arc::new(plan(stmt)?);
        if self.influxdb_url.trim().is_empty() {
            return Err(format!(
                "continuous query {} writes INTO {}.{}.{}; configure [influxdb] url",
                plan.name,
                plan.target_db,
                plan.target_rp.as_deref().unwrap_or(""),
                plan.target_measurement.as_deref().unwrap_or(":MEASUREMENT")
            ));
        }
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "continuous queries need the tokio runtime".to_string())?;
        let lateness = i64::try_from(self.lateness.as_nanos()).unwrap_or(i64::MAX);
        let settings = CqSettings {
            lateness,
            series_ttl: i64::try_from(self.series_ttl.as_nanos()).unwrap_or(i64::MAX),
        };
        let writer = InfluxWriter::open(
            &self.task_dir(&def.name).join("outbox"),
            WriterConfig {
                url: self.influxdb_url.clone(),
                database: plan.target_db.clone(),
                retention_policy: plan.target_rp.clone(),
                username: self.username.clone(),
                password: self.password.clone(),
                token: self.token.clone(),
                gzip: self.gzip,
                max_backlog_bytes: self.max_backlog_bytes,
                timeout: StdDuration::from_secs(30),
            },
        )
        .map_err(|e| e.to_string())?;
        ctx.stats.attach_writer(writer.stats());
        let description = format!(
            "{}\nOutput: {} (outbox: {} batches waiting)",
            plan.describe(lateness),
            writer.target(),
            writer.stats().backlog_batches.load(Relaxed)
        );

        // Resume from the last checkpoint of this definition, if any.
        let checkpoints = Checkpoints {
            store: Arc::clone(&ctx.store),
            task: def.name.clone(),
        };
        let wall: SharedClock = Arc::new(SystemClock);
        let mut state = CqState::new(Arc::clone(&plan), Arc::clone(&wall), settings);
        let last = Arc::new(Mutex::new(None));
        let cursor = match checkpoints.load(&def.statement) {
            Ok(Some((meta, bytes))) => match state.restore(&bytes) {
                Ok(()) => {
                    let (windows, series) = state.sizes();
                    tracing::info!(task = %def.name, windows, series, watermark = meta.watermark, "continuous query resumed from its checkpoint");
                    let w = meta.watermark;
                    *last.lock() = Some(meta);
                    Some(w)
                }
                Err(e) => {
                    ctx.stats
                        .record_error(format!("cannot resume from the checkpoint: {e}"));
                    state = CqState::new(Arc::clone(&plan), wall, settings);
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                ctx.stats
                    .record_error(format!("cannot read the checkpoint: {e}"));
                None
            }
        };

        let sub_name = format!("cq:{}", plan.name);
        let filter_plan = Arc::clone(&plan);
        let sub = ctx.router.subscribe(SubscriptionSpec {
            name: sub_name.clone(),
            filter: Arc::new(move |d, r, meas| {
                d == filter_plan.db
                    && filter_plan.rp.as_deref().is_none_or(|want| want == r)
                    && filter_plan.sources.matches(meas)
            }),
            cursor,
            capacity: 64,
        });
        let writer_task = writer.spawn(&handle);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let progress = Progress {
            checkpoints,
            statement: def.statement.clone(),
            acker: sub.acker,
            writer,
            // A restored task has nothing new; a new one records that it started.
            dirty: cursor.is_none(),
            poisoned: false,
            last: Arc::clone(&last),
            stats: Arc::clone(&ctx.stats),
            stop: stop_rx.clone(),
        };
        let loop_task = handle.spawn(run(
            state,
            sub.deliveries,
            progress,
            self.checkpoint_interval,
            stop_rx,
        ));
        Ok(Box::new(RunningCq {
            plan: description,
            router: Arc::clone(&ctx.router),
            sub_name,
            stop: stop_tx,
            loop_task: Mutex::new(Some(loop_task)),
            writer_task: Mutex::new(Some(writer_task)),
            last_checkpoint: last,
        }))
    }

    fn forget(&self, name: &str) {
        let dir = self.task_dir(name);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(task = %name, dir = %dir.display(), error = %e, "cannot delete the dropped task's files");
            }
        }
    }
}

impl CqRunner {
    fn task_dir(&self, task: &str) -> PathBuf {
        self.state_dir.join(dir_name(task))
    }
}

/// Deliveries a task holds while the log's watermark catches up (then it stops reading and
/// the router's queue pushes back).
const MAX_HELD: usize = 1024;

/// The task's loop: deliveries in (through the [`FoldGate`]), clock ticks, output to the
/// outbox, checkpoints.
async fn run(
    mut state: CqState,
    mut deliveries: tokio::sync::mpsc::Receiver<Delivery>,
    mut progress: Progress,
    checkpoint_interval: StdDuration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(StdDuration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ckpt = tokio::time::interval(checkpoint_interval.max(StdDuration::from_millis(10)));
    ckpt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stats = Arc::clone(&progress.stats);
    let mut gate = FoldGate::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            d = deliveries.recv(), if gate.len() < MAX_HELD => {
                let Some(d) = d else { break };
                gate.hold(d);
            }
            _ = ckpt.tick() => progress.checkpoint(&state).await,
            _ = tick.tick() => {}
        }
        for Delivery { batch, .. } in gate.ready(&progress.acker) {
            let r = state.ingest(&batch.measurement, &batch.batch);
            progress.dirty = true;
            stats.points_in.fetch_add(r.points, Relaxed);
            if r.late > 0 {
                stats.points_late.fetch_add(r.late, Relaxed);
            }
            if let Some(e) = r.error {
                stats.record_error(e);
            }
            progress.emit(r.output).await;
        }
        let out = state.close();
        progress.emit(out).await;
    }
    // Stopping (shutdown, disable, replace): record where the task is, so it resumes here.
    progress.checkpoint(&state).await;
}

#[derive(Debug)]
struct RunningCq {
    plan: String,
    router: Arc<Router>,
    sub_name: String,
    stop: tokio::sync::watch::Sender<bool>,
    loop_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    writer_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    last_checkpoint: Arc<Mutex<Option<CheckpointMeta>>>,
}

impl Running for RunningCq {
    fn plan(&self) -> String {
        self.plan.clone()
    }

    fn extra_stats(&self) -> serde_json::Value {
        match &*self.last_checkpoint.lock() {
            Some(m) => serde_json::json!({
                "checkpoint": { "taken": m.taken, "watermark": m.watermark, "bytes": m.bytes }
            }),
            None => serde_json::json!({ "checkpoint": null }),
        }
    }

    fn stop(&self) {
        self.router.unsubscribe(&self.sub_name);
        let _ = self.stop.send(true);
        if let Some(task) = self.loop_task.lock().take() {
            // Wait for the final checkpoint (the manager calls this off the async workers).
            wait(task);
        }
        if let Some(task) = self.writer_task.lock().take() {
            task.abort();
        }
    }
}

/// Waits for `task` from synchronous code: blocking in place on a multi-threaded runtime,
/// or not at all where that is impossible (the task then finishes on its own).
fn wait(task: tokio::task::JoinHandle<()>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return;
    }
    let _ = tokio::task::block_in_place(|| handle.block_on(task));
}
