//! Planning a `CREATE CONTINUOUS QUERY` into what the stream operators run.
//!
//! Everything that can be refused is refused here, when the task is created, with a message
//! naming the feature; evaluating a window or a point never fails afterwards.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::{
    BinaryOp, Dimension, Expr, Fill, MeasurementName, Source, TargetMeasurement, VarType, Wildcard,
};
use crate::eval::{AggSpec, HoltWintersSpec, TransformSpec, Value};
use crate::functions::{lookup, FunctionKind};
use crate::Statement;
use weir_engine::schema::TIME_COLUMN;

use super::cond::{compile_cond, Cond};
use super::CqError;

/// Which measurements a task reads.
#[derive(Debug)]
pub enum SourceFilter {
    /// These names.
    Names(Vec<String>),
    /// Every measurement whose name matches (`FROM /re/`).
    Regex(regex::Regex),
}

impl SourceFilter {
    /// Whether points of `measurement` feed the task.
    pub fn matches(&self, measurement: &str) -> bool {
        match self {
            SourceFilter::Names(n) => n.iter().any(|m| m == measurement),
            SourceFilter::Regex(re) => re.is_match(measurement),
        }
    }
}

/// How groups are formed besides time.
#[derive(Debug, Clone)]
pub(crate) enum GroupTags {
    /// These tag keys (sorted, deduplicated).
    Keys(Vec<String>),
    /// `GROUP BY *`: every tag.
    All,
}

/// Which fields an aggregate reads.
#[derive(Debug, Clone)]
pub(crate) enum FieldSel {
    /// One field.
    Name(String),
    /// `f(*)`: every field, output columns named `<name>_<field>`.
    All,
    /// `f(/re/)`: every field whose name matches.
    Regex(regex::Regex),
}

/// One aggregate or selector call of a windowed query.
#[derive(Debug, Clone)]
pub(crate) struct AggCall {
    pub(crate) spec: AggSpec,
    pub(crate) field: FieldSel,
}

/// An output expression, over aggregate results (windowed) or point values (per point).
#[derive(Debug, Clone)]
pub(crate) enum OutExpr {
    /// The result of aggregate call `i` (for a wildcard call, of the field being expanded).
    Agg(usize),
    /// A field (or tag) of the point (per-point queries).
    Field(String),
    /// A number, string or boolean.
    Lit(Value),
    /// `lhs op rhs`.
    Binary(BinaryOp, Box<OutExpr>, Box<OutExpr>),
    /// A math function.
    Math(String, Vec<OutExpr>),
    /// Transformation slot `i` applied to the series of the inner value.
    Transform(usize, Box<OutExpr>),
}

/// One output column (or, for a wildcard, a family of columns).
#[derive(Debug, Clone)]
pub(crate) struct OutField {
    pub(crate) name: String,
    pub(crate) expr: OutExpr,
    /// `Some(i)` when this column is the wildcard aggregate call `i` (`mean(*)`): one column
    /// per field, named `<name>_<field>`.
    pub(crate) wildcard: Option<usize>,
}

/// `RESAMPLE EVERY/FOR` in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResamplePlan {
    pub(crate) every: Option<i64>,
    pub(crate) for_: i64,
}

/// A query with `GROUP BY time()`.
#[derive(Debug)]
pub(crate) struct WindowedPlan {
    pub(crate) interval: i64,
    pub(crate) offset: i64,
    pub(crate) aggs: Vec<AggCall>,
    pub(crate) outputs: Vec<OutField>,
    pub(crate) transforms: Vec<TransformSpec>,
    pub(crate) fill: Fill,
    /// The single multi-row selector (`top`, `bottom`, `distinct`, `sample`) whose rows are
    /// written as they come (several per window).
    pub(crate) multi_row: bool,
    pub(crate) resample: Option<ResamplePlan>,
    /// `holt_winters(agg, N, S)`: the query's only field. Each group keeps the history of
    /// aggregate `agg`'s window values; every row it gets refits the model and writes the
    /// forecast (InfluxDB overwrites the earlier forecasts of the same times).
    pub(crate) predictor: Option<Predictor>,
}

/// A `holt_winters()` / `holt_winters_with_fit()` over aggregate call `agg`.
#[derive(Debug, Clone)]
pub(crate) struct Predictor {
    pub(crate) spec: HoltWintersSpec,
    pub(crate) agg: usize,
}

/// A query without `GROUP BY time()`: every point evaluated as it arrives.
#[derive(Debug)]
pub(crate) struct PointPlan {
    pub(crate) outputs: Vec<OutField>,
    /// `SELECT *`: every field of the point, as is.
    pub(crate) all_fields: bool,
    pub(crate) transforms: Vec<TransformSpec>,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Windowed(WindowedPlan),
    PerPoint(PointPlan),
}

/// The validated plan of a continuous query.
#[derive(Debug)]
pub struct CqPlan {
    /// Task name.
    pub name: String,
    /// Database read.
    pub db: String,
    /// Retention policy read (`None`: any).
    pub rp: Option<String>,
    /// Measurements read.
    pub sources: SourceFilter,
    /// Database written.
    pub target_db: String,
    /// Retention policy written (`None`: the database's default).
    pub target_rp: Option<String>,
    /// Measurement written (`None`: the source's, `INTO :MEASUREMENT`).
    pub target_measurement: Option<String>,
    pub(crate) cond: Option<Cond>,
    pub(crate) group: GroupTags,
    pub(crate) kind: Kind,
    text: String,
}

impl CqPlan {
    /// True for a query with `GROUP BY time()`.
    pub fn is_windowed(&self) -> bool {
        matches!(self.kind, Kind::Windowed(_))
    }

    /// The plan of a `FROM ARCHIVE` batch query as text, for the task API.
    pub fn describe_batch(&self, range: &str) -> String {
        let head = self.head("BatchQuery", "ARCHIVE ");
        match &self.kind {
            Kind::Windowed(w) => format!(
                "{head}\n  time: {range} (now() = the run's scheduled time)\n  tumbling windows of {} (offset {}), each evaluated once per run with all its points\n  fill: {} (every window of the range, for each group with points in it)",
                fmt_ns(w.interval),
                fmt_ns(w.offset),
                fill_name(w.fill),
            ),
            Kind::PerPoint(_) => format!(
                "{head}\n  time: {range} (now() = the run's scheduled time)\n  per point, in time order; transformations start afresh at each run"
            ),
        }
    }

    /// The plan as text, for the task API.
    pub fn describe(&self, lateness: i64) -> String {
        let head = self.head("ContinuousQuery", "");
        match &self.kind {
            Kind::Windowed(w) => {
                let closing = match w.resample {
                    None => format!(
                        "closing {} after their end",
                        fmt_ns(lateness)
                    ),
                    Some(r) => format!(
                        "emitted at their end, re-emitted on late points until {} after their start{}",
                        fmt_ns(r.for_),
                        r.every.map_or(String::new(), |e| format!(
                            ", partial results every {}",
                            fmt_ns(e)
                        ))
                    ),
                };
                format!(
                    "{head}\n  tumbling windows of {} (offset {}), {closing} (task clock = max event time + wall time since)\n  fill: {}",
                    fmt_ns(w.interval),
                    fmt_ns(w.offset),
                    fill_name(w.fill),
                )
            }
            Kind::PerPoint(_) => format!(
                "{head}\n  per point: each point is evaluated as it arrives; transformations keep state per series"
            ),
        }
    }

    fn head(&self, label: &str, from: &str) -> String {
        let group = match &self.group {
            GroupTags::All => "*".to_string(),
            GroupTags::Keys(k) if k.is_empty() => "(none)".to_string(),
            GroupTags::Keys(k) => k.join(", "),
        };
        let sources = match &self.sources {
            SourceFilter::Names(n) => n.join(", "),
            SourceFilter::Regex(re) => format!("/{}/", re.as_str()),
        };
        let target = self.target_measurement.as_deref().unwrap_or(":MEASUREMENT");
        let cond = self
            .cond
            .as_ref()
            .map_or_else(|| "(all points)".to_string(), |c| format!("{c:?}"));
        format!(
            "{label} {}: {from}{}.{}.{} -> {}.{}.{}\n  select: {}\n  group by tags: {group}\n  where: {cond}",
            self.name,
            self.db,
            self.rp.as_deref().unwrap_or("*"),
            sources,
            self.target_db,
            self.target_rp.as_deref().unwrap_or(""),
            target,
            self.text,
        )
    }
}

fn fmt_ns(ns: i64) -> String {
    crate::Duration::from_nanos(ns).to_string()
}

fn fill_name(f: Fill) -> String {
    match f {
        Fill::Null => "null (an empty window writes nothing)".to_string(),
        Fill::None => "none".to_string(),
        Fill::Previous => "previous".to_string(),
        Fill::Linear => "linear".to_string(),
        Fill::Integer(i) => i.to_string(),
        Fill::Float(f) => f.to_string(),
    }
}

impl CqPlan {
    /// Whether points of `measurement` in `db`/`rp` feed the query (its router filter).
    pub fn reads(&self, db: &str, rp: &str, measurement: &str) -> bool {
        db == self.db
            && self.rp.as_deref().is_none_or(|want| want == rp)
            && self.sources.matches(measurement)
    }

    /// Whether the query could read what it writes: its output lands in a database,
    /// retention policy and measurement its sources match. Such output is not published back
    /// into weir's router (it would feed the query itself).
    pub fn reads_own_output(&self) -> bool {
        let rp_overlaps = match (&self.rp, &self.target_rp) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.db == self.target_db
            && rp_overlaps
            && match &self.target_measurement {
                Some(m) => self.sources.matches(m),
                // INTO :MEASUREMENT keeps the source's name: always one it reads.
                None => true,
            }
    }

    /// Whether the query is a `holt_winters()` forecast.
    pub fn has_predictor(&self) -> bool {
        matches!(&self.kind, Kind::Windowed(w) if w.predictor.is_some())
    }

    /// Whether any aggregate is a user-defined function.
    pub fn calls_udfs(&self) -> bool {
        match &self.kind {
            Kind::Windowed(w) => w.aggs.iter().any(|a| a.spec.is_udf()),
            Kind::PerPoint(_) => false,
        }
    }
}

/// The user-defined functions a query may call, and where they run.
#[derive(Debug, Clone, Default)]
pub struct Udfs {
    /// Their signatures (what the statement was parsed with).
    pub signatures: crate::Functions,
    /// Where calls go; `None` refuses calls of user-defined functions.
    pub runtime: Option<Arc<dyn weir_engine::udf::UdfRuntime>>,
}

/// Validates `stmt`, a `CREATE CONTINUOUS QUERY`, into a plan.
pub fn plan(stmt: &Statement) -> Result<CqPlan, CqError> {
    plan_with(stmt, &Udfs::default())
}

/// [`plan`] for a query that may call user-defined functions.
pub fn plan_with(stmt: &Statement, udfs: &Udfs) -> Result<CqPlan, CqError> {
    let Statement::CreateContinuousQuery(cq) = stmt else {
        return Err(CqError::invalid(
            "?",
            "the statement is not a CREATE CONTINUOUS QUERY",
        ));
    };
    let name = cq.name.as_str();
    let s = &cq.select;
    if s.from_archive {
        return Err(CqError::unsupported(name, "FROM ARCHIVE"));
    }
    if s.order.is_some() {
        return Err(CqError::unsupported(name, "ORDER BY"));
    }
    if s.limit.is_some() || s.offset.is_some() || s.slimit.is_some() || s.soffset.is_some() {
        return Err(CqError::unsupported(name, "LIMIT/OFFSET/SLIMIT/SOFFSET"));
    }
    if s.timezone.is_some() {
        return Err(CqError::unsupported(name, "tz()"));
    }
    let target = s
        .target
        .as_ref()
        .ok_or_else(|| CqError::invalid(name, "it has no INTO clause"))?;
    let target_measurement = match &target.measurement {
        TargetMeasurement::Name(n) => Some(n.clone()),
        TargetMeasurement::Source => None,
    };
    let (db, rp, sources) = plan_sources(name, &cq.database, &s.sources)?;

    let mut keys = Vec::new();
    let mut all = false;
    for d in &s.dimensions {
        match d {
            Dimension::Time { .. } => {}
            Dimension::Tag(k) => keys.push(k.clone()),
            Dimension::All => all = true,
            Dimension::Regex(_) => return Err(CqError::unsupported(name, "GROUP BY /regex/")),
        }
    }
    keys.sort();
    keys.dedup();
    let group = if all {
        GroupTags::All
    } else {
        GroupTags::Keys(keys)
    };
    let cond = s
        .condition
        .as_ref()
        .map(|c| compile_cond(name, c))
        .transpose()?;

    let kind = match s.group_by_time() {
        Some((interval, offset)) => {
            let interval = interval.as_nanos();
            if interval <= 0 {
                return Err(CqError::invalid(
                    name,
                    "GROUP BY time() needs a positive interval",
                ));
            }
            let resample = cq
                .resample
                .map(|r| -> Result<ResamplePlan, CqError> {
                    let every = r.every.map(|d| d.as_nanos());
                    let for_ = r.for_.map_or(interval, |d| d.as_nanos());
                    if for_ < interval {
                        return Err(CqError::invalid(
                            name,
                            format!(
                                "RESAMPLE FOR {} is shorter than the GROUP BY time interval {}",
                                fmt_ns(for_),
                                fmt_ns(interval)
                            ),
                        ));
                    }
                    if every.is_some_and(|e| e <= 0) {
                        return Err(CqError::invalid(
                            name,
                            "RESAMPLE EVERY needs a positive duration",
                        ));
                    }
                    Ok(ResamplePlan { every, for_ })
                })
                .transpose()?;
            Kind::Windowed(plan_windowed(
                name,
                s,
                interval,
                offset.map_or(0, |o| o.as_nanos()),
                resample,
                udfs,
            )?)
        }
        None => Kind::PerPoint(plan_per_point(name, s, udfs)?),
    };
    Ok(CqPlan {
        name: name.to_string(),
        db,
        rp,
        sources,
        target_db: target
            .database
            .clone()
            .unwrap_or_else(|| cq.database.clone()),
        target_rp: target.retention_policy.clone(),
        target_measurement,
        cond,
        group,
        kind,
        text: s
            .fields
            .iter()
            .map(|f| match &f.alias {
                Some(a) => format!("{} AS {a}", f.expr),
                None => f.expr.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn plan_sources(
    name: &str,
    default_db: &str,
    sources: &[Source],
) -> Result<(String, Option<String>, SourceFilter), CqError> {
    let mut db: Option<String> = None;
    let mut rp: Option<Option<String>> = None;
    let mut names = Vec::new();
    let mut regex = None;
    for src in sources {
        let Source::Measurement(m) = src else {
            return Err(CqError::unsupported(name, "a subquery in FROM"));
        };
        let m_db = m.database.clone().unwrap_or_else(|| default_db.to_string());
        if db.as_ref().is_some_and(|d| *d != m_db)
            || rp.as_ref().is_some_and(|r| *r != m.retention_policy)
        {
            return Err(CqError::unsupported(
                name,
                "FROM measurements of different databases or retention policies",
            ));
        }
        db = Some(m_db);
        rp = Some(m.retention_policy.clone());
        match &m.name {
            MeasurementName::Name(n) => names.push(n.clone()),
            MeasurementName::Regex(re) => {
                if regex.is_some() || sources.len() > 1 {
                    return Err(CqError::unsupported(
                        name,
                        "FROM /regex/ together with other sources",
                    ));
                }
                regex =
                    Some(re.compile().map_err(|e| {
                        CqError::invalid(name, format!("invalid regex in FROM: {e}"))
                    })?);
            }
        }
    }
    let filter = match regex {
        Some(re) => SourceFilter::Regex(re),
        None if names.is_empty() => return Err(CqError::invalid(name, "it has no FROM clause")),
        None => SourceFilter::Names(names),
    };
    Ok((
        db.unwrap_or_else(|| default_db.to_string()),
        rp.flatten(),
        filter,
    ))
}

/// InfluxDB's column names: the alias or derived name, duplicates suffixed `_1`, `_2`, ...
#[derive(Default)]
struct Names(HashMap<String, usize>);

impl Names {
    fn unique(&mut self, base: String) -> String {
        let out = match self.0.get(&base).copied() {
            None => {
                self.0.insert(base.clone(), 1);
                base
            }
            Some(n) => {
                let mut k = n;
                loop {
                    let candidate = format!("{base}_{k}");
                    k += 1;
                    if !self.0.contains_key(&candidate) {
                        self.0.insert(base.clone(), k);
                        break candidate;
                    }
                }
            }
        };
        self.0.entry(out.clone()).or_insert(1);
        out
    }
}

struct Compiler<'a> {
    name: &'a str,
    udfs: &'a Udfs,
    interval: Option<i64>,
    aggs: Vec<AggCall>,
    transforms: Vec<TransformSpec>,
    predictor: Option<Predictor>,
}

impl Compiler<'_> {
    fn kind_of(&self, call: &str) -> Option<FunctionKind> {
        lookup(call).map(|f| f.kind).or_else(|| {
            // A user-defined function is an aggregate over each window and group.
            self.udfs
                .signatures
                .contains_key(call)
                .then_some(FunctionKind::Aggregate)
        })
    }

    /// The spec of a call of user-defined function `call` (its arguments were checked
    /// against the signature when the statement was parsed).
    fn udf_spec(
        &self,
        call: &crate::ast::Call,
        extra: &[Expr],
        interval: i64,
    ) -> Result<AggSpec, CqError> {
        let name = self.name;
        let sig = self.udfs.signatures.get(&call.name).ok_or_else(|| {
            CqError::invalid(name, format!("the function {}() is not defined", call.name))
        })?;
        let runtime = self.udfs.runtime.clone().ok_or_else(|| {
            CqError::unsupported(
                name,
                format!("the user-defined function {}() here", call.name),
            )
        })?;
        let args = extra
            .iter()
            .map(|e| {
                crate::eval::arg_json(e).ok_or_else(|| {
                    CqError::invalid(
                        name,
                        format!("{}(): argument {e} must be a literal", call.name),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AggSpec::udf(
            crate::eval::UdfSpec {
                name: call.name.clone(),
                args,
                returns: sig.returns,
                runtime,
            },
            interval,
        ))
    }

    /// `holt_winters(agg(field), N, S)`: the aggregate is planned as any other, the
    /// predictor over it is remembered (it must be the query's only field, checked by
    /// [`plan_windowed`]).
    fn compile_predictor(&mut self, call: &crate::ast::Call) -> Result<OutExpr, CqError> {
        let name = self.name;
        let Some(interval) = self.interval else {
            return Err(CqError::invalid(
                name,
                format!("{} aggregate requires a GROUP BY interval", call.name),
            ));
        };
        if self.predictor.is_some() {
            return Err(CqError::unsupported(
                name,
                format!("{}() together with another predictor", call.name),
            ));
        }
        let [inner, n, season] = call.args.as_slice() else {
            return Err(CqError::invalid(
                name,
                format!(
                    "invalid number of arguments for {}, expected 3, got {}",
                    call.name,
                    call.args.len()
                ),
            ));
        };
        let inner_ok = matches!(inner, Expr::Call(c) if matches!(
            self.kind_of(&c.name),
            Some(FunctionKind::Aggregate | FunctionKind::Selector)
        ));
        if !inner_ok {
            return Err(CqError::invalid(
                name,
                format!("must use aggregate function with {}", call.name),
            ));
        }
        let spec = HoltWintersSpec::new(&call.name, n, season, interval)
            .map_err(|e| CqError::invalid(name, e))?;
        let OutExpr::Agg(agg) = self.compile(inner)? else {
            return Err(CqError::invalid(
                name,
                format!("must use aggregate function with {}", call.name),
            ));
        };
        let a = &self.aggs[agg];
        if !matches!(a.field, FieldSel::Name(_)) || a.spec.multi_row() {
            return Err(CqError::unsupported(
                name,
                format!("{}() of {}()", call.name, a.spec.name()),
            ));
        }
        self.predictor = Some(Predictor { spec, agg });
        Ok(OutExpr::Agg(agg))
    }

    /// Compiles one SELECT expression. `in_agg` is true inside a transformation's argument.
    fn compile(&mut self, e: &Expr) -> Result<OutExpr, CqError> {
        let name = self.name;
        match e {
            Expr::Integer(i) => Ok(OutExpr::Lit(Value::Int(*i))),
            Expr::Unsigned(u) => Ok(OutExpr::Lit(Value::UInt(*u))),
            Expr::Float(f) => Ok(OutExpr::Lit(Value::Float(*f))),
            Expr::String(s) => Ok(OutExpr::Lit(Value::Str(s.clone()))),
            Expr::Boolean(b) => Ok(OutExpr::Lit(Value::Bool(*b))),
            Expr::Binary { op, lhs, rhs } => {
                if !matches!(
                    op,
                    BinaryOp::Add
                        | BinaryOp::Sub
                        | BinaryOp::Mul
                        | BinaryOp::Div
                        | BinaryOp::Mod
                        | BinaryOp::BitAnd
                        | BinaryOp::BitOr
                        | BinaryOp::BitXor
                ) {
                    return Err(CqError::unsupported(
                        name,
                        format!("the operator {} in SELECT", op.as_str()),
                    ));
                }
                Ok(OutExpr::Binary(
                    *op,
                    Box::new(self.compile(lhs)?),
                    Box::new(self.compile(rhs)?),
                ))
            }
            Expr::VarRef(v) => {
                if self.interval.is_some() {
                    return Err(CqError::invalid(
                        name,
                        format!(
                            "mixing aggregate and non-aggregate queries is not supported: {} is not in a function",
                            v.name
                        ),
                    ));
                }
                if v.name == TIME_COLUMN {
                    return Err(CqError::unsupported(name, "selecting time"));
                }
                Ok(OutExpr::Field(v.name.clone()))
            }
            Expr::Call(call) => {
                match self.kind_of(&call.name) {
                    Some(FunctionKind::Math) => {
                        let args = call
                            .args
                            .iter()
                            .map(|a| self.compile(a))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(OutExpr::Math(call.name.clone(), args))
                    }
                    Some(FunctionKind::Aggregate | FunctionKind::Selector) => {
                        let Some(interval) = self.interval else {
                            return Err(CqError::invalid(
                                name,
                                format!(
                                    "{}() needs GROUP BY time() in a continuous query",
                                    call.name
                                ),
                            ));
                        };
                        let (first, extra) = call.args.split_first().ok_or_else(|| {
                            CqError::invalid(name, format!("{}() needs a field", call.name))
                        })?;
                        let field = match first {
                            Expr::VarRef(v)
                                if v.data_type != Some(VarType::Tag) && v.name != TIME_COLUMN =>
                            {
                                FieldSel::Name(v.name.clone())
                            }
                            Expr::Wildcard(Wildcard::All | Wildcard::Fields) => FieldSel::All,
                            Expr::Regex(re) => FieldSel::Regex(re.compile().map_err(|e| {
                                CqError::invalid(name, format!("invalid regex: {e}"))
                            })?),
                            other => {
                                return Err(CqError::unsupported(
                                    name,
                                    format!(
                                        "{}({other}) (the argument must be a field)",
                                        call.name
                                    ),
                                ))
                            }
                        };
                        let spec = if lookup(&call.name).is_none() {
                            if !matches!(field, FieldSel::Name(_)) {
                                return Err(CqError::unsupported(
                                name,
                                format!("{}() of a wildcard (a user-defined function reads one field)", call.name),
                            ));
                            }
                            self.udf_spec(call, extra, interval)?
                        } else {
                            AggSpec::new(&call.name, extra, interval)
                                .map_err(|e| CqError::invalid(name, e))?
                        };
                        self.aggs.push(AggCall { spec, field });
                        Ok(OutExpr::Agg(self.aggs.len() - 1))
                    }
                    Some(FunctionKind::Transformation | FunctionKind::TechnicalAnalysis) => {
                        let (first, extra) = call.args.split_first().ok_or_else(|| {
                            CqError::invalid(name, format!("{}() needs an argument", call.name))
                        })?;
                        let inner = match (self.interval, first) {
                        (Some(_), Expr::Call(c))
                            if matches!(
                                self.kind_of(&c.name),
                                Some(FunctionKind::Aggregate | FunctionKind::Selector)
                            ) =>
                        {
                            self.compile(first)?
                        }
                        (Some(_), _) => {
                            return Err(CqError::invalid(
                                name,
                                format!(
                                    "{}() with GROUP BY time() takes an aggregate, e.g. {}(mean(field))",
                                    call.name, call.name
                                ),
                            ))
                        }
                        (None, Expr::VarRef(v)) if v.name != TIME_COLUMN => {
                            OutExpr::Field(v.name.clone())
                        }
                        (None, _) => {
                            return Err(CqError::invalid(
                                name,
                                format!(
                                    "{}() without GROUP BY time() takes a field, e.g. {}(field)",
                                    call.name, call.name
                                ),
                            ))
                        }
                    };
                        if let OutExpr::Agg(i) = inner {
                            if matches!(self.aggs[i].field, FieldSel::All | FieldSel::Regex(_)) {
                                return Err(CqError::unsupported(
                                    name,
                                    format!("{}() of a wildcard aggregate", call.name),
                                ));
                            }
                        }
                        let spec = TransformSpec::new(&call.name, extra, self.interval)
                            .map_err(|e| CqError::invalid(name, e))?;
                        self.transforms.push(spec);
                        Ok(OutExpr::Transform(
                            self.transforms.len() - 1,
                            Box::new(inner),
                        ))
                    }
                    Some(FunctionKind::Predictor) => self.compile_predictor(call),
                    None => Err(CqError::unsupported(
                        name,
                        format!("the function {}()", call.name),
                    )),
                }
            }
            Expr::Wildcard(_) => Err(CqError::unsupported(
                name,
                "a wildcard inside an expression",
            )),
            Expr::Regex(_) => Err(CqError::unsupported(name, "a regex inside an expression")),
            Expr::Duration(_) => Err(CqError::unsupported(name, "a duration in SELECT")),
        }
    }
}

fn plan_windowed(
    name: &str,
    s: &crate::Select,
    interval: i64,
    offset: i64,
    resample: Option<ResamplePlan>,
    udfs: &Udfs,
) -> Result<WindowedPlan, CqError> {
    let mut c = Compiler {
        name,
        udfs,
        interval: Some(interval),
        aggs: Vec::new(),
        transforms: Vec::new(),
        predictor: None,
    };
    let mut names = Names::default();
    let mut outputs = Vec::new();
    for f in &s.fields {
        let expr = c.compile(&f.expr)?;
        let wildcard = match &expr {
            OutExpr::Agg(i) if !matches!(c.aggs[*i].field, FieldSel::Name(_)) => Some(*i),
            _ => None,
        };
        if wildcard.is_none() && !contains_agg(&expr) {
            return Err(CqError::invalid(
                name,
                format!("{} has no aggregate or selector", f.expr),
            ));
        }
        let base = f.name();
        outputs.push(OutField {
            name: if wildcard.is_some() {
                base
            } else {
                names.unique(base)
            },
            expr,
            wildcard,
        });
    }
    if outputs.is_empty() {
        return Err(CqError::invalid(name, "it selects nothing"));
    }
    if let Some(p) = &c.predictor {
        // The predictor writes its own rows (N forecast points per group and close): it
        // cannot share a row with other fields, nor be an operand.
        let alone = matches!(s.fields.as_slice(), [f] if matches!(&f.expr, Expr::Call(call)
            if lookup(&call.name).is_some_and(|i| i.kind == FunctionKind::Predictor)));
        if !alone || !matches!(outputs[0].expr, OutExpr::Agg(i) if i == p.agg) {
            return Err(CqError::unsupported(
                name,
                "holt_winters() together with other fields or inside an expression",
            ));
        }
    }
    let multi: Vec<usize> = (0..c.aggs.len())
        .filter(|i| c.aggs[*i].spec.multi_row())
        .collect();
    let multi_row = match multi.as_slice() {
        [] => false,
        [i] if outputs.len() == 1 && matches!(outputs[0].expr, OutExpr::Agg(j) if j == *i) => {
            if matches!(c.aggs[*i].field, FieldSel::Name(_)) {
                true
            } else {
                return Err(CqError::unsupported(
                    name,
                    format!("{}() of a wildcard", c.aggs[*i].spec.name()),
                ));
            }
        }
        [i, ..] => {
            return Err(CqError::invalid(
                name,
                format!(
                    "{}() cannot be combined with other functions or fields",
                    c.aggs[*i].spec.name()
                ),
            ))
        }
    };
    let fill = s.fill.unwrap_or(Fill::Null);
    if let Some(r) = resample {
        if !c.transforms.is_empty() {
            return Err(CqError::unsupported(
                name,
                "RESAMPLE together with transformations (derivative, difference, ...)",
            ));
        }
        if matches!(fill, Fill::Previous | Fill::Linear) {
            return Err(CqError::unsupported(
                name,
                "RESAMPLE together with fill(previous) or fill(linear)",
            ));
        }
        let _ = r;
    }
    if multi_row && !matches!(fill, Fill::Null | Fill::None) {
        return Err(CqError::unsupported(
            name,
            format!(
                "fill() other than null or none with {}()",
                c.aggs[multi[0]].spec.name()
            ),
        ));
    }
    Ok(WindowedPlan {
        interval,
        offset,
        aggs: c.aggs,
        outputs,
        transforms: c.transforms,
        fill,
        multi_row,
        resample,
        predictor: c.predictor,
    })
}

fn contains_agg(e: &OutExpr) -> bool {
    match e {
        OutExpr::Agg(_) => true,
        OutExpr::Field(_) | OutExpr::Lit(_) => false,
        OutExpr::Binary(_, a, b) => contains_agg(a) || contains_agg(b),
        OutExpr::Math(_, args) => args.iter().any(contains_agg),
        OutExpr::Transform(_, inner) => contains_agg(inner),
    }
}

fn plan_per_point(name: &str, s: &crate::Select, udfs: &Udfs) -> Result<PointPlan, CqError> {
    let mut c = Compiler {
        name,
        udfs,
        interval: None,
        aggs: Vec::new(),
        transforms: Vec::new(),
        predictor: None,
    };
    let mut names = Names::default();
    let mut outputs = Vec::new();
    let mut all_fields = false;
    for f in &s.fields {
        if let Expr::Wildcard(w) = &f.expr {
            match w {
                Wildcard::All | Wildcard::Fields => {
                    all_fields = true;
                    continue;
                }
                Wildcard::Tags => {
                    return Err(CqError::unsupported(name, "SELECT *::tag"));
                }
            }
        }
        let expr = c.compile(&f.expr)?;
        outputs.push(OutField {
            name: names.unique(f.name()),
            expr,
            wildcard: None,
        });
    }
    if outputs.is_empty() && !all_fields {
        return Err(CqError::invalid(name, "it selects nothing"));
    }
    Ok(PointPlan {
        outputs,
        all_fields,
        transforms: c.transforms,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn planned(select: &str) -> Result<CqPlan, CqError> {
        let text = format!("CREATE CONTINUOUS QUERY c ON db BEGIN {select} END");
        plan(&crate::parse_statements(&text).unwrap().remove(0))
    }

    #[test]
    fn holt_winters_is_the_only_field_over_one_aggregate() {
        let p = planned(
            "SELECT holt_winters(mean(v), 3, 2) AS hw INTO o FROM m GROUP BY time(1m), host",
        )
        .unwrap();
        assert!(p.has_predictor());
        let Kind::Windowed(w) = &p.kind else {
            panic!("not windowed")
        };
        assert_eq!(w.outputs[0].name, "hw");
        // A window emitted again (RESAMPLE) replaces its value in the history.
        let resampled = "CREATE CONTINUOUS QUERY c ON db RESAMPLE FOR 5m BEGIN \
            SELECT holt_winters_with_fit(max(v), 1, 0) INTO o FROM m GROUP BY time(1m) END";
        assert!(plan(&crate::parse_statements(resampled).unwrap().remove(0))
            .unwrap()
            .has_predictor());
        for (select, want) in [
            (
                "SELECT holt_winters(mean(v), 3, 0), max(v) INTO o FROM m GROUP BY time(1m)",
                "together with other fields",
            ),
            (
                "SELECT holt_winters(mean(v), 3, 0) * 2 INTO o FROM m GROUP BY time(1m)",
                "inside an expression",
            ),
            (
                "SELECT holt_winters(mean(*), 3, 0) INTO o FROM m GROUP BY time(1m)",
                "holt_winters() of mean()",
            ),
        ] {
            let err = planned(select).unwrap_err().to_string();
            assert!(err.contains(want), "{select}: {err}");
        }
    }
}
