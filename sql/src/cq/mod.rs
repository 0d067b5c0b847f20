//! Continuous queries on the stream: a `CREATE CONTINUOUS QUERY` planned once, then fed
//! routed batches and asked for the lines to write `INTO` InfluxDB.
//!
//! The runtime around it (subscription, writer, stats) lives in the server; this module owns
//! InfluxQL's semantics so they can be tested without a daemon (the table-driven cases under
//! `tests/cases/` and the differential suite against a real `influxd` both run through it).
//!
//! - [`plan`] validates a statement into a [`CqPlan`]: a windowed query (`GROUP BY time`)
//!   or a per-point one (no `GROUP BY time`: map/filter and per-series transformations).
//! - [`CqState`] keeps the task clock, the open windows and the per-series state, and turns
//!   closed windows (or points) into line protocol.
//! - [`plan_batch`] and [`run_batch`] run the same operators once over a time range, for
//!   `CREATE BATCH QUERY ... FROM ARCHIVE`.

mod batch;
mod columnar;
#[cfg(test)]
mod columnar_tests;
mod cond;
mod derived;
mod encode;
mod expr;
mod intern;
mod per_point;
mod plan;
mod series;
mod snapshot;
mod subseries;
mod view;
mod windowed;

use datafusion::arrow::array::Array;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use weir_engine::clock::SharedClock;
use weir_engine::window::TaskClock;

pub use batch::{
    last_time, plan_batch, run_batch, to_engine_shape, BatchError, BatchOutput, BatchQueryPlan,
    Bound, TimeRange, WholeRange,
};
pub use derived::plan_derived;
pub(crate) use expr::binary;
pub use plan::{plan, plan_with, CqPlan, Udfs};
pub use snapshot::CheckpointError;

/// Why a continuous query cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CqError {
    /// Valid InfluxQL that weir does not run as a continuous query.
    #[error("continuous query {name}: {what} is not supported in a continuous query")]
    Unsupported { name: String, what: String },
    /// A statement that cannot mean anything as a continuous query.
    #[error("continuous query {name}: {reason}")]
    Invalid { name: String, reason: String },
}

impl CqError {
    pub(crate) fn unsupported(name: &str, what: impl std::fmt::Display) -> CqError {
        CqError::Unsupported {
            name: name.to_string(),
            what: what.to_string(),
        }
    }

    pub(crate) fn invalid(name: &str, reason: impl std::fmt::Display) -> CqError {
        CqError::Invalid {
            name: name.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Settings of the engine a continuous query runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqSettings {
    /// `[engine] lateness` in ns: how long after its end a window waits for late points.
    pub lateness: i64,
    /// `[engine] series_ttl` in ns: series not seen for this long (event time) are forgotten.
    pub series_ttl: i64,
    /// Write a row that can still change (an `integral()` waiting for its group's next
    /// point) at once, as a range ending there gives it, and again at the same timestamp when
    /// final. For sinks that keep the last write of a series and time (InfluxDB's `INTO`);
    /// archives and alerts keep every row, so they get each row once, when final.
    pub provisional: bool,
}

impl Default for CqSettings {
    fn default() -> Self {
        CqSettings {
            lateness: 5_000_000_000,
            series_ttl: 86_400_000_000_000,
            provisional: false,
        }
    }
}

/// What one batch did to a task: counted into the task's stats by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Points read (kept by `WHERE` or not).
    pub points: u64,
    /// Points whose window had closed.
    pub late: u64,
    /// A problem with the batch itself, if any.
    pub error: Option<String>,
    /// Lines produced right away (per-point queries).
    pub output: Output,
}

/// Line protocol to write `INTO`, destined for one database and retention policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Newline-terminated lines.
    pub body: Vec<u8>,
    /// Number of lines in `body`.
    pub lines: usize,
    /// Windows that produced at least one line.
    pub windows: u64,
}

impl Output {
    fn append(&mut self, other: Output) {
        self.body.extend_from_slice(&other.body);
        self.lines += other.lines;
        self.windows += other.windows;
    }
}

/// The running state of one continuous query.
#[derive(Debug)]
pub struct CqState {
    plan: Arc<CqPlan>,
    clock: TaskClock,
    kind: StateKind,
}

#[derive(Debug)]
enum StateKind {
    Windowed(Box<windowed::Windowed>),
    PerPoint(per_point::PerPoint),
}

impl CqState {
    /// A task that has seen nothing yet, reading wall time from `wall`.
    pub fn new(plan: Arc<CqPlan>, wall: SharedClock, settings: CqSettings) -> CqState {
        let kind = match &plan.kind {
            plan::Kind::Windowed(w) => {
                StateKind::Windowed(Box::new(windowed::Windowed::new(w, &plan, settings)))
            }
            plan::Kind::PerPoint(_) => StateKind::PerPoint(per_point::PerPoint::new(settings)),
        };
        CqState {
            plan,
            clock: TaskClock::new(wall),
            kind,
        }
    }

    /// The plan this state runs.
    pub fn plan(&self) -> &CqPlan {
        &self.plan
    }

    /// Whether closing windows calls user-defined functions (programs: it may block for up
    /// to their timeout, so async callers close on a blocking-capable thread).
    pub fn calls_udfs(&self) -> bool {
        self.plan.calls_udfs()
    }

    /// Folds one routed batch of a source measurement into the state.
    pub fn ingest(&mut self, measurement: &str, batch: &RecordBatch) -> Ingested {
        if !self.plan.sources.matches(measurement) {
            return Ingested::default();
        }
        let mut report = Ingested {
            points: batch.num_rows() as u64,
            ..Ingested::default()
        };
        let Some(view) = view::View::new(batch) else {
            report.error = Some("batch without a nanosecond time column".to_string());
            return report;
        };
        // Every point read advances the clock, kept by WHERE or not.
        for row in 0..batch.num_rows() {
            if view.time.is_valid(row) {
                self.clock.observe(view.time.value(row));
            }
        }
        let plan = Arc::clone(&self.plan);
        match &mut self.kind {
            StateKind::Windowed(w) => {
                report.late = w.ingest(&plan, measurement, &view);
                report.error = w.take_error();
            }
            StateKind::PerPoint(p) => {
                report.output = p.ingest(&plan, measurement, &view);
            }
        }
        report
    }

    /// Emits what is due at the task's current time: closed windows, resampled partials.
    pub fn close(&mut self) -> Output {
        let Some(now) = self.clock.now() else {
            return Output::default();
        };
        let plan = Arc::clone(&self.plan);
        match &mut self.kind {
            StateKind::Windowed(w) => w.close(&plan, now),
            StateKind::PerPoint(p) => {
                p.expire(now);
                Output::default()
            }
        }
    }

    /// The state as bytes, to be restored by [`CqState::restore`] in a later run of the same
    /// query: open windows, per-series state, what was emitted, the clock's event time.
    pub fn checkpoint(&self) -> Result<Vec<u8>, CheckpointError> {
        let kind = match &self.kind {
            StateKind::Windowed(w) => snapshot::KindRef::Windowed(w),
            StateKind::PerPoint(p) => snapshot::KindRef::PerPoint(p),
        };
        snapshot::encode(&snapshot::SnapshotRef {
            version: snapshot::VERSION,
            max_event: self.clock.max_event_time(),
            kind,
        })
    }

    /// Continues from a checkpoint of the same query. The task clock resumes at the event time
    /// it had reached, as if that point had just arrived: the downtime does not close windows
    /// before the points the log replays have been read.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), CheckpointError> {
        let saved = snapshot::decode(bytes)?;
        match (&mut self.kind, saved.kind) {
            (StateKind::Windowed(w), snapshot::Kind::Windowed(s)) => {
                w.restore(s).map_err(CheckpointError::Mismatch)?;
            }
            (StateKind::PerPoint(p), snapshot::Kind::PerPoint(s)) => p.restore(s),
            _ => {
                return Err(CheckpointError::Mismatch(
                    "windowed and per-point queries do not share state".to_string(),
                ))
            }
        }
        if let Some(t) = saved.max_event {
            self.clock.observe(t);
        }
        Ok(())
    }

    /// Keeps every window on the row path (`Acc`), what the columnar windows are checked
    /// against.
    #[cfg(test)]
    fn use_row_path(&mut self) {
        if let StateKind::Windowed(w) = &mut self.kind {
            w.use_row_path();
        }
    }

    /// Open windows and known series, for the task's stats.
    pub fn sizes(&self) -> (usize, usize) {
        match &self.kind {
            StateKind::Windowed(w) => w.sizes(),
            StateKind::PerPoint(p) => (0, p.series()),
        }
    }
}

/// Runs a continuous query over routed batches with a manual clock: the batches are ingested
/// in order, then the clock is moved far enough for every window to close. Used by the
/// table-driven cases.
pub fn run_to_completion(
    plan: Arc<CqPlan>,
    batches: &[(String, RecordBatch)],
    settings: CqSettings,
) -> Output {
    run(plan, batches, settings, false).unwrap_or_default()
}

/// As [`run_to_completion`], but the task is checkpointed and restored into a new state after
/// every point, as a restart would (the clock is moved at the same batch boundaries): the
/// output must be the same.
pub fn run_with_restarts(
    plan: Arc<CqPlan>,
    batches: &[(String, RecordBatch)],
    settings: CqSettings,
) -> Result<Output, CheckpointError> {
    run(plan, batches, settings, true)
}

fn run(
    plan: Arc<CqPlan>,
    batches: &[(String, RecordBatch)],
    settings: CqSettings,
    restarts: bool,
) -> Result<Output, CheckpointError> {
    let wall = weir_engine::clock::ManualClock::new(0);
    let shared: SharedClock = Arc::new(wall.clone());
    let mut state = CqState::new(Arc::clone(&plan), Arc::clone(&shared), settings);
    let mut out = Output::default();
    for (measurement, batch) in batches {
        if restarts {
            for row in 0..batch.num_rows() {
                let r = state.ingest(measurement, &batch.slice(row, 1));
                out.append(r.output);
                let bytes = state.checkpoint()?;
                state = CqState::new(Arc::clone(&plan), Arc::clone(&shared), settings);
                state.restore(&bytes)?;
            }
        } else {
            let r = state.ingest(measurement, batch);
            out.append(r.output);
        }
        out.append(state.close());
    }
    // Far enough for any window (and RESAMPLE FOR) to close.
    wall.advance(400 * 86_400_000_000_000);
    out.append(state.close());
    Ok(out)
}
