//! `CREATE BATCH QUERY ... FROM ARCHIVE`: the SELECT evaluated once per run over the rows the
//! archive holds for the run's time range, with the continuous-query operators.
//!
//! - [`plan_batch`] takes the `time` conditions out of `WHERE` (they become the run's
//!   [`TimeRange`], relative to the run's scheduled time where they use `now()`) and plans the
//!   rest as a continuous query would be planned.
//! - [`run_batch`] evaluates the plan over batches of the engine's shape for one resolved
//!   range: every window is complete when it is evaluated (nothing is late), and `fill()`
//!   covers every window of the range for each group that has points in it, as InfluxDB's
//!   `SELECT` does (the stream fills from a group's first point on).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, TimestampNanosecondArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use weir_engine::schema::TIME_COLUMN;
use weir_engine::window::window_start;

use crate::ast::{BinaryOp, CreateBatchQuery, CreateContinuousQuery, Expr};
use crate::Statement;

use super::plan::{plan, CqPlan, Kind};
use super::{CqError, CqSettings, CqState, Output, StateKind};

/// One end of a batch query's time range: `now() + offset` (the run's scheduled time) or a
/// fixed time, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `now() + offset`.
    Now(i64),
    /// A fixed time since the epoch.
    At(i64),
}

impl Bound {
    fn resolve(self, now: i64) -> i64 {
        match self {
            Bound::Now(offset) => now.saturating_add(offset),
            Bound::At(t) => t,
        }
    }
}

/// The time range of a batch query, from the `time` conditions of its `WHERE`; both ends
/// inclusive. Several conditions on one side keep the tightest once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRange {
    /// Lower bounds (at least one).
    pub lower: Vec<Bound>,
    /// Upper bounds; none means `now()` with `GROUP BY time()` and no limit without (as in
    /// InfluxDB).
    pub upper: Vec<Bound>,
    /// Whether the query has `GROUP BY time()`.
    pub windowed: bool,
    /// The time conditions as written, joined by `AND`.
    pub text: String,
}

impl TimeRange {
    /// `[lo, hi]` (ns, inclusive) for a run scheduled at `now`.
    pub fn resolve(&self, now: i64) -> (i64, i64) {
        let lo = self
            .lower
            .iter()
            .map(|b| b.resolve(now))
            .max()
            .unwrap_or(i64::MIN);
        let hi = if self.upper.is_empty() {
            if self.windowed {
                now
            } else {
                i64::MAX
            }
        } else {
            self.upper
                .iter()
                .map(|b| b.resolve(now))
                .min()
                .unwrap_or(i64::MAX)
        };
        (lo, hi)
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        if self.upper.is_empty() && self.windowed {
            f.write_str(" AND time <= now()")?;
        }
        Ok(())
    }
}

/// Why a batch query over the archive cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Valid InfluxQL that weir does not run over the archive.
    #[error("batch query {name}: {what} is not supported in a FROM ARCHIVE batch query")]
    Unsupported { name: String, what: String },
    /// A statement that cannot mean anything as a batch query.
    #[error("batch query {name}: {reason}")]
    Invalid { name: String, reason: String },
}

impl From<CqError> for BatchError {
    fn from(e: CqError) -> Self {
        match e {
            CqError::Unsupported { name, what } => BatchError::Unsupported { name, what },
            CqError::Invalid { name, reason } => BatchError::Invalid {
                name,
                reason: reason.replace("in a continuous query", "in a batch query"),
            },
        }
    }
}

/// A planned `FROM ARCHIVE` batch query.
#[derive(Debug)]
pub struct BatchQueryPlan {
    /// The SELECT without its time conditions, as the stream operators run it.
    pub plan: Arc<CqPlan>,
    /// What each run reads.
    pub range: TimeRange,
    /// `Some` for aggregates without `GROUP BY time()`: each run is planned with one window
    /// over its range ([`BatchQueryPlan::plan_run`]), `plan` is then unused.
    pub whole_range: Option<WholeRange>,
}

/// An aggregate over a run's whole range (no `GROUP BY time()`), as InfluxDB answers it: one
/// row per group, timestamped with the range's lower bound (influxd 1.6 answers `time > X`
/// with `X + 1ns`, `time >= X` with `X`).
#[derive(Debug, Clone)]
pub struct WholeRange {
    cq: CreateContinuousQuery,
}

impl BatchQueryPlan {
    /// The plan of a run over `[lo, hi]` whose points end at `last` (the latest point
    /// time read, within the range), and the range to evaluate: for an aggregate over the
    /// whole range, one window from the range's lower bound to `last`; otherwise `plan`.
    pub fn plan_run(
        &self,
        (lo, hi): (i64, i64),
        last: Option<i64>,
    ) -> Result<(Arc<CqPlan>, (i64, i64)), BatchError> {
        let Some(w) = &self.whole_range else {
            return Ok((Arc::clone(&self.plan), (lo, hi)));
        };
        let start = lo;
        let end = last.unwrap_or(lo).min(hi).max(start);
        let interval = end.saturating_sub(start).saturating_add(1).max(1);
        let mut cq = w.cq.clone();
        cq.select.dimensions.push(crate::ast::Dimension::Time {
            interval: crate::duration::Duration::from_nanos(interval),
            offset: Some(crate::duration::Duration::from_nanos(
                start.rem_euclid(interval),
            )),
        });
        let plan = plan(&Statement::CreateContinuousQuery(cq))?;
        Ok((Arc::new(plan), (lo, end)))
    }
}

/// Plans a `CREATE BATCH QUERY ... FROM ARCHIVE`: the `time` conditions of `WHERE` become the
/// run's range (they must be `time <op> <time>` joined to the rest by `AND`, with `<time>`
/// `now()`, a timestamp string, an integer of ns, each optionally `+`/`-` durations), the
/// rest is planned as a continuous query's SELECT.
pub fn plan_batch(b: &CreateBatchQuery) -> Result<BatchQueryPlan, BatchError> {
    let name = b.name.as_str();
    let unsupported = |what: String| BatchError::Unsupported {
        name: name.to_string(),
        what,
    };
    let invalid = |reason: String| BatchError::Invalid {
        name: name.to_string(),
        reason,
    };
    if !b.select.from_archive {
        return Err(invalid("it does not read FROM ARCHIVE".into()));
    }
    let windowed = b.select.group_by_time().is_some();
    let mut lower = Vec::new();
    let mut upper = Vec::new();
    let mut rest = Vec::new();
    let mut text = Vec::new();
    if let Some(cond) = &b.select.condition {
        let mut conjuncts = Vec::new();
        split_and(cond, &mut conjuncts);
        for c in conjuncts {
            if !mentions_time(c) {
                rest.push(c.clone());
                continue;
            }
            let (op, t) = time_comparison(c).map_err(|why| {
                unsupported(format!(
                    "the time condition {c} ({why}; write time <op> <time> joined by AND, \
                     <time> being now(), '2006-01-02T15:04:05Z' or ns, each optionally +/- a duration)"
                ))
            })?;
            text.push(c.to_string());
            let shift = |b: Bound, by: i64| match b {
                Bound::Now(o) => Bound::Now(o.saturating_add(by)),
                Bound::At(t) => Bound::At(t.saturating_add(by)),
            };
            match op {
                BinaryOp::Gt => lower.push(shift(t, 1)),
                BinaryOp::Gte => lower.push(t),
                BinaryOp::Lt => upper.push(shift(t, -1)),
                BinaryOp::Lte => upper.push(t),
                BinaryOp::Eq => {
                    lower.push(t);
                    upper.push(t);
                }
                other => {
                    return Err(unsupported(format!(
                        "the time condition {c} (operator {})",
                        other.as_str()
                    )))
                }
            }
        }
    }
    if lower.is_empty() {
        return Err(invalid(
            "FROM ARCHIVE needs a lower bound on time in WHERE, e.g. `WHERE time > now() - 1h` \
             (without one every run would read the whole archive)"
                .into(),
        ));
    }
    let whole = !windowed && b.select.fields.iter().any(|f| has_aggregate(&f.expr));
    if whole && b.select.fields.len() == 1 && is_selector(&b.select.fields[0].expr) {
        return Err(unsupported(
            "a selector alone without GROUP BY time() (InfluxDB gives it the selected point's \
             time; add another aggregate or GROUP BY time())"
                .into(),
        ));
    }
    let mut select = b.select.clone();
    select.from_archive = false;
    select.condition = rest
        .into_iter()
        .reduce(|a, c| Expr::binary(BinaryOp::And, a, c));
    let cq = Statement::CreateContinuousQuery(CreateContinuousQuery {
        or_replace: false,
        name: b.name.clone(),
        database: b.database.clone(),
        resample: None,
        select,
    });
    let whole_range = if whole {
        let Statement::CreateContinuousQuery(c) = &cq else {
            return Err(invalid("not a query".into()));
        };
        Some(WholeRange { cq: c.clone() })
    } else {
        None
    };
    // An aggregate over the whole range is planned per run; the plan checks it once here
    // (with any window).
    let plan = match &whole_range {
        Some(w) => {
            let mut c = w.cq.clone();
            c.select.dimensions.push(crate::ast::Dimension::Time {
                interval: crate::duration::Duration::from_nanos(1),
                offset: None,
            });
            plan(&Statement::CreateContinuousQuery(c))?
        }
        None => plan(&cq)?,
    };
    Ok(BatchQueryPlan {
        whole_range,
        plan: Arc::new(plan),
        range: TimeRange {
            lower,
            upper,
            windowed,
            text: text.join(" AND "),
        },
    })
}

/// A selector call at the top of a field (`max(x)`, `first(x)`, ...).
fn is_selector(e: &Expr) -> bool {
    matches!(e, Expr::Call(c) if crate::functions::lookup(&c.name)
        .is_some_and(|f| matches!(f.kind, crate::functions::FunctionKind::Selector)))
}

fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if let Expr::Call(c) = x {
            if crate::functions::lookup(&c.name).is_some_and(|f| {
                matches!(
                    f.kind,
                    crate::functions::FunctionKind::Aggregate
                        | crate::functions::FunctionKind::Selector
                )
            }) {
                found = true;
            }
        }
    });
    found
}

fn split_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => {
            split_and(lhs, out);
            split_and(rhs, out);
        }
        other => out.push(other),
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e, Expr::VarRef(v) if v.name == TIME_COLUMN)
}

fn mentions_time(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= is_time(x));
    found
}

/// `time op t` (or `t op time`, flipped).
fn time_comparison(e: &Expr) -> Result<(BinaryOp, Bound), String> {
    let Expr::Binary { op, lhs, rhs } = e else {
        return Err("not a comparison".into());
    };
    if matches!(op, BinaryOp::Or) {
        return Err("time inside OR".into());
    }
    if !op.is_comparison() || matches!(op, BinaryOp::EqRegex | BinaryOp::NeqRegex) {
        return Err(format!("operator {}", op.as_str()));
    }
    let (op, other) = match (is_time(lhs), is_time(rhs)) {
        (true, false) => (*op, rhs.as_ref()),
        (false, true) => (super::cond::flip(*op), lhs.as_ref()),
        _ => return Err("time must be compared with a time".into()),
    };
    Ok((op, time_value(other)?))
}

/// `now()`, `'timestamp'`, ns, then `+`/`- duration`s.
fn time_value(e: &Expr) -> Result<Bound, String> {
    match e {
        Expr::Call(c) if c.name == "now" && c.args.is_empty() => Ok(Bound::Now(0)),
        Expr::String(s) => parse_time(s).map(Bound::At),
        Expr::Integer(i) => Ok(Bound::At(*i)),
        Expr::Binary {
            op: op @ (BinaryOp::Add | BinaryOp::Sub),
            lhs,
            rhs,
        } => {
            let base = time_value(lhs)?;
            let d = match rhs.as_ref() {
                Expr::Duration(d) => d.as_nanos(),
                Expr::Integer(i) => *i,
                other => return Err(format!("{other} is not a duration")),
            };
            let d = if *op == BinaryOp::Sub {
                d.saturating_neg()
            } else {
                d
            };
            Ok(match base {
                Bound::Now(o) => Bound::Now(o.saturating_add(d)),
                Bound::At(t) => Bound::At(t.saturating_add(d)),
            })
        }
        other => Err(format!("{other} is not a time")),
    }
}

/// The time strings InfluxQL accepts: RFC 3339, `YYYY-MM-DD HH:MM:SS[.nnn]` and `YYYY-MM-DD`
/// (UTC).
fn parse_time(s: &str) -> Result<i64, String> {
    let ns = |dt: chrono::NaiveDateTime| {
        dt.and_utc()
            .timestamp_nanos_opt()
            .ok_or_else(|| format!("'{s}' is out of range"))
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t
            .timestamp_nanos_opt()
            .ok_or_else(|| format!("'{s}' is out of range"));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return ns(t);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return ns(t);
        }
    }
    Err(format!("'{s}' is not a timestamp"))
}

/// What one run read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutput {
    /// Points read within the range (kept by `WHERE` or not).
    pub points: u64,
    /// Line protocol to write `INTO`.
    pub output: Output,
}

/// Evaluates `plan` over `batches` (of the measurements it reads, in any order) restricted to
/// `[lo, hi]`: windows of the range are evaluated once all points are in, `fill()` covers
/// every window of the range for each group with points in it.
pub fn run_batch(
    plan: &Arc<CqPlan>,
    (lo, hi): (i64, i64),
    batches: &[(String, RecordBatch)],
) -> BatchOutput {
    let wall = weir_engine::clock::ManualClock::new(0);
    let settings = CqSettings {
        lateness: 0,
        ..CqSettings::default()
    };
    let mut state = CqState::new(Arc::clone(plan), Arc::new(wall.clone()), settings);
    if let (StateKind::Windowed(w), Kind::Windowed(wp)) = (&mut state.kind, &plan.kind) {
        w.set_batch_range(
            window_start(lo, wp.interval, wp.offset),
            window_start(hi, wp.interval, wp.offset),
        );
    }
    let mut out = BatchOutput::default();
    for (measurement, batch) in batches {
        let Some(batch) = in_range(batch, lo, hi) else {
            continue;
        };
        let r = state.ingest(measurement, &batch);
        out.points += r.points;
        out.output.append(r.output);
    }
    // Far enough for every window to close and every group to expire (which writes what
    // fill(linear) and integral() still hold).
    // One close for the whole range: `holt_winters()` fits once, over every window's value,
    // and writes one forecast, as InfluxDB's SELECT (the stream refits at every close).
    wall.advance(400 * 86_400_000_000_000);
    out.output.append(state.close());
    out
}

/// The latest point time in `[lo, hi]` of `batches` (engine-shaped), if any.
pub fn last_time(batches: &[(String, RecordBatch)], lo: i64, hi: i64) -> Option<i64> {
    batches
        .iter()
        .filter_map(|(_, b)| {
            let idx = b.schema().index_of(TIME_COLUMN).ok()?;
            let time = b
                .column(idx)
                .as_any()
                .downcast_ref::<TimestampNanosecondArray>()?;
            time.iter()
                .flatten()
                .filter(|t| (lo..=hi).contains(t))
                .max()
        })
        .max()
}

/// The rows of `batch` with a time in `[lo, hi]`; `None` when there are none.
fn in_range(batch: &RecordBatch, lo: i64, hi: i64) -> Option<RecordBatch> {
    let idx = batch.schema().index_of(TIME_COLUMN).ok()?;
    let time = batch
        .column(idx)
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()?;
    if time
        .iter()
        .all(|t| t.is_some_and(|t| (lo..=hi).contains(&t)))
    {
        return (batch.num_rows() > 0).then(|| batch.clone());
    }
    let mask: BooleanArray = time
        .iter()
        .map(|t| Some(t.is_some_and(|t| (lo..=hi).contains(&t))))
        .collect();
    let out = filter_record_batch(batch, &mask).ok()?;
    (out.num_rows() > 0).then_some(out)
}

/// A batch read from elsewhere (the Parquet archive through DataFusion) in the shape the
/// operators read: `time` as Timestamp(ns), strings as `Utf8`, tags (dictionaries) as
/// `Dictionary(Int32, Utf8)`. Columns of other types are left as they are (and ignored).
pub fn to_engine_shape(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut changed = false;
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        let want = match field.data_type() {
            DataType::Timestamp(unit, tz) if field.name() == TIME_COLUMN => (*unit
                != TimeUnit::Nanosecond)
                .then(|| DataType::Timestamp(TimeUnit::Nanosecond, tz.clone())),
            DataType::Utf8View | DataType::LargeUtf8 => Some(DataType::Utf8),
            DataType::Dictionary(k, v) if **k != DataType::Int32 || **v != DataType::Utf8 => Some(
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            ),
            _ => None,
        };
        match want {
            Some(t) => {
                let c = cast(col, &t).map_err(|e| format!("column {}: {e}", field.name()))?;
                fields.push(
                    Field::new(field.name(), t, field.is_nullable())
                        .with_metadata(field.metadata().clone()),
                );
                columns.push(c);
                changed = true;
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(Arc::clone(col));
            }
        }
    }
    if !changed {
        return Ok(batch.clone());
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use weir_engine::batch::RequestBuilder;
    use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
    use weir_engine::schema::SchemaRegistry;

    const S: i64 = 1_000_000_000;
    const H: i64 = 3_600 * S;

    fn batch_query(text: &str) -> CreateBatchQuery {
        match weir_sql_parse(text) {
            Statement::CreateBatchQuery(b) => b,
            other => panic!("{other:?}"),
        }
    }

    fn weir_sql_parse(text: &str) -> Statement {
        crate::parse_statements(text).unwrap().remove(0)
    }

    fn planned(where_: &str, group: &str) -> Result<BatchQueryPlan, BatchError> {
        plan_batch(&batch_query(&format!(
            "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT mean(v) INTO o FROM ARCHIVE m {where_} {group} END"
        )))
    }

    fn at(s: &str) -> i64 {
        parse_time(s).unwrap()
    }

    #[test]
    fn time_ranges_come_from_where() {
        let now = at("2023-06-01T12:00:00Z");
        let cases: &[(&str, &str, (i64, i64))] = &[
            (
                "WHERE time > now() - 1h",
                "GROUP BY time(1m)",
                (now - H + 1, now),
            ),
            (
                "WHERE time >= now() - 1h AND time < now()",
                "GROUP BY time(1m)",
                (now - H, now - 1),
            ),
            (
                "WHERE time >= '2023-01-01T00:00:00Z' AND time < '2023-01-01T01:00:00Z'",
                "GROUP BY time(1m)",
                (at("2023-01-01T00:00:00Z"), at("2023-01-01T01:00:00Z") - 1),
            ),
            (
                "WHERE '2023-01-01 00:00:00' <= time AND time <= '2023-01-02'",
                "GROUP BY time(1m)",
                (at("2023-01-01T00:00:00Z"), at("2023-01-02T00:00:00Z")),
            ),
            (
                "WHERE host = 'a' AND time > now() - 2h AND time > now() - 1h AND time < now() + 10m",
                "GROUP BY time(1m)",
                (now - H + 1, now + 600 * S - 1),
            ),
            (
                "WHERE time = 1672531200000000000",
                "GROUP BY time(1m)",
                (1_672_531_200_000_000_000, 1_672_531_200_000_000_000),
            ),
            (
                "WHERE time > '2023-01-01T00:00:00Z' - 1h",
                "GROUP BY time(1m)",
                (at("2022-12-31T23:00:00Z") + 1, now),
            ),
            // Without GROUP BY time the range has no upper end (InfluxDB's raw queries).
            ("WHERE time > now() - 1h", "", (now - H + 1, i64::MAX)),
        ];
        for (where_, group, want) in cases {
            let p = if group.is_empty() {
                plan_batch(&batch_query(&format!(
                    "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT v * 2 AS w INTO o FROM ARCHIVE m {where_} END"
                )))
            } else {
                planned(where_, group)
            }
            .unwrap_or_else(|e| panic!("{where_}: {e}"));
            assert_eq!(p.range.resolve(now), *want, "{where_}");
        }
        let p = planned(
            "WHERE time > now() - 1h AND host = 'a'",
            "GROUP BY time(1m)",
        )
        .unwrap();
        assert_eq!(p.range.to_string(), "time > now() - 1h AND time <= now()");
        assert!(
            p.plan.describe(0).contains("host"),
            "{}",
            p.plan.describe(0)
        );
    }

    #[test]
    fn unsupported_time_conditions_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("", "needs a lower bound on time"),
            ("WHERE time < now()", "needs a lower bound on time"),
            ("WHERE host = 'a'", "needs a lower bound on time"),
            (
                "WHERE time > now() - 1h OR host = 'a'",
                "the time condition time > now() - 1h OR host = 'a' (time inside OR",
            ),
            ("WHERE time != now()", "(operator !="),
            ("WHERE time > now() - 1h AND time > v", "v is not a time"),
            ("WHERE time > 'yesterday'", "'yesterday' is not a timestamp"),
            ("WHERE time > now() - host", "host is not a duration"),
        ];
        for (where_, want) in cases {
            let err = planned(where_, "GROUP BY time(1m)")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{where_}: {err}");
            assert!(err.starts_with("batch query b: "), "{err}");
        }
        let err = plan_batch(&batch_query(
            "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT max(v) INTO o FROM ARCHIVE m WHERE time > now() - 1h END",
        ))
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "batch query b: a selector alone without GROUP BY time() (InfluxDB gives it the selected point's time"
            ),
            "{err}"
        );
        let err = plan_batch(&batch_query(
            "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT mean(v) INTO o FROM ARCHIVE m WHERE time > now() - 1h GROUP BY time(1m) tz('Europe/Paris') END",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("tz()"), "{err}");
    }

    #[test]
    fn aggregates_over_the_whole_range_give_one_row_per_group_at_the_lower_bound() {
        let s = 1_000_000_000i64;
        for (cond, at) in [
            ("time > 5s", 5 * s + 1),
            ("time >= 6s", 6 * s),
            ("time > now() - 995s", 5 * s + 1),
        ] {
            let cond = cond.replace("5s", "5000000000").replace("6s", "6000000000");
            let p = plan_batch(&batch_query(&format!(
                "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT mean(v) AS m, count(v) AS n, max(v) AS x INTO o FROM ARCHIVE m WHERE {cond} GROUP BY host END"
            )))
            .unwrap();
            assert!(p.whole_range.is_some());
            let data =
                batches("m,host=a v=1 6\nm,host=a v=3 8\nm,host=b v=10 100\nm,host=a v=100 2");
            let now = 1000 * s;
            let (lo, hi) = p.range.resolve(now);
            let (plan, range) = p.plan_run((lo, hi), last_time(&data, lo, hi)).unwrap();
            let out = run_batch(&plan, range, &data);
            let mut lines: Vec<String> = String::from_utf8(out.output.body)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
            lines.sort();
            assert_eq!(
                lines,
                [
                    format!("o,host=a m=2.0,n=2i,x=3.0 {at}"),
                    format!("o,host=b m=10.0,n=1i,x=10.0 {at}"),
                ],
                "{cond}"
            );
        }
    }

    fn batches(text: &str) -> Vec<(String, RecordBatch)> {
        let reg = SchemaRegistry::in_memory();
        let mut b = RequestBuilder::new("db", &reg, Precision::Seconds, 0, 1024);
        let mut parsed = ParsedLine::default();
        for (n, l) in lines(text.as_bytes()) {
            parse_line(l, n, &mut parsed).unwrap();
            b.add_line(n, &parsed).unwrap();
        }
        b.finish()
            .unwrap()
            .into_iter()
            .map(|built| (built.measurement.to_string(), built.batch))
            .collect()
    }

    fn run(stmt: &str, now: i64, input: &str) -> Vec<String> {
        let p = plan_batch(&batch_query(stmt)).unwrap();
        let out = run_batch(&p.plan, p.range.resolve(now), &batches(input));
        let mut got: Vec<String> = String::from_utf8(out.output.body)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        got.sort();
        got
    }

    #[test]
    fn holt_winters_from_archive_writes_one_forecast_over_the_range() {
        // Windows of 10s from 0s to 50s, in two batches; the forecast follows the last one.
        let stmt = "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT holt_winters(mean(v), 2, 0) AS hw INTO o FROM ARCHIVE m WHERE time >= 0 AND time < 60000000000 GROUP BY time(10s) END";
        let p = plan_batch(&batch_query(stmt)).unwrap();
        let mut data = batches("m v=1 1\nm v=2 12\nm v=4 23\n");
        data.extend(batches("m v=3 31\nm v=5 44\nm v=6 55\n"));
        let out = run_batch(&p.plan, p.range.resolve(100 * S), &data);
        let body = String::from_utf8(out.output.body).unwrap();
        let times: Vec<&str> = body
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(times, ["60000000000", "70000000000"], "{body}");
        // The same forecast as the stream's last one over the same points.
        let cq = "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT holt_winters(mean(v), 2, 0) AS hw INTO o FROM m GROUP BY time(10s) END";
        let stream = crate::cq::run_to_completion(
            Arc::new(crate::cq::plan(&crate::parse_statements(cq).unwrap().remove(0)).unwrap()),
            &data,
            CqSettings::default(),
        );
        let stream = String::from_utf8(stream.body).unwrap();
        let last: Vec<&str> = stream.lines().rev().take(2).collect();
        assert_eq!(
            body.lines().rev().collect::<Vec<_>>(),
            last,
            "batch {body} stream {stream}"
        );
    }

    #[test]
    fn runs_over_the_range_only_and_fills_it_whole() {
        // Range (100s - 60s, 100s]: windows of 20s from 40s to 100s.
        let stmt = "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT count(v) AS n INTO o FROM ARCHIVE m WHERE time > now() - 60s GROUP BY time(20s), host fill(0) END";
        let got = run(
            stmt,
            100 * S,
            "m,host=a v=1 30\nm,host=a v=1 41\nm,host=a v=2 45\nm,host=b v=1 70\nm,host=b v=1 101\n",
        );
        assert_eq!(
            got,
            [
                "o,host=a n=0i 100000000000",
                "o,host=a n=0i 60000000000",
                "o,host=a n=0i 80000000000",
                "o,host=a n=2i 40000000000",
                "o,host=b n=0i 100000000000",
                "o,host=b n=0i 40000000000",
                "o,host=b n=0i 80000000000",
                "o,host=b n=1i 60000000000",
            ]
        );
        // fill(null): only windows with points; time conditions kept apart from the rest.
        let stmt = "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT mean(v), max(v) INTO o FROM ARCHIVE m WHERE time >= now() - 60s AND host = 'a' AND time < now() GROUP BY time(20s) END";
        let got = run(
            stmt,
            100 * S,
            "m,host=a v=1 30\nm,host=a v=1 40\nm,host=a v=4 59\nm,host=b v=9 50\nm,host=a v=7 100\n",
        );
        assert_eq!(got, ["o mean=2.5,max=4.0 40000000000"]);
        // fill(null) with count(): InfluxDB fills count() with 0, the rest stays null.
        let stmt = "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT mean(v), count(v) INTO o FROM ARCHIVE m WHERE time > now() - 60s GROUP BY time(20s) END";
        let got = run(stmt, 100 * S, "m v=1 45\nm v=3 55\n");
        assert_eq!(
            got,
            [
                "o count=0i 100000000000",
                "o count=0i 60000000000",
                "o count=0i 80000000000",
                "o mean=2.0,count=2i 40000000000",
            ]
        );
        // Per point, over the range.
        let stmt = "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT v * 2 AS w INTO o FROM ARCHIVE m WHERE time > now() - 60s END";
        let got = run(stmt, 100 * S, "m v=1 30\nm v=2 50\nm v=3 200\n");
        assert_eq!(got, ["o w=4.0 50000000000", "o w=6.0 200000000000"]);
    }

    #[test]
    fn batches_take_the_engine_shape() {
        use datafusion::arrow::array::TimestampMicrosecondArray;
        use datafusion::arrow::array::{DictionaryArray, Float64Array, StringViewArray};
        use datafusion::arrow::datatypes::Int16Type;
        let dict: DictionaryArray<Int16Type> = vec!["a", "b"].into_iter().collect();
        let schema = Schema::new(vec![
            Field::new(
                TIME_COLUMN,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("host", dict.data_type().clone(), true),
            Field::new("s", DataType::Utf8View, true),
            Field::new("v", DataType::Float64, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![1, 2]).with_timezone("UTC")),
                Arc::new(dict),
                Arc::new(StringViewArray::from(vec!["x", "y"])),
                Arc::new(Float64Array::from(vec![1.0, 2.0])),
            ],
        )
        .unwrap();
        let b = to_engine_shape(&batch).unwrap();
        let types: Vec<DataType> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                DataType::Utf8,
                DataType::Float64,
            ]
        );
        let p = plan_batch(&batch_query(
            "CREATE BATCH QUERY b ON db EVERY 1m BEGIN SELECT sum(v) INTO o FROM ARCHIVE m WHERE time >= 0 GROUP BY time(1s), host END",
        ))
        .unwrap();
        let out = run_batch(&p.plan, p.range.resolve(10 * S), &[("m".into(), b)]);
        assert_eq!(out.points, 2);
        assert_eq!(
            String::from_utf8(out.output.body).unwrap(),
            "o,host=a sum=1.0 0\no,host=b sum=2.0 0\n"
        );
    }
}
