//! The typed syntax tree of weir's statements.
//!
//! The tree is weir's own (not sqlparser's) so it can say exactly what
//! InfluxQL says: durations, regexes, `::field` casts, `INTO db.rp.:MEASUREMENT`,
//! `fill()`, alert clauses. Every node's `Display` prints canonical InfluxQL /
//! weir text: definitions are stored in that form, the SELECT of a batch query
//! is sent to InfluxDB's `/query` in that form, and `parse(display(ast)) == ast`
//! holds for everything the parser produces.
//!
//! Source positions ([`Span`]) are kept on the nodes that validation reports
//! errors against; they never take part in equality.

use std::fmt::{self, Display, Formatter, Write as _};

use crate::duration::Duration;

// ---------------------------------------------------------------------------
// Spans, identifiers, literals

/// A byte range in the request text a node was parsed from.
///
/// Equality ignores spans (`PartialEq` is always true), so two trees that
/// differ only in layout compare equal, which is what round-trip tests and
/// "has the definition changed?" checks want.
#[derive(Clone, Copy, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// Just past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

impl PartialEq for Span {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Span {}

impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// InfluxQL's keywords: an identifier spelled like one must be double-quoted
/// for InfluxDB to accept it, so [`quote_ident`] quotes them.
pub const INFLUXQL_KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CONTINUOUS",
    "CREATE",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FALSE",
    "FIELD",
    "FOR",
    "FROM",
    "FUTURE",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "PASSWORD",
    "PAST",
    "POLICIES",
    "POLICY",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHARD",
    "SHARDS",
    "SHOW",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "TRUE",
    "USER",
    "USERS",
    "VALUES",
    "VERBOSE",
    "WHERE",
    "WITH",
    "WRITE",
];

/// Words weir's parser never takes as a bare identifier, because they end or
/// structure a SELECT. Double-quote them to use them as names
/// (`"from"`). Every other keyword of weir's statements (`ALERT`, `TOPIC`,
/// `ID`, `MESSAGE`, `LEVEL`...) is contextual and remains a valid bare name.
pub const RESERVED_WORDS: &[&str] = &[
    "AND", "AS", "BEGIN", "BY", "DISTINCT", "END", "FALSE", "FROM", "GROUP", "INTO", "LIMIT",
    "OFFSET", "ON", "OR", "ORDER", "SELECT", "SLIMIT", "SOFFSET", "TRUE", "WHERE",
];

/// True when `word` is one of [`RESERVED_WORDS`] (case-insensitive).
pub fn is_reserved(word: &str) -> bool {
    RESERVED_WORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn is_influxql_keyword(word: &str) -> bool {
    INFLUXQL_KEYWORDS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(word))
}

fn is_bare_ident(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes `s` as an identifier: bare when InfluxQL and weir both read it back
/// as the same name, double-quoted (with `\"`, `\\`, `\n` escapes) otherwise.
pub fn quote_ident(s: &str) -> String {
    if is_bare_ident(s) && !is_influxql_keyword(s) && !is_reserved(s) {
        s.to_string()
    } else {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// Writes `s` as a single-quoted string literal with InfluxQL escapes.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Formats a float so that it reads back as a float (never as an integer).
pub fn format_float(v: f64) -> String {
    let s = v.to_string();
    if s.contains('.') || !v.is_finite() {
        s
    } else {
        s + ".0"
    }
}

/// A `/regex/` literal, checked when parsed. Holds the pattern with `\/`
/// already unescaped; equality is by pattern text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Regex(String);

impl Regex {
    /// Checks `pattern` (RE2-like syntax, as InfluxDB's Go regexps) and wraps it.
    pub fn new(pattern: &str) -> Result<Self, String> {
        regex::Regex::new(pattern)
            .map(|_| Regex(pattern.to_string()))
            .map_err(|e| match e {
                regex::Error::Syntax(msg) => {
                    // The regex crate's message is multi-line; keep its last line.
                    let last = msg
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("invalid regex");
                    last.trim_start_matches("error: ").to_string()
                }
                regex::Error::CompiledTooBig(n) => {
                    format!("regex too big (compiled size exceeds {n} bytes)")
                }
                other => other.to_string(),
            })
    }

    /// The pattern, without delimiters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compiles the pattern (it was checked when parsed, so this succeeds
    /// unless size limits differ).
    pub fn compile(&self) -> Result<regex::Regex, regex::Error> {
        regex::Regex::new(&self.0)
    }
}

impl Display for Regex {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('/')?;
        for c in self.0.chars() {
            if c == '/' {
                f.write_str("\\/")?;
            } else {
                f.write_char(c)?;
            }
        }
        f.write_char('/')
    }
}

// ---------------------------------------------------------------------------
// Expressions

/// An InfluxQL expression: in SELECT fields, WHERE, call arguments and
/// alert conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field or tag reference, `usage_idle`, `"usage idle"`, `host::tag`.
    VarRef(VarRef),
    /// A function call, `mean(usage_idle)`, `now()`.
    Call(Call),
    /// `*`, `*::field` or `*::tag` (in SELECT fields and call arguments).
    Wildcard(Wildcard),
    /// `/regex/` (right of `=~`/`!~`, in SELECT fields and call arguments).
    Regex(Regex),
    /// An integer literal that fits in `i64` (also negative ones, `-5`).
    Integer(i64),
    /// A positive integer literal too large for `i64`.
    Unsigned(u64),
    /// A number with a fractional part, `0.5`.
    Float(f64),
    /// `'text'`
    String(String),
    /// `true` / `false`
    Boolean(bool),
    /// `10s`, `-1h`
    Duration(Duration),
    /// `lhs op rhs`. Unary minus on a non-literal is `-1 * expr`, as InfluxQL
    /// parses it.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
}

/// A reference to a field or tag, with an optional `::type` cast.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarRef {
    /// The name (segments of `a.b` are joined with `.`, as InfluxQL does).
    pub name: String,
    /// The `::type` cast, if written.
    pub data_type: Option<VarType>,
}

/// The type casts of a variable reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarType {
    /// `::float`
    Float,
    /// `::integer`
    Integer,
    /// `::unsigned`
    Unsigned,
    /// `::string`
    String,
    /// `::boolean`
    Boolean,
    /// `::field` (any field type)
    Field,
    /// `::tag`
    Tag,
}

impl VarType {
    /// The cast's name as written after `::`.
    pub fn as_str(self) -> &'static str {
        match self {
            VarType::Float => "float",
            VarType::Integer => "integer",
            VarType::Unsigned => "unsigned",
            VarType::String => "string",
            VarType::Boolean => "boolean",
            VarType::Field => "field",
            VarType::Tag => "tag",
        }
    }

    /// The cast named `s` (case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        [
            VarType::Float,
            VarType::Integer,
            VarType::Unsigned,
            VarType::String,
            VarType::Boolean,
            VarType::Field,
            VarType::Tag,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A function call. Names are lower-cased, as InfluxQL does.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Function name, lower case.
    pub name: String,
    /// Arguments.
    pub args: Vec<Expr>,
    /// Where the call was written.
    pub span: Span,
}

/// The three wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wildcard {
    /// `*`: every field (and, in raw queries, every tag).
    All,
    /// `*::field`
    Fields,
    /// `*::tag`
    Tags,
}

/// Binary operators, by InfluxQL precedence (lowest first): `OR`; `AND`;
/// comparisons; `+ - |`; `* / % & ^`. All are left-associative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `=`
    Eq,
    /// `!=` (also written `<>`)
    Neq,
    /// `=~`
    EqRegex,
    /// `!~`
    NeqRegex,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
}

impl BinaryOp {
    /// Binding strength; higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::EqRegex
            | BinaryOp::NeqRegex
            | BinaryOp::Lt
            | BinaryOp::Lte
            | BinaryOp::Gt
            | BinaryOp::Gte => 3,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::BitOr => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::BitAnd | BinaryOp::BitXor => {
                5
            }
        }
    }

    /// True for operators that yield a boolean (comparisons, `AND`, `OR`).
    pub fn is_boolean(self) -> bool {
        self.precedence() <= 3
    }

    /// True for comparisons (`=`, `!=`, `=~`, `!~`, `<`, `<=`, `>`, `>=`).
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Eq => "=",
            BinaryOp::Neq => "!=",
            BinaryOp::EqRegex => "=~",
            BinaryOp::NeqRegex => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
        }
    }
}

impl Expr {
    /// A plain field/tag reference.
    pub fn var(name: impl Into<String>) -> Self {
        Expr::VarRef(VarRef {
            name: name.into(),
            data_type: None,
        })
    }

    /// A call with no source position.
    pub fn call(name: impl Into<String>, args: Vec<Expr>) -> Self {
        Expr::Call(Call {
            name: name.into(),
            args,
            span: Span::default(),
        })
    }

    /// `lhs op rhs`.
    pub fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Self {
        Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }

    /// True for literal values (numbers, strings, booleans, durations, regexes).
    pub fn is_literal(&self) -> bool {
        matches!(
            self,
            Expr::Integer(_)
                | Expr::Unsigned(_)
                | Expr::Float(_)
                | Expr::String(_)
                | Expr::Boolean(_)
                | Expr::Duration(_)
                | Expr::Regex(_)
        )
    }

    /// Calls `f` on this expression and every sub-expression, parents first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Call(call) => call.args.iter().for_each(|a| a.walk(f)),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            _ => {}
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary { op, .. } => op.precedence(),
            _ => u8::MAX,
        }
    }
}

impl Display for VarRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_ident(&self.name))?;
        if let Some(t) = self.data_type {
            write!(f, "::{}", t.as_str())?;
        }
        Ok(())
    }
}

impl Display for Call {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str(")")
    }
}

impl Display for Wildcard {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Wildcard::All => "*",
            Wildcard::Fields => "*::field",
            Wildcard::Tags => "*::tag",
        })
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::VarRef(v) => write!(f, "{v}"),
            Expr::Call(c) => write!(f, "{c}"),
            Expr::Wildcard(w) => write!(f, "{w}"),
            Expr::Regex(r) => write!(f, "{r}"),
            Expr::Integer(v) => write!(f, "{v}"),
            Expr::Unsigned(v) => write!(f, "{v}"),
            Expr::Float(v) => f.write_str(&format_float(*v)),
            Expr::String(s) => f.write_str(&quote_string(s)),
            Expr::Boolean(b) => f.write_str(if *b { "true" } else { "false" }),
            Expr::Duration(d) => write!(f, "{d}"),
            Expr::Binary { op, lhs, rhs } => {
                let p = op.precedence();
                // Left-associative: a left operand needs parentheses only when
                // it binds more loosely, a right one also when it binds equally.
                if lhs.precedence() < p {
                    write!(f, "({lhs})")?;
                } else {
                    write!(f, "{lhs}")?;
                }
                write!(f, " {op} ")?;
                if rhs.precedence() <= p {
                    write!(f, "({rhs})")
                } else {
                    write!(f, "{rhs}")
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// SELECT

/// An InfluxQL SELECT statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// The selected expressions.
    pub fields: Vec<Field>,
    /// `INTO ...`, if any.
    pub target: Option<Target>,
    /// `FROM ARCHIVE ...`: read the sources from weir's Parquet archive rather
    /// than from InfluxDB (batch queries only).
    pub from_archive: bool,
    /// `FROM ...`
    pub sources: Vec<Source>,
    /// `WHERE ...`
    pub condition: Option<Expr>,
    /// `GROUP BY ...`
    pub dimensions: Vec<Dimension>,
    /// `fill(...)`; `None` when not written (InfluxDB's default is `null`).
    pub fill: Option<Fill>,
    /// `ORDER BY time ASC|DESC`
    pub order: Option<Order>,
    /// `LIMIT n`
    pub limit: Option<u64>,
    /// `OFFSET n`
    pub offset: Option<u64>,
    /// `SLIMIT n`
    pub slimit: Option<u64>,
    /// `SOFFSET n`
    pub soffset: Option<u64>,
    /// `tz('Europe/Paris')`
    pub timezone: Option<String>,
    /// Where the SELECT keyword was.
    pub span: Span,
}

impl Select {
    /// The `GROUP BY time(...)` dimension: interval and offset.
    pub fn group_by_time(&self) -> Option<(Duration, Option<Duration>)> {
        self.dimensions.iter().find_map(|d| match d {
            Dimension::Time { interval, offset } => Some((*interval, *offset)),
            _ => None,
        })
    }

    /// The `GROUP BY time(...)` interval.
    pub fn group_by_interval(&self) -> Option<Duration> {
        self.group_by_time().map(|(i, _)| i)
    }

    /// True when no field calls a function (InfluxQL's "raw query").
    pub fn is_raw(&self) -> bool {
        let mut raw = true;
        for field in &self.fields {
            field.expr.walk(&mut |e| {
                if matches!(e, Expr::Call(_)) {
                    raw = false;
                }
            });
        }
        raw
    }
}

/// One selected expression and its alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The expression.
    pub expr: Expr,
    /// `AS alias`
    pub alias: Option<String>,
    /// Where the field was written.
    pub span: Span,
}

impl Field {
    /// The output column name InfluxDB gives this field: the alias, else the
    /// function name for a call, the name for a variable, and for a binary
    /// expression the names of its calls and variables joined with `_`.
    pub fn name(&self) -> String {
        if let Some(alias) = &self.alias {
            return alias.clone();
        }
        fn expr_name(e: &Expr) -> String {
            match e {
                Expr::Call(c) => c.name.clone(),
                Expr::VarRef(v) => v.name.clone(),
                Expr::Binary { lhs, rhs, .. } => {
                    let (l, r) = (expr_name(lhs), expr_name(rhs));
                    match (l.is_empty(), r.is_empty()) {
                        (true, _) => r,
                        (_, true) => l,
                        _ => format!("{l}_{r}"),
                    }
                }
                _ => String::new(),
            }
        }
        expr_name(&self.expr)
    }
}

/// `INTO [db.[rp].]measurement` or `INTO ....:MEASUREMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Database; `None` means the statement's database.
    pub database: Option<String>,
    /// Retention policy; `None` means the database's default (`autogen`).
    pub retention_policy: Option<String>,
    /// The measurement written.
    pub measurement: TargetMeasurement,
}

/// The measurement of an `INTO` clause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetMeasurement {
    /// A fixed name.
    Name(String),
    /// `:MEASUREMENT`: the name of the source measurement of each point.
    Source,
}

/// A `FROM` source.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `[db.[rp].]name` or `[db.[rp].]/regex/`.
    Measurement(Measurement),
    /// `(SELECT ...)`
    Subquery(Box<Select>),
}

/// A measurement reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Measurement {
    /// Database; `None` means the statement's database.
    pub database: Option<String>,
    /// Retention policy; `None` means the default one.
    pub retention_policy: Option<String>,
    /// The name or regex.
    pub name: MeasurementName,
}

impl Measurement {
    /// A measurement called `name` in the default database and policy.
    pub fn named(name: impl Into<String>) -> Self {
        Measurement {
            database: None,
            retention_policy: None,
            name: MeasurementName::Name(name.into()),
        }
    }
}

/// A measurement name or a regex over names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MeasurementName {
    /// One measurement.
    Name(String),
    /// Every measurement whose name matches.
    Regex(Regex),
}

/// A `GROUP BY` dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// `time(interval[, offset])`; windows are epoch-aligned plus offset.
    Time {
        /// Window length, positive.
        interval: Duration,
        /// Shift of the window boundaries, as written (may be negative).
        offset: Option<Duration>,
    },
    /// A tag key.
    Tag(String),
    /// `*`: every tag.
    All,
    /// Every tag key matching the regex.
    Regex(Regex),
}

/// The `fill()` options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// `fill(null)`: empty windows give null (InfluxDB's default).
    Null,
    /// `fill(none)`: empty windows give no row.
    None,
    /// `fill(previous)`
    Previous,
    /// `fill(linear)`
    Linear,
    /// `fill(<integer>)`
    Integer(i64),
    /// `fill(<number>)`
    Float(f64),
}

/// `ORDER BY time ASC|DESC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// Oldest first (InfluxDB's default).
    Asc,
    /// Newest first.
    Desc,
}

fn write_segments(
    f: &mut Formatter<'_>,
    database: &Option<String>,
    retention_policy: &Option<String>,
) -> fmt::Result {
    if let Some(db) = database {
        write!(f, "{}.", quote_ident(db))?;
        if let Some(rp) = retention_policy {
            f.write_str(&quote_ident(rp))?;
        }
        f.write_str(".")?;
    } else if let Some(rp) = retention_policy {
        write!(f, "{}.", quote_ident(rp))?;
    }
    Ok(())
}

impl Display for Target {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_segments(f, &self.database, &self.retention_policy)?;
        match &self.measurement {
            TargetMeasurement::Name(n) => f.write_str(&quote_ident(n)),
            TargetMeasurement::Source => f.write_str(":MEASUREMENT"),
        }
    }
}

impl Display for Measurement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_segments(f, &self.database, &self.retention_policy)?;
        match &self.name {
            // `archive` is quoted so `FROM "archive"` is not read as `FROM ARCHIVE ...`.
            MeasurementName::Name(n) if n.eq_ignore_ascii_case("archive") => {
                write!(f, "\"{n}\"")
            }
            MeasurementName::Name(n) => f.write_str(&quote_ident(n)),
            MeasurementName::Regex(r) => write!(f, "{r}"),
        }
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Measurement(m) => write!(f, "{m}"),
            Source::Subquery(s) => write!(f, "({s})"),
        }
    }
}

impl Display for Dimension {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Time { interval, offset } => {
                write!(f, "time({interval}")?;
                if let Some(o) = offset {
                    write!(f, ", {o}")?;
                }
                f.write_str(")")
            }
            Dimension::Tag(t) => f.write_str(&quote_ident(t)),
            Dimension::All => f.write_str("*"),
            Dimension::Regex(r) => write!(f, "{r}"),
        }
    }
}

impl Display for Fill {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Fill::Null => f.write_str("null"),
            Fill::None => f.write_str("none"),
            Fill::Previous => f.write_str("previous"),
            Fill::Linear => f.write_str("linear"),
            Fill::Integer(v) => write!(f, "{v}"),
            Fill::Float(v) => f.write_str(&format_float(*v)),
        }
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(a) = &self.alias {
            write!(f, " AS {}", quote_ident(a))?;
        }
        Ok(())
    }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        write_list(f, &self.fields)?;
        if let Some(t) = &self.target {
            write!(f, " INTO {t}")?;
        }
        f.write_str(" FROM ")?;
        if self.from_archive {
            f.write_str("ARCHIVE ")?;
        }
        write_list(f, &self.sources)?;
        if let Some(c) = &self.condition {
            write!(f, " WHERE {c}")?;
        }
        if !self.dimensions.is_empty() {
            f.write_str(" GROUP BY ")?;
            write_list(f, &self.dimensions)?;
        }
        if let Some(fill) = &self.fill {
            write!(f, " fill({fill})")?;
        }
        match self.order {
            Some(Order::Asc) => f.write_str(" ORDER BY time ASC")?,
            Some(Order::Desc) => f.write_str(" ORDER BY time DESC")?,
            None => {}
        }
        if let Some(n) = self.limit {
            write!(f, " LIMIT {n}")?;
        }
        if let Some(n) = self.offset {
            write!(f, " OFFSET {n}")?;
        }
        if let Some(n) = self.slimit {
            write!(f, " SLIMIT {n}")?;
        }
        if let Some(n) = self.soffset {
            write!(f, " SOFFSET {n}")?;
        }
        if let Some(tz) = &self.timezone {
            write!(f, " tz({})", quote_string(tz))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Statements

/// One statement of weir's language.
// Statements are few and short-lived; boxing the big variants would only
// make them clumsier to build and match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `CREATE CONTINUOUS QUERY` (a stream task).
    CreateContinuousQuery(CreateContinuousQuery),
    /// `CREATE ALERT`
    CreateAlert(CreateAlert),
    /// `CREATE HANDLER`
    CreateHandler(CreateHandler),
    /// `CREATE ARCHIVE`
    CreateArchive(CreateArchive),
    /// `CREATE BATCH QUERY`
    CreateBatchQuery(CreateBatchQuery),
    /// `CREATE FUNCTION`
    CreateFunction(CreateFunction),
    /// `DROP <kind> name`
    Drop(Drop),
    /// `ENABLE TASK name`
    EnableTask(String),
    /// `DISABLE TASK name`
    DisableTask(String),
    /// `SHOW ...`
    Show(Show),
}

impl Statement {
    /// The SELECT the statement runs, if it has one.
    pub fn select(&self) -> Option<&Select> {
        match self {
            Statement::CreateContinuousQuery(s) => Some(&s.select),
            Statement::CreateAlert(s) => Some(&s.select),
            Statement::CreateBatchQuery(s) => Some(&s.select),
            Statement::CreateArchive(CreateArchive {
                source: ArchiveSource::Select(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    /// The name the statement defines or acts on, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Statement::CreateContinuousQuery(s) => Some(&s.name),
            Statement::CreateAlert(s) => Some(&s.name),
            Statement::CreateHandler(s) => Some(&s.name),
            Statement::CreateArchive(s) => Some(&s.name),
            Statement::CreateBatchQuery(s) => Some(&s.name),
            Statement::CreateFunction(s) => Some(&s.name),
            Statement::Drop(d) => Some(&d.name),
            Statement::EnableTask(n) | Statement::DisableTask(n) => Some(n),
            Statement::Show(Show::Task(n)) => Some(n),
            Statement::Show(_) => None,
        }
    }
}

/// `CREATE [OR REPLACE] CONTINUOUS QUERY name ON db [RESAMPLE [EVERY d] [FOR d]] BEGIN select END`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateContinuousQuery {
    /// `OR REPLACE`: replace an existing definition instead of failing.
    pub or_replace: bool,
    /// Task name.
    pub name: String,
    /// Database the task reads (default for sources and target).
    pub database: String,
    /// `RESAMPLE` options.
    pub resample: Option<Resample>,
    /// The query; always has a target.
    pub select: Select,
}

/// `RESAMPLE [EVERY d] [FOR d]` (at least one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resample {
    /// Emit a partial result of an open window this often.
    pub every: Option<Duration>,
    /// Keep a window open to late points this long after its start.
    pub for_: Option<Duration>,
}

/// When a scheduled (batch) task runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// `EVERY d [OFFSET o]`: at every multiple of `d` since the epoch, plus `o`.
    Every {
        /// Period, positive.
        every: Duration,
        /// Shift of the run times, `0 <= offset < every`.
        offset: Option<Duration>,
    },
    /// `CRON 'expr'`: a cron expression of 5 to 7 fields.
    Cron(String),
}

/// Alert levels, ordered `Ok < Info < Warn < Crit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertLevel {
    /// No condition holds.
    Ok,
    /// `INFO WHEN ...`
    Info,
    /// `WARN WHEN ...`
    Warn,
    /// `CRIT WHEN ...`
    Crit,
}

impl AlertLevel {
    /// The level's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Ok => "OK",
            AlertLevel::Info => "INFO",
            AlertLevel::Warn => "WARN",
            AlertLevel::Crit => "CRIT",
        }
    }
}

impl Display for AlertLevel {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `FLAPPING low high`: Kapacitor's flapping detection thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flapping {
    /// Below this state-change ratio a flapping alert is considered stable again.
    pub low: f64,
    /// Above this ratio the alert is flapping and events are suppressed.
    pub high: f64,
}

/// `CREATE [OR REPLACE] ALERT name ON db [EVERY d [OFFSET d] | CRON '...'] BEGIN select END clauses...`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateAlert {
    /// `OR REPLACE`
    pub or_replace: bool,
    /// Task name.
    pub name: String,
    /// Database the task reads.
    pub database: String,
    /// `None`: a stream alert evaluated as results arrive; `Some`: a batch
    /// alert that queries InfluxDB on this schedule.
    pub schedule: Option<Schedule>,
    /// The query whose rows are evaluated.
    pub select: Select,
    /// `INFO WHEN ...`
    pub info: Option<Expr>,
    /// `WARN WHEN ...`
    pub warn: Option<Expr>,
    /// `CRIT WHEN ...`
    pub crit: Option<Expr>,
    /// `ID '...'` template.
    pub id: Option<String>,
    /// `MESSAGE '...'` template.
    pub message: Option<String>,
    /// `DETAILS '...'` template.
    pub details: Option<String>,
    /// `STATE CHANGES ONLY`
    pub state_changes_only: bool,
    /// `FLAPPING low high`
    pub flapping: Option<Flapping>,
    /// `HISTORY n`: states remembered for flapping detection (>= 2).
    pub history: Option<u32>,
    /// `ALL OK`: publish every OK evaluation, not only recoveries.
    pub all_ok: bool,
    /// `NO RECOVERIES`: do not publish the return to OK.
    pub no_recoveries: bool,
    /// `TOPIC name`: where events are published.
    pub topic: Option<String>,
}

impl CreateAlert {
    /// The level conditions that are set, lowest level first.
    pub fn conditions(&self) -> Vec<(AlertLevel, &Expr)> {
        [
            (AlertLevel::Info, &self.info),
            (AlertLevel::Warn, &self.warn),
            (AlertLevel::Crit, &self.crit),
        ]
        .into_iter()
        .filter_map(|(l, e)| e.as_ref().map(|e| (l, e)))
        .collect()
    }
}

/// A `WITH (key = value, ...)` option value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// `'text'`
    String(String),
    /// An integer.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// `true`/`false`
    Boolean(bool),
    /// A duration, `10s`.
    Duration(Duration),
    /// `[v1, v2, ...]`
    List(Vec<OptionValue>),
}

impl OptionValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OptionValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl Display for OptionValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::String(s) => f.write_str(&quote_string(s)),
            OptionValue::Integer(v) => write!(f, "{v}"),
            OptionValue::Float(v) => f.write_str(&format_float(*v)),
            OptionValue::Boolean(b) => f.write_str(if *b { "true" } else { "false" }),
            OptionValue::Duration(d) => write!(f, "{d}"),
            OptionValue::List(items) => {
                f.write_str("[")?;
                write_list(f, items)?;
                f.write_str("]")
            }
        }
    }
}

/// An ordered list of `key = value` options (keys are unique).
pub type Options = Vec<(String, OptionValue)>;

fn write_options(f: &mut Formatter<'_>, options: &Options) -> fmt::Result {
    f.write_str("WITH (")?;
    for (i, (k, v)) in options.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        // Option keys may be any word, reserved or not (`from` for smtp).
        if is_bare_ident(k) {
            write!(f, "{k} = {v}")?;
        } else {
            write!(f, "{} = {v}", quote_ident(k))?;
        }
    }
    f.write_str(")")
}

/// The handler kinds weir implements, each speaking like Kapacitor's handler
/// of the same name.
pub use weir_engine::alert::HANDLER_KINDS;

/// `CREATE [OR REPLACE] HANDLER name ON TOPIC topic KIND kind [WITH (...)]`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateHandler {
    /// `OR REPLACE`
    pub or_replace: bool,
    /// Handler name.
    pub name: String,
    /// Topic whose events it receives.
    pub topic: String,
    /// One of [`HANDLER_KINDS`], lower case.
    pub kind: String,
    /// Kind-specific options (`url`, `channel`, `path`, ...).
    pub options: Options,
}

/// `PARTITION BY hour|day`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partitioning {
    /// `date=YYYY-MM-DD/hour=HH`
    Hour,
    /// `date=YYYY-MM-DD`
    Day,
}

/// `TIME UNIT us|ns`: the Parquet timestamp resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Microseconds (truncated), for Spark.
    Microsecond,
    /// Nanoseconds (the default).
    Nanosecond,
}

/// What an archive writes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ArchiveSource {
    /// No `FROM` and no `AS SELECT`: every measurement of the database.
    All,
    /// `FROM m1, m2`: every point of these measurements.
    Measurements(Vec<Measurement>),
    /// `AS SELECT ...`: the result rows of a query.
    Select(Select),
}

/// `CREATE [OR REPLACE] ARCHIVE name ON db [FROM m, ...] [TO 'url'] [PARTITION BY hour|day] [ROLL EVERY d] [TIME UNIT us|ns] [EVERY d [OFFSET d] | CRON 'expr'] [AS SELECT ...]`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateArchive {
    /// `OR REPLACE`
    pub or_replace: bool,
    /// Archive (task) name.
    pub name: String,
    /// Database read.
    pub database: String,
    /// What is archived.
    pub source: ArchiveSource,
    /// Object store URL; `None` means `[archive] url`.
    pub url: Option<String>,
    /// Partitioning; `None` means the default (hour).
    pub partition_by: Option<Partitioning>,
    /// File roll interval; `None` means the default (1m).
    pub roll_every: Option<Duration>,
    /// Timestamp unit; `None` means nanoseconds.
    pub time_unit: Option<TimeUnit>,
    /// `EVERY d [OFFSET d]` or `CRON '...'` (only with `AS SELECT`): a batch archive, whose
    /// SELECT runs as a batch query on this schedule and whose runs' rows are archived.
    pub schedule: Option<Schedule>,
}

/// `CREATE [OR REPLACE] BATCH QUERY name ON db (EVERY d [OFFSET d] | CRON 'expr') BEGIN select END`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateBatchQuery {
    /// `OR REPLACE`
    pub or_replace: bool,
    /// Task name.
    pub name: String,
    /// Database queried.
    pub database: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The query (sent to InfluxDB, or run over the archive with `FROM ARCHIVE`).
    pub select: Select,
}

/// Types of user-defined function parameters and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdfType {
    /// 64-bit float.
    Float,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit unsigned integer.
    Unsigned,
    /// UTF-8 string.
    String,
    /// Boolean.
    Boolean,
    /// A duration literal.
    Duration,
}

impl UdfType {
    /// The type's name.
    pub fn as_str(self) -> &'static str {
        match self {
            UdfType::Float => "float",
            UdfType::Integer => "integer",
            UdfType::Unsigned => "unsigned",
            UdfType::String => "string",
            UdfType::Boolean => "boolean",
            UdfType::Duration => "duration",
        }
    }

    /// The type named `s` (case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        [
            UdfType::Float,
            UdfType::Integer,
            UdfType::Unsigned,
            UdfType::String,
            UdfType::Boolean,
            UdfType::Duration,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl Display for UdfType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parameter of a user-defined function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionParam {
    /// Parameter name (documentation only).
    pub name: String,
    /// Its type.
    pub data_type: UdfType,
}

/// `CREATE [OR REPLACE] FUNCTION name(p type, ...) RETURNS type LANGUAGE process AS 'command' [WITH (...)]`
///
/// The first parameter is the field the function reads; the others are
/// literal arguments. The program gets each window's rows per group as
/// Arrow IPC on stdin and answers with rows on stdout.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateFunction {
    /// `OR REPLACE`
    pub or_replace: bool,
    /// Function name, lower case (calls are matched case-insensitively).
    pub name: String,
    /// Parameters.
    pub params: Vec<FunctionParam>,
    /// Result type.
    pub returns: UdfType,
    /// The command line to start.
    pub command: String,
    /// Extra options (`timeout`, `socket`, ...).
    pub options: Options,
}

/// The kinds of object `DROP` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `TASK`: any task (continuous query, alert, archive, batch query).
    Task,
    /// `CONTINUOUS QUERY`
    ContinuousQuery,
    /// `ALERT`
    Alert,
    /// `ARCHIVE`
    Archive,
    /// `BATCH QUERY`
    BatchQuery,
    /// `HANDLER`
    Handler,
    /// `FUNCTION`
    Function,
}

impl ObjectKind {
    /// The kind's keywords.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Task => "TASK",
            ObjectKind::ContinuousQuery => "CONTINUOUS QUERY",
            ObjectKind::Alert => "ALERT",
            ObjectKind::Archive => "ARCHIVE",
            ObjectKind::BatchQuery => "BATCH QUERY",
            ObjectKind::Handler => "HANDLER",
            ObjectKind::Function => "FUNCTION",
        }
    }
}

/// `DROP <kind> [IF EXISTS] name [ON db]`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Drop {
    /// What is dropped.
    pub kind: ObjectKind,
    /// `IF EXISTS`: dropping a missing object is not an error.
    pub if_exists: bool,
    /// Its name.
    pub name: String,
    /// `ON db` (accepted for `DROP CONTINUOUS QUERY`, as InfluxQL writes it).
    pub database: Option<String>,
}

/// `SHOW ...`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Show {
    /// `SHOW TASKS`
    Tasks,
    /// `SHOW TASK name`
    Task(String),
    /// `SHOW CONTINUOUS QUERIES`
    ContinuousQueries,
    /// `SHOW ALERTS`
    Alerts,
    /// `SHOW ARCHIVES`
    Archives,
    /// `SHOW BATCH QUERIES`
    BatchQueries,
    /// `SHOW HANDLERS`
    Handlers,
    /// `SHOW TOPICS`
    Topics,
    /// `SHOW FUNCTIONS`
    Functions,
}

fn create(f: &mut Formatter<'_>, or_replace: bool, what: &str, name: &str) -> fmt::Result {
    f.write_str("CREATE ")?;
    if or_replace {
        f.write_str("OR REPLACE ")?;
    }
    write!(f, "{what} {}", quote_ident(name))
}

impl Display for Schedule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every { every, offset } => {
                write!(f, "EVERY {every}")?;
                if let Some(o) = offset {
                    write!(f, " OFFSET {o}")?;
                }
                Ok(())
            }
            Schedule::Cron(c) => write!(f, "CRON {}", quote_string(c)),
        }
    }
}

impl Display for CreateContinuousQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        create(f, self.or_replace, "CONTINUOUS QUERY", &self.name)?;
        write!(f, " ON {}", quote_ident(&self.database))?;
        if let Some(r) = &self.resample {
            f.write_str(" RESAMPLE")?;
            if let Some(e) = r.every {
                write!(f, " EVERY {e}")?;
            }
            if let Some(d) = r.for_ {
                write!(f, " FOR {d}")?;
            }
        }
        write!(f, " BEGIN {} END", self.select)
    }
}

impl Display for CreateAlert {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        create(f, self.or_replace, "ALERT", &self.name)?;
        write!(f, " ON {}", quote_ident(&self.database))?;
        if let Some(s) = &self.schedule {
            write!(f, " {s}")?;
        }
        write!(f, " BEGIN {} END", self.select)?;
        for (level, cond) in self.conditions() {
            write!(f, " {level} WHEN {cond}")?;
        }
        if let Some(t) = &self.id {
            write!(f, " ID {}", quote_string(t))?;
        }
        if let Some(t) = &self.message {
            write!(f, " MESSAGE {}", quote_string(t))?;
        }
        if let Some(t) = &self.details {
            write!(f, " DETAILS {}", quote_string(t))?;
        }
        if self.state_changes_only {
            f.write_str(" STATE CHANGES ONLY")?;
        }
        if let Some(fl) = &self.flapping {
            write!(
                f,
                " FLAPPING {} {}",
                format_float(fl.low),
                format_float(fl.high)
            )?;
        }
        if let Some(h) = self.history {
            write!(f, " HISTORY {h}")?;
        }
        if self.all_ok {
            f.write_str(" ALL OK")?;
        }
        if self.no_recoveries {
            f.write_str(" NO RECOVERIES")?;
        }
        if let Some(t) = &self.topic {
            write!(f, " TOPIC {}", quote_ident(t))?;
        }
        Ok(())
    }
}

impl Display for CreateHandler {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        create(f, self.or_replace, "HANDLER", &self.name)?;
        write!(
            f,
            " ON TOPIC {} KIND {}",
            quote_ident(&self.topic),
            quote_ident(&self.kind)
        )?;
        if !self.options.is_empty() {
            f.write_str(" ")?;
            write_options(f, &self.options)?;
        }
        Ok(())
    }
}

impl Display for Partitioning {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Partitioning::Hour => "hour",
            Partitioning::Day => "day",
        })
    }
}

impl Display for TimeUnit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeUnit::Microsecond => "us",
            TimeUnit::Nanosecond => "ns",
        })
    }
}

impl Display for CreateArchive {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        create(f, self.or_replace, "ARCHIVE", &self.name)?;
        write!(f, " ON {}", quote_ident(&self.database))?;
        if let ArchiveSource::Measurements(ms) = &self.source {
            f.write_str(" FROM ")?;
            write_list(f, ms)?;
        }
        if let Some(url) = &self.url {
            write!(f, " TO {}", quote_string(url))?;
        }
        if let Some(p) = self.partition_by {
            write!(f, " PARTITION BY {p}")?;
        }
        if let Some(d) = self.roll_every {
            write!(f, " ROLL EVERY {d}")?;
        }
        if let Some(u) = self.time_unit {
            write!(f, " TIME UNIT {u}")?;
        }
        if let Some(s) = &self.schedule {
            write!(f, " {s}")?;
        }
        if let ArchiveSource::Select(s) = &self.source {
            write!(f, " AS {s}")?;
        }
        Ok(())
    }
}

impl Display for CreateBatchQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        create(f, self.or_replace, "BATCH QUERY", &self.name)?;
        write!(
            f,
            " ON {} {} BEGIN {} END",
            quote_ident(&self.database),
            self.schedule,
            self.select
        )
    }
}

impl Display for CreateFunction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        create(f, self.or_replace, "FUNCTION", &self.name)?;
        f.write_str("(")?;
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", quote_ident(&p.name), p.data_type)?;
        }
        write!(
            f,
            ") RETURNS {} LANGUAGE process AS {}",
            self.returns,
            quote_string(&self.command)
        )?;
        if !self.options.is_empty() {
            f.write_str(" ")?;
            write_options(f, &self.options)?;
        }
        Ok(())
    }
}

impl Display for Drop {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "DROP {}", self.kind.as_str())?;
        if self.if_exists {
            f.write_str(" IF EXISTS")?;
        }
        write!(f, " {}", quote_ident(&self.name))?;
        if let Some(db) = &self.database {
            write!(f, " ON {}", quote_ident(db))?;
        }
        Ok(())
    }
}

impl Display for Show {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Show::Tasks => f.write_str("SHOW TASKS"),
            Show::Task(n) => write!(f, "SHOW TASK {}", quote_ident(n)),
            Show::ContinuousQueries => f.write_str("SHOW CONTINUOUS QUERIES"),
            Show::Alerts => f.write_str("SHOW ALERTS"),
            Show::Archives => f.write_str("SHOW ARCHIVES"),
            Show::BatchQueries => f.write_str("SHOW BATCH QUERIES"),
            Show::Handlers => f.write_str("SHOW HANDLERS"),
            Show::Topics => f.write_str("SHOW TOPICS"),
            Show::Functions => f.write_str("SHOW FUNCTIONS"),
        }
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::CreateContinuousQuery(s) => write!(f, "{s}"),
            Statement::CreateAlert(s) => write!(f, "{s}"),
            Statement::CreateHandler(s) => write!(f, "{s}"),
            Statement::CreateArchive(s) => write!(f, "{s}"),
            Statement::CreateBatchQuery(s) => write!(f, "{s}"),
            Statement::CreateFunction(s) => write!(f, "{s}"),
            Statement::Drop(s) => write!(f, "{s}"),
            Statement::EnableTask(n) => write!(f, "ENABLE TASK {}", quote_ident(n)),
            Statement::DisableTask(n) => write!(f, "DISABLE TASK {}", quote_ident(n)),
            Statement::Show(s) => write!(f, "{s}"),
        }
    }
}
