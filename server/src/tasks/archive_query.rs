//! `CREATE ARCHIVE ... AS SELECT`: the continuous-query engine as the archive's derivation.
//!
//! The SELECT runs exactly as a continuous query would (same planner, same windows, same
//! InfluxQL semantics); its output, line protocol, is parsed back into Arrow batches by the
//! same builder ingest uses, so result rows are typed as they would be in InfluxDB and archived
//! like raw points. Without `INTO`, rows keep the source measurement's name (as InfluxDB names
//! a SELECT's result) in the archive's database and the source's retention policy
//! (`autogen` unless `FROM` names one).

use std::sync::Arc;

use weir_archive::arrow::record_batch::RecordBatch;
use weir_archive::{Derive, DerivedBatch};
use weir_engine::batch::RequestBuilder;
use weir_engine::clock::{SharedClock, SystemClock};
use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
use weir_engine::router::Filter;
use weir_engine::schema::SchemaRegistry;
use weir_sql::ast::CreateArchive;
use weir_sql::cq::{CqPlan, CqSettings, CqState, Output, Udfs};
use weir_sql::Select;

/// Plans the SELECT of a derived archive as the continuous query it runs.
pub fn plan(a: &CreateArchive, select: &Select, udfs: &Udfs) -> Result<CqPlan, String> {
    let plan = weir_sql::cq::plan_derived(&a.name, &a.database, select, udfs)
        .map_err(|e| format!("archive {}: {e}", a.name))?;
    if plan.has_predictor() {
        // Every close writes a new forecast over the same future times: InfluxDB keeps the
        // last, an archive would keep them all.
        return Err(format!(
            "archive {}: holt_winters() is not supported in an archive's AS SELECT (every \
             window close writes a new forecast, and an archive keeps every row): forecast \
             with a continuous query INTO InfluxDB",
            a.name
        ));
    }
    Ok(plan)
}

/// The derivation of one archive.
pub struct CqDerive {
    plan: Arc<CqPlan>,
    state: CqState,
    /// Field types of the result rows, so a column keeps its type across batches.
    registry: SchemaRegistry,
}

impl CqDerive {
    pub fn new(plan: CqPlan, settings: CqSettings) -> CqDerive {
        let plan = Arc::new(plan);
        let wall: SharedClock = Arc::new(SystemClock);
        CqDerive {
            state: CqState::new(Arc::clone(&plan), wall, settings),
            plan,
            registry: SchemaRegistry::in_memory(),
        }
    }

    /// Result lines as batches, per measurement.
    fn rows(&self, out: Output) -> Result<Vec<DerivedBatch>, String> {
        if out.lines == 0 {
            return Ok(Vec::new());
        }
        let db = self.plan.target_db.as_str();
        let rp = self
            .plan
            .target_rp
            .clone()
            .or_else(|| self.plan.rp.clone())
            .unwrap_or_else(|| "autogen".to_string());
        lines_to_batches(db, &rp, &self.registry, &out.body)
    }
}

impl Derive for CqDerive {
    fn filter(&self) -> Filter {
        let plan = Arc::clone(&self.plan);
        Arc::new(move |d, r, m| plan.reads(d, r, m))
    }

    fn ingest(
        &mut self,
        measurement: &str,
        batch: &RecordBatch,
    ) -> Result<Vec<DerivedBatch>, String> {
        let r = self.state.ingest(measurement, batch);
        let rows = self.rows(r.output)?;
        match r.error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    fn due(&mut self) -> Result<Vec<DerivedBatch>, String> {
        let out = self.state.close();
        self.rows(out)
    }

    fn checkpoint(&self) -> Result<Vec<u8>, String> {
        self.state.checkpoint().map_err(|e| e.to_string())
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.state.restore(bytes).map_err(|e| e.to_string())
    }
}

/// Result rows (line protocol) as Arrow batches per measurement, typed as ingest types them
/// (`registry` keeps a column's type across calls), for `db`.`rp`.
pub fn lines_to_batches(
    db: &str,
    rp: &str,
    registry: &SchemaRegistry,
    body: &[u8],
) -> Result<Vec<DerivedBatch>, String> {
    let mut builder = RequestBuilder::new(db, registry, Precision::Nanoseconds, 0, 1024);
    let mut parsed = ParsedLine::default();
    let mut problems = Vec::new();
    for (n, line) in lines(body) {
        let added = parse_line(line, n, &mut parsed)
            .map_err(|e| e.to_string())
            .and_then(|()| builder.add_line(n, &parsed).map_err(|e| e.reason));
        if let Err(e) = added {
            problems.push(e);
        }
    }
    let built = builder.finish().map_err(|e| e.to_string())?;
    if !problems.is_empty() {
        return Err(format!(
            "{} result rows could not be archived: {}",
            problems.len(),
            problems[0]
        ));
    }
    Ok(built
        .into_iter()
        .map(|m| DerivedBatch {
            db: db.to_string(),
            rp: rp.to_string(),
            measurement: m.measurement.to_string(),
            batch: m.batch,
        })
        .collect())
}
