//! Running `CREATE ARCHIVE` tasks: each one is an [`ArchiveSink`] subscribed to the router.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use weir_archive::{ArchiveRoot, ArchiveSink, ArchiveSpec, Partition, StoreConfig, TimeUnitSpec};
use weir_engine::router::Router;
use weir_sql::ast::{ArchiveSource, MeasurementName, Partitioning, Source, TimeUnit};
use weir_sql::cq::CqSettings;
use weir_sql::Statement;

use super::archive_query::CqDerive;
use super::batch_archive::BatchArchiveOut;
use super::batch_runner::BatchRunner;

use super::model::{TaskDef, TaskStats};
use super::runtime::{Runner, Running, StartContext};

/// Starts archives.
#[derive(Debug, Clone)]
pub struct ArchiveRunner {
    /// `[archive] url`, resolved against `[storage] dir`: where `TO` is omitted.
    pub default_url: String,
    /// Where archives keep their recovery state.
    pub state_dir: PathBuf,
    /// Object store credentials and endpoint (S3).
    pub store: StoreConfig,
    /// `[engine] lateness` and `series_ttl`, for archives of query results.
    pub cq_settings: CqSettings,
    /// Runs scheduled archives (`CREATE ARCHIVE ... EVERY d AS SELECT`) as batch queries;
    /// `None` refuses them.
    pub batch: Option<BatchRunner>,
}

/// Runs `fut` to completion from synchronous code running on the runtime (the manager is
/// called inside `block_in_place`).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| handle.block_on(fut))
}

impl Runner for ArchiveRunner {
    fn start(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
    ) -> Result<Box<dyn Running>, String> {
        let Statement::CreateArchive(a) = stmt else {
            return Err(format!("{} is not a CREATE ARCHIVE statement", def.name));
        };
        let url = a.url.clone().unwrap_or_else(|| self.default_url.clone());
        let mut derive = None;
        let mut spec = ArchiveSpec::new(&a.name, &a.database, url);
        match &a.source {
            ArchiveSource::All => {}
            ArchiveSource::Measurements(ms) => {
                for m in ms {
                    if m.database.as_deref().is_some_and(|d| d != a.database) {
                        return Err(format!(
                            "archive {} reads database {:?}; FROM cannot name another database",
                            a.name, a.database
                        ));
                    }
                    match &m.name {
                        MeasurementName::Name(n) => spec.measurements.push(n.clone()),
                        MeasurementName::Regex(r) => {
                            spec.patterns
                                .push(regex::Regex::new(r.as_str()).map_err(|e| {
                                    format!("archive {}: FROM /{}/: {e}", a.name, r.as_str())
                                })?)
                        }
                    }
                }
            }
            ArchiveSource::Select(_) if a.schedule.is_some() => {}
            ArchiveSource::Select(s) => {
                derive = Some(super::archive_query::plan(a, s, &ctx.planner_udfs())?);
            }
        }
        spec.partition = match a.partition_by {
            Some(Partitioning::Day) => Partition::Day,
            Some(Partitioning::Hour) | None => Partition::Hour,
        };
        if let Some(d) = a.roll_every {
            let nanos = u64::try_from(d.as_nanos())
                .map_err(|_| "ROLL EVERY must be positive".to_string())?;
            spec.roll_every = std::time::Duration::from_nanos(nanos);
        }
        spec.time_unit = match a.time_unit {
            Some(TimeUnit::Microsecond) => TimeUnitSpec::Us,
            Some(TimeUnit::Nanosecond) | None => TimeUnitSpec::Ns,
        };
        if let (Some(_), ArchiveSource::Select(s)) = (&a.schedule, &a.source) {
            let batch = self.batch.as_ref().ok_or_else(|| {
                format!("archive {}: scheduled archives are not available", a.name)
            })?;
            if s.from_archive && s.target.is_none() && spec.url == self.default_url {
                return Err(format!(
                    "archive {} reads FROM ARCHIVE and writes to that same archive root: name \
                     the result measurement with INTO, or its rows would land in the table of \
                     the measurement they are read from",
                    a.name
                ));
            }
            let root = ArchiveRoot::open(&spec.url, &self.store)
                .map_err(|e| format!("cannot open archive {} at {}: {e}", a.name, spec.url))?;
            // Rows are filed under INTO's retention policy, else the source's, else autogen.
            let target = s.target.as_ref();
            let db = target
                .and_then(|t| t.database.clone())
                .unwrap_or_else(|| a.database.clone());
            let rp = target
                .and_then(|t| t.retention_policy.clone())
                .or_else(|| {
                    s.sources.iter().find_map(|src| match src {
                        Source::Measurement(m) => m.retention_policy.clone(),
                        Source::Subquery(_) => None,
                    })
                })
                .unwrap_or_else(|| "autogen".to_string());
            let out = std::sync::Arc::new(BatchArchiveOut::new(spec, root, db, rp));
            return batch.start_archive(def, stmt, ctx, out);
        }
        let plan = format!(
            "Archive {name}: {db}.*.{ms} -> {url} partitioned by {part:?}, roll every {roll:?}, time unit {unit:?}",
            name = spec.name,
            db = spec.db,
            ms = if spec.measurements.is_empty() && spec.patterns.is_empty() {
                "*".to_string()
            } else {
                let mut names = spec.measurements.clone();
                names.extend(spec.patterns.iter().map(|p| format!("/{}/", p.as_str())));
                format!("{{{}}}", names.join(","))
            },
            url = spec.url,
            part = spec.partition,
            roll = spec.roll_every,
            unit = spec.time_unit,
        );
        let (plan, started) = match derive {
            None => (
                plan,
                block_on(ArchiveSink::start(
                    spec,
                    &ctx.router,
                    &self.state_dir,
                    &self.store,
                )),
            ),
            Some(cq) => {
                let lateness = self.cq_settings.lateness;
                let plan = format!(
                    "Archive {} of query results -> {} partitioned by {:?}, roll every {:?}\n{}",
                    spec.name,
                    spec.url,
                    spec.partition,
                    spec.roll_every,
                    cq.describe(lateness)
                );
                let derive = Box::new(CqDerive::new(cq, self.cq_settings));
                (
                    plan,
                    block_on(ArchiveSink::start_derived(
                        spec,
                        &ctx.router,
                        &self.state_dir,
                        &self.store,
                        derive,
                    )),
                )
            }
        };
        let sink = started.map_err(|e| format!("cannot start archive {}: {e}", a.name))?;
        Ok(Box::new(RunningArchive {
            sink: Mutex::new(Some(sink)),
            router: Arc::clone(&ctx.router),
            stats: Arc::clone(&ctx.stats),
            plan,
        }))
    }
}

#[derive(Debug)]
struct RunningArchive {
    sink: Mutex<Option<ArchiveSink>>,
    router: Arc<Router>,
    stats: Arc<TaskStats>,
    plan: String,
}

impl Running for RunningArchive {
    fn plan(&self) -> String {
        self.plan.clone()
    }

    fn extra_stats(&self) -> serde_json::Value {
        use std::sync::atomic::Ordering::Relaxed;
        match self.sink.lock().as_ref() {
            Some(sink) => {
                let s = sink.stats();
                serde_json::json!({
                    "rows_written": s.rows_written.load(Relaxed),
                    "files_written": s.files_written.load(Relaxed),
                    "bytes_written": s.bytes_written.load(Relaxed),
                    "files_compacted": s.files_compacted.load(Relaxed),
                    "errors": s.errors.load(Relaxed),
                    "wal_watermark": s.watermark.load(Relaxed),
                })
            }
            None => serde_json::Value::Null,
        }
    }

    fn refresh_stats(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(sink) = self.sink.lock().as_ref() {
            let s = sink.stats();
            self.stats
                .points_out
                .store(s.rows_written.load(Relaxed), Relaxed);
        }
    }

    fn stop(&self) {
        if let Some(sink) = self.sink.lock().take() {
            block_on(sink.stop(&self.router));
        }
    }
}
