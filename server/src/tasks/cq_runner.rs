//! Running `CREATE CONTINUOUS QUERY` tasks on the stream.
//!
//! The InfluxQL semantics — windows, groups, functions, fill, RESAMPLE, per-point queries —
//! live in [`weir_sql::cq`]; this runner subscribes the task to its source measurements,
//! feeds each delivery to the task's [`CqState`], ticks its clock, and hands what it emits to
//! an [`InfluxWriter`] (an on-disk outbox posted to InfluxDB's `/write`).
//!
//! Restarts resume the task where it was: see [`stream_loop`](super::stream_loop).

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use datafusion::arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use weir_connectors::influx_writer::{InfluxWriter, WriterConfig};
use weir_engine::clock::{SharedClock, SystemClock};
use weir_engine::line_protocol::Precision;
use weir_engine::{IngestPipeline, WriteRequest};
use weir_sql::cq::{CqSettings, CqState, Ingested, Output};
use weir_sql::Statement;

use super::model::{TaskDef, TaskStats};
use super::runtime::{Runner, Running, StartContext};
use super::stream_loop::{
    dir_name, run, Checkpoints, Folded, Progress, RunningStream, Snapshot, StreamTask,
};

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
    /// weir's ingest: results are also written here so other tasks can read them.
    pub pipeline: Option<Arc<IngestPipeline>>,
}

/// A continuous query and its outbox: what the stream loop drives.
struct IntoTask {
    state: CqState,
    writer: InfluxWriter,
    /// Where results are also written so other tasks read them, if they are.
    republish: Option<Republish>,
}

/// Results written back into weir's own ingest (write-ahead log, then the router), into the
/// `INTO` database and retention policy, as if a client had written them.
struct Republish {
    pipeline: Arc<IngestPipeline>,
    db: String,
    rp: String,
    stats: Arc<TaskStats>,
}

impl Republish {
    /// Writes the lines; a write-ahead-log failure is an error (the output is recomputed after
    /// a restart), lines weir's ingest refuses (a field type conflict) are counted in the task's
    /// errors and dropped, as InfluxDB drops them.
    async fn write(&self, body: &[u8]) -> Result<(), String> {
        let outcome = self
            .pipeline
            .write(WriteRequest {
                db: self.db.clone(),
                rp: self.rp.clone(),
                precision: Precision::Nanoseconds,
                body: bytes::Bytes::copy_from_slice(body),
            })
            .await
            .map_err(|e| format!("cannot publish results into weir's router: {e}"))?;
        if let Some(r) = outcome.rejected.first() {
            let e = format!(
                "{} result lines were not published into weir's router (line {}: {})",
                outcome.rejected.len(),
                r.line,
                r.reason
            );
            tracing::warn!(db = %self.db, error = %e, "results refused by weir's ingest");
            self.stats.record_error(e);
        }
        Ok(())
    }
}

fn folded(r: Ingested) -> Folded<Output> {
    Folded {
        points: r.points,
        late: r.late,
        windows: r.output.windows,
        error: r.error,
        output: (r.output.lines > 0).then_some(r.output),
    }
}

impl StreamTask for IntoTask {
    type Output = Output;

    fn blocking(&self) -> bool {
        self.state.calls_udfs()
    }

    fn ingest(&mut self, measurement: &str, batch: &RecordBatch) -> Folded<Output> {
        folded(self.state.ingest(measurement, batch))
    }

    fn close(&mut self) -> Folded<Output> {
        folded(Ingested {
            output: self.state.close(),
            ..Ingested::default()
        })
    }

    async fn emit(
        &mut self,
        out: Output,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<u64, String> {
        let points = tokio::select! {
            r = self.writer.push(&out.body, out.lines) => r
                .map(|()| out.lines as u64)
                .map_err(|e| format!("cannot store output in the outbox: {e}"))?,
            // Not stored: the next start recomputes it from the last checkpoint.
            _ = stop.wait_for(|stop| *stop) => return Err("stopped while the outbox was full".to_string()),
        };
        if let Some(r) = &self.republish {
            r.write(&out.body).await?;
        }
        Ok(points)
    }

    fn snapshot(&self) -> Result<Snapshot, String> {
        Ok(Snapshot {
            data: self.state.checkpoint().map_err(|e| e.to_string())?,
            beside: Vec::new(),
        })
    }

    fn durable(&self) -> Box<dyn FnOnce() -> Result<(), String> + Send> {
        let writer = self.writer.clone();
        Box::new(move || writer.sync().map_err(|e| e.to_string()))
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
        let plan = Arc::new(
            weir_sql::cq::plan_with(stmt, &ctx.planner_udfs()).map_err(|e| e.to_string())?,
        );
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
            // INTO InfluxDB keeps the last write of a series and time.
            provisional: true,
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

        let republish = match &self.pipeline {
            Some(_) if plan.reads_own_output() => {
                tracing::info!(task = %def.name, "results are not published back into the router: the query reads its own output measurement");
                None
            }
            Some(pipeline) => Some(Republish {
                pipeline: Arc::clone(pipeline),
                db: plan.target_db.clone(),
                rp: plan
                    .target_rp
                    .clone()
                    .unwrap_or_else(|| "autogen".to_string()),
                stats: Arc::clone(&ctx.stats),
            }),
            None => None,
        };
        let sub_name = format!("cq:{}", plan.name);
        let sub = super::stream_loop::subscribe(&ctx.router, sub_name.clone(), &plan, cursor);
        let writer_task = writer.spawn(&handle);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let progress = Progress::new(
            checkpoints,
            def.statement.clone(),
            sub.acker,
            // A restored task has nothing new; a new one records that it started.
            cursor.is_none(),
            Arc::clone(&last),
            Arc::clone(&ctx.stats),
        );
        let loop_task = handle.spawn(run(
            IntoTask {
                state,
                writer,
                republish,
            },
            sub.deliveries,
            progress,
            self.checkpoint_interval,
            stop_rx,
        ));
        Ok(Box::new(RunningStream {
            plan: description,
            router: Arc::clone(&ctx.router),
            sub_name,
            stop: stop_tx,
            loop_task: Mutex::new(Some(loop_task)),
            helpers: Mutex::new(vec![writer_task]),
            last_checkpoint: last,
            extra: Arc::default(),
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
