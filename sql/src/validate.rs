//! Checks that need no data: what InfluxDB's query compiler rejects before
//! reading anything, plus weir's rules for stream tasks.
//!
//! The InfluxDB part follows InfluxDB 1.x's `query/compile.go` rule by rule and
//! word for word (`mixing aggregate and non-aggregate queries is not
//! supported`, `invalid number of arguments for mean, expected 1, got 2`,
//! `undefined function foo()`, ...), so a SELECT weir accepts is one InfluxDB
//! accepts and the messages are the ones InfluxDB users know.
//!
//! weir's own rules: a stream task (continuous query, stream alert, archive)
//! without `GROUP BY time` runs per point, so it may use math functions and
//! the transformations (`derivative`, `difference`, `moving_average`, ...)
//! but not aggregates or selectors, which need a window; `FROM ARCHIVE` is
//! for scheduled tasks only; alerts and archives have no `INTO`.

use std::collections::BTreeMap;

use crate::ast::*;
use crate::functions::{self, FunctionKind};

/// A user-defined function as validation sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionSignature {
    /// Parameter types; the first is the field read.
    pub params: Vec<UdfType>,
    /// Result type.
    pub returns: UdfType,
}

impl From<&CreateFunction> for FunctionSignature {
    fn from(f: &CreateFunction) -> Self {
        FunctionSignature {
            params: f.params.iter().map(|p| p.data_type).collect(),
            returns: f.returns,
        }
    }
}

/// Known user-defined functions by (lower-case) name.
pub type Functions = BTreeMap<String, FunctionSignature>;

/// Where a SELECT is used; decides which of weir's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryContext {
    /// `CREATE CONTINUOUS QUERY` (stream; INTO required).
    ContinuousQuery,
    /// `CREATE ALERT` without a schedule (stream; no INTO).
    StreamAlert,
    /// `CREATE ALERT ... EVERY` (scheduled; no INTO).
    BatchAlert,
    /// `CREATE BATCH QUERY` (scheduled; INTO required).
    BatchQuery,
    /// `CREATE ARCHIVE ... AS SELECT` (stream; no INTO).
    Archive,
    /// `CREATE ARCHIVE ... EVERY d AS SELECT` (scheduled; INTO optional, a measurement name).
    BatchArchive,
    /// A SELECT on its own: only InfluxDB's rules.
    Select,
}

impl QueryContext {
    fn is_stream(self) -> bool {
        matches!(
            self,
            QueryContext::ContinuousQuery | QueryContext::StreamAlert | QueryContext::Archive
        )
    }

    fn describe(self) -> &'static str {
        match self {
            QueryContext::ContinuousQuery => "a CONTINUOUS QUERY",
            QueryContext::StreamAlert => "a stream ALERT",
            QueryContext::BatchAlert => "an ALERT",
            QueryContext::BatchQuery => "a BATCH QUERY",
            QueryContext::Archive => "an ARCHIVE",
            QueryContext::BatchArchive => "a scheduled ARCHIVE",
            QueryContext::Select => "a SELECT",
        }
    }
}

/// A validation failure and the node it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where the offending node was written.
    pub span: Span,
    /// InfluxDB's (or weir's) message.
    pub message: String,
}

type VResult = Result<(), ValidationError>;

fn err(span: Span, message: impl Into<String>) -> ValidationError {
    ValidationError {
        span,
        message: message.into(),
    }
}

/// Validates a SELECT used in `ctx`, with `udfs` the user-defined functions
/// that may be called.
pub fn validate_select(select: &Select, ctx: QueryContext, udfs: &Functions) -> VResult {
    if select.from_archive
        && !matches!(
            ctx,
            QueryContext::BatchQuery
                | QueryContext::BatchAlert
                | QueryContext::BatchArchive
                | QueryContext::Select
        )
    {
        return Err(err(
            select.span,
            format!(
                "FROM ARCHIVE is only allowed in a BATCH QUERY, a scheduled ALERT or a scheduled ARCHIVE, not in {}",
                ctx.describe()
            ),
        ));
    }
    if select.target.is_some()
        && matches!(
            ctx,
            QueryContext::StreamAlert | QueryContext::BatchAlert | QueryContext::Archive
        )
    {
        return Err(err(
            select.span,
            format!("INTO is not allowed in {}", ctx.describe()),
        ));
    }
    if ctx.is_stream() {
        if select
            .sources
            .iter()
            .any(|s| matches!(s, Source::Subquery(_)))
        {
            return Err(err(
                select.span,
                format!("subqueries are not supported in {}", ctx.describe()),
            ));
        }
        if select.group_by_interval().is_none() {
            // Per-point stream: no function that needs a window.
            let mut offending: Option<&Call> = None;
            for field in &select.fields {
                field.expr.walk(&mut |e| {
                    if let Expr::Call(c) = e {
                        let windowed =
                            functions::needs_window(&c.name) || udfs.contains_key(&c.name);
                        if windowed && offending.is_none() {
                            offending = Some(c);
                        }
                    }
                });
            }
            if let Some(c) = offending {
                let what = match functions::lookup(&c.name).map(|f| f.kind) {
                    Some(FunctionKind::Aggregate) => "aggregate function ",
                    Some(FunctionKind::Selector) => "selector function ",
                    _ => "function ",
                };
                return Err(err(
                    c.span,
                    format!(
                        "{what}{}() requires GROUP BY time(...) in {} (without it the query runs per point)",
                        c.name,
                        ctx.describe()
                    ),
                ));
            }
        }
    }
    Compiler::new(udfs, false).compile(select)
}

/// Validates an alert level condition (`WARN WHEN <expr>`): a boolean
/// expression whose calls are math functions.
pub fn validate_alert_condition(cond: &Expr) -> Result<(), String> {
    let boolean = match cond {
        Expr::Binary { op, .. } => op.is_boolean(),
        Expr::Boolean(_) => true,
        _ => false,
    };
    if !boolean {
        return Err(format!(
            "WHEN condition must be a comparison (such as idle < 10), got {cond}"
        ));
    }
    validate_condition(cond).map_err(|e| e.message)
}

/// InfluxDB's checks on a WHERE condition: only math functions (and `now()`).
fn validate_condition(cond: &Expr) -> VResult {
    match cond {
        Expr::Binary { op, lhs, rhs } => {
            if let Expr::Regex(_) = **lhs {
                return Err(err(
                    Span::default(),
                    format!("a regex must be on the right of =~ or !~, not left of {op}"),
                ));
            }
            validate_condition(lhs)?;
            if let Expr::Regex(_) = **rhs {
                if !matches!(op, BinaryOp::EqRegex | BinaryOp::NeqRegex) {
                    return Err(err(
                        Span::default(),
                        format!("a regex can only be compared with =~ or !~, not {op}"),
                    ));
                }
                return Ok(());
            }
            validate_condition(rhs)
        }
        Expr::Call(call) => {
            if call.name == "now" {
                if !call.args.is_empty() {
                    return Err(err(call.span, "now() takes no arguments"));
                }
                return Ok(());
            }
            if !functions::is_math(&call.name) {
                return Err(err(
                    call.span,
                    format!("invalid function call in condition: {call}"),
                ));
            }
            let nargs = math_nargs(&call.name);
            if call.args.len() != nargs {
                return Err(err(
                    call.span,
                    format!(
                        "invalid number of arguments for {}, expected {nargs}, got {}",
                        call.name,
                        call.args.len()
                    ),
                ));
            }
            call.args.iter().try_for_each(validate_condition)
        }
        Expr::Wildcard(_) => Err(err(
            Span::default(),
            "wildcards are not allowed in a condition",
        )),
        Expr::Regex(_) => Err(err(
            Span::default(),
            "a regex is only allowed on the right of =~ or !~",
        )),
        _ => Ok(()),
    }
}

fn math_nargs(name: &str) -> usize {
    match name {
        "atan2" | "pow" | "log" => 2,
        _ => 1,
    }
}

/// Checks a cron expression's shape: a macro (`@hourly`, `@daily`, ...) or
/// 5 to 7 fields of digits, names and `* , - / ? L W #`.
pub fn validate_cron(expr: &str) -> Result<(), String> {
    let trimmed = expr.trim();
    const MACROS: &[&str] = &[
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    if trimmed.starts_with('@') {
        if MACROS.iter().any(|m| m.eq_ignore_ascii_case(trimmed)) {
            return Ok(());
        }
        return Err(format!(
            "invalid CRON expression '{expr}': unknown macro, expected one of {}",
            MACROS.join(", ")
        ));
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    if !(5..=7).contains(&fields.len()) {
        return Err(format!(
            "invalid CRON expression '{expr}': expected 5 to 7 fields, got {}",
            fields.len()
        ));
    }
    for field in fields {
        if let Some(c) = field
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "*,-/?#".contains(*c)))
        {
            return Err(format!(
                "invalid CRON expression '{expr}': unexpected character '{c}' in field '{field}'"
            ));
        }
    }
    Ok(())
}

/// Mirrors InfluxDB's `compiledStatement`: global facts about the fields.
struct Compiler<'a> {
    udfs: &'a Functions,
    /// Non-math function calls seen.
    calls: usize,
    only_selectors: bool,
    has_distinct: bool,
    top_bottom: Option<String>,
    has_aux: bool,
    interval: bool,
    inherited_interval: bool,
    limit: Option<u64>,
    has_target: bool,
}

/// Per-field state (InfluxDB's `compiledField`).
struct FieldState {
    allow_wildcard: bool,
    span: Span,
}

impl<'a> Compiler<'a> {
    fn new(udfs: &'a Functions, inherited_interval: bool) -> Self {
        Compiler {
            udfs,
            calls: 0,
            only_selectors: true,
            has_distinct: false,
            top_bottom: None,
            has_aux: false,
            interval: inherited_interval,
            inherited_interval,
            limit: None,
            has_target: false,
        }
    }

    fn compile(mut self, select: &Select) -> VResult {
        if select.group_by_interval().is_some() {
            self.interval = true;
            self.inherited_interval = false;
        }
        self.limit = select.limit.filter(|l| *l > 0);
        self.has_target = select.target.is_some();

        if let Some(cond) = &select.condition {
            validate_condition(cond).map_err(|e| {
                if e.span.start == 0 && e.span.end == 0 {
                    err(select.span, e.message)
                } else {
                    e
                }
            })?;
        }

        let mut fields = 0;
        for field in &select.fields {
            // `time` is selected implicitly; InfluxDB drops it from the fields.
            if let Expr::VarRef(v) = &field.expr {
                if v.name == "time" {
                    continue;
                }
            }
            fields += 1;
            if is_constant(&field.expr) {
                return Err(err(field.span, "field must contain at least one variable"));
            }
            let mut state = FieldState {
                allow_wildcard: true,
                span: field.span,
            };
            self.compile_expr(&field.expr, &mut state)?;
        }
        self.validate_fields(select, fields)?;

        let inherit = self.interval;
        for source in &select.sources {
            if let Source::Subquery(inner) = source {
                let inherited = inherit && inner.group_by_interval().is_none();
                Compiler::new(self.udfs, inherited).compile(inner)?;
            }
        }
        Ok(())
    }

    fn validate_fields(&self, select: &Select, fields: usize) -> VResult {
        let span = select.span;
        if fields == 0 {
            return Err(err(span, "at least 1 non-time field must be queried"));
        }
        if self.calls > 1 {
            if let Some(tb) = &self.top_bottom {
                return Err(err(
                    span,
                    format!("selector function {tb}() cannot be combined with other functions"),
                ));
            }
        }
        if self.calls == 0 {
            match select.fill {
                Some(Fill::None) => {
                    return Err(err(span, "fill(none) must be used with a function"))
                }
                Some(Fill::Linear) => {
                    return Err(err(span, "fill(linear) must be used with a function"))
                }
                _ => {}
            }
            if self.interval && !self.inherited_interval {
                return Err(err(
                    span,
                    "GROUP BY requires at least one aggregate function",
                ));
            }
        }
        if self.has_distinct && (self.calls != 1 || self.has_aux) {
            return Err(err(
                span,
                "aggregate function distinct() cannot be combined with other functions or fields",
            ));
        }
        if self.has_aux {
            if !self.only_selectors {
                return Err(err(
                    span,
                    "mixing aggregate and non-aggregate queries is not supported",
                ));
            }
            if self.calls > 1 {
                return Err(err(
                    span,
                    "mixing multiple selector functions with tags or fields is not supported",
                ));
            }
        }
        Ok(())
    }

    fn compile_expr(&mut self, expr: &Expr, f: &mut FieldState) -> VResult {
        match expr {
            Expr::VarRef(_) => {
                self.has_aux = true;
                Ok(())
            }
            Expr::Wildcard(_) => {
                self.has_aux = true;
                if !f.allow_wildcard {
                    return Err(err(f.span, "unable to use wildcard in a binary expression"));
                }
                Ok(())
            }
            Expr::Regex(_) => {
                if !f.allow_wildcard {
                    return Err(err(f.span, "unable to use regex in a binary expression"));
                }
                self.has_aux = true;
                Ok(())
            }
            Expr::Call(call) => self.compile_call(call, f),
            Expr::Binary { lhs, rhs, .. } => {
                f.allow_wildcard = false;
                match (is_constant(lhs), is_constant(rhs)) {
                    (true, true) => Ok(()),
                    (true, false) => self.compile_expr(rhs, f),
                    (false, true) => self.compile_expr(lhs, f),
                    (false, false) => {
                        self.compile_expr(lhs, f)?;
                        self.compile_expr(rhs, f)
                    }
                }
            }
            _ => Err(err(f.span, "field must contain at least one variable")),
        }
    }

    fn compile_call(&mut self, call: &Call, f: &mut FieldState) -> VResult {
        let name = call.name.as_str();
        let args = &call.args;
        let span = call.span;
        if functions::is_math(name) {
            let nargs = math_nargs(name);
            if args.len() != nargs {
                return Err(err(
                    span,
                    format!(
                        "invalid number of arguments for {name}, expected {nargs}, got {}",
                        args.len()
                    ),
                ));
            }
            for arg in args {
                if !arg.is_literal() {
                    self.compile_expr(arg, f)?;
                }
            }
            return Ok(());
        }

        self.calls += 1;
        match name {
            "percentile" => {
                arg_count(call, 2, 2)?;
                if !matches!(args[1], Expr::Integer(_) | Expr::Float(_)) {
                    return Err(err(span, "expected float argument in percentile()"));
                }
                self.compile_symbol(name, &args[0], f, span)
            }
            "sample" => {
                arg_count(call, 2, 2)?;
                match args[1] {
                    Expr::Integer(n) if n <= 0 => {
                        return Err(err(
                            span,
                            format!("sample window must be greater than 1, got {n}"),
                        ))
                    }
                    Expr::Integer(_) => {}
                    _ => return Err(err(span, "expected integer argument in sample()")),
                }
                self.compile_symbol(name, &args[0], f, span)
            }
            "distinct" => self.compile_distinct(args, false, span),
            "top" | "bottom" => self.compile_top_bottom(call),
            "derivative" | "non_negative_derivative" | "elapsed" => {
                arg_count(call, 1, 2)?;
                if let Some(arg1) = args.get(1) {
                    match arg1 {
                        Expr::Duration(d) if !d.is_positive() => {
                            return Err(err(
                                span,
                                format!("duration argument must be positive, got {d}"),
                            ))
                        }
                        Expr::Duration(_) => {}
                        other => {
                            return Err(err(
                                span,
                                format!(
                                    "second argument to {name} must be a duration, got {}",
                                    go_type(other)
                                ),
                            ))
                        }
                    }
                }
                self.only_selectors = false;
                self.compile_transform_arg(name, &args[0], f, span, true)
            }
            "difference" | "non_negative_difference" | "cumulative_sum" => {
                if args.len() != 1 {
                    return Err(err(
                        span,
                        format!(
                            "invalid number of arguments for {name}, expected 1, got {}",
                            args.len()
                        ),
                    ));
                }
                self.only_selectors = false;
                self.compile_transform_arg(name, &args[0], f, span, true)
            }
            "moving_average" => {
                if args.len() != 2 {
                    return Err(err(
                        span,
                        format!(
                            "invalid number of arguments for moving_average, expected 2, got {}",
                            args.len()
                        ),
                    ));
                }
                match args[1] {
                    Expr::Integer(n) if n <= 1 => {
                        return Err(err(
                            span,
                            format!("moving_average window must be greater than 1, got {n}"),
                        ))
                    }
                    Expr::Integer(_) => {}
                    ref other => {
                        return Err(err(
                            span,
                            format!(
                                "second argument for moving_average must be an integer, got {}",
                                go_type(other)
                            ),
                        ))
                    }
                }
                self.only_selectors = false;
                self.compile_transform_arg(name, &args[0], f, span, true)
            }
            "exponential_moving_average"
            | "double_exponential_moving_average"
            | "triple_exponential_moving_average"
            | "relative_strength_index"
            | "triple_exponential_derivative"
            | "kaufmans_efficiency_ratio"
            | "kaufmans_adaptive_moving_average"
            | "chande_momentum_oscillator" => self.compile_technical(call, f),
            "integral" => {
                if args.is_empty() || args.len() > 2 {
                    return Err(err(
                        span,
                        format!(
                            "invalid number of arguments for integral, expected at least 1 but no more than 2, got {}",
                            args.len()
                        ),
                    ));
                }
                if let Some(arg1) = args.get(1) {
                    match arg1 {
                        Expr::Duration(d) if !d.is_positive() => {
                            return Err(err(
                                span,
                                format!("duration argument must be positive, got {d}"),
                            ))
                        }
                        Expr::Duration(_) => {}
                        _ => return Err(err(span, "second argument must be a duration")),
                    }
                }
                self.only_selectors = false;
                self.compile_symbol(name, &args[0], f, span)
            }
            "holt_winters" | "holt_winters_with_fit" => {
                if args.len() != 3 {
                    return Err(err(
                        span,
                        format!(
                            "invalid number of arguments for {name}, expected 3, got {}",
                            args.len()
                        ),
                    ));
                }
                match args[1] {
                    Expr::Integer(n) if n <= 0 => {
                        return Err(err(
                            span,
                            format!("second arg to {name} must be greater than 0, got {n}"),
                        ))
                    }
                    Expr::Integer(_) => {}
                    _ => {
                        return Err(err(
                            span,
                            format!("expected integer argument as second arg in {name}"),
                        ))
                    }
                }
                match args[2] {
                    Expr::Integer(n) if n < 0 => {
                        return Err(err(
                            span,
                            format!("third arg to {name} cannot be negative, got {n}"),
                        ))
                    }
                    Expr::Integer(_) => {}
                    _ => {
                        return Err(err(
                            span,
                            format!("expected integer argument as third arg in {name}"),
                        ))
                    }
                }
                self.only_selectors = false;
                let Expr::Call(inner) = &args[0] else {
                    return Err(err(
                        span,
                        format!("must use aggregate function with {name}"),
                    ));
                };
                if !self.interval {
                    return Err(err(
                        span,
                        format!("{name} aggregate requires a GROUP BY interval"),
                    ));
                }
                self.compile_nested(inner, f)
            }
            "max" | "min" | "first" | "last" | "count" | "sum" | "mean" | "median" | "mode"
            | "stddev" | "spread" => {
                if !matches!(name, "max" | "min" | "first" | "last") {
                    self.only_selectors = false;
                }
                if args.len() != 1 {
                    return Err(err(
                        span,
                        format!(
                            "invalid number of arguments for {name}, expected 1, got {}",
                            args.len()
                        ),
                    ));
                }
                if name == "count" {
                    if let Expr::Call(inner) = &args[0] {
                        if inner.name == "distinct" {
                            return self.compile_distinct(&inner.args, true, inner.span);
                        }
                    }
                }
                self.compile_symbol(name, &args[0], f, span)
            }
            _ => {
                let Some(sig) = self.udfs.get(name) else {
                    return Err(err(span, format!("undefined function {name}()")));
                };
                self.compile_udf(call, sig, f)
            }
        }
    }

    /// A user-defined function: behaves as an aggregate over each window;
    /// the first argument is the field, the others literals of the declared types.
    fn compile_udf(&mut self, call: &Call, sig: &FunctionSignature, f: &mut FieldState) -> VResult {
        let (name, args, span) = (call.name.as_str(), &call.args, call.span);
        if args.len() != sig.params.len() || args.is_empty() {
            return Err(err(
                span,
                format!(
                    "invalid number of arguments for {name}, expected {}, got {}",
                    sig.params.len(),
                    args.len()
                ),
            ));
        }
        for (i, (arg, ty)) in args.iter().zip(&sig.params).enumerate().skip(1) {
            let ok = match ty {
                UdfType::Float => matches!(arg, Expr::Float(_) | Expr::Integer(_)),
                UdfType::Integer => matches!(arg, Expr::Integer(_)),
                UdfType::Unsigned => {
                    matches!(arg, Expr::Unsigned(_)) || matches!(arg, Expr::Integer(v) if *v >= 0)
                }
                UdfType::String => matches!(arg, Expr::String(_)),
                UdfType::Boolean => matches!(arg, Expr::Boolean(_)),
                UdfType::Duration => matches!(arg, Expr::Duration(_)),
            };
            if !ok {
                return Err(err(
                    span,
                    format!(
                        "argument {} of {name}() must be a literal of type {ty}, got {arg}",
                        i + 1
                    ),
                ));
            }
        }
        self.only_selectors = false;
        match &args[0] {
            Expr::Call(inner) => {
                if !self.interval {
                    return Err(err(
                        span,
                        format!("{name} aggregate requires a GROUP BY interval"),
                    ));
                }
                self.compile_nested(inner, f)
            }
            other => self.compile_symbol(name, other, f, span),
        }
    }

    /// The first argument of a transformation: a nested call (which needs a
    /// GROUP BY interval) or a field (which must not have one).
    fn compile_transform_arg(
        &mut self,
        name: &str,
        arg0: &Expr,
        f: &mut FieldState,
        span: Span,
        nested_distinct: bool,
    ) -> VResult {
        match arg0 {
            Expr::Call(inner) => {
                if !self.interval {
                    return Err(err(
                        span,
                        format!("{name} aggregate requires a GROUP BY interval"),
                    ));
                }
                if nested_distinct {
                    self.compile_nested(inner, f)
                } else {
                    self.compile_call(inner, f)
                }
            }
            other => {
                if self.interval && !self.inherited_interval {
                    return Err(err(
                        span,
                        format!("aggregate function required inside the call to {name}"),
                    ));
                }
                self.compile_symbol(name, other, f, span)
            }
        }
    }

    fn compile_technical(&mut self, call: &Call, f: &mut FieldState) -> VResult {
        let (name, args, span) = (call.name.as_str(), &call.args, call.span);
        let kaufmans = name.starts_with("kaufmans");
        let cmo = name == "chande_momentum_oscillator";
        let max = if kaufmans { 3 } else { 4 };
        if args.len() < 2 || args.len() > max {
            return Err(err(
                span,
                format!(
                    "invalid number of arguments for {name}, expected at least 2 but no more than {max}, got {}",
                    args.len()
                ),
            ));
        }
        match args[1] {
            Expr::Integer(n) if n < 1 => {
                return Err(err(
                    span,
                    format!("{name} period must be greater than or equal to 1"),
                ))
            }
            Expr::Integer(_) => {}
            _ => return Err(err(span, format!("{name} period must be an integer"))),
        }
        if let Some(arg2) = args.get(2) {
            match arg2 {
                Expr::Integer(n) => {
                    if name == "triple_exponential_derivative" && *n < 1 && *n != -1 {
                        return Err(err(
                            span,
                            format!("{name} hold period must be greater than or equal to 1"),
                        ));
                    }
                    if *n < 0 && *n != -1 {
                        return Err(err(
                            span,
                            format!("{name} hold period must be greater than or equal to 0"),
                        ));
                    }
                }
                _ => return Err(err(span, format!("{name} hold period must be an integer"))),
            }
        }
        if let Some(arg3) = args.get(3) {
            let allowed: &[&str] = if cmo {
                &["none", "exponential", "simple"]
            } else {
                &["exponential", "simple"]
            };
            match arg3 {
                Expr::String(s) if allowed.contains(&s.as_str()) => {}
                Expr::String(_) => {
                    let list: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
                    return Err(err(
                        span,
                        format!("{name} warmup type must be one of: {}", list.join(" ")),
                    ));
                }
                _ => return Err(err(span, format!("{name} warmup type must be a string"))),
            }
        }
        self.only_selectors = false;
        self.compile_transform_arg(name, &args[0], f, span, false)
    }

    /// A call nested in a transformation; `distinct()` is allowed there.
    fn compile_nested(&mut self, call: &Call, f: &mut FieldState) -> VResult {
        if call.name == "distinct" {
            return self.compile_distinct(&call.args, true, call.span);
        }
        self.compile_call(call, f)
    }

    fn compile_symbol(&mut self, name: &str, arg: &Expr, f: &FieldState, span: Span) -> VResult {
        match arg {
            Expr::VarRef(_) => Ok(()),
            Expr::Wildcard(_) => {
                if !f.allow_wildcard {
                    return Err(err(
                        span,
                        format!("unsupported expression with wildcard: {name}()"),
                    ));
                }
                self.only_selectors = false;
                Ok(())
            }
            Expr::Regex(_) => {
                if !f.allow_wildcard {
                    return Err(err(
                        span,
                        format!("unsupported expression with regex field: {name}()"),
                    ));
                }
                self.only_selectors = false;
                Ok(())
            }
            _ => Err(err(span, format!("expected field argument in {name}()"))),
        }
    }

    fn compile_distinct(&mut self, args: &[Expr], nested: bool, span: Span) -> VResult {
        if args.is_empty() {
            return Err(err(
                span,
                "distinct function requires at least one argument",
            ));
        }
        if args.len() != 1 {
            return Err(err(span, "distinct function can only have one argument"));
        }
        if !matches!(args[0], Expr::VarRef(_)) {
            return Err(err(span, "expected field argument in distinct()"));
        }
        if !nested {
            self.has_distinct = true;
        }
        self.only_selectors = false;
        Ok(())
    }

    fn compile_top_bottom(&mut self, call: &Call) -> VResult {
        let (name, args, span) = (call.name.as_str(), &call.args, call.span);
        if let Some(tb) = &self.top_bottom {
            return Err(err(
                span,
                format!("selector function {tb}() cannot be combined with other functions"),
            ));
        }
        if args.len() < 2 {
            return Err(err(
                span,
                format!(
                    "invalid number of arguments for {name}, expected at least 2, got {}",
                    args.len()
                ),
            ));
        }
        let last = &args[args.len() - 1];
        match last {
            Expr::Integer(n) if *n <= 0 => {
                return Err(err(
                    span,
                    format!("limit ({n}) in {name} function must be at least 1"),
                ))
            }
            Expr::Integer(n) => {
                if let Some(limit) = self.limit {
                    if u64::try_from(*n).is_ok_and(|n| n > limit) {
                        return Err(err(
                            span,
                            format!(
                                "limit ({n}) in {name} function can not be larger than the LIMIT ({limit}) in the select statement"
                            ),
                        ));
                    }
                }
            }
            other => {
                return Err(err(
                    span,
                    format!("expected integer as last argument in {name}(), found {other}"),
                ))
            }
        }
        if !matches!(args[0], Expr::VarRef(_)) {
            return Err(err(
                span,
                format!(
                    "expected first argument to be a field in {name}(), found {}",
                    args[0]
                ),
            ));
        }
        for arg in &args[1..args.len() - 1] {
            if !matches!(arg, Expr::VarRef(_)) {
                return Err(err(
                    span,
                    format!("only fields or tags are allowed in {name}(), found {arg}"),
                ));
            }
            // The listed tags become output columns when not writing INTO.
            if !self.has_target {
                self.has_aux = true;
            }
        }
        self.top_bottom = Some(name.to_string());
        Ok(())
    }
}

fn arg_count(call: &Call, min: usize, max: usize) -> VResult {
    let got = call.args.len();
    if got >= min && got <= max {
        return Ok(());
    }
    let message = if min == max {
        format!(
            "invalid number of arguments for {}, expected {min}, got {got}",
            call.name
        )
    } else {
        format!(
            "invalid number of arguments for {}, expected at least {min} but no more than {max}, got {got}",
            call.name
        )
    };
    Err(err(call.span, message))
}

/// True when the expression has no variable, call, wildcard or regex (InfluxDB
/// folds such expressions to a literal).
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Binary { lhs, rhs, .. } => is_constant(lhs) && is_constant(rhs),
        Expr::Regex(_) => false,
        other => other.is_literal(),
    }
}

/// The Go type name InfluxDB prints with `%T` in a few messages.
fn go_type(e: &Expr) -> &'static str {
    match e {
        Expr::VarRef(_) => "*influxql.VarRef",
        Expr::Call(_) => "*influxql.Call",
        Expr::Wildcard(_) => "*influxql.Wildcard",
        Expr::Regex(_) => "*influxql.RegexLiteral",
        Expr::Integer(_) => "*influxql.IntegerLiteral",
        Expr::Unsigned(_) => "*influxql.UnsignedLiteral",
        Expr::Float(_) => "*influxql.NumberLiteral",
        Expr::String(_) => "*influxql.StringLiteral",
        Expr::Boolean(_) => "*influxql.BooleanLiteral",
        Expr::Duration(_) => "*influxql.DurationLiteral",
        Expr::Binary { .. } => "*influxql.BinaryExpr",
    }
}
