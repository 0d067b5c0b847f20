//! Running `CREATE ALERT` stream tasks: the alert's SELECT runs as a continuous query
//! ([`weir_sql::alert::StreamAlert`]), each row it emits is evaluated, and the events are
//! published to the alert's topic ([`Topics`]), whose handlers send them on.
//!
//! The task runs in the same [`stream_loop`](super::stream_loop) as a continuous query; a
//! checkpoint stores the window state and, in the same transaction, every alert ID's state
//! (`Table::AlertState`), so a restart resumes both: an alert that was CRITICAL before the
//! restart does not fire again for the same level with `STATE CHANGES ONLY`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use datafusion::arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use serde_json::json;
use weir_engine::alert::{Event, Level};
use weir_engine::clock::{SharedClock, SystemClock};
use weir_engine::store::Table;
use weir_sql::alert::{plan_stream, AlertStates, Step, StreamAlert};
use weir_sql::cq::CqSettings;
use weir_sql::Statement;

use super::model::{TaskDef, TaskStats};
use super::runtime::{Runner, Running, StartContext};
use super::stream_loop::{run, Checkpoints, Folded, Progress, RunningStream, Snapshot, StreamTask};
use crate::topics::Topics;

/// Starts stream alerts.
#[derive(Debug, Clone)]
pub struct AlertRunner {
    pub topics: Arc<Topics>,
    /// `[engine] lateness`.
    pub lateness: StdDuration,
    /// `[engine] series_ttl`.
    pub series_ttl: StdDuration,
    /// `[engine] checkpoint_interval`.
    pub checkpoint_interval: StdDuration,
    /// Batch alerts (`EVERY`/`CRON`) are started by this runner.
    pub batch: Option<Arc<dyn Runner>>,
}

/// A stream alert and where its events go.
struct AlertTask {
    alert: StreamAlert,
    topics: Arc<Topics>,
    stats: Arc<TaskStats>,
    /// Alert IDs by level, for the task's stats.
    summary: Arc<Mutex<serde_json::Value>>,
}

impl AlertTask {
    fn folded(&self, step: Step) -> Folded<Vec<Event>> {
        Folded {
            points: step.points,
            late: step.late,
            windows: step.windows,
            error: step.error,
            output: (!step.evaluated.events.is_empty()).then_some(step.evaluated.events),
        }
    }

    fn summarize(&self) {
        let mut by_level = [0u64; 4];
        for s in self.alert.states().states.values() {
            by_level[s.level as usize] += 1;
        }
        *self.summary.lock() = json!({
            "ids": self.alert.states().states.len(),
            "ids_by_level": {
                "OK": by_level[0], "INFO": by_level[1], "WARNING": by_level[2], "CRITICAL": by_level[3]
            },
            "topic": self.alert.topic(),
        });
    }
}

impl StreamTask for AlertTask {
    type Output = Vec<Event>;

    fn blocking(&self) -> bool {
        self.alert.calls_udfs()
    }

    fn ingest(&mut self, measurement: &str, batch: &RecordBatch) -> Folded<Self::Output> {
        let step = self.alert.ingest(measurement, batch);
        self.folded(step)
    }

    fn close(&mut self) -> Folded<Self::Output> {
        let step = self.alert.close();
        self.folded(step)
    }

    async fn emit(
        &mut self,
        events: Self::Output,
        _stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<u64, String> {
        count_events(&self.stats, &events);
        let topics = Arc::clone(&self.topics);
        let n = events.len() as u64;
        tokio::task::spawn_blocking(move || topics.publish(&events))
            .await
            .map_err(|e| format!("publishing failed: {e}"))?
            .map_err(|e| format!("cannot store the alert events: {e}"))?;
        self.summarize();
        Ok(n)
    }

    fn snapshot(&self) -> Result<Snapshot, String> {
        let states = serde_json::to_vec(self.alert.states()).map_err(|e| e.to_string())?;
        Ok(Snapshot {
            data: self.alert.checkpoint().map_err(|e| e.to_string())?,
            beside: vec![(Table::AlertState, states)],
        })
    }
}

/// Counts published events by level in the task's stats, and logs them.
pub(super) fn count_events(stats: &TaskStats, events: &[Event]) {
    for e in events {
        let counter = match e.level {
            Level::Ok => &stats.alerts_ok,
            Level::Info => &stats.alerts_info,
            Level::Warning => &stats.alerts_warn,
            Level::Critical => &stats.alerts_crit,
        };
        counter.fetch_add(1, Relaxed);
        tracing::info!(task = %e.task, topic = %e.topic, id = %e.id, level = e.level.as_str(), previous = e.previous_level.as_str(), "alert event");
    }
}

impl Runner for AlertRunner {
    fn start(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
    ) -> Result<Box<dyn Running>, String> {
        if let Statement::CreateAlert(a) = stmt {
            if a.schedule.is_some() {
                return match &self.batch {
                    Some(batch) => batch.start(def, stmt, ctx),
                    None => Err(format!(
                        "alert {} has a schedule (EVERY/CRON), and batch alerts are not available",
                        a.name
                    )),
                };
            }
        }
        let (rules, plan) = plan_stream(stmt, &ctx.planner_udfs())?;
        let (rules, plan) = (Arc::new(rules), Arc::new(plan));
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "alerts need the tokio runtime".to_string())?;
        let lateness = i64::try_from(self.lateness.as_nanos()).unwrap_or(i64::MAX);
        let settings = CqSettings {
            lateness,
            series_ttl: i64::try_from(self.series_ttl.as_nanos()).unwrap_or(i64::MAX),
            // Each row is one evaluation: rows once, final.
            provisional: false,
        };
        let wall: SharedClock = Arc::new(SystemClock);
        let mut alert = StreamAlert::new(
            Arc::clone(&rules),
            Arc::clone(&plan),
            Arc::clone(&wall),
            settings,
        );
        let description = format!(
            "{}\nAlert: {} conditions, topic {}",
            alert.describe(lateness),
            rules.levels().join(", "),
            rules.topic()
        );

        let checkpoints = Checkpoints {
            store: Arc::clone(&ctx.store),
            task: def.name.clone(),
        };
        let last = Arc::new(Mutex::new(None));
        let cursor = match checkpoints.load(&def.statement) {
            Ok(Some((meta, bytes))) => {
                let states = ctx
                    .store
                    .get_bytes(Table::AlertState, &def.name)
                    .map_err(|e| e.to_string())
                    .and_then(|b| match b {
                        Some(b) => {
                            serde_json::from_slice::<AlertStates>(&b).map_err(|e| e.to_string())
                        }
                        None => Ok(AlertStates::default()),
                    });
                match states.and_then(|s| alert.restore(&bytes, s).map_err(|e| e.to_string())) {
                    Ok(()) => {
                        tracing::info!(task = %def.name, ids = alert.states().states.len(), watermark = meta.watermark, "alert resumed from its checkpoint");
                        let w = meta.watermark;
                        *last.lock() = Some(meta);
                        Some(w)
                    }
                    Err(e) => {
                        ctx.stats
                            .record_error(format!("cannot resume from the checkpoint: {e}"));
                        alert =
                            StreamAlert::new(Arc::clone(&rules), Arc::clone(&plan), wall, settings);
                        None
                    }
                }
            }
            Ok(None) => None,
            Err(e) => {
                ctx.stats
                    .record_error(format!("cannot read the checkpoint: {e}"));
                None
            }
        };

        let sub_name = format!("alert:{}", def.name);
        let sub = super::stream_loop::subscribe(&ctx.router, sub_name.clone(), &plan, cursor);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let progress = Progress::new(
            checkpoints,
            def.statement.clone(),
            sub.acker,
            cursor.is_none(),
            Arc::clone(&last),
            Arc::clone(&ctx.stats),
        );
        let summary = Arc::new(Mutex::new(serde_json::Value::Null));
        let task = AlertTask {
            alert,
            topics: Arc::clone(&self.topics),
            stats: Arc::clone(&ctx.stats),
            summary: Arc::clone(&summary),
        };
        task.summarize();
        let loop_task = handle.spawn(run(
            task,
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
            helpers: Mutex::new(Vec::new()),
            last_checkpoint: last,
            extra: summary,
        }))
    }
}
