//! A stream alert: its SELECT running as a continuous query, each emitted row evaluated.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use weir_engine::clock::SharedClock;

use crate::cq::{plan_derived, CheckpointError, CqPlan, CqSettings, CqState, Output, Udfs};
use crate::Statement;

use super::{rows_from_lines, AlertRules, AlertStates, Evaluated};

/// Plans a stream alert (`CREATE ALERT` without `EVERY`/`CRON`): its rules and the
/// continuous query that produces its rows.
pub fn plan_stream(stmt: &Statement, udfs: &Udfs) -> Result<(AlertRules, CqPlan), String> {
    let Statement::CreateAlert(a) = stmt else {
        return Err("not a CREATE ALERT statement".to_string());
    };
    if a.schedule.is_some() {
        return Err(format!(
            "alert {} has a schedule (EVERY/CRON): it is a batch alert",
            a.name
        ));
    }
    let rules = AlertRules::new(a).map_err(|e| e.to_string())?;
    let plan = plan_derived(&a.name, &a.database, &a.select, udfs)
        .map_err(|e| e.to_string().replacen("continuous query", "alert", 1))?;
    Ok((rules, plan))
}

/// What one step of a stream alert did.
#[derive(Debug, Default)]
pub struct Step {
    /// Points read.
    pub points: u64,
    /// Points whose window had closed.
    pub late: u64,
    /// Windows that produced rows.
    pub windows: u64,
    /// Rows evaluated and the events they raised.
    pub evaluated: Evaluated,
    /// A problem with the input, if any.
    pub error: Option<String>,
}

/// The running state of one stream alert.
#[derive(Debug)]
pub struct StreamAlert {
    rules: Arc<AlertRules>,
    cq: CqState,
    states: AlertStates,
}

impl StreamAlert {
    /// An alert that has seen nothing yet.
    pub fn new(
        rules: Arc<AlertRules>,
        plan: Arc<CqPlan>,
        wall: SharedClock,
        settings: CqSettings,
    ) -> StreamAlert {
        StreamAlert {
            rules,
            cq: CqState::new(plan, wall, settings),
            states: AlertStates::default(),
        }
    }

    /// Folds one routed batch in (a per-point query evaluates its rows right away).
    pub fn ingest(&mut self, measurement: &str, batch: &RecordBatch) -> Step {
        let r = self.cq.ingest(measurement, batch);
        let mut step = self.evaluate(r.output);
        step.points = r.points;
        step.late = r.late;
        step.error = step.error.or(r.error);
        step
    }

    /// Closes what is due at the task's time and evaluates the rows.
    pub fn close(&mut self) -> Step {
        let out = self.cq.close();
        self.evaluate(out)
    }

    fn evaluate(&mut self, out: Output) -> Step {
        let mut step = Step {
            windows: out.windows,
            ..Step::default()
        };
        if out.lines == 0 {
            return step;
        }
        match rows_from_lines(&out.body) {
            Ok(rows) => step.evaluated = self.rules.evaluate(&mut self.states, &rows),
            Err(e) => step.error = Some(format!("cannot read the query's rows: {e}")),
        }
        step
    }

    /// The topic the alert publishes to.
    pub fn topic(&self) -> &str {
        self.rules.topic()
    }

    /// The alert IDs' states.
    pub fn states(&self) -> &AlertStates {
        &self.states
    }

    /// The query's window state (see [`CqState::checkpoint`]); stored with [`Self::states`].
    pub fn checkpoint(&self) -> Result<Vec<u8>, CheckpointError> {
        self.cq.checkpoint()
    }

    /// Continues from a checkpoint and the states stored with it.
    pub fn restore(&mut self, bytes: &[u8], states: AlertStates) -> Result<(), CheckpointError> {
        self.cq.restore(bytes)?;
        self.states = states;
        Ok(())
    }

    /// Whether closing windows calls user-defined functions (and may block).
    pub fn calls_udfs(&self) -> bool {
        self.cq.calls_udfs()
    }

    /// Open windows and known series.
    pub fn sizes(&self) -> (usize, usize) {
        self.cq.sizes()
    }

    /// A description of the plan.
    pub fn describe(&self, lateness: i64) -> String {
        self.cq.plan().describe(lateness)
    }
}
