//! Running `CREATE CONTINUOUS QUERY` tasks on the stream (first slice).
//!
//! A continuous query subscribes to its source measurement, feeds every point to a task clock
//! (SPEC §3.2), keeps one small aggregate state per (window, group) and, when a window closes,
//! writes one line per group to InfluxDB's `/write` (`INTO`).
//!
//! Supported: aggregates `mean, sum, count, min, max, first, last, spread, stddev, median` of
//! field names, aliases and InfluxQL's default output names, one `FROM` measurement, `WHERE` on
//! tags (`=`, `!=`, `=~`, `!~`) and fields (comparisons with numbers, strings, booleans) joined
//! by `AND`/`OR`, `GROUP BY time(d[, offset])` with tags or `*`, and `fill(none)`/`fill(null)`
//! (both write nothing for an empty window, as InfluxDB's `INTO` does). Anything else is
//! refused with a message naming the feature.
//!
//! Window state lives in memory only in this slice: deliveries are acknowledged as soon as
//! they are folded into the state, so windows open at a restart are lost (their points are
//! still in the archive, not re-processed).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use super::influx::urlencode;
use parking_lot::Mutex;
use weir_archive::arrow::array::{
    Array, AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use weir_archive::arrow::datatypes::{DataType, Int32Type, TimeUnit};
use weir_archive::arrow::record_batch::RecordBatch;
use weir_engine::clock::{SharedClock, SystemClock};
use weir_engine::lp_encode::{escape_into, KEY_SPECIAL, MEASUREMENT_SPECIAL};
use weir_engine::router::{Delivery, Router, SubscriptionSpec};
use weir_engine::schema::{COLUMN_KIND_KEY, TIME_COLUMN};
use weir_engine::window::{TaskClock, TumblingWindows};
use weir_sql::ast::{BinaryOp, Dimension, Expr, Fill, MeasurementName, Source, TargetMeasurement};
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
    /// `[engine] lateness`.
    pub lateness: StdDuration,
}

/// The aggregate functions of this slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Mean,
    Sum,
    Count,
    Min,
    Max,
    First,
    Last,
    Spread,
    Stddev,
    Median,
}

impl Func {
    fn parse(name: &str) -> Option<Func> {
        Some(match name {
            "mean" => Func::Mean,
            "sum" => Func::Sum,
            "count" => Func::Count,
            "min" => Func::Min,
            "max" => Func::Max,
            "first" => Func::First,
            "last" => Func::Last,
            "spread" => Func::Spread,
            "stddev" => Func::Stddev,
            "median" => Func::Median,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Mean => "mean",
            Func::Sum => "sum",
            Func::Count => "count",
            Func::Min => "min",
            Func::Max => "max",
            Func::First => "first",
            Func::Last => "last",
            Func::Spread => "spread",
            Func::Stddev => "stddev",
            Func::Median => "median",
        }
    }
}

/// One output column: `func(field) AS name`.
#[derive(Debug, Clone)]
struct OutField {
    func: Func,
    field: String,
    name: String,
}

/// A compiled `WHERE`.
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    /// `name op literal` (or `literal op name`, normalised); tags or fields, decided per batch.
    Cmp {
        name: String,
        op: BinaryOp,
        lit: Lit,
    },
    Regex {
        name: String,
        negate: bool,
        re: RegexFn,
    },
}

type RegexFn = Box<dyn Fn(&str) -> bool + Send + Sync>;

impl std::fmt::Debug for Cond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cond::And(a, b) => write!(f, "({a:?} AND {b:?})"),
            Cond::Or(a, b) => write!(f, "({a:?} OR {b:?})"),
            Cond::Cmp { name, op, lit } => write!(f, "{name} {} {lit:?}", op.as_str()),
            Cond::Regex { name, negate, .. } => {
                write!(f, "{name} {} /re/", if *negate { "!~" } else { "=~" })
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Lit {
    Num(f64),
    Str(String),
    Bool(bool),
}

/// How groups are formed besides time.
#[derive(Debug, Clone)]
enum GroupTags {
    /// These tag keys (sorted, deduplicated).
    Keys(Vec<String>),
    /// `GROUP BY *`: every tag.
    All,
}

/// The validated plan of a continuous query.
#[derive(Debug)]
struct CqPlan {
    name: String,
    db: String,
    rp: Option<String>,
    measurement: String,
    target_db: String,
    target_rp: Option<String>,
    target_measurement: String,
    fields: Vec<OutField>,
    cond: Option<Cond>,
    group: GroupTags,
    interval: i64,
    offset: i64,
}

fn unsupported(name: &str, what: impl std::fmt::Display) -> String {
    format!("continuous query {name}: {what} is not supported yet")
}

fn plan(def_name: &str, stmt: &Statement) -> Result<CqPlan, String> {
    let Statement::CreateContinuousQuery(cq) = stmt else {
        return Err(format!(
            "{def_name} is not a CREATE CONTINUOUS QUERY statement"
        ));
    };
    let name = cq.name.as_str();
    let s = &cq.select;
    if cq.resample.is_some() {
        return Err(unsupported(name, "RESAMPLE"));
    }
    if s.from_archive {
        return Err(unsupported(name, "FROM ARCHIVE"));
    }
    if s.order.is_some() {
        return Err(unsupported(name, "ORDER BY"));
    }
    if s.limit.is_some() || s.offset.is_some() || s.slimit.is_some() || s.soffset.is_some() {
        return Err(unsupported(name, "LIMIT/OFFSET/SLIMIT/SOFFSET"));
    }
    if s.timezone.is_some() {
        return Err(unsupported(name, "tz()"));
    }
    match s.fill {
        None | Some(Fill::None) | Some(Fill::Null) => {}
        Some(f) => return Err(unsupported(name, format!("fill({f:?})").to_lowercase())),
    }
    let target = s
        .target
        .as_ref()
        .ok_or_else(|| format!("continuous query {name} has no INTO clause"))?;
    let target_measurement = match &target.measurement {
        TargetMeasurement::Name(n) => n.clone(),
        TargetMeasurement::Source => return Err(unsupported(name, "INTO :MEASUREMENT")),
    };
    let (db, rp, measurement) = match s.sources.as_slice() {
        [Source::Measurement(m)] => match &m.name {
            MeasurementName::Name(n) => (
                m.database.clone().unwrap_or_else(|| cq.database.clone()),
                m.retention_policy.clone(),
                n.clone(),
            ),
            MeasurementName::Regex(_) => return Err(unsupported(name, "FROM /regex/")),
        },
        [Source::Subquery(_)] => return Err(unsupported(name, "a subquery in FROM")),
        _ => return Err(unsupported(name, "FROM with several measurements")),
    };
    let (interval, offset) = s
        .group_by_time()
        .ok_or_else(|| unsupported(name, "a continuous query without GROUP BY time()"))?;
    if !interval.is_positive() {
        return Err(format!(
            "continuous query {name}: GROUP BY time() needs a positive interval"
        ));
    }
    let mut keys = Vec::new();
    let mut all = false;
    for d in &s.dimensions {
        match d {
            Dimension::Time { .. } => {}
            Dimension::Tag(k) => keys.push(k.clone()),
            Dimension::All => all = true,
            Dimension::Regex(_) => return Err(unsupported(name, "GROUP BY /regex/")),
        }
    }
    keys.sort();
    keys.dedup();
    let group = if all {
        GroupTags::All
    } else {
        GroupTags::Keys(keys)
    };

    let mut fields = Vec::new();
    let mut used: HashMap<String, usize> = HashMap::new();
    for f in &s.fields {
        let Expr::Call(call) = &f.expr else {
            return Err(unsupported(
                name,
                format!(
                    "SELECT {} (only aggregate calls such as mean(field) are)",
                    f.expr
                ),
            ));
        };
        let func = Func::parse(&call.name)
            .ok_or_else(|| unsupported(name, format!("function {}()", call.name)))?;
        let field = match call.args.as_slice() {
            [Expr::VarRef(v)]
                if v.data_type.is_none() || v.data_type == Some(weir_sql::ast::VarType::Field) =>
            {
                v.name.clone()
            }
            _ => {
                return Err(unsupported(
                    name,
                    format!("{} (arguments other than one field name)", f.expr),
                ))
            }
        };
        if field == TIME_COLUMN {
            return Err(format!(
                "continuous query {name}: {}(time) is not valid",
                func.name()
            ));
        }
        // InfluxDB's column names: the alias or function name, duplicates suffixed _1, _2, ...
        let base = f.alias.clone().unwrap_or_else(|| func.name().to_string());
        let mut out = base.clone();
        if let Some(n) = used.get(&base).copied() {
            let mut k = n;
            loop {
                let candidate = format!("{base}_{k}");
                k += 1;
                if !used.contains_key(&candidate) {
                    used.insert(base.clone(), k);
                    out = candidate;
                    break;
                }
            }
        } else {
            used.insert(base, 1);
        }
        used.entry(out.clone()).or_insert(1);
        fields.push(OutField {
            func,
            field,
            name: out,
        });
    }
    if fields.is_empty() {
        return Err(format!("continuous query {name} selects nothing"));
    }
    let cond = s
        .condition
        .as_ref()
        .map(|c| compile_cond(name, c))
        .transpose()?;
    Ok(CqPlan {
        name: name.to_string(),
        db,
        rp,
        measurement,
        target_db: target
            .database
            .clone()
            .unwrap_or_else(|| cq.database.clone()),
        target_rp: target.retention_policy.clone(),
        target_measurement,
        fields,
        cond,
        group,
        interval: interval.as_nanos(),
        offset: offset.map_or(0, |o| o.as_nanos()),
    })
}

fn compile_cond(name: &str, e: &Expr) -> Result<Cond, String> {
    let Expr::Binary { op, lhs, rhs } = e else {
        return Err(unsupported(name, format!("WHERE {e}")));
    };
    match op {
        BinaryOp::And => Ok(Cond::And(
            Box::new(compile_cond(name, lhs)?),
            Box::new(compile_cond(name, rhs)?),
        )),
        BinaryOp::Or => Ok(Cond::Or(
            Box::new(compile_cond(name, lhs)?),
            Box::new(compile_cond(name, rhs)?),
        )),
        BinaryOp::EqRegex | BinaryOp::NeqRegex => {
            let (Expr::VarRef(v), Expr::Regex(re)) = (lhs.as_ref(), rhs.as_ref()) else {
                return Err(unsupported(name, format!("WHERE {e}")));
            };
            if v.name == TIME_COLUMN {
                return Err(unsupported(name, "a time condition in WHERE"));
            }
            let re = re
                .compile()
                .map_err(|err| format!("continuous query {name}: invalid regex in WHERE: {err}"))?;
            Ok(Cond::Regex {
                name: v.name.clone(),
                negate: *op == BinaryOp::NeqRegex,
                re: Box::new(move |s| re.is_match(s)),
            })
        }
        op if op.is_comparison() => {
            let (var, lit, op) = match (lhs.as_ref(), rhs.as_ref()) {
                (Expr::VarRef(v), l) => (v, l, *op),
                (l, Expr::VarRef(v)) => (v, l, flip(*op)),
                _ => return Err(unsupported(name, format!("WHERE {e}"))),
            };
            if var.name == TIME_COLUMN {
                return Err(unsupported(name, "a time condition in WHERE"));
            }
            let lit = match lit {
                Expr::Integer(i) => Lit::Num(*i as f64),
                Expr::Unsigned(u) => Lit::Num(*u as f64),
                Expr::Float(f) => Lit::Num(*f),
                Expr::String(s) => Lit::Str(s.clone()),
                Expr::Boolean(b) => Lit::Bool(*b),
                _ => return Err(unsupported(name, format!("WHERE {e}"))),
            };
            Ok(Cond::Cmp {
                name: var.name.clone(),
                op,
                lit,
            })
        }
        _ => Err(unsupported(name, format!("WHERE {e}"))),
    }
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Lte => BinaryOp::Gte,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Gte => BinaryOp::Lte,
        other => other,
    }
}

impl CqPlan {
    fn describe(&self, lateness: i64) -> String {
        let aggs: Vec<String> = self
            .fields
            .iter()
            .map(|f| format!("{}({}) AS {}", f.func.name(), f.field, f.name))
            .collect();
        let group = match &self.group {
            GroupTags::All => "*".to_string(),
            GroupTags::Keys(k) if k.is_empty() => "(none)".to_string(),
            GroupTags::Keys(k) => k.join(", "),
        };
        format!(
            "ContinuousQuery {name}: {db}.{rp}.{m} -> {tdb}.{trp}.{tm}\n  tumbling windows of {interval:?} (offset {offset:?}), closing {lateness:?} after their end (task clock = max event time + wall time since)\n  aggregates: {aggs}\n  group by tags: {group}\n  where: {cond}\n  fill: none (empty windows write nothing); window state in memory",
            name = self.name,
            db = self.db,
            rp = self.rp.as_deref().unwrap_or("*"),
            m = self.measurement,
            tdb = self.target_db,
            trp = self.target_rp.as_deref().unwrap_or(""),
            tm = self.target_measurement,
            interval = StdDuration::from_nanos(u64::try_from(self.interval).unwrap_or(0)),
            offset = self.offset,
            lateness = StdDuration::from_nanos(u64::try_from(lateness).unwrap_or(0)),
            aggs = aggs.join(", "),
            cond = self.cond.as_ref().map_or_else(|| "(all points)".to_string(), |c| format!("{c:?}")),
        )
    }
}

// ---------------------------------------------------------------------------
// Reading batches

enum Col<'a> {
    Tag(&'a DictionaryArray<Int32Type>, &'a StringArray),
    Float(&'a Float64Array),
    Int(&'a Int64Array),
    UInt(&'a UInt64Array),
    Bool(&'a BooleanArray),
    Str(&'a StringArray),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Val<'a> {
    F(f64),
    I(i64),
    U(u64),
    B(bool),
    S(&'a str),
}

struct View<'a> {
    time: &'a TimestampNanosecondArray,
    cols: HashMap<&'a str, Col<'a>>,
    /// Tag columns in name order (for `GROUP BY *`).
    tag_names: Vec<&'a str>,
}

impl<'a> View<'a> {
    fn new(batch: &'a RecordBatch) -> Option<View<'a>> {
        let schema = batch.schema_ref();
        let mut time = None;
        let mut cols = HashMap::new();
        let mut tag_names = Vec::new();
        for (i, field) in schema.fields().iter().enumerate() {
            let name = field.name().as_str();
            let array = batch.column(i);
            if name == TIME_COLUMN {
                if let DataType::Timestamp(TimeUnit::Nanosecond, _) = field.data_type() {
                    time = array.as_any().downcast_ref::<TimestampNanosecondArray>();
                }
                continue;
            }
            let col = match field.data_type() {
                DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                    let dict = array.as_dictionary::<Int32Type>();
                    let Some(values) = dict.values().as_any().downcast_ref::<StringArray>() else {
                        continue;
                    };
                    let is_tag = field
                        .metadata()
                        .get(COLUMN_KIND_KEY)
                        .is_none_or(|k| k == "tag");
                    if !is_tag {
                        continue;
                    }
                    tag_names.push(name);
                    Col::Tag(dict, values)
                }
                DataType::Float64 => Col::Float(array.as_primitive()),
                DataType::Int64 => Col::Int(array.as_primitive()),
                DataType::UInt64 => Col::UInt(array.as_primitive()),
                DataType::Boolean => Col::Bool(array.as_boolean()),
                DataType::Utf8 => Col::Str(array.as_string::<i32>()),
                _ => continue,
            };
            cols.insert(name, col);
        }
        tag_names.sort_unstable();
        Some(View {
            time: time?,
            cols,
            tag_names,
        })
    }

    /// The tag's value ("" when absent), or `None` when `name` is not a tag.
    fn tag(&self, name: &str, row: usize) -> Option<&'a str> {
        match self.cols.get(name) {
            Some(Col::Tag(dict, values)) => Some(if dict.is_valid(row) {
                let k = usize::try_from(dict.keys().value(row)).unwrap_or(0);
                values.value(k)
            } else {
                ""
            }),
            _ => None,
        }
    }

    fn field(&self, name: &str, row: usize) -> Option<Val<'a>> {
        let col = self.cols.get(name)?;
        match col {
            Col::Tag(..) => None,
            Col::Float(a) => a.is_valid(row).then(|| Val::F(a.value(row))),
            Col::Int(a) => a.is_valid(row).then(|| Val::I(a.value(row))),
            Col::UInt(a) => a.is_valid(row).then(|| Val::U(a.value(row))),
            Col::Bool(a) => a.is_valid(row).then(|| Val::B(a.value(row))),
            Col::Str(a) => a.is_valid(row).then(|| Val::S(a.value(row))),
        }
    }

    fn is_tag(&self, name: &str) -> bool {
        matches!(self.cols.get(name), Some(Col::Tag(..)))
    }
}

fn eval(cond: &Cond, v: &View<'_>, row: usize) -> bool {
    match cond {
        Cond::And(a, b) => eval(a, v, row) && eval(b, v, row),
        Cond::Or(a, b) => eval(a, v, row) || eval(b, v, row),
        Cond::Regex { name, negate, re } => {
            let s = if v.is_tag(name) {
                v.tag(name, row).unwrap_or("")
            } else {
                match v.field(name, row) {
                    Some(Val::S(s)) => s,
                    // A field that is absent or not a string matches nothing.
                    Some(_) => return false,
                    None if v.cols.contains_key(name.as_str()) => return false,
                    // Neither tag nor field in this batch: an absent tag, value "".
                    None => "",
                }
            };
            re(s) != *negate
        }
        Cond::Cmp { name, op, lit } => {
            if v.is_tag(name) || !v.cols.contains_key(name.as_str()) {
                // A tag (absent tags compare as ""); only string equality applies.
                let s = v.tag(name, row).unwrap_or("");
                return match (op, lit) {
                    (BinaryOp::Eq, Lit::Str(l)) => s == l,
                    (BinaryOp::Neq, Lit::Str(l)) => s != l,
                    (op, Lit::Str(l)) => cmp_ord(*op, s.cmp(l.as_str())),
                    _ => false,
                };
            }
            let Some(val) = v.field(name, row) else {
                return false;
            };
            match (val, lit) {
                (Val::F(x), Lit::Num(l)) => cmp_f(*op, x, *l),
                (Val::I(x), Lit::Num(l)) => cmp_f(*op, x as f64, *l),
                (Val::U(x), Lit::Num(l)) => cmp_f(*op, x as f64, *l),
                (Val::S(x), Lit::Str(l)) => cmp_ord(*op, x.cmp(l.as_str())),
                (Val::B(x), Lit::Bool(l)) => match op {
                    BinaryOp::Eq => x == *l,
                    BinaryOp::Neq => x != *l,
                    _ => false,
                },
                _ => false,
            }
        }
    }
}

fn cmp_f(op: BinaryOp, x: f64, l: f64) -> bool {
    match x.partial_cmp(&l) {
        Some(o) => cmp_ord(op, o),
        None => op == BinaryOp::Neq,
    }
}

fn cmp_ord(op: BinaryOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        BinaryOp::Eq => o == Equal,
        BinaryOp::Neq => o != Equal,
        BinaryOp::Lt => o == Less,
        BinaryOp::Lte => o != Greater,
        BinaryOp::Gt => o == Greater,
        BinaryOp::Gte => o != Less,
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Aggregation

/// A numeric value kept by selectors: the field's own type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    F(f64),
    I(i64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::F(v) => v,
            Num::I(v) => v as f64,
        }
    }

    fn gt(self, other: Num) -> bool {
        match (self, other) {
            (Num::I(a), Num::I(b)) => a > b,
            (a, b) => a.f() > b.f(),
        }
    }

    fn lt(self, other: Num) -> bool {
        match (self, other) {
            (Num::I(a), Num::I(b)) => a < b,
            (a, b) => a.f() < b.f(),
        }
    }
}

/// The running state of one aggregate call in one (window, group).
#[derive(Debug, Clone)]
enum Acc {
    Mean {
        sum: f64,
        n: u64,
    },
    SumF(Option<f64>),
    SumI(Option<i64>),
    Count(u64),
    Min(Option<Num>),
    Max(Option<Num>),
    /// (time, value)
    First(Option<(i64, Num)>),
    Last(Option<(i64, Num)>),
    Spread(Option<(Num, Num)>),
    /// Welford: n, mean, M2.
    Stddev {
        n: u64,
        mean: f64,
        m2: f64,
    },
    Median(Vec<f64>),
}

impl Acc {
    fn new(func: Func) -> Acc {
        match func {
            Func::Mean => Acc::Mean { sum: 0.0, n: 0 },
            Func::Sum => Acc::SumF(None),
            Func::Count => Acc::Count(0),
            Func::Min => Acc::Min(None),
            Func::Max => Acc::Max(None),
            Func::First => Acc::First(None),
            Func::Last => Acc::Last(None),
            Func::Spread => Acc::Spread(None),
            Func::Stddev => Acc::Stddev {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            Func::Median => Acc::Median(Vec::new()),
        }
    }

    fn add(&mut self, t: i64, v: Num) {
        match self {
            Acc::Mean { sum, n } => {
                *sum += v.f();
                *n += 1;
            }
            Acc::SumF(s) => match (v, *s) {
                (Num::I(i), None) => *self = Acc::SumI(Some(i)),
                (v, s0) => *s = Some(s0.unwrap_or(0.0) + v.f()),
            },
            Acc::SumI(s) => match v {
                Num::I(i) => *s = Some(s.unwrap_or(0).wrapping_add(i)),
                Num::F(f) => *self = Acc::SumF(Some(s.unwrap_or(0) as f64 + f)),
            },
            Acc::Count(n) => *n += 1,
            Acc::Min(m) => {
                if m.is_none_or(|p| v.lt(p)) {
                    *m = Some(v);
                }
            }
            Acc::Max(m) => {
                if m.is_none_or(|p| v.gt(p)) {
                    *m = Some(v);
                }
            }
            // InfluxDB's first/last reducers: earliest/latest time; on equal times the
            // larger value wins.
            Acc::First(p) => {
                if p.is_none_or(|(pt, pv)| t < pt || (t == pt && v.gt(pv))) {
                    *p = Some((t, v));
                }
            }
            Acc::Last(p) => {
                if p.is_none_or(|(pt, pv)| t > pt || (t == pt && v.gt(pv))) {
                    *p = Some((t, v));
                }
            }
            Acc::Spread(p) => {
                *p = Some(match *p {
                    None => (v, v),
                    Some((lo, hi)) => {
                        (if v.lt(lo) { v } else { lo }, if v.gt(hi) { v } else { hi })
                    }
                });
            }
            Acc::Stddev { n, mean, m2 } => {
                let x = v.f();
                *n += 1;
                let delta = x - *mean;
                *mean += delta / *n as f64;
                *m2 += delta * (x - *mean);
            }
            Acc::Median(values) => values.push(v.f()),
        }
    }

    /// Counts non-numeric values (count only).
    fn add_other(&mut self) {
        if let Acc::Count(n) = self {
            *n += 1;
        }
    }

    /// The result; `None` writes nothing for this field.
    fn finish(&mut self) -> Option<Num> {
        match self {
            Acc::Mean { sum, n } => (*n > 0).then(|| Num::F(*sum / *n as f64)),
            Acc::SumF(s) => s.map(Num::F),
            Acc::SumI(s) => s.map(Num::I),
            Acc::Count(n) => (*n > 0).then(|| Num::I(i64::try_from(*n).unwrap_or(i64::MAX))),
            Acc::Min(m) | Acc::Max(m) => *m,
            Acc::First(p) | Acc::Last(p) => p.map(|(_, v)| v),
            Acc::Spread(p) => p.map(|(lo, hi)| match (lo, hi) {
                (Num::I(a), Num::I(b)) => Num::I(b.wrapping_sub(a)),
                (a, b) => Num::F(b.f() - a.f()),
            }),
            Acc::Stddev { n, m2, .. } => (*n >= 2).then(|| Num::F((*m2 / (*n - 1) as f64).sqrt())),
            Acc::Median(values) => {
                if values.is_empty() {
                    return None;
                }
                values.sort_by(f64::total_cmp);
                let len = values.len();
                Some(Num::F(if len % 2 == 1 {
                    values[len / 2]
                } else {
                    // InfluxDB: lo + (hi - lo) / 2.
                    let (lo, hi) = (values[len / 2 - 1], values[len / 2]);
                    lo + (hi - lo) / 2.0
                }))
            }
        }
    }
}

/// Group key: (tag key, value) pairs with non-empty values, in key order.
type GroupKey = Vec<(String, String)>;

type WindowState = BTreeMap<GroupKey, Vec<Acc>>;

/// The window loop's state.
struct CqState {
    plan: Arc<CqPlan>,
    clock: TaskClock,
    windows: TumblingWindows<WindowState>,
    stats: Arc<TaskStats>,
}

impl CqState {
    fn ingest(&mut self, batch: &RecordBatch) {
        let rows = batch.num_rows();
        self.stats.points_in.fetch_add(rows as u64, Relaxed);
        let Some(view) = View::new(batch) else {
            self.stats
                .record_error("batch without a nanosecond time column");
            return;
        };
        // Every point read advances the clock, kept or not.
        for row in 0..rows {
            if view.time.is_valid(row) {
                self.clock.observe(view.time.value(row));
            }
        }
        let plan = Arc::clone(&self.plan);
        let mut late = 0u64;
        let mut key: GroupKey = Vec::new();
        for row in 0..rows {
            if !view.time.is_valid(row) {
                continue;
            }
            if let Some(cond) = &plan.cond {
                if !eval(cond, &view, row) {
                    continue;
                }
            }
            let t = view.time.value(row);
            if self.windows.is_late(t) {
                late += 1;
                continue;
            }
            key.clear();
            match &plan.group {
                GroupTags::Keys(keys) => {
                    for k in keys {
                        if let Some(v) = view.tag(k, row).filter(|v| !v.is_empty()) {
                            key.push((k.clone(), v.to_string()));
                        }
                    }
                }
                GroupTags::All => {
                    for k in &view.tag_names {
                        if let Some(v) = view.tag(k, row).filter(|v| !v.is_empty()) {
                            key.push(((*k).to_string(), v.to_string()));
                        }
                    }
                }
            }
            let Some((_, state)) = self.windows.state_for(t) else {
                late += 1;
                continue;
            };
            let accs = match state.get_mut(&key) {
                Some(a) => a,
                None => state
                    .entry(key.clone())
                    .or_insert_with(|| plan.fields.iter().map(|f| Acc::new(f.func)).collect()),
            };
            for (acc, f) in accs.iter_mut().zip(&plan.fields) {
                match view.field(&f.field, row) {
                    Some(Val::F(x)) => acc.add(t, Num::F(x)),
                    Some(Val::I(x)) => acc.add(t, Num::I(x)),
                    Some(Val::U(x)) => acc.add(t, Num::F(x as f64)),
                    Some(Val::B(_)) | Some(Val::S(_)) => acc.add_other(),
                    None => {}
                }
            }
        }
        if late > 0 {
            self.stats.points_late.fetch_add(late, Relaxed);
        }
    }

    /// Closes due windows; returns their lines (possibly empty).
    fn close(&mut self) -> (Vec<u8>, usize) {
        let Some(now) = self.clock.now() else {
            return (Vec::new(), 0);
        };
        let closed = self.windows.close(now);
        let mut out = Vec::new();
        let mut lines = 0;
        for (start, groups) in closed {
            let mut any = false;
            for (key, mut accs) in groups {
                if encode_line(&mut out, &self.plan, start, &key, &mut accs) {
                    lines += 1;
                    any = true;
                }
            }
            if any {
                self.stats.windows_emitted.fetch_add(1, Relaxed);
            }
        }
        (out, lines)
    }
}

/// Appends one line for a group of a closed window; false when it has no field to write.
fn encode_line(
    out: &mut Vec<u8>,
    plan: &CqPlan,
    start: i64,
    key: &GroupKey,
    accs: &mut [Acc],
) -> bool {
    let mut line = Vec::with_capacity(128);
    escape_into(&mut line, &plan.target_measurement, MEASUREMENT_SPECIAL);
    for (k, v) in key {
        line.push(b',');
        escape_into(&mut line, k, KEY_SPECIAL);
        line.push(b'=');
        escape_into(&mut line, v, KEY_SPECIAL);
    }
    let mut sep = b' ';
    let mut fields = 0;
    for (acc, f) in accs.iter_mut().zip(&plan.fields) {
        let value = match acc.finish() {
            Some(Num::F(v)) if v.is_finite() => format!("{v:?}"),
            Some(Num::I(v)) => format!("{v}i"),
            _ => continue,
        };
        line.push(sep);
        sep = b',';
        escape_into(&mut line, &f.name, KEY_SPECIAL);
        line.push(b'=');
        line.extend_from_slice(value.as_bytes());
        fields += 1;
    }
    if fields == 0 {
        return false;
    }
    line.push(b' ');
    line.extend_from_slice(start.to_string().as_bytes());
    line.push(b'\n');
    out.extend_from_slice(&line);
    true
}

// ---------------------------------------------------------------------------
// Writing to InfluxDB

#[derive(Debug, Clone)]
struct Writer {
    client: reqwest::Client,
    url: String,
    username: String,
    password: String,
    token: String,
    stats: Arc<TaskStats>,
}

impl Writer {
    /// Posts `body` until InfluxDB accepts it (backing off), or drops it on a 4xx.
    async fn write(&self, body: Vec<u8>, lines: usize) {
        let mut backoff = StdDuration::from_millis(100);
        loop {
            let mut req = self.client.post(&self.url).body(body.clone());
            if !self.username.is_empty() {
                req = req.basic_auth(&self.username, Some(&self.password));
            } else if !self.token.is_empty() {
                req = req.header("Authorization", format!("Token {}", self.token));
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    self.stats.points_out.fetch_add(lines as u64, Relaxed);
                    return;
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    self.stats
                        .record_error(format!("InfluxDB write failed: {status}: {}", text.trim()));
                    if status.is_client_error() {
                        tracing::error!(%status, body = %text.trim(), "InfluxDB refused continuous query output; dropping it");
                        return;
                    }
                }
                Err(e) => self
                    .stats
                    .record_error(format!("InfluxDB write failed: {e}")),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(StdDuration::from_secs(10));
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
        let plan = Arc::new(plan(&def.name, stmt)?);
        if self.influxdb_url.trim().is_empty() {
            return Err(format!(
                "continuous query {} writes INTO {}.{}.{}; configure [influxdb] url",
                plan.name,
                plan.target_db,
                plan.target_rp.as_deref().unwrap_or(""),
                plan.target_measurement
            ));
        }
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "continuous queries need the tokio runtime".to_string())?;
        let lateness = i64::try_from(self.lateness.as_nanos()).unwrap_or(i64::MAX);
        let description = plan.describe(lateness);
        let mut url = format!(
            "{}/write?db={}&precision=ns",
            self.influxdb_url.trim_end_matches('/'),
            urlencode(&plan.target_db)
        );
        if let Some(rp) = &plan.target_rp {
            url.push_str("&rp=");
            url.push_str(&urlencode(rp));
        }
        let writer = Writer {
            client: reqwest::Client::builder()
                .timeout(StdDuration::from_secs(30))
                .build()
                .map_err(|e| format!("cannot build HTTP client: {e}"))?,
            url,
            username: self.username.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            stats: Arc::clone(&ctx.stats),
        };
        let sub_name = format!("cq:{}", plan.name);
        let (db, rp, m) = (plan.db.clone(), plan.rp.clone(), plan.measurement.clone());
        let mut sub = ctx.router.subscribe(SubscriptionSpec {
            name: sub_name.clone(),
            filter: Arc::new(move |d, r, meas| {
                d == db && meas == m && rp.as_deref().is_none_or(|want| want == r)
            }),
            cursor: None,
            capacity: 64,
        });
        let wall: SharedClock = Arc::new(SystemClock);
        let mut state = CqState {
            plan: Arc::clone(&plan),
            clock: TaskClock::new(wall),
            windows: TumblingWindows::new(plan.interval, plan.offset, lateness),
            stats: Arc::clone(&ctx.stats),
        };
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<(Vec<u8>, usize)>();
        let writer_task = handle.spawn(async move {
            while let Some((body, lines)) = out_rx.recv().await {
                writer.write(body, lines).await;
            }
        });
        let loop_task = handle.spawn(async move {
            let mut tick = tokio::time::interval(StdDuration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    d = sub.deliveries.recv() => {
                        let Some(Delivery { batch, ordinal }) = d else { break };
                        state.ingest(&batch.batch);
                        // Window state is in memory in this slice: acknowledge at once.
                        sub.acker.durable_through(ordinal);
                    }
                    _ = tick.tick() => {}
                }
                let (body, lines) = state.close();
                if lines > 0 && out_tx.send((body, lines)).is_err() {
                    break;
                }
            }
        });
        Ok(Box::new(RunningCq {
            plan: description,
            router: Arc::clone(&ctx.router),
            sub_name,
            tasks: Mutex::new(vec![loop_task, writer_task]),
        }))
    }
}

#[derive(Debug)]
struct RunningCq {
    plan: String,
    router: Arc<Router>,
    sub_name: String,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Running for RunningCq {
    fn plan(&self) -> String {
        self.plan.clone()
    }

    fn stop(&self) {
        self.router.unsubscribe(&self.sub_name);
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan_of(text: &str) -> Result<CqPlan, String> {
        let stmts = weir_sql::parse_statements(text).unwrap();
        plan("t", &stmts[0])
    }

    #[test]
    fn plans_the_spec_example_with_influx_names() {
        let p = plan_of(
            "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN SELECT mean(usage_idle) AS usage_idle, max(usage_user) AS usage_user_max INTO telegraf.autogen.cpu_1m FROM cpu WHERE cpu = 'cpu-total' AND host =~ /^web-/ GROUP BY time(1m), host END",
        )
        .unwrap();
        assert_eq!(p.target_db, "telegraf");
        assert_eq!(p.target_rp.as_deref(), Some("autogen"));
        assert_eq!(p.interval, 60_000_000_000);
        let names: Vec<_> = p.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["usage_idle", "usage_user_max"]);
        let p = plan_of(
            "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(a), mean(b), max(a), mean(c) INTO x FROM m GROUP BY time(1m) END",
        )
        .unwrap();
        let names: Vec<_> = p.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["mean", "mean_1", "max", "mean_2"]);
    }

    #[test]
    fn refuses_what_this_slice_cannot_run() {
        for (q, what) in [
            (
                "SELECT derivative(mean(a)) INTO x FROM m GROUP BY time(1m)",
                "function derivative",
            ),
            (
                "SELECT percentile(a, 90) INTO x FROM m GROUP BY time(1m)",
                "function percentile",
            ),
            (
                "SELECT mean(a) INTO x FROM /m/ GROUP BY time(1m)",
                "FROM /regex/",
            ),
            (
                "SELECT mean(a) INTO x FROM m GROUP BY time(1m) fill(previous)",
                "fill(previous)",
            ),
            (
                "SELECT mean(a) INTO :MEASUREMENT FROM m GROUP BY time(1m)",
                ":MEASUREMENT",
            ),
            (
                "SELECT mean(a) * 2 INTO x FROM m GROUP BY time(1m)",
                "SELECT mean(a) * 2",
            ),
            (
                "SELECT mean(a) INTO x FROM m WHERE time > now() - 1h GROUP BY time(1m)",
                "time condition",
            ),
        ] {
            let err =
                plan_of(&format!("CREATE CONTINUOUS QUERY c ON db BEGIN {q} END")).unwrap_err();
            assert!(err.contains(what), "{q}: {err}");
        }
    }

    fn accs(func: Func, values: &[(i64, Num)]) -> Option<Num> {
        let mut a = Acc::new(func);
        for (t, v) in values {
            a.add(*t, *v);
        }
        a.finish()
    }

    #[test]
    fn aggregates_follow_influxql() {
        use Num::{F, I};
        let ints = [(3, I(4)), (1, I(2)), (2, I(9)), (4, I(1))];
        assert_eq!(accs(Func::Mean, &ints), Some(F(4.0)));
        assert_eq!(accs(Func::Sum, &ints), Some(I(16)));
        assert_eq!(accs(Func::Count, &ints), Some(I(4)));
        assert_eq!(accs(Func::Min, &ints), Some(I(1)));
        assert_eq!(accs(Func::Max, &ints), Some(I(9)));
        assert_eq!(accs(Func::First, &ints), Some(I(2)));
        assert_eq!(accs(Func::Last, &ints), Some(I(1)));
        assert_eq!(accs(Func::Spread, &ints), Some(I(8)));
        assert_eq!(accs(Func::Median, &ints), Some(F(3.0)));
        let sd = match accs(Func::Stddev, &ints) {
            Some(F(v)) => v,
            other => panic!("{other:?}"),
        };
        assert!((sd - 3.559026084010437).abs() < 1e-12, "{sd}");
        assert_eq!(accs(Func::Stddev, &[(1, F(1.0))]), None);
        assert_eq!(
            accs(Func::Median, &[(1, F(1.0)), (2, F(5.0)), (3, F(2.0))]),
            Some(F(2.0))
        );
        assert_eq!(accs(Func::Sum, &[(1, F(1.5)), (2, F(2.0))]), Some(F(3.5)));
        assert_eq!(accs(Func::Mean, &[]), None);
    }

    #[test]
    fn windows_group_and_encode_lines() {
        use weir_engine::batch::RequestBuilder;
        use weir_engine::clock::ManualClock;
        use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
        use weir_engine::schema::SchemaRegistry;

        let p = Arc::new(
            plan_of(
                "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v), count(v), max(i) AS imax INTO out FROM m WHERE cpu = 'total' AND host =~ /^web/ GROUP BY time(10s), host END",
            )
            .unwrap(),
        );
        let body = "m,host=web1,cpu=total v=1,i=3i 1000000000\n\
                    m,host=web1,cpu=total v=2,i=5i 2000000000\n\
                    m,host=web2,cpu=total v=4 3000000000\n\
                    m,host=db1,cpu=total v=8,i=1i 4000000000\n\
                    m,host=web1,cpu=cpu0 v=9,i=9i 5000000000\n\
                    m,host=web1,cpu=total v=7,i=1i 12000000000\n";
        let reg = SchemaRegistry::in_memory();
        let mut b = RequestBuilder::new("db", &reg, Precision::Nanoseconds, 0, 64);
        let mut line = ParsedLine::default();
        for (n, l) in lines(body.as_bytes()) {
            parse_line(l, n, &mut line).unwrap();
            b.add_line(n, &line).unwrap();
        }
        let built = b.finish().unwrap();
        let wall = ManualClock::new(0);
        let stats = Arc::new(TaskStats::default());
        let mut st = CqState {
            plan: Arc::clone(&p),
            clock: TaskClock::new(Arc::new(wall.clone())),
            windows: TumblingWindows::new(p.interval, p.offset, 1_000_000_000),
            stats: Arc::clone(&stats),
        };
        st.ingest(&built[0].batch);
        // The clock is at 12s: [0s, 10s) closes at 11s, [10s, 20s) waits for 21s.
        let (out, n) = st.close();
        assert_eq!(n, 2);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "out,host=web1 mean=1.5,count=2i,imax=5i 0\n\
             out,host=web2 mean=4.0,count=1i 0\n"
        );
        wall.advance(8_000_000_000);
        assert_eq!(st.close().1, 0);
        wall.advance(1_000_000_000);
        let (out, n) = st.close();
        assert_eq!(n, 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "out,host=web1 mean=7.0,count=1i,imax=1i 10000000000\n"
        );
        assert_eq!(stats.windows_emitted.load(Relaxed), 2);
        // A point for a closed window is late.
        st.ingest(&built[0].batch);
        assert_eq!(stats.points_late.load(Relaxed), 4);
    }

    fn run(cq: &str, body: &str) -> String {
        use weir_engine::batch::RequestBuilder;
        use weir_engine::clock::ManualClock;
        use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
        use weir_engine::schema::SchemaRegistry;

        let p = Arc::new(plan_of(cq).unwrap());
        let reg = SchemaRegistry::in_memory();
        let mut b = RequestBuilder::new("db", &reg, Precision::Seconds, 0, 64);
        let mut line = ParsedLine::default();
        for (n, l) in lines(body.as_bytes()) {
            parse_line(l, n, &mut line).unwrap();
            b.add_line(n, &line).unwrap();
        }
        let built = b.finish().unwrap();
        let wall = ManualClock::new(0);
        let mut st = CqState {
            plan: Arc::clone(&p),
            clock: TaskClock::new(Arc::new(wall.clone())),
            windows: TumblingWindows::new(p.interval, p.offset, 0),
            stats: Arc::new(TaskStats::default()),
        };
        for rb in &built {
            st.ingest(&rb.batch);
        }
        wall.advance(1_000_000_000_000);
        String::from_utf8(st.close().0).unwrap()
    }

    #[test]
    fn group_by_all_tags_and_field_conditions() {
        let body = "m,host=a,dc=x v=1,w=10i 1\n\
                    m,host=a,dc=x v=3,w=20i 2\n\
                    m,host=b v=5,w=30i 3\n\
                    m,host=b v=7,w=1i 4\n";
        assert_eq!(
            run(
                "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT sum(v) INTO o FROM m WHERE w >= 10 OR host = 'zzz' GROUP BY time(1m), * END",
                body
            ),
            "o,dc=x,host=a sum=4.0 0\no,host=b sum=5.0 0\n"
        );
        assert_eq!(
            run(
                "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT first(w), last(w), spread(v) INTO o FROM m WHERE host !~ /a/ AND dc != 'x' GROUP BY time(1m) END",
                body
            ),
            "o first=30i,last=1i,spread=2.0 0\n"
        );
        // A window whose points lack every selected field writes nothing.
        assert_eq!(
            run(
                "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT max(nope) INTO o FROM m GROUP BY time(1m) END",
                body
            ),
            ""
        );
    }
}
