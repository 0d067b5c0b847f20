//! The loop every stream task runs (continuous queries, stream alerts): deliveries in through
//! the [`FoldGate`], clock ticks, output to the task's sink, checkpoints.
//!
//! Restarts resume a task where it was: every `[engine] checkpoint_interval`, and when the task
//! stops, the loop makes the sink's output durable, stores the task's state with the
//! write-ahead-log position it covers (and any rows the task keeps beside it, such as alert
//! states, in the same transaction), and only then acknowledges those deliveries. After a
//! crash the task restores its last checkpoint and the log replays what came after it, so open
//! windows, per-series state and unsent output all survive; output emitted after the
//! checkpoint is produced again (InfluxDB overwrites equal points; an alert event may be
//! published twice, never lost).

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use datafusion::arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weir_engine::fold_gate::FoldGate;
use weir_engine::router::{Acker, Delivery, Router};
use weir_engine::store::{Change, Store, Table};

use super::model::TaskStats;

/// A task name as a directory name: letters, digits, `-` and `_` as they are, every other
/// byte as `%XX`, so two names never share a directory.
pub fn dir_name(task: &str) -> String {
    let mut out = String::with_capacity(task.len());
    for b in task.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What folding in a batch, or closing due windows, did.
#[derive(Debug, Default)]
pub struct Folded<O> {
    pub points: u64,
    pub late: u64,
    /// Windows that produced output.
    pub windows: u64,
    pub error: Option<String>,
    /// For the sink; `None` when there is nothing to emit.
    pub output: Option<O>,
}

/// What a checkpoint stores for a task.
pub struct Snapshot {
    /// The task's state (`Table::CheckpointData`).
    pub data: Vec<u8>,
    /// Other rows stored in the same transaction, keyed by the task's name.
    pub beside: Vec<(Table, Vec<u8>)>,
}

/// A stream task's state and sink, driven by [`run`].
pub trait StreamTask: Send + 'static {
    type Output: Send;
    /// Folds one routed batch in.
    fn ingest(&mut self, measurement: &str, batch: &RecordBatch) -> Folded<Self::Output>;
    /// Emits what is due at the task's time.
    fn close(&mut self) -> Folded<Self::Output>;
    /// Hands output to the sink, waiting while it is full (until `stop`). Returns the points
    /// written, or why the output could not be stored (the state then must not be
    /// checkpointed past it).
    fn emit(
        &mut self,
        out: Self::Output,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> impl Future<Output = Result<u64, String>> + Send;
    /// The state to store.
    fn snapshot(&self) -> Result<Snapshot, String>;
    /// Whether closing windows may block (it calls user-defined functions, programs that
    /// answer within their timeout): then the loop closes them off the async workers.
    fn blocking(&self) -> bool {
        false
    }
    /// Makes everything emitted so far durable; runs on a blocking thread before the state
    /// that covers it is stored.
    fn durable(&self) -> Box<dyn FnOnce() -> Result<(), String> + Send> {
        Box::new(|| Ok(()))
    }
}

/// What a checkpoint covers, stored next to its state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// The definition the state belongs to: another definition starts from nothing.
    statement: String,
    /// Every log record up to here that the task reads is in the state.
    pub watermark: u64,
    /// When it was taken (RFC 3339), for `GET /api/v1/tasks/{name}`.
    taken: String,
    /// Size of the state in bytes.
    bytes: usize,
}

impl CheckpointMeta {
    /// As shown in the task's stats.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "taken": self.taken, "watermark": self.watermark, "bytes": self.bytes })
    }
}

/// The checkpoints of one task in the store.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    pub store: Arc<Store>,
    pub task: String,
}

impl Checkpoints {
    /// The last checkpoint of this definition, if there is one.
    pub fn load(&self, statement: &str) -> Result<Option<(CheckpointMeta, Vec<u8>)>, String> {
        let meta: Option<CheckpointMeta> = self
            .store
            .get(Table::Checkpoints, &self.task)
            .map_err(|e| e.to_string())?;
        let Some(meta) = meta else { return Ok(None) };
        if meta.statement != statement {
            tracing::info!(task = %self.task, "the definition changed; starting without the old state");
            return Ok(None);
        }
        let data = self
            .store
            .get_bytes(Table::CheckpointData, &self.task)
            .map_err(|e| e.to_string())?;
        Ok(data.map(|d| (meta, d)))
    }

    fn save(&self, meta: &CheckpointMeta, snapshot: Snapshot) -> Result<(), String> {
        let mut changes =
            vec![Change::put(Table::Checkpoints, &self.task, meta).map_err(|e| e.to_string())?];
        changes.push(Change::Put(
            Table::CheckpointData,
            &self.task,
            snapshot.data,
        ));
        for (table, bytes) in snapshot.beside {
            changes.push(Change::Put(table, &self.task, bytes));
        }
        self.store.apply(&changes).map_err(|e| e.to_string())
    }
}

/// The loop's side of checkpointing: what has been folded in since the last checkpoint.
pub struct Progress {
    pub checkpoints: Checkpoints,
    pub statement: String,
    pub acker: Acker,
    /// Something changed since the last checkpoint (a new task records that it started).
    pub dirty: bool,
    /// Output could not be stored: the state must not move past it (the log keeps the input,
    /// and the next start recomputes it).
    poisoned: bool,
    pub last: Arc<Mutex<Option<CheckpointMeta>>>,
    pub stats: Arc<TaskStats>,
}

impl Progress {
    pub fn new(
        checkpoints: Checkpoints,
        statement: String,
        acker: Acker,
        dirty: bool,
        last: Arc<Mutex<Option<CheckpointMeta>>>,
        stats: Arc<TaskStats>,
    ) -> Progress {
        Progress {
            checkpoints,
            statement,
            acker,
            dirty,
            poisoned: false,
            last,
            stats,
        }
    }

    /// Stores the state and acknowledges what it covers. Sink first, then the state with its
    /// log position, then the acknowledgement: a crash in between repeats work, never loses it.
    async fn checkpoint<T: StreamTask>(&mut self, task: &T) {
        if !self.dirty || self.poisoned {
            return;
        }
        let snapshot = match task.snapshot() {
            Ok(s) => s,
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
            bytes: snapshot.data.len(),
        };
        let durable = task.durable();
        let checkpoints = self.checkpoints.clone();
        let saved_meta = meta.clone();
        let saved = tokio::task::spawn_blocking(move || {
            durable()?;
            checkpoints.save(&saved_meta, snapshot)
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

    /// Counts what a fold did and hands its output to the sink.
    async fn emit<T: StreamTask>(
        &mut self,
        task: &mut T,
        folded: Folded<T::Output>,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) {
        let stats = &self.stats;
        stats.points_in.fetch_add(folded.points, Relaxed);
        if folded.points > 0 {
            self.dirty = true;
        }
        if folded.late > 0 {
            stats.points_late.fetch_add(folded.late, Relaxed);
        }
        if folded.windows > 0 {
            stats.windows_emitted.fetch_add(folded.windows, Relaxed);
            self.dirty = true;
        }
        if let Some(e) = folded.error {
            stats.record_error(e);
        }
        let Some(out) = folded.output else { return };
        self.dirty = true;
        match task.emit(out, stop).await {
            Ok(points) => {
                self.stats.points_out.fetch_add(points, Relaxed);
            }
            Err(e) => {
                tracing::error!(task = %self.checkpoints.task, error = %e, "cannot store the task's output");
                self.stats.record_error(format!(
                    "{e}; output since the last checkpoint is recomputed at the next start"
                ));
                self.poisoned = true;
            }
        }
    }
}

/// Subscribes a stream task running `plan` to the router, from `cursor` (the watermark of its
/// checkpoint) or from now.
pub fn subscribe(
    router: &Router,
    name: String,
    plan: &Arc<weir_sql::cq::CqPlan>,
    cursor: Option<u64>,
) -> weir_engine::router::Subscription {
    let plan = Arc::clone(plan);
    router.subscribe(weir_engine::router::SubscriptionSpec {
        name,
        filter: Arc::new(move |d, r, m| plan.reads(d, r, m)),
        cursor,
        capacity: 64,
    })
}

/// Deliveries a task holds while the log's watermark catches up (then it stops reading and
/// the router's queue pushes back).
const MAX_HELD: usize = 1024;

/// The task's loop, until `stop` (shutdown, disable, replace) or the subscription ends; then a
/// last checkpoint, so the task resumes where it was.
pub async fn run<T: StreamTask>(
    mut task: T,
    mut deliveries: tokio::sync::mpsc::Receiver<Delivery>,
    mut progress: Progress,
    checkpoint_interval: StdDuration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(StdDuration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ckpt = tokio::time::interval(checkpoint_interval.max(StdDuration::from_millis(10)));
    ckpt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gate = FoldGate::new();
    let mut emit_stop = stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            d = deliveries.recv(), if gate.len() < MAX_HELD => {
                let Some(d) = d else { break };
                gate.hold(d);
            }
            _ = ckpt.tick() => progress.checkpoint(&task).await,
            _ = tick.tick() => {}
        }
        for Delivery { batch, .. } in gate.ready(&progress.acker) {
            let folded = task.ingest(&batch.measurement, &batch.batch);
            progress.dirty = true;
            progress.emit(&mut task, folded, &mut emit_stop).await;
        }
        let folded = if task.blocking() {
            tokio::task::block_in_place(|| task.close())
        } else {
            task.close()
        };
        progress.emit(&mut task, folded, &mut emit_stop).await;
    }
    progress.checkpoint(&task).await;
}

/// A running stream task, as the manager sees it.
#[derive(Debug)]
pub struct RunningStream {
    pub plan: String,
    pub router: Arc<Router>,
    pub sub_name: String,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub loop_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Tasks that serve the sink (an outbox's sender), aborted after the loop ended.
    pub helpers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub last_checkpoint: Arc<Mutex<Option<CheckpointMeta>>>,
    /// More stats of the kind (a JSON object the task keeps current), shown beside the
    /// checkpoint.
    pub extra: Arc<Mutex<serde_json::Value>>,
}

impl super::runtime::Running for RunningStream {
    fn plan(&self) -> String {
        self.plan.clone()
    }

    fn extra_stats(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "checkpoint": self.last_checkpoint.lock().as_ref().map(CheckpointMeta::to_json)
        });
        if let serde_json::Value::Object(m) = &*self.extra.lock() {
            for (k, x) in m {
                v[k.as_str()] = x.clone();
            }
        }
        v
    }

    fn stop(&self) {
        self.router.unsubscribe(&self.sub_name);
        let _ = self.stop.send(true);
        if let Some(task) = self.loop_task.lock().take() {
            // Wait for the final checkpoint (the manager calls this off the async workers).
            wait(task);
        }
        for task in self.helpers.lock().drain(..) {
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
