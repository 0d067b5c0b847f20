//! Running `CREATE BATCH QUERY` tasks: on a schedule, send the SELECT (without `INTO`) to
//! InfluxDB's `/query` API and write the rows it returns back to InfluxDB as line protocol,
//! into the `INTO` measurement (what an InfluxDB continuous query or a Kapacitor batch task
//! does).
//!
//! With `FROM ARCHIVE` the rows come from the Parquet archive instead: each run reads the
//! measurements' rows of the run's time range (the `time` conditions of `WHERE`, `now()` being
//! the run's scheduled time) through DataFusion, so only the partitions of the range are
//! opened, and evaluates the SELECT with the continuous-query operators of
//! [`weir_sql::cq`] (see [`weir_sql::cq::run_batch`]).
//!
//! Every run that ends records its scheduled time in the store ([`Table::BatchRuns`]); at the
//! next start the runs that fell due while weir was down are counted and reported (task stats
//! and a log line). They are not all run: a `FROM ARCHIVE` query runs once for the most recent
//! missed time (a catch-up run, `now()` being that time), then keeps its schedule; a query sent
//! to InfluxDB just keeps its schedule (InfluxDB evaluates `now()` itself).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use datafusion::common::TableReference;
use datafusion::prelude::{col, lit};
use datafusion::scalar::ScalarValue;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_archive::ArchiveQuery;
use weir_engine::store::{Store, Table};
use weir_sql::ast::{
    BinaryOp, CreateBatchQuery, Expr, Schedule, Select, Target, TargetMeasurement,
};
use weir_sql::cq::{CqPlan, TimeRange};
use weir_sql::Statement;

use super::batch_alert::BatchAlert;
use super::batch_archive::BatchArchiveOut;
use super::influx::urlencode;
use super::model::{TaskDef, TaskStats};
use super::runtime::{Runner, Running, StartContext};
use crate::topics::Topics;
use weir_engine::lp_encode::{
    escape_into_string, KEY_SPECIAL, MEASUREMENT_SPECIAL, STRING_SPECIAL,
};

/// Starts batch queries.
#[derive(Debug, Clone)]
pub struct BatchRunner {
    /// `[influxdb] url`: where the queries go and the results are written.
    pub influxdb_url: String,
    pub username: String,
    pub password: String,
    /// The archive `FROM ARCHIVE` reads (`[archive] url`, what `weir query` reads); `None`
    /// when it could not be opened.
    pub archive: Option<Arc<ArchiveQuery>>,
    /// Where batch alerts publish.
    pub topics: Arc<Topics>,
}

/// A `FROM ARCHIVE` query: what each run reads and how it is evaluated.
#[derive(Debug)]
struct ArchiveSource {
    archive: Arc<ArchiveQuery>,
    plan: Arc<CqPlan>,
    range: TimeRange,
    /// The whole plan: an aggregate over the whole range is planned per run.
    planned: weir_sql::cq::BatchQueryPlan,
}

/// What one batch query does, fixed at start.
#[derive(Debug)]
struct BatchPlan {
    name: String,
    database: String,
    schedule: When,
    /// The InfluxQL sent (the SELECT without `INTO`).
    query: String,
    /// `None` for `INTO :MEASUREMENT` (each series keeps its name).
    measurement: Option<String>,
    target_db: String,
    target_rp: Option<String>,
    query_url: String,
    write_url: String,
    influxdb_url: String,
    username: String,
    password: String,
    /// Columns whose values are floats even when InfluxDB's JSON shows them without a
    /// fraction (`50` for 50.0): known from the SELECT, and learned from earlier answers.
    float_columns: Mutex<HashSet<String>>,
    /// Columns that have the type of a source field, `(column, field)`: their types come
    /// from `SHOW FIELD KEYS` before each run.
    typed_columns: Vec<(String, String)>,
    /// `SHOW FIELD KEYS FROM <source>`, one per measurement source.
    field_keys_queries: Vec<String>,
    /// `Some` for `FROM ARCHIVE`: the rows come from the archive, not from InfluxDB's
    /// `/query` (the fields above about the query are then unused).
    archive: Option<ArchiveSource>,
    /// `Some` for a batch alert: the rows are evaluated and published, not written `INTO`.
    alert: Option<Arc<BatchAlert>>,
    /// `Some` for a batch archive: the rows are written to the archive, not `INTO` InfluxDB.
    out: Option<Arc<BatchArchiveOut>>,
    /// For a batch archive, the range a run reads when weir can tell it from `WHERE` (always
    /// for `FROM ARCHIVE`): it names the run's files, so runs of the same range overwrite
    /// each other's files. `None`: the scheduled time names them.
    out_range: Option<TimeRange>,
}

/// Rows per chunk of a batch query's answer (`/query?chunked=true&chunk_size=`).
const QUERY_CHUNK_ROWS: usize = 10_000;

/// Functions whose result is a float whatever the type of their input.
const FLOAT_FUNCTIONS: &[&str] = &[
    "mean",
    "median",
    "stddev",
    "integral",
    "derivative",
    "non_negative_derivative",
    "moving_average",
    "exponential_moving_average",
    "double_exponential_moving_average",
    "triple_exponential_moving_average",
    "triple_exponential_derivative",
    "relative_strength_index",
    "kaufmans_efficiency_ratio",
    "kaufmans_adaptive_moving_average",
    "chande_momentum_oscillator",
    "holt_winters",
    "holt_winters_with_fit",
    "sqrt",
    "ln",
    "log",
    "log2",
    "log10",
    "exp",
    "pow",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
];

/// Functions whose result has the type of the field they read.
const SAME_TYPE_FUNCTIONS: &[&str] = &[
    "max",
    "min",
    "first",
    "last",
    "sum",
    "percentile",
    "mode",
    "sample",
    "distinct",
    "spread",
    "difference",
    "non_negative_difference",
    "cumulative_sum",
    "top",
    "bottom",
    "abs",
];

/// The output columns of `select` that always hold floats, and those whose type is that of
/// a source field: `(column, field)` (InfluxDB's column names: the field's name, duplicates
/// suffixed `_1`, `_2`, ...).
fn column_types(select: &Select) -> (HashSet<String>, Vec<(String, String)>) {
    let mut used: HashSet<String> = HashSet::new();
    let mut floats = HashSet::new();
    let mut typed = Vec::new();
    for f in &select.fields {
        let base = f.name();
        let mut name = base.clone();
        let mut k = 1;
        while used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        used.insert(name.clone());
        let is_float = match &f.expr {
            Expr::Call(c) => FLOAT_FUNCTIONS.contains(&c.name.as_str()),
            Expr::Binary { op, .. } => *op == BinaryOp::Div,
            _ => false,
        };
        let field = match &f.expr {
            Expr::VarRef(v) => Some(v.name.clone()),
            Expr::Call(c) if SAME_TYPE_FUNCTIONS.contains(&c.name.as_str()) => {
                match c.args.first() {
                    Some(Expr::VarRef(v)) => Some(v.name.clone()),
                    _ => None,
                }
            }
            _ => None,
        };
        if is_float {
            floats.insert(name);
        } else if let Some(field) = field {
            typed.push((name, field));
        }
    }
    (floats, typed)
}

impl BatchPlan {
    fn describe(&self) -> String {
        let when = match &self.schedule {
            When::Every { every, offset } => {
                format!("runs at every t where (t - {offset}ns) % {every}ns == 0")
            }
            When::Cron { text, .. } => format!("runs on CRON '{text}' (UTC)"),
        };
        let sink = match (&self.alert, &self.out) {
            (Some(a), _) => format!(
                "evaluates the rows and publishes the events to topic {}",
                a.topic()
            ),
            (None, Some(o)) => o.describe(),
            (None, None) => format!(
                "writes the rows INTO {}.{}.{} via {}/write",
                self.target_db,
                self.target_rp.as_deref().unwrap_or(""),
                self.measurement.as_deref().unwrap_or(":MEASUREMENT"),
                self.influxdb_url
            ),
        };
        let kind = if self.alert.is_some() {
            "batch alert"
        } else if self.out.is_some() {
            "batch archive"
        } else {
            "batch query"
        };
        if let Some(a) = &self.archive {
            return format!(
                "{kind} {name} on {db}: {when} \
                 (wall clock; a run still going when the next is due makes that one skipped); \
                 each run reads FROM ARCHIVE {root} the rows of {range} and {sink}\n{plan}",
                name = self.name,
                db = self.database,
                root = a.archive.root().url,
                range = a.range,
                plan = a.plan.describe_batch(&a.range.to_string()),
            );
        }
        format!(
            "{kind} {name} on {db}: {when} \
             (wall clock; a run still going when the next is due makes that one skipped); \
             each run sends to {url}/query?db={db}: {query}; and {sink}",
            name = self.name,
            db = self.database,
            url = self.influxdb_url,
            query = self.query,
        )
    }
}

fn plan(
    def: &TaskDef,
    stmt: &Statement,
    runner: &BatchRunner,
    store: &Arc<Store>,
    out: Option<Arc<BatchArchiveOut>>,
) -> Result<BatchPlan, String> {
    // A batch alert runs its SELECT as a batch query whose rows keep their measurement's name.
    let (b, alert) = match stmt {
        Statement::CreateBatchQuery(b) => (b.clone(), None),
        Statement::CreateAlert(a) => {
            let Some(schedule) = a.schedule.clone() else {
                return Err(format!(
                    "alert {} has no schedule: it is a stream alert",
                    a.name
                ));
            };
            let mut select = a.select.clone();
            select.target = Some(Target {
                database: Some(a.database.clone()),
                retention_policy: None,
                measurement: TargetMeasurement::Source,
            });
            let b = CreateBatchQuery {
                or_replace: a.or_replace,
                name: a.name.clone(),
                database: a.database.clone(),
                schedule,
                select,
            };
            let alert = BatchAlert::open(a, Arc::clone(&runner.topics), Arc::clone(store))?;
            (b, Some(Arc::new(alert)))
        }
        // A batch archive runs its SELECT as a batch query whose rows keep their
        // measurement's name unless INTO names one.
        Statement::CreateArchive(a) => {
            let (Some(schedule), weir_sql::ast::ArchiveSource::Select(s)) =
                (&a.schedule, &a.source)
            else {
                return Err(format!(
                    "archive {} has no schedule and SELECT: it is a stream archive",
                    a.name
                ));
            };
            let mut select = s.clone();
            let into = select.target.take();
            select.target = Some(Target {
                database: Some(a.database.clone()),
                retention_policy: None,
                measurement: into.map_or(TargetMeasurement::Source, |t| t.measurement),
            });
            let b = CreateBatchQuery {
                or_replace: a.or_replace,
                name: a.name.clone(),
                database: a.database.clone(),
                schedule: schedule.clone(),
                select,
            };
            (b, None)
        }
        _ => {
            return Err(format!(
                "{} is not a CREATE BATCH QUERY or CREATE ALERT statement",
                def.name
            ))
        }
    };
    let b = &b;
    let schedule = match &b.schedule {
        Schedule::Every { every, offset } => {
            let every = every.as_nanos();
            if every <= 0 {
                return Err(format!("batch query {}: EVERY must be positive", b.name));
            }
            When::Every {
                every,
                offset: offset.map_or(0, weir_sql::duration::Duration::as_nanos),
            }
        }
        Schedule::Cron(text) => When::Cron {
            text: text.clone(),
            cron: Cron::parse(text)?,
        },
    };
    let Some(target) = &b.select.target else {
        return Err(format!("batch query {} needs an INTO clause", b.name));
    };
    let archive = if b.select.from_archive {
        let planned = weir_sql::cq::plan_batch(b).map_err(|e| e.to_string())?;
        let archive = runner.archive.as_ref().ok_or_else(|| {
            format!(
                "batch query {} reads FROM ARCHIVE, but the archive ([archive] url) could not be opened",
                b.name
            )
        })?;
        Some(ArchiveSource {
            archive: Arc::clone(archive),
            plan: Arc::clone(&planned.plan),
            range: planned.range.clone(),
            planned,
        })
    } else {
        None
    };
    let out_range = match (&out, &archive) {
        (None, _) => None,
        (Some(_), Some(a)) => Some(a.range.clone()),
        (Some(_), None) => {
            let mut probe = b.clone();
            probe.select.from_archive = true;
            weir_sql::cq::plan_batch(&probe).ok().map(|p| p.range)
        }
    };
    let url = runner.influxdb_url.trim().trim_end_matches('/').to_string();
    // An alert or an archive over the archive needs no InfluxDB at all.
    if url.is_empty() && !((alert.is_some() || out.is_some()) && archive.is_some()) {
        return Err(if archive.is_some() {
            format!(
                "batch query {} writes INTO InfluxDB; configure [influxdb] url",
                b.name
            )
        } else {
            format!(
                "batch query {} queries InfluxDB; configure [influxdb] url",
                b.name
            )
        });
    }
    let (floats, typed_columns) = column_types(&b.select);
    let mut select = b.select.clone();
    select.target = None;
    let query = select.to_string();
    let target_db = target
        .database
        .clone()
        .unwrap_or_else(|| b.database.clone());
    let target_rp = target.retention_policy.clone();
    let measurement = match &target.measurement {
        TargetMeasurement::Name(n) => Some(n.clone()),
        TargetMeasurement::Source => None,
    };
    // Chunked: InfluxDB streams the answer as one JSON object per chunk of rows, so a large
    // result is converted and delivered chunk by chunk, never held whole.
    let query_url = format!(
        "{url}/query?db={}&epoch=ns&chunked=true&chunk_size={QUERY_CHUNK_ROWS}&q={}",
        urlencode(&b.database),
        urlencode(&query)
    );
    let mut write_url = format!("{url}/write?db={}&precision=ns", urlencode(&target_db));
    if let Some(rp) = &target_rp {
        write_url.push_str("&rp=");
        write_url.push_str(&urlencode(rp));
    }
    Ok(BatchPlan {
        name: b.name.clone(),
        database: b.database.clone(),
        schedule,
        query,
        measurement,
        target_db,
        target_rp,
        query_url,
        write_url,
        influxdb_url: url,
        username: runner.username.clone(),
        password: runner.password.clone(),
        float_columns: Mutex::new(floats),
        typed_columns,
        field_keys_queries: b
            .select
            .sources
            .iter()
            .filter_map(|s| match s {
                weir_sql::ast::Source::Measurement(m) => Some(format!("SHOW FIELD KEYS FROM {m}")),
                weir_sql::ast::Source::Subquery(_) => None,
            })
            .collect(),
        archive,
        alert,
        out,
        out_range,
    })
}

/// The first run time strictly after `now`: `t` with `(t - offset) % every == 0`.
fn next_run(now: i64, every: i64, offset: i64) -> i64 {
    let k = (now - offset).div_euclid(every);
    (k + 1) * every + offset
}

/// When a batch query runs.
#[derive(Debug)]
enum When {
    Every { every: i64, offset: i64 },
    Cron { text: String, cron: Cron },
}

impl When {
    /// The first run time strictly after `now` (ns since the epoch); `None` when there is
    /// none (a cron expression whose years are all past).
    fn next(&self, now: i64) -> Option<i64> {
        match self {
            When::Every { every, offset } => Some(next_run(now, *every, *offset)),
            When::Cron { cron, .. } => cron.next(now),
        }
    }
}

/// A parsed cron expression (UTC). Five fields are `minute hour day-of-month month
/// day-of-week`, six add `year`, seven are `second minute hour day-of-month month day-of-week
/// year` (the forms Kapacitor accepts). Each set is a bit mask of the allowed values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    seconds: u128,
    minutes: u128,
    hours: u128,
    days: u128,
    months: u128,
    weekdays: u128,
    /// Bit `y - 2000`, for 2000 to 2099.
    years: u128,
    days_any: bool,
    weekdays_any: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    fn parse(text: &str) -> Result<Cron, String> {
        let bad = |why: String| format!("invalid CRON expression '{text}': {why}");
        let trimmed = text.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 0 1 1 * *".to_string(),
            "@monthly" => "0 0 0 1 * * *".to_string(),
            "@weekly" => "0 0 0 * * 0 *".to_string(),
            "@daily" | "@midnight" => "0 0 0 * * * *".to_string(),
            "@hourly" => "0 0 * * * * *".to_string(),
            _ => trimmed.to_string(),
        };
        let mut fields: Vec<&str> = expanded.split_whitespace().collect();
        match fields.len() {
            5 => {
                fields.insert(0, "0");
                fields.push("*");
            }
            6 => fields.insert(0, "0"),
            7 => {}
            n => return Err(bad(format!("expected 5 to 7 fields, got {n}"))),
        }
        let any = |f: &str| f == "*" || f == "?";
        let weekdays = field(fields[5], 0, 7, WEEKDAYS, 0).map_err(&bad)?;
        // 7 is Sunday too.
        let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
        Ok(Cron {
            seconds: field(fields[0], 0, 59, &[], 0).map_err(&bad)?,
            minutes: field(fields[1], 0, 59, &[], 0).map_err(&bad)?,
            hours: field(fields[2], 0, 23, &[], 0).map_err(&bad)?,
            days: field(fields[3], 1, 31, &[], 0).map_err(&bad)?,
            months: field(fields[4], 1, 12, MONTHS, 1).map_err(&bad)?,
            weekdays,
            years: field(fields[6], 2000, 2099, &[], 0).map_err(&bad)?,
            days_any: any(fields[3]),
            weekdays_any: any(fields[5]),
        })
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let d = self.days & (1u128 << day) != 0;
        let w = self.weekdays & (1u128 << weekday) != 0;
        if self.days_any || self.weekdays_any {
            d && w
        } else {
            d || w
        }
    }

    /// The first time strictly after `now` (ns) that matches, to the second.
    fn next(&self, now: i64) -> Option<i64> {
        use chrono::{Datelike, NaiveDate, Timelike};
        let secs = now.div_euclid(1_000_000_000) + 1;
        let mut t = chrono::DateTime::from_timestamp(secs, 0)?.naive_utc();
        for _ in 0..1_000_000 {
            let (year, month, day) = (t.year(), t.month(), t.day());
            let y = u32::try_from(year - 2000).ok()?;
            if y > 99 {
                return None;
            }
            if self.years & (1u128 << y) == 0 {
                t = NaiveDate::from_ymd_opt(year + 1, 1, 1)?.and_hms_opt(0, 0, 0)?;
            } else if self.months & (1u128 << month) == 0 {
                let (ny, nm) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                t = NaiveDate::from_ymd_opt(ny, nm, 1)?.and_hms_opt(0, 0, 0)?;
            } else if !self.day_matches(day, t.weekday().num_days_from_sunday()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
            } else if self.hours & (1u128 << t.hour()) == 0 {
                t = t.date().and_hms_opt(t.hour(), 0, 0)? + chrono::Duration::hours(1);
            } else if self.minutes & (1u128 << t.minute()) == 0 {
                t = t.date().and_hms_opt(t.hour(), t.minute(), 0)? + chrono::Duration::minutes(1);
            } else if self.seconds & (1u128 << t.second()) == 0 {
                t += chrono::Duration::seconds(1);
            } else {
                return t.and_utc().timestamp_nanos_opt();
            }
        }
        None
    }
}

/// One cron field as a bit mask (bit `v - base`, where base is 2000 for years and 0
/// otherwise): lists of `*`, `?`, `n`, `a-b`, each optionally `/step`; `names` spell the
/// values from `first_name` on.
fn field(text: &str, min: u32, max: u32, names: &[&str], first_name: u32) -> Result<u128, String> {
    let base = if min >= 2000 { 2000 } else { 0 };
    let value = |v: &str| -> Result<u32, String> {
        let n = if let Ok(n) = v.parse::<u32>() {
            n
        } else if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            u32::try_from(i).map_err(|e| e.to_string())? + first_name
        } else if v.contains(['L', 'W', '#', 'l', 'w']) {
            return Err(format!("'{v}' (L, W and #) is not supported yet"));
        } else {
            return Err(format!("'{v}' is not a value"));
        };
        if n < min || n > max {
            return Err(format!("{n} is out of range {min}-{max}"));
        }
        Ok(n)
    };
    let mut mask = 0u128;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let step = match step {
            Some(s) => match s.parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("'{part}': the step must be a positive number")),
            },
            None => 1,
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if step > 1 { max } else { v })
        };
        if lo > hi {
            return Err(format!("'{part}': {lo} is after {hi}"));
        }
        let mut v = lo;
        while v <= hi {
            mask |= 1u128 << (v - base);
            v += step;
        }
    }
    Ok(mask)
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(t).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// An error with its causes (reqwest puts "connection refused" in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let _ = write!(s, ": {c}");
        src = c.source();
    }
    s
}

impl Runner for BatchRunner {
    fn start(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
    ) -> Result<Box<dyn Running>, String> {
        self.start_planned(def, stmt, ctx, None)
    }
}

impl BatchRunner {
    /// Starts a batch archive (`CREATE ARCHIVE ... EVERY d AS SELECT`), whose runs' rows go
    /// to `out`.
    pub fn start_archive(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
        out: Arc<BatchArchiveOut>,
    ) -> Result<Box<dyn Running>, String> {
        self.start_planned(def, stmt, ctx, Some(out))
    }

    fn start_planned(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
        out: Option<Arc<BatchArchiveOut>>,
    ) -> Result<Box<dyn Running>, String> {
        let plan = Arc::new(plan(def, stmt, self, &ctx.store, out)?);
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "batch queries need the tokio runtime".to_string())?;
        let client = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let description = plan.describe();
        let runs = Arc::new(RunLog::open(
            Arc::clone(&ctx.store),
            &plan.name,
            &plan.schedule,
            now_ns(),
        ));
        // One catch-up run for the most recent missed time, where `now()` can be that time.
        let catch_up = if plan.archive.is_some() {
            runs.missed().map(|m| m.last)
        } else {
            None
        };
        let launcher = Launcher {
            plan: Arc::clone(&plan),
            client,
            stats: Arc::clone(&ctx.stats),
            busy: Arc::new(AtomicBool::new(false)),
            current: Arc::new(Mutex::new(None)),
            runs: Arc::clone(&runs),
        };
        let current = Arc::clone(&launcher.current);
        let scheduler = handle.spawn(async move {
            if let Some(at) = catch_up {
                launcher.runs.catching_up(at);
                launcher.launch(at);
            }
            // The last run time: the wall clock may lag the timer, never run a time twice.
            let mut last = i64::MIN;
            loop {
                let now = now_ns().max(last);
                let Some(at) = launcher.plan.schedule.next(now) else {
                    tracing::info!(task = %launcher.plan.name, "batch query has no more run times");
                    break;
                };
                last = at;
                let wait = u64::try_from(at - now_ns()).unwrap_or(0);
                tokio::time::sleep(StdDuration::from_nanos(wait)).await;
                launcher.launch(at);
            }
        });
        Ok(Box::new(RunningBatch {
            plan: description,
            tasks: Mutex::new(vec![scheduler]),
            current,
            runs,
            out: plan.out.clone(),
        }))
    }
}

/// Starts the runs of one batch query, one at a time.
struct Launcher {
    plan: Arc<BatchPlan>,
    client: reqwest::Client,
    stats: Arc<TaskStats>,
    busy: Arc<AtomicBool>,
    current: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    runs: Arc<RunLog>,
}

impl Launcher {
    /// Starts the run scheduled at `at`, unless the previous one is still going (then this
    /// one is skipped: counted as an error and in `skipped_runs`).
    fn launch(&self, at: i64) {
        if self.busy.swap(true, Relaxed) {
            self.runs.skipped(at);
            self.stats.record_error(format!(
                "run at {} skipped: previous run still going",
                rfc3339(at)
            ));
            return;
        }
        let (plan, client, stats, busy, runs) = (
            Arc::clone(&self.plan),
            self.client.clone(),
            Arc::clone(&self.stats),
            Arc::clone(&self.busy),
            Arc::clone(&self.runs),
        );
        let run = tokio::spawn(async move {
            let result = match &plan.archive {
                Some(a) => run_archive(&plan, a, at, &client, &stats).await,
                None => run_once(&plan, at, &client, &stats).await,
            };
            match result {
                Ok(()) => {
                    stats.windows_emitted.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    tracing::warn!(task = %plan.name, error = %e, "batch query run failed");
                    stats.record_error(format!("run at {}: {e}", rfc3339(at)));
                }
            }
            // Run (well or not): not missed. The store is written off the async threads.
            let done = Arc::clone(&runs);
            let stored = tokio::task::spawn_blocking(move || done.finished(at)).await;
            if let Ok(Err(e)) = stored {
                stats.record_error(format!("cannot record the run at {}: {e}", rfc3339(at)));
            }
            busy.store(false, Relaxed);
        });
        *self.current.lock() = Some(run);
    }
}

// ---------------------------------------------------------------------------
// Runs accounted for, and runs missed while weir was down

/// What the store keeps per batch query ([`Table::BatchRuns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct RunRecord {
    /// Every scheduled time up to here (ns) was run, or reported missed, or came before the
    /// query was created.
    covered_until: i64,
    /// The scheduled time of the last run that ended (ns).
    last_run: Option<i64>,
}

/// Runs that fell due while weir was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Missed {
    count: u64,
    /// True when there were more than `count` (a CRON schedule is counted up to a limit).
    more: bool,
    first: i64,
    last: i64,
}

/// At most this many CRON times are counted when reporting missed runs.
const MAX_MISSED_COUNTED: u64 = 1_000_000;

/// The scheduled times in `(after, until]`.
fn missed_runs(when: &When, after: i64, until: i64) -> Option<Missed> {
    match when {
        When::Every { every, offset } => {
            let first = next_run(after, *every, *offset);
            if first > until {
                return None;
            }
            let last = (until - offset).div_euclid(*every) * every + offset;
            let count = u64::try_from((last - first) / every + 1).unwrap_or(u64::MAX);
            Some(Missed {
                count,
                more: false,
                first,
                last,
            })
        }
        When::Cron { cron, .. } => {
            let mut t = cron.next(after)?;
            if t > until {
                return None;
            }
            let first = t;
            let mut last = t;
            let mut count = 1;
            while let Some(n) = cron.next(t) {
                if n > until {
                    break;
                }
                if count == MAX_MISSED_COUNTED {
                    return Some(Missed {
                        count,
                        more: true,
                        first,
                        last,
                    });
                }
                count += 1;
                last = n;
                t = n;
            }
            Some(Missed {
                count,
                more: false,
                first,
                last,
            })
        }
    }
}

/// The runs of one batch query: persisted as they end, and what was missed before this start.
#[derive(Debug)]
struct RunLog {
    store: Arc<Store>,
    task: String,
    state: Mutex<RunState>,
}

#[derive(Debug, Default)]
struct RunState {
    record: Option<RunRecord>,
    missed: Option<Missed>,
    /// When the missed runs were found (this start).
    found_at: i64,
    catch_up: Option<i64>,
    /// Why the record could not be read or written, if it could not.
    error: Option<String>,
    /// Runs skipped since this start because the previous one was still going, and the
    /// latest of them: a schedule tighter than its runs take shows here, apart from failures.
    skipped: u64,
    last_skipped: Option<i64>,
}

impl RunLog {
    /// Reads what the store says about `task` and works out the runs missed up to `now`; a
    /// task seen for the first time has missed nothing. The record then covers `now`, so the
    /// same missed runs are not reported twice.
    fn open(store: Arc<Store>, task: &str, when: &When, now: i64) -> RunLog {
        let mut state = RunState {
            found_at: now,
            ..RunState::default()
        };
        let previous = match store.get::<RunRecord>(Table::BatchRuns, task) {
            Ok(r) => r,
            Err(e) => {
                state.error = Some(e.to_string());
                None
            }
        };
        let mut record = previous.unwrap_or(RunRecord {
            covered_until: now,
            last_run: None,
        });
        if let Some(m) = missed_runs(when, record.covered_until, now) {
            tracing::warn!(
                task = %task,
                missed = m.count,
                first = %rfc3339(m.first),
                last = %rfc3339(m.last),
                "batch query: {}{} scheduled run(s) fell due while weir was down and were not run",
                m.count,
                if m.more { "+" } else { "" },
            );
            state.missed = Some(m);
        }
        record.covered_until = record.covered_until.max(now);
        if let Err(e) = store.put(Table::BatchRuns, task, &record) {
            state.error = Some(e.to_string());
        }
        state.record = Some(record);
        RunLog {
            store,
            task: task.to_string(),
            state: Mutex::new(state),
        }
    }

    fn missed(&self) -> Option<Missed> {
        self.state.lock().missed
    }

    fn catching_up(&self, at: i64) {
        tracing::info!(task = %self.task, at = %rfc3339(at), "batch query: one catch-up run for the most recent missed time");
        self.state.lock().catch_up = Some(at);
    }

    /// Records that the run scheduled at `at` was skipped (the previous one still going).
    fn skipped(&self, at: i64) {
        let mut st = self.state.lock();
        st.skipped += 1;
        st.last_skipped = Some(st.last_skipped.map_or(at, |l| l.max(at)));
    }

    /// Records that the run scheduled at `at` ended.
    fn finished(&self, at: i64) -> Result<(), String> {
        let record = {
            let mut st = self.state.lock();
            let r = st.record.get_or_insert(RunRecord {
                covered_until: at,
                last_run: None,
            });
            r.covered_until = r.covered_until.max(at);
            r.last_run = Some(r.last_run.map_or(at, |l| l.max(at)));
            *r
        };
        let result = self
            .store
            .put(Table::BatchRuns, &self.task, &record)
            .map_err(|e| e.to_string());
        self.state.lock().error = result.as_ref().err().cloned();
        result
    }

    /// For the task's stats (`stats.batch_query`).
    fn to_json(&self) -> Value {
        let st = self.state.lock();
        serde_json::json!({
            "last_run": st.record.and_then(|r| r.last_run).map(rfc3339),
            "missed_runs": st.missed.map_or(0, |m| m.count),
            "missed_runs_more": st.missed.is_some_and(|m| m.more),
            "missed_first": st.missed.map(|m| rfc3339(m.first)),
            "missed_last": st.missed.map(|m| rfc3339(m.last)),
            "missed_found_at": st.missed.map(|_| rfc3339(st.found_at)),
            "catch_up_run": st.catch_up.map(rfc3339),
            "skipped_runs": st.skipped,
            "last_skipped": st.last_skipped.map(rfc3339),
            "store_error": st.error,
        })
    }
}

fn with_auth(req: reqwest::RequestBuilder, plan: &BatchPlan) -> reqwest::RequestBuilder {
    if plan.username.is_empty() {
        req
    } else {
        req.query(&[("u", plan.username.as_str()), ("p", plan.password.as_str())])
    }
}

/// One run: query, convert, write.
async fn run_once(
    plan: &BatchPlan,
    at: i64,
    client: &reqwest::Client,
    stats: &TaskStats,
) -> Result<(), String> {
    let unreachable = |e: reqwest::Error| {
        format!(
            "cannot reach InfluxDB at {}: {}",
            plan.influxdb_url,
            // Without the URL: it repeats the query and may carry `p`.
            error_chain(&e.without_url())
        )
    };
    if !plan.typed_columns.is_empty() {
        learn_float_fields(plan, client).await;
    }
    let mut resp = with_auth(client.get(&plan.query_url), plan)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.map_err(unreachable)?;
        return Err(format!(
            "InfluxDB at {} answered the query with {status}: {}",
            plan.influxdb_url,
            text.trim()
        ));
    }
    // One JSON object per line; each is converted and delivered as it completes, except to an
    // archive, which writes a run's rows as whole files (one per partition and measurement):
    // its chunks are collected and written once.
    let whole_run = plan.out.is_some();
    let (mut run_body, mut run_lines) = (Vec::new(), 0usize);
    let mut pending: Vec<u8> = Vec::new();
    let mut delivered = false;
    loop {
        let chunk = resp.chunk().await.map_err(unreachable)?;
        let done = chunk.is_none();
        if let Some(c) = chunk {
            pending.extend_from_slice(&c);
        }
        while let Some(end) = next_object_end(&pending, done) {
            let object: Vec<u8> = pending.drain(..end).collect();
            let text = String::from_utf8_lossy(&object);
            if text.trim().is_empty() {
                continue;
            }
            let body: Value = serde_json::from_str(text.trim())
                .map_err(|e| format!("InfluxDB's answer to the query is not JSON: {e}"))?;
            let (out, rows, lines) = {
                let mut floats = plan.float_columns.lock();
                to_lines(plan.measurement.as_deref(), &body, &mut floats)?
            };
            stats.points_in.fetch_add(rows, Relaxed);
            if whole_run {
                run_body.extend_from_slice(out.as_bytes());
                run_lines += lines as usize;
                continue;
            }
            deliver(plan, at, client, out.into_bytes(), lines as usize, stats).await?;
            delivered = true;
        }
        if done {
            break;
        }
    }
    if whole_run || !delivered {
        // An archive's whole run; or no rows at all (an alert still evaluates the empty run).
        deliver(plan, at, client, run_body, run_lines, stats).await?;
    }
    Ok(())
}

/// Where the first complete JSON object of a chunked answer ends (after its newline), or the
/// rest when the answer is complete.
fn next_object_end(pending: &[u8], done: bool) -> Option<usize> {
    match memchr_newline(pending) {
        Some(i) => Some(i + 1),
        None if done && !pending.is_empty() => Some(pending.len()),
        None => None,
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// One `FROM ARCHIVE` run scheduled at `at`: read the range from the archive, evaluate,
/// write.
async fn run_archive(
    plan: &BatchPlan,
    src: &ArchiveSource,
    at: i64,
    client: &reqwest::Client,
    stats: &TaskStats,
) -> Result<(), String> {
    let (lo, hi) = src.range.resolve(at);
    let batches = if lo <= hi {
        read_archive(src, lo, hi).await?
    } else {
        Vec::new()
    };
    let last = weir_sql::cq::last_time(&batches, lo, hi);
    let (run_plan, range) = src
        .planned
        .plan_run((lo, hi), last)
        .map_err(|e| e.to_string())?;
    let out = weir_sql::cq::run_batch(&run_plan, range, &batches);
    stats.points_in.fetch_add(out.points, Relaxed);
    deliver(plan, at, client, out.output.body, out.output.lines, stats).await
}

/// Hands one run's rows to the task's sink: written `INTO` InfluxDB, or evaluated by the
/// alert (an alert evaluates every run, also one without rows, so nothing is published), or
/// written to the archive of a batch archive (the run scheduled at `at`).
async fn deliver(
    plan: &BatchPlan,
    at: i64,
    client: &reqwest::Client,
    body: Vec<u8>,
    lines: usize,
    stats: &TaskStats,
) -> Result<(), String> {
    if let Some(alert) = &plan.alert {
        let events = alert.deliver(body, stats).await?;
        stats.points_out.fetch_add(events, Relaxed);
        return Ok(());
    }
    if lines == 0 {
        return Ok(());
    }
    if let Some(out) = &plan.out {
        let key = match &plan.out_range {
            Some(r) => {
                let (lo, hi) = r.resolve(at);
                weir_archive::batch::run_key(lo, hi)
            }
            None => u64::try_from(at).unwrap_or_default(),
        };
        let rows = out.write(key, &body).await?;
        stats.points_out.fetch_add(rows, Relaxed);
        return Ok(());
    }
    post_lines(plan, client, body).await?;
    stats.points_out.fetch_add(lines as u64, Relaxed);
    Ok(())
}

/// The rows of the measurements `src` reads with a time in `[lo, hi]`, in time order per
/// measurement, as the stream operators read them. Only the directories of the partitions
/// that overlap `[lo, hi]` are listed and only their files' footers read
/// ([`ArchiveQuery::context_for`]), and the `time` filter reaches the scan.
async fn read_archive(
    src: &ArchiveSource,
    lo: i64,
    hi: i64,
) -> Result<Vec<(String, datafusion::arrow::record_batch::RecordBatch)>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot read the archive: {e}");
    let plan = &src.plan;
    // Only the tables and partitions of the run are listed and registered.
    let wanted = |m: &str| plan.sources.matches(m);
    let scope = weir_archive::Scope {
        db: &plan.db,
        rp: plan.rp.as_deref(),
        measurement: &wanted,
        lo,
        hi,
    };
    let ctx = src
        .archive
        .context_for(&scope)
        .await
        .map_err(|e| failed(&e))?;
    let mut out = Vec::new();
    // Nothing archived yet for the database: nothing to read.
    let Some(catalog) = ctx.catalog(&plan.db) else {
        return Ok(out);
    };
    let ts = |t: i64| {
        lit(ScalarValue::TimestampNanosecond(
            Some(t),
            Some("UTC".into()),
        ))
    };
    let mut rps = catalog.schema_names();
    rps.sort();
    for rp in rps {
        if plan.rp.as_ref().is_some_and(|r| *r != rp) {
            continue;
        }
        let Some(schema) = catalog.schema(&rp) else {
            continue;
        };
        let mut tables = schema.table_names();
        tables.sort();
        for m in tables {
            if !plan.sources.matches(&m) {
                continue;
            }
            let time = || col(weir_engine::schema::TIME_COLUMN);
            let df = ctx
                .table(TableReference::full(
                    plan.db.as_str(),
                    rp.as_str(),
                    m.as_str(),
                ))
                .await
                .and_then(|df| df.filter(time().gt_eq(ts(lo)).and(time().lt_eq(ts(hi)))))
                .and_then(|df| df.sort(vec![time().sort(true, false)]))
                .map_err(|e| failed(&e))?;
            for b in df.collect().await.map_err(|e| failed(&e))? {
                if b.num_rows() > 0 {
                    out.push((m.clone(), weir_sql::cq::to_engine_shape(&b)?));
                }
            }
        }
    }
    Ok(out)
}

/// POSTs line protocol to the `INTO` database.
async fn post_lines(
    plan: &BatchPlan,
    client: &reqwest::Client,
    body: Vec<u8>,
) -> Result<(), String> {
    let resp = with_auth(client.post(&plan.write_url).body(body), plan)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach InfluxDB at {}: {}",
                plan.influxdb_url,
                error_chain(&e.without_url())
            )
        })?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(format!(
            "InfluxDB at {} refused the write with {status}: {}",
            plan.influxdb_url,
            text.trim()
        ));
    }
    Ok(())
}

/// Marks the columns that carry a float source field as floats (InfluxDB's JSON shows 50.0 as
/// `50`). Best effort: a failure here shows up in the query that follows.
async fn learn_float_fields(plan: &BatchPlan, client: &reqwest::Client) {
    for q in &plan.field_keys_queries {
        let url = format!(
            "{}/query?db={}&q={}",
            plan.influxdb_url,
            urlencode(&plan.database),
            urlencode(q)
        );
        let Ok(resp) = with_auth(client.get(&url), plan).send().await else {
            return;
        };
        let Ok(body) = resp.json::<Value>().await else {
            return;
        };
        let floats = float_fields(&body);
        let mut known = plan.float_columns.lock();
        for (col, field) in &plan.typed_columns {
            if floats.contains(field) {
                known.insert(col.clone());
            }
        }
    }
}

/// The float fields in a `SHOW FIELD KEYS` answer.
fn float_fields(body: &Value) -> HashSet<String> {
    let mut out = HashSet::new();
    let series = body["results"][0]["series"].as_array();
    for s in series.into_iter().flatten() {
        for row in s["values"].as_array().into_iter().flatten() {
            if let (Some(k), Some("float")) = (row[0].as_str(), row[1].as_str()) {
                out.insert(k.to_string());
            }
        }
    }
    out
}

/// Turns a `/query` answer into line protocol: (body, rows read, lines written).
/// Columns in `floats` are written as floats, and so is every column holding a number with
/// a fraction anywhere in the answer (added to `floats` for later runs).
fn to_lines(
    measurement: Option<&str>,
    body: &Value,
    floats: &mut HashSet<String>,
) -> Result<(String, u64, u64), String> {
    if let Some(e) = body.get("error").and_then(Value::as_str) {
        return Err(format!("InfluxDB refused the query: {e}"));
    }
    let result = &body["results"][0];
    if let Some(e) = result.get("error").and_then(Value::as_str) {
        return Err(format!("InfluxDB refused the query: {e}"));
    }
    let mut out = String::new();
    let (mut rows, mut lines) = (0u64, 0u64);
    let Some(series) = result.get("series").and_then(Value::as_array) else {
        return Ok((out, 0, 0));
    };
    for s in series {
        let name = match measurement {
            Some(m) => m,
            None => s.get("name").and_then(Value::as_str).unwrap_or_default(),
        };
        let columns: Vec<&str> = s
            .get("columns")
            .and_then(Value::as_array)
            .map(|c| c.iter().map(|v| v.as_str().unwrap_or_default()).collect())
            .unwrap_or_default();
        let time_col = columns.iter().position(|c| *c == "time");
        for row in s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for (i, v) in row.as_array().into_iter().flatten().enumerate() {
                if v.as_number().is_some_and(|n| !n.is_i64() && !n.is_u64()) {
                    if let Some(c) = columns.get(i) {
                        floats.insert((*c).to_string());
                    }
                }
            }
        }
        let mut tags: Vec<(&str, &str)> = s
            .get("tags")
            .and_then(Value::as_object)
            .map(|t| {
                t.iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        tags.sort_unstable();
        let mut prefix = String::new();
        escape_into_string(&mut prefix, name, MEASUREMENT_SPECIAL);
        for (k, v) in &tags {
            prefix.push(',');
            escape_into_string(&mut prefix, k, KEY_SPECIAL);
            prefix.push('=');
            escape_into_string(&mut prefix, v, KEY_SPECIAL);
        }
        let Some(values) = s.get("values").and_then(Value::as_array) else {
            continue;
        };
        for row in values {
            let Some(row) = row.as_array() else { continue };
            rows += 1;
            let mut line = prefix.clone();
            let mut first = true;
            for (i, v) in row.iter().enumerate() {
                if Some(i) == time_col {
                    continue;
                }
                let Some(col) = columns.get(i) else { continue };
                let mut value = String::new();
                match v {
                    Value::Null => continue,
                    Value::Bool(b) => value.push_str(if *b { "true" } else { "false" }),
                    Value::Number(n) => {
                        if floats.contains(*col) {
                            let Some(f) = n.as_f64() else { continue };
                            let _ = write!(value, "{f:?}");
                        } else if let Some(i) = n.as_i64() {
                            let _ = write!(value, "{i}i");
                        } else if let Some(u) = n.as_u64() {
                            let _ = write!(value, "{u}u");
                        } else if let Some(f) = n.as_f64() {
                            let _ = write!(value, "{f:?}");
                        } else {
                            continue;
                        }
                    }
                    Value::String(s) => {
                        value.push('"');
                        escape_into_string(&mut value, s, STRING_SPECIAL);
                        value.push('"');
                    }
                    Value::Array(_) | Value::Object(_) => continue,
                }
                line.push(if first { ' ' } else { ',' });
                first = false;
                escape_into_string(&mut line, col, KEY_SPECIAL);
                line.push('=');
                line.push_str(&value);
            }
            if first {
                continue;
            }
            if let Some(t) = time_col.and_then(|i| row.get(i)).and_then(Value::as_i64) {
                let _ = write!(line, " {t}");
            }
            line.push('\n');
            out.push_str(&line);
            lines += 1;
        }
    }
    Ok((out, rows, lines))
}

#[derive(Debug)]
struct RunningBatch {
    plan: String,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    current: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    runs: Arc<RunLog>,
    out: Option<Arc<BatchArchiveOut>>,
}

impl Running for RunningBatch {
    fn plan(&self) -> String {
        self.plan.clone()
    }

    fn extra_stats(&self) -> Value {
        let mut v = self.runs.to_json();
        // A batch archive: what it wrote, as a stream archive shows it, next to its runs.
        if let (Some(out), Some(map)) = (&self.out, v.as_object_mut()) {
            if let Value::Object(written) = out.to_json() {
                map.extend(written);
            }
        }
        v
    }

    fn stop(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        if let Some(run) = self.current.lock().take() {
            run.abort();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan_of(text: &str, url: &str) -> Result<BatchPlan, String> {
        let stmts = weir_sql::parse_statements(text).unwrap();
        let def = TaskDef {
            name: "t".into(),
            kind: super::super::model::TaskKind::BatchQuery,
            database: "db".into(),
            statement: text.into(),
            status: super::super::model::Status::Enabled,
            created: String::new(),
            modified: String::new(),
        };
        let (runner, store, _dir) = test_runner(url, None);
        plan(&def, &stmts[0], &runner, &store, None)
    }

    /// A runner with its own store (for batch alerts' topics and states).
    fn test_runner(
        url: &str,
        archive: Option<Arc<ArchiveQuery>>,
    ) -> (BatchRunner, Arc<Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
        let topics = Topics::open(
            Arc::clone(&store),
            Arc::new(|_: &weir_engine::alert::Event| {}),
        );
        let runner = BatchRunner {
            influxdb_url: url.into(),
            username: String::new(),
            password: String::new(),
            archive,
            topics: Arc::new(topics.unwrap()),
        };
        (runner, store, dir)
    }

    #[test]
    fn plans_a_batch_archive() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().to_str().unwrap();
        let out = || {
            let root = weir_archive::ArchiveRoot::open(url, &Default::default()).unwrap();
            let spec = weir_archive::ArchiveSpec::new("a", "db", url);
            Arc::new(BatchArchiveOut::new(
                spec,
                root,
                "db".into(),
                "autogen".into(),
            ))
        };
        let planned = |text: &str| {
            let stmts = weir_sql::parse_statements(text).unwrap();
            let def = TaskDef {
                name: "a".into(),
                kind: super::super::model::TaskKind::Archive,
                database: "db".into(),
                statement: text.into(),
                status: super::super::model::Status::Enabled,
                created: String::new(),
                modified: String::new(),
            };
            let (runner, store, _dir) = test_runner("http://influx:8086", None);
            plan(&def, &stmts[0], &runner, &store, Some(out()))
        };
        // Rows keep the source's name; the range names the run's files.
        let p = planned("CREATE ARCHIVE a ON db TO 'x' EVERY 1h AS SELECT mean(v) AS v FROM cpu WHERE time > now() - 1h GROUP BY time(5m), host").unwrap();
        assert_eq!(p.measurement, None);
        assert!(p.out.is_some() && p.archive.is_none());
        assert_eq!(
            p.out_range.as_ref().unwrap().resolve(10_000),
            (10_000 - 3_600_000_000_000 + 1, 10_000)
        );
        assert!(
            p.describe().starts_with("batch archive a on db"),
            "{}",
            p.describe()
        );
        assert!(
            p.describe().contains("writes the rows to archive a"),
            "{}",
            p.describe()
        );
        // INTO names the measurement; a range weir cannot tell names the files by run time.
        let p = planned("CREATE ARCHIVE a ON db CRON '@hourly' AS SELECT v INTO cpu_copy FROM cpu")
            .unwrap();
        assert_eq!(p.measurement.as_deref(), Some("cpu_copy"));
        assert!(p.out_range.is_none());
        // A stream archive is not a batch query.
        assert!(planned("CREATE ARCHIVE a ON db FROM cpu").is_err());
    }

    #[test]
    fn plans_the_spec_example() {
        let p = plan_of(
            "CREATE BATCH QUERY cpu_hourly ON telegraf EVERY 1h OFFSET 5m BEGIN SELECT mean(usage_idle) AS usage_idle INTO telegraf.autogen.cpu_1h FROM cpu WHERE time > now() - 1h GROUP BY time(1h), host END",
            "http://influx:8086/",
        )
        .unwrap();
        assert!(matches!(
            p.schedule,
            When::Every {
                every: 3_600_000_000_000,
                offset: 300_000_000_000
            }
        ));
        assert!(!p.query.contains("INTO"), "{}", p.query);
        assert!(p
            .query
            .starts_with("SELECT mean(usage_idle) AS usage_idle FROM cpu"));
        assert_eq!(p.measurement.as_deref(), Some("cpu_1h"));
        assert_eq!(
            p.write_url,
            "http://influx:8086/write?db=telegraf&precision=ns&rp=autogen"
        );
        assert!(p
            .query_url
            .starts_with("http://influx:8086/query?db=telegraf&epoch=ns&chunked=true&chunk_size=10000&q=SELECT%20"));
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let q = "SELECT mean(v) INTO o FROM m GROUP BY time(1h)";
        let err = plan_of(
            &format!("CREATE BATCH QUERY b ON db EVERY 1h BEGIN {q} END"),
            "",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "batch query b queries InfluxDB; configure [influxdb] url"
        );
        let err = plan_of(
            &format!("CREATE BATCH QUERY b ON db CRON '0 0 L * *' BEGIN {q} END"),
            "http://x",
        )
        .unwrap_err();
        assert!(err.contains("not supported yet"), "{err}");
        let p = plan_of(
            &format!("CREATE BATCH QUERY b ON db CRON '*/5 * * * *' BEGIN {q} END"),
            "http://x",
        )
        .unwrap();
        assert!(p.describe().contains("CRON '*/5 * * * *'"));
    }

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn cron_next_times() {
        let next = |expr: &str, now: &str| Cron::parse(expr).unwrap().next(at(now)).map(rfc3339);
        let n = |s: &str| Some(s.to_string());
        // 2026-11-25 is a Wednesday.
        assert_eq!(
            next("*/5 * * * *", "2026-11-25T20:31:10Z"),
            n("2026-11-25T20:35:00Z")
        );
        assert_eq!(
            next("*/5 * * * *", "2026-11-25T20:35:00Z"),
            n("2026-11-25T20:40:00Z")
        );
        assert_eq!(
            next("0 9 * * MON-FRI", "2026-11-27T10:00:00Z"),
            n("2026-11-30T09:00:00Z")
        );
        assert_eq!(
            next("@hourly", "2026-11-25T23:59:59.5Z"),
            n("2026-11-26T00:00:00Z")
        );
        assert_eq!(
            next("@yearly", "2026-11-25T00:00:00Z"),
            n("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            next("*/10 * * * * * *", "2026-11-25T20:31:10Z"),
            n("2026-11-25T20:31:20Z")
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z"),
            n("2028-02-29T00:00:00Z")
        );
        // Day of month and day of week both restricted: either matches (Vixie cron).
        assert_eq!(
            next("0 0 1 * 0", "2026-11-25T00:00:00Z"),
            n("2026-11-29T00:00:00Z")
        );
        assert_eq!(
            next("0 0 * * 7", "2026-11-25T00:00:00Z"),
            n("2026-11-29T00:00:00Z")
        );
        assert_eq!(
            next("30 4 1,15 JAN,jul * 2027", "2026-11-25T00:00:00Z"),
            n("2027-01-01T04:30:00Z")
        );
        assert_eq!(next("0 0 1 1 * 2020", "2026-11-25T00:00:00Z"), None);
        for bad in [
            "61 * * * *",
            "* * * *",
            "5-1 * * * *",
            "*/0 * * * *",
            "0 0 1W * *",
            "0 0 * * 5#2",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn column_types_follow_the_select() {
        let stmts = weir_sql::parse_statements(
            "CREATE BATCH QUERY b ON db EVERY 1h BEGIN SELECT max(a), mean(a), max(b) AS mb, count(c) INTO o FROM m, db.rp.n END",
        )
        .unwrap();
        let Statement::CreateBatchQuery(b) = &stmts[0] else {
            panic!()
        };
        let (floats, typed) = column_types(&b.select);
        assert_eq!(floats, HashSet::from(["mean".to_string()]));
        assert_eq!(
            typed,
            [
                ("max".to_string(), "a".to_string()),
                ("mb".to_string(), "b".to_string())
            ]
        );
        let p = plan_of(&stmts[0].to_string(), "http://x").unwrap();
        assert_eq!(p.field_keys_queries.len(), 2);
        assert!(
            p.field_keys_queries[1].starts_with("SHOW FIELD KEYS FROM db.rp.n"),
            "{:?}",
            p.field_keys_queries
        );
        let body = serde_json::json!({"results":[{"series":[
            {"name":"m","columns":["fieldKey","fieldType"],"values":[["a","float"],["b","integer"]]}
        ]}]});
        assert_eq!(float_fields(&body), HashSet::from(["a".to_string()]));
    }

    #[test]
    fn plans_from_archive_queries() {
        let text = "CREATE BATCH QUERY b ON telegraf EVERY 1s BEGIN SELECT mean(usage_idle) INTO telegraf.autogen.o FROM ARCHIVE cpu WHERE time > now() - 1h GROUP BY time(1m), host END";
        // Without an archive it is refused with a reason, never half-started.
        let err = plan_of(text, "http://x").unwrap_err();
        assert!(
            err.contains("the archive ([archive] url) could not be opened"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let archive = Arc::new(ArchiveQuery::new(
            weir_archive::ArchiveRoot::open(
                &dir.path().display().to_string(),
                &weir_archive::StoreConfig::default(),
            )
            .unwrap(),
        ));
        let with_archive = |text: &str, url: &str| {
            let stmts = weir_sql::parse_statements(text).unwrap();
            let def = TaskDef {
                name: "b".into(),
                kind: super::super::model::TaskKind::BatchQuery,
                database: "telegraf".into(),
                statement: text.into(),
                status: super::super::model::Status::Enabled,
                created: String::new(),
                modified: String::new(),
            };
            let (runner, store, _dir) = test_runner(url, Some(Arc::clone(&archive)));
            plan(&def, &stmts[0], &runner, &store, None)
        };
        let p = with_archive(text, "http://influx:8086").unwrap();
        assert!(p.archive.is_some());
        assert_eq!(
            p.write_url,
            "http://influx:8086/write?db=telegraf&precision=ns&rp=autogen"
        );
        let d = p.describe();
        assert!(d.contains("time > now() - 1h AND time <= now()"), "{d}");
        assert!(d.contains("BatchQuery b: ARCHIVE telegraf.*.cpu"), "{d}");
        assert_eq!(
            with_archive(text, "").unwrap_err(),
            "batch query b writes INTO InfluxDB; configure [influxdb] url"
        );
        let no_into = "CREATE BATCH QUERY b ON telegraf EVERY 1s BEGIN SELECT mean(usage_idle) FROM ARCHIVE cpu WHERE time > now() - 1h GROUP BY time(1m) END";
        if let Ok(stmts) = weir_sql::parse_statements(no_into) {
            let _ = stmts;
            assert_eq!(
                with_archive(no_into, "http://x").unwrap_err(),
                "batch query b needs an INTO clause"
            );
        }
        let err = with_archive(
            "CREATE BATCH QUERY b ON telegraf EVERY 1s BEGIN SELECT mean(usage_idle) INTO o FROM ARCHIVE cpu GROUP BY time(1m) END",
            "http://x",
        )
        .unwrap_err();
        assert!(err.contains("needs a lower bound on time"), "{err}");
    }

    #[test]
    fn missed_runs_are_counted() {
        let every = When::Every {
            every: 10,
            offset: 3,
        };
        assert_eq!(missed_runs(&every, 13, 22), None);
        assert_eq!(
            missed_runs(&every, 13, 23),
            Some(Missed {
                count: 1,
                more: false,
                first: 23,
                last: 23
            })
        );
        assert_eq!(
            missed_runs(&every, 12, 57),
            Some(Missed {
                count: 5,
                more: false,
                first: 13,
                last: 53
            })
        );
        let cron = When::Cron {
            text: "*/5 * * * *".into(),
            cron: Cron::parse("*/5 * * * *").unwrap(),
        };
        assert_eq!(
            missed_runs(
                &cron,
                at("2026-11-25T20:31:10Z"),
                at("2026-11-25T21:00:00Z")
            ),
            Some(Missed {
                count: 6,
                more: false,
                first: at("2026-11-25T20:35:00Z"),
                last: at("2026-11-25T21:00:00Z")
            })
        );
        assert_eq!(
            missed_runs(
                &cron,
                at("2026-11-25T20:31:10Z"),
                at("2026-11-25T20:34:59Z")
            ),
            None
        );
    }

    #[test]
    fn runs_missed_while_down_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
        let s = 1_000_000_000;
        let every = When::Every {
            every: s,
            offset: 0,
        };
        // First start: nothing missed, the record covers the start time.
        let log = RunLog::open(Arc::clone(&store), "b", &every, 100 * s + 5);
        assert_eq!(log.missed(), None);
        log.finished(101 * s).unwrap();
        log.finished(102 * s).unwrap();
        assert_eq!(log.to_json()["last_run"], "1970-01-01T00:01:42Z");
        assert_eq!(log.to_json()["missed_runs"], 0);
        drop(log);
        // Down from 102 s to 110.5 s: runs at 103..=110 were due.
        let log = RunLog::open(Arc::clone(&store), "b", &every, 110 * s + s / 2);
        assert_eq!(
            log.missed(),
            Some(Missed {
                count: 8,
                more: false,
                first: 103 * s,
                last: 110 * s
            })
        );
        let j = log.to_json();
        assert_eq!(j["missed_runs"], 8);
        assert_eq!(j["missed_first"], "1970-01-01T00:01:43Z");
        assert_eq!(j["missed_last"], "1970-01-01T00:01:50Z");
        assert_eq!(j["last_run"], "1970-01-01T00:01:42Z");
        drop(log);
        // Restarted again right away: those are not reported a second time.
        let log = RunLog::open(Arc::clone(&store), "b", &every, 110 * s + s * 3 / 4);
        assert_eq!(log.missed(), None);
    }

    #[test]
    fn run_times_are_aligned() {
        assert_eq!(next_run(0, 10, 0), 10);
        assert_eq!(next_run(9, 10, 0), 10);
        assert_eq!(next_run(10, 10, 0), 20);
        assert_eq!(next_run(12, 10, 3), 13);
        assert_eq!(next_run(13, 10, 3), 23);
        assert_eq!(next_run(-5, 10, 0), 0);
    }

    #[test]
    fn converts_query_results_to_line_protocol() {
        let body: Value = serde_json::from_str(
            r#"{"results":[{"statement_id":0,"series":[
              {"name":"cpu","tags":{"host":"a b","dc":""},"columns":["time","mean","count","s","ok"],
               "values":[[1000,1.5,3,"x\"y",true],[2000,null,null,null,null],[3000,2.25,1,null,false]]}
            ]}]}"#,
        )
        .unwrap();
        let mut floats = HashSet::new();
        let (out, rows, lines) = to_lines(Some("o,1"), &body, &mut floats).unwrap();
        assert_eq!(rows, 3);
        assert_eq!(lines, 2);
        assert_eq!(
            out,
            "o\\,1,host=a\\ b mean=1.5,count=3i,s=\"x\\\"y\",ok=true 1000\n\
             o\\,1,host=a\\ b mean=2.25,count=1i,ok=false 3000\n"
        );
        assert!(floats.contains("mean"));
        let err = to_lines(
            None,
            &serde_json::json!({"results":[{"error":"boom"}]}),
            &mut floats,
        )
        .unwrap_err();
        assert!(err.contains("boom"));
        assert_eq!(
            to_lines(
                None,
                &serde_json::json!({"results":[{"statement_id":0}]}),
                &mut floats
            )
            .unwrap(),
            (String::new(), 0, 0)
        );
        // Whole floats come back as `50`: the SELECT or an earlier answer says they are floats.
        let body = serde_json::json!({"results":[{"series":[
            {"name":"m","columns":["time","mean","c","mean_1","x"],"values":[[5,50,7,2,3]]}
        ]}]});
        let mut floats = column_types(
            &match &weir_sql::parse_statements(
                "CREATE BATCH QUERY b ON db EVERY 1h BEGIN SELECT mean(a), count(a) AS c, mean(b), max(b) / 2 AS x INTO o FROM m END",
            )
            .unwrap()[0]
            {
                Statement::CreateBatchQuery(b) => b.select.clone(),
                _ => unreachable!(),
            },
        ).0;
        assert_eq!(
            to_lines(None, &body, &mut floats).unwrap().0,
            "m mean=50.0,c=7i,mean_1=2.0,x=3.0 5\n"
        );
        let mut learned = HashSet::from(["v".to_string()]);
        let body = serde_json::json!({"results":[{"series":[
            {"name":"m","columns":["time","v","w"],"values":[[1,1,2],[2,1.5,3]]}
        ]}]});
        assert_eq!(
            to_lines(None, &body, &mut learned).unwrap().0,
            "m v=1.0,w=2i 1\nm v=1.5,w=3i 2\n"
        );
    }
}
