//! Recursive-descent parser from tokens to [`crate::ast`].
//!
//! Statement structure is parsed by hand; expressions by sqlparser's expression
//! grammar with InfluxQL's precedence and associativity ([`crate::sql_expr`], so
//! that a SELECT means to weir what it means to InfluxDB). Checks that need a source position and no
//! other context (a positive `GROUP BY time()` interval, `FLAPPING` bounds,
//! template syntax, ...) are made here; checks over a whole SELECT are in
//! [`crate::validate`].

use std::collections::VecDeque;

use crate::ast::*;
use crate::duration::{parse_magnitude, Duration, DurationError};
use crate::error::{ErrorKind, RawError};
use crate::lexer::{Lexer, Token, TokenKind};
use crate::sql_expr;
use crate::template::Template;
use crate::validate::{self, Functions, QueryContext};

type PResult<T> = Result<T, RawError>;

/// Deepest nesting of expressions / subqueries accepted. Bounds recursion (so
/// no input can overflow the stack) far above what real queries use.
pub const MAX_DEPTH: usize = 128;

/// Whether a SELECT must have an `INTO` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetRule {
    Required,
    Optional,
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    buf: VecDeque<Token>,
    depth: usize,
    prev_end: usize,
}

/// How an error names a token: its source text (cut at 40 characters), quoted.
pub(crate) fn describe_token(src: &str, tok: &Token) -> String {
    if tok.kind == TokenKind::Eof {
        return "end of input".to_string();
    }
    let text = src.get(tok.start..tok.end).unwrap_or(&tok.text);
    let mut shown: String = text.chars().take(40).collect();
    if shown.len() < text.len() {
        shown.push_str("...");
    }
    if tok.kind == TokenKind::String {
        // Already in single quotes.
        shown
    } else {
        format!("'{shown}'")
    }
}

fn syntax(offset: usize, reason: impl Into<String>) -> RawError {
    RawError::new(offset, ErrorKind::Syntax, reason)
}

fn invalid(offset: usize, reason: impl Into<String>) -> RawError {
    RawError::new(offset, ErrorKind::Invalid, reason)
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Parser {
            src,
            lexer: Lexer::new(src),
            buf: VecDeque::new(),
            depth: 0,
            prev_end: 0,
        }
    }

    // -- token plumbing ----------------------------------------------------

    fn fill(&mut self, n: usize) -> PResult<()> {
        while self.buf.len() <= n {
            let tok = self.lexer.next_token()?;
            self.buf.push_back(tok);
        }
        Ok(())
    }

    fn peek_nth(&mut self, n: usize) -> PResult<&Token> {
        self.fill(n)?;
        self.buf
            .get(n)
            .ok_or_else(|| syntax(self.lexer.position(), "unexpected end of input"))
    }

    pub(crate) fn peek(&mut self) -> PResult<&Token> {
        self.peek_nth(0)
    }

    fn peek_tok(&mut self) -> PResult<Token> {
        self.peek().cloned()
    }

    pub(crate) fn peek_kind(&mut self) -> PResult<TokenKind> {
        Ok(self.peek()?.kind)
    }

    fn peek_nth_kind(&mut self, n: usize) -> PResult<TokenKind> {
        Ok(self.peek_nth(n)?.kind)
    }

    fn peek_start(&mut self) -> PResult<usize> {
        Ok(self.peek()?.start)
    }

    pub(crate) fn next(&mut self) -> PResult<Token> {
        self.fill(0)?;
        let tok = self
            .buf
            .pop_front()
            .ok_or_else(|| syntax(self.lexer.position(), "unexpected end of input"))?;
        if tok.kind != TokenKind::Eof {
            self.prev_end = tok.end;
        }
        Ok(tok)
    }

    fn is_kw(tok: &Token, kw: &str) -> bool {
        tok.kind == TokenKind::Ident && tok.text.eq_ignore_ascii_case(kw)
    }

    fn peek_is_kw(&mut self, kw: &str) -> PResult<bool> {
        Ok(Self::is_kw(self.peek()?, kw))
    }

    fn eat(&mut self, kind: TokenKind) -> PResult<bool> {
        if self.peek_kind()? == kind {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn eat_kw(&mut self, kw: &str) -> PResult<bool> {
        if self.peek_is_kw(kw)? {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> PResult<Token> {
        let tok = self.peek_tok()?;
        if tok.kind == kind {
            self.next()
        } else {
            Err(self.unexpected(&tok, what))
        }
    }

    fn expect_kw(&mut self, kw: &str) -> PResult<Token> {
        let tok = self.peek_tok()?;
        if Self::is_kw(&tok, kw) {
            self.next()
        } else {
            Err(self.unexpected(&tok, kw))
        }
    }

    /// `expected <what>, found '<token>'`.
    fn unexpected(&self, tok: &Token, what: &str) -> RawError {
        syntax(
            tok.start,
            format!("expected {what}, found {}", self.describe(tok)),
        )
    }

    fn unexpected_next(&mut self, what: &str) -> RawError {
        match self.peek_tok() {
            Ok(tok) => self.unexpected(&tok, what),
            Err(e) => e,
        }
    }

    fn describe(&self, tok: &Token) -> String {
        describe_token(self.src, tok)
    }

    fn enter(&mut self, at: usize) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(invalid(
                at,
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Requires the end of the input (after an optional `;`).
    pub(crate) fn next_is_end(&mut self) -> PResult<()> {
        self.eat(TokenKind::Semicolon)?;
        let tok = self.peek_tok()?;
        if tok.kind != TokenKind::Eof {
            return Err(self.unexpected(&tok, "end of input"));
        }
        Ok(())
    }

    // -- names and literals -------------------------------------------------

    /// An identifier: a bare word that is not reserved, or a quoted one.
    fn parse_ident(&mut self, what: &str) -> PResult<String> {
        let tok = self.peek_tok()?;
        match tok.kind {
            TokenKind::Ident if !is_reserved(&tok.text) => {
                self.next()?;
                Ok(tok.text)
            }
            TokenKind::QuotedIdent => {
                self.next()?;
                Ok(tok.text)
            }
            _ => Err(self.unexpected(&tok, what)),
        }
    }

    /// A non-empty identifier naming a task, database, topic, ...
    fn parse_name(&mut self, what: &str) -> PResult<String> {
        let at = self.peek_start()?;
        let name = self.parse_ident(what)?;
        if name.is_empty() {
            return Err(invalid(at, format!("{what} must not be empty")));
        }
        Ok(name)
    }

    fn parse_string(&mut self, what: &str) -> PResult<(String, usize)> {
        let tok = self.expect(TokenKind::String, what)?;
        Ok((tok.text, tok.start))
    }

    fn duration_error(tok: &Token, e: DurationError) -> RawError {
        match e {
            DurationError::Invalid => {
                invalid(tok.start, format!("invalid duration '{}'", tok.text))
            }
            DurationError::Overflow(_) => invalid(
                tok.start,
                format!(
                    "overflowed duration {}: choose a smaller duration",
                    tok.text
                ),
            ),
        }
    }

    pub(crate) fn duration_from(tok: &Token, negative: bool) -> PResult<Duration> {
        let magnitude = parse_magnitude(&tok.text).map_err(|e| Self::duration_error(tok, e))?;
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value)
            .map(Duration::from_nanos)
            .map_err(|_| Self::duration_error(tok, DurationError::Overflow(tok.text.clone())))
    }

    /// `[-|+]<duration>`; returns the duration and where it starts.
    fn parse_signed_duration(&mut self, what: &str) -> PResult<(Duration, usize)> {
        let start = self.peek_start()?;
        let negative = match self.peek_kind()? {
            TokenKind::Minus => {
                self.next()?;
                true
            }
            TokenKind::Plus => {
                self.next()?;
                false
            }
            _ => false,
        };
        let tok = self.peek_tok()?;
        if tok.kind != TokenKind::Duration {
            return Err(self.unexpected(&tok, what));
        }
        self.next()?;
        Ok((Self::duration_from(&tok, negative)?, start))
    }

    /// A duration that must be greater than zero.
    fn parse_positive_duration(&mut self, what: &str) -> PResult<Duration> {
        let (d, at) = self.parse_signed_duration(what)?;
        if !d.is_positive() {
            return Err(invalid(at, format!("{what} must be positive, got {d}")));
        }
        Ok(d)
    }

    pub(crate) fn integer_from(tok: &Token, negative: bool) -> PResult<Expr> {
        let v: u64 = tok
            .text
            .parse()
            .map_err(|_| invalid(tok.start, "unable to parse integer"))?;
        if negative {
            if v <= i64::MAX as u64 {
                Ok(Expr::Integer(-(v as i64)))
            } else if v == 1u64 << 63 {
                Ok(Expr::Integer(i64::MIN))
            } else {
                Err(invalid(
                    tok.start,
                    format!("constant -{v} underflows int64"),
                ))
            }
        } else if let Ok(i) = i64::try_from(v) {
            Ok(Expr::Integer(i))
        } else {
            Ok(Expr::Unsigned(v))
        }
    }

    pub(crate) fn float_from(tok: &Token) -> PResult<f64> {
        match tok.text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(invalid(tok.start, "unable to parse number")),
        }
    }

    /// A `/regex/` at the next token (which must be `/`).
    fn parse_regex(&mut self) -> PResult<Regex> {
        let tok = self.peek_tok()?;
        if tok.kind != TokenKind::Slash {
            return Err(self.unexpected(&tok, "regex"));
        }
        // Everything buffered starts at or after the '/', so rescan from there.
        self.buf.clear();
        let re = self.lexer.scan_regex(tok.start)?;
        self.prev_end = re.end;
        Regex::new(&re.text).map_err(|msg| invalid(re.start, format!("invalid regex: {msg}")))
    }

    // -- expressions --------------------------------------------------------

    /// Parses an expression: its tokens go to sqlparser's expression grammar
    /// ([`crate::sql_expr`]), and parsing goes on after the last token it took.
    pub(crate) fn parse_expr(&mut self) -> PResult<Expr> {
        let start = self.peek_start()?;
        // Everything buffered starts at or after the expression, so rescan from there.
        self.buf.clear();
        let lexed = sql_expr::prelex(&mut self.lexer, start)?;
        let (expr, used) = sql_expr::parse(&lexed, self.src)?;
        let end = match used.checked_sub(1).and_then(|i| lexed.token(i)) {
            Some(t) => t.end,
            None => start,
        };
        self.lexer.seek(end);
        self.prev_end = end;
        Ok(expr)
    }

    /// `name[.name[.name]][::type]`
    fn parse_var_ref(&mut self) -> PResult<VarRef> {
        let start = self.peek_start()?;
        let mut segments = vec![self.parse_ident("identifier")?];
        while self.peek_kind()? == TokenKind::Dot {
            self.next()?;
            segments.push(self.parse_ident("identifier")?);
        }
        if segments.len() > 3 {
            return Err(invalid(
                start,
                format!("too many segments in {}", segments.join(".")),
            ));
        }
        let data_type = if self.eat(TokenKind::DoubleColon)? {
            let tok = self.peek_tok()?;
            match (tok.kind, VarType::from_name(&tok.text)) {
                (TokenKind::Ident, Some(t)) => {
                    self.next()?;
                    Some(t)
                }
                _ => {
                    return Err(self.unexpected(
                        &tok,
                        "float, integer, unsigned, string, boolean, field or tag",
                    ))
                }
            }
        } else {
            None
        };
        Ok(VarRef {
            name: segments.join("."),
            data_type,
        })
    }

    // -- SELECT ---------------------------------------------------------------

    /// `SELECT ...` up to (not including) whatever follows the last clause.
    pub(crate) fn parse_select(&mut self, target_rule: TargetRule) -> PResult<Select> {
        let select_tok = self.expect_kw("SELECT")?;
        let mut fields = Vec::new();
        loop {
            let start = self.peek_start()?;
            let expr = self.parse_expr()?;
            let mut bad_op = None;
            expr.walk(&mut |e| {
                if let Expr::Binary { op, .. } = e {
                    if op.is_boolean() && bad_op.is_none() {
                        bad_op = Some(*op);
                    }
                }
            });
            if let Some(op) = bad_op {
                return Err(invalid(
                    start,
                    format!(
                        "invalid operator {op} in SELECT clause; operator is intended for WHERE clause"
                    ),
                ));
            }
            let alias = if self.eat_kw("AS")? {
                Some(self.parse_ident("alias")?)
            } else {
                None
            };
            fields.push(Field {
                expr,
                alias,
                span: Span::new(start, self.prev_end),
            });
            if !self.eat(TokenKind::Comma)? {
                break;
            }
        }

        let target = if self.eat_kw("INTO")? {
            Some(self.parse_target()?)
        } else if target_rule == TargetRule::Required {
            return Err(self.unexpected_next("INTO"));
        } else {
            None
        };

        self.expect_kw("FROM")?;
        let from_archive = self.peek_is_kw("ARCHIVE")? && {
            let next = self.peek_nth(1)?;
            match next.kind {
                TokenKind::Ident => !is_reserved(&next.text),
                TokenKind::QuotedIdent | TokenKind::Slash => true,
                _ => false,
            }
        };
        if from_archive {
            self.next()?;
        }
        let mut sources = Vec::new();
        loop {
            sources.push(self.parse_source()?);
            if !self.eat(TokenKind::Comma)? {
                break;
            }
        }

        let condition = if self.eat_kw("WHERE")? {
            Some(self.parse_expr()?)
        } else {
            None
        };

        let mut dimensions = Vec::new();
        if self.eat_kw("GROUP")? {
            self.expect_kw("BY")?;
            loop {
                dimensions.push(self.parse_dimension(&dimensions)?);
                if !self.eat(TokenKind::Comma)? {
                    break;
                }
            }
        }

        let fill = if self.peek_is_kw("fill")? && self.peek_nth_kind(1)? == TokenKind::LParen {
            Some(self.parse_fill()?)
        } else {
            None
        };

        let order = if self.eat_kw("ORDER")? {
            self.expect_kw("BY")?;
            Some(self.parse_order()?)
        } else {
            None
        };

        let limit = self.parse_limit("LIMIT")?;
        let offset = self.parse_limit("OFFSET")?;
        let slimit = self.parse_limit("SLIMIT")?;
        let soffset = self.parse_limit("SOFFSET")?;

        let timezone = if self.peek_is_kw("tz")? && self.peek_nth_kind(1)? == TokenKind::LParen {
            self.next()?;
            self.next()?;
            let (tz, _) = self.parse_string("time zone string")?;
            self.expect(TokenKind::RParen, "')'")?;
            Some(tz)
        } else {
            None
        };

        Ok(Select {
            fields,
            target,
            from_archive,
            sources,
            condition,
            dimensions,
            fill,
            order,
            limit,
            offset,
            slimit,
            soffset,
            timezone,
            span: Span::new(select_tok.start, self.prev_end),
        })
    }

    /// Dotted segments of a measurement or target: `[db.[rp].](name | /re/ | :MEASUREMENT)`.
    fn parse_segments(&mut self, target: bool) -> PResult<(Vec<String>, SegmentEnd, usize)> {
        let start = self.peek_start()?;
        let what = if target {
            "measurement or :MEASUREMENT"
        } else {
            "measurement"
        };
        let mut segments = Vec::new();
        let mut end = SegmentEnd::Name;
        let mut first = true;
        loop {
            if !first {
                if self.peek_kind()? != TokenKind::Dot {
                    break;
                }
                self.next()?;
                if self.peek_kind()? == TokenKind::Dot {
                    segments.push(String::new());
                    continue;
                }
            }
            first = false;
            match self.peek_kind()? {
                TokenKind::Slash => {
                    end = SegmentEnd::Regex(self.parse_regex()?);
                    break;
                }
                TokenKind::Colon if target => {
                    self.next()?;
                    self.expect_kw("MEASUREMENT")?;
                    end = SegmentEnd::Source;
                    break;
                }
                _ => segments.push(self.parse_ident(what)?),
            }
        }
        let count = segments.len() + usize::from(!matches!(end, SegmentEnd::Name));
        if count > 3 {
            return Err(invalid(
                start,
                format!(
                    "too many segments in {}",
                    self.src.get(start..self.prev_end).unwrap_or("")
                ),
            ));
        }
        Ok((segments, end, start))
    }

    fn parse_measurement(&mut self) -> PResult<Measurement> {
        let (mut segments, end, start) = self.parse_segments(false)?;
        let name = match end {
            SegmentEnd::Regex(re) => MeasurementName::Regex(re),
            _ => match segments.pop() {
                Some(n) if !n.is_empty() => MeasurementName::Name(n),
                _ => return Err(invalid(start, "measurement name must not be empty")),
            },
        };
        let (database, retention_policy) = split_db_rp(segments);
        Ok(Measurement {
            database,
            retention_policy,
            name,
        })
    }

    fn parse_source(&mut self) -> PResult<Source> {
        if self.peek_kind()? == TokenKind::LParen {
            let open = self.next()?;
            self.enter(open.start)?;
            let inner = self.parse_select(TargetRule::Optional);
            self.leave();
            let inner = inner?;
            self.expect(TokenKind::RParen, "')'")?;
            return Ok(Source::Subquery(Box::new(inner)));
        }
        Ok(Source::Measurement(self.parse_measurement()?))
    }

    fn parse_target(&mut self) -> PResult<Target> {
        let (mut segments, end, start) = self.parse_segments(true)?;
        let measurement = match end {
            SegmentEnd::Source => TargetMeasurement::Source,
            SegmentEnd::Regex(_) => {
                return Err(invalid(start, "a regex cannot be the target of INTO"))
            }
            SegmentEnd::Name => match segments.pop() {
                Some(n) if !n.is_empty() => TargetMeasurement::Name(n),
                _ => return Err(invalid(start, "measurement name must not be empty")),
            },
        };
        let (database, retention_policy) = split_db_rp(segments);
        Ok(Target {
            database,
            retention_policy,
            measurement,
        })
    }

    fn parse_dimension(&mut self, previous: &[Dimension]) -> PResult<Dimension> {
        let tok = self.peek_tok()?;
        const WHAT: &str = "time(interval), tag key, * or /regex/";
        match tok.kind {
            TokenKind::Star => {
                self.next()?;
                Ok(Dimension::All)
            }
            TokenKind::Slash => Ok(Dimension::Regex(self.parse_regex()?)),
            TokenKind::Ident if is_reserved(&tok.text) => Err(self.unexpected(&tok, WHAT)),
            TokenKind::Ident | TokenKind::QuotedIdent => {
                if self.peek_nth_kind(1)? == TokenKind::LParen {
                    if !tok.text.eq_ignore_ascii_case("time") {
                        return Err(invalid(
                            tok.start,
                            "only time() calls allowed in dimensions",
                        ));
                    }
                    self.next()?;
                    self.next()?;
                    let (interval, at) = self.parse_signed_duration("GROUP BY time interval")?;
                    if !interval.is_positive() {
                        return Err(invalid(
                            at,
                            format!("GROUP BY time() interval must be positive, got {interval}"),
                        ));
                    }
                    let offset = if self.eat(TokenKind::Comma)? {
                        Some(
                            self.parse_signed_duration("GROUP BY time offset duration")?
                                .0,
                        )
                    } else {
                        None
                    };
                    self.expect(TokenKind::RParen, "')'")?;
                    if previous.iter().any(|d| matches!(d, Dimension::Time { .. })) {
                        return Err(invalid(tok.start, "multiple time dimensions not allowed"));
                    }
                    return Ok(Dimension::Time { interval, offset });
                }
                let var = self.parse_var_ref()?;
                if var.name.eq_ignore_ascii_case("time") {
                    return Err(invalid(
                        tok.start,
                        "time() is a function and expects at least one argument",
                    ));
                }
                match var.data_type {
                    None | Some(VarType::Tag) => Ok(Dimension::Tag(var.name)),
                    Some(_) => Err(invalid(tok.start, "only time and tag dimensions allowed")),
                }
            }
            _ => Err(self.unexpected(&tok, WHAT)),
        }
    }

    fn parse_fill(&mut self) -> PResult<Fill> {
        self.next()?; // fill
        self.next()?; // (
        let tok = self.peek_tok()?;
        const WHAT: &str = "null, none, previous, linear or a number in fill()";
        let fill = match tok.kind {
            TokenKind::Ident => {
                let fill = match tok.text.to_ascii_lowercase().as_str() {
                    "null" => Fill::Null,
                    "none" => Fill::None,
                    "previous" => Fill::Previous,
                    "linear" => Fill::Linear,
                    _ => return Err(self.unexpected(&tok, WHAT)),
                };
                self.next()?;
                fill
            }
            TokenKind::Integer | TokenKind::Number | TokenKind::Minus | TokenKind::Plus => {
                let negative = tok.kind == TokenKind::Minus;
                if matches!(tok.kind, TokenKind::Minus | TokenKind::Plus) {
                    self.next()?;
                }
                let num = self.peek_tok()?;
                match num.kind {
                    TokenKind::Integer => {
                        self.next()?;
                        match Self::integer_from(&num, negative)? {
                            Expr::Integer(v) => Fill::Integer(v),
                            _ => return Err(invalid(num.start, "fill() value out of range")),
                        }
                    }
                    TokenKind::Number => {
                        self.next()?;
                        let v = Self::float_from(&num)?;
                        Fill::Float(if negative { -v } else { v })
                    }
                    _ => return Err(self.unexpected(&num, "a number in fill()")),
                }
            }
            _ => return Err(self.unexpected(&tok, WHAT)),
        };
        self.expect(TokenKind::RParen, "')'")?;
        Ok(fill)
    }

    fn parse_order(&mut self) -> PResult<Order> {
        let tok = self.peek_tok()?;
        let order = if Self::is_kw(&tok, "ASC") || Self::is_kw(&tok, "DESC") {
            self.next()?;
            if Self::is_kw(&tok, "ASC") {
                Order::Asc
            } else {
                Order::Desc
            }
        } else if matches!(tok.kind, TokenKind::Ident | TokenKind::QuotedIdent) {
            if !tok.text.eq_ignore_ascii_case("time") {
                return Err(invalid(
                    tok.start,
                    "only ORDER BY time supported at this time",
                ));
            }
            self.next()?;
            if self.eat_kw("DESC")? {
                Order::Desc
            } else {
                self.eat_kw("ASC")?;
                Order::Asc
            }
        } else {
            return Err(self.unexpected(&tok, "time, ASC or DESC"));
        };
        if self.peek_kind()? == TokenKind::Comma {
            let at = self.peek_start()?;
            return Err(invalid(at, "only ORDER BY time supported at this time"));
        }
        Ok(order)
    }

    fn parse_limit(&mut self, kw: &str) -> PResult<Option<u64>> {
        if !self.eat_kw(kw)? {
            return Ok(None);
        }
        let tok = self.expect(TokenKind::Integer, "integer")?;
        tok.text
            .parse()
            .map(Some)
            .map_err(|_| invalid(tok.start, "unable to parse integer"))
    }

    // -- statements ---------------------------------------------------------

    pub(crate) fn parse_statement(&mut self, functions: &Functions) -> PResult<Statement> {
        let tok = self.peek_tok()?;
        if Self::is_kw(&tok, "CREATE") {
            self.next()?;
            self.parse_create(functions)
        } else if Self::is_kw(&tok, "DROP") {
            self.next()?;
            self.parse_drop()
        } else if Self::is_kw(&tok, "ENABLE") {
            self.next()?;
            self.expect_kw("TASK")?;
            Ok(Statement::EnableTask(self.parse_name("task name")?))
        } else if Self::is_kw(&tok, "DISABLE") {
            self.next()?;
            self.expect_kw("TASK")?;
            Ok(Statement::DisableTask(self.parse_name("task name")?))
        } else if Self::is_kw(&tok, "SHOW") {
            self.next()?;
            self.parse_show()
        } else {
            Err(self.unexpected(&tok, "CREATE, DROP, ENABLE, DISABLE or SHOW"))
        }
    }

    fn parse_create(&mut self, functions: &Functions) -> PResult<Statement> {
        let or_replace = if self.eat_kw("OR")? {
            self.expect_kw("REPLACE")?;
            true
        } else {
            false
        };
        let tok = self.peek_tok()?;
        if Self::is_kw(&tok, "CONTINUOUS") {
            self.next()?;
            self.expect_kw("QUERY")?;
            self.parse_create_cq(or_replace, functions)
                .map(Statement::CreateContinuousQuery)
        } else if Self::is_kw(&tok, "ALERT") {
            self.next()?;
            self.parse_create_alert(or_replace, functions)
                .map(Statement::CreateAlert)
        } else if Self::is_kw(&tok, "HANDLER") {
            self.next()?;
            self.parse_create_handler(or_replace)
                .map(Statement::CreateHandler)
        } else if Self::is_kw(&tok, "ARCHIVE") {
            self.next()?;
            self.parse_create_archive(or_replace, functions)
                .map(Statement::CreateArchive)
        } else if Self::is_kw(&tok, "BATCH") {
            self.next()?;
            self.expect_kw("QUERY")?;
            self.parse_create_batch(or_replace, functions)
                .map(Statement::CreateBatchQuery)
        } else if Self::is_kw(&tok, "FUNCTION") {
            self.next()?;
            self.parse_create_function(or_replace)
                .map(Statement::CreateFunction)
        } else {
            Err(self.unexpected(
                &tok,
                "CONTINUOUS QUERY, ALERT, HANDLER, ARCHIVE, BATCH QUERY or FUNCTION",
            ))
        }
    }

    fn validate_select(select: &Select, ctx: QueryContext, functions: &Functions) -> PResult<()> {
        validate::validate_select(select, ctx, functions)
            .map_err(|e| invalid(e.span.start, e.message))
    }

    /// `BEGIN SELECT ... END`
    fn parse_body(&mut self, target_rule: TargetRule) -> PResult<Select> {
        self.expect_kw("BEGIN")?;
        let select = self.parse_select(target_rule)?;
        self.expect_kw("END")?;
        Ok(select)
    }

    fn parse_create_cq(
        &mut self,
        or_replace: bool,
        functions: &Functions,
    ) -> PResult<CreateContinuousQuery> {
        let name = self.parse_name("continuous query name")?;
        self.expect_kw("ON")?;
        let database = self.parse_name("database name")?;
        let mut for_at = 0;
        let resample = if self.eat_kw("RESAMPLE")? {
            let every = if self.eat_kw("EVERY")? {
                Some(self.parse_positive_duration("RESAMPLE EVERY duration")?)
            } else {
                None
            };
            let for_ = if self.peek_is_kw("FOR")? {
                for_at = self.next()?.start;
                Some(self.parse_positive_duration("RESAMPLE FOR duration")?)
            } else {
                None
            };
            if every.is_none() && for_.is_none() {
                return Err(self.unexpected_next("EVERY or FOR"));
            }
            Some(Resample { every, for_ })
        } else {
            None
        };
        let select = self.parse_body(TargetRule::Required)?;
        Self::validate_select(&select, QueryContext::ContinuousQuery, functions)?;
        if let Some(Resample {
            every,
            for_: Some(for_),
        }) = resample
        {
            // InfluxDB's rule: FOR must cover at least one interval (and EVERY).
            let interval = select.group_by_interval().unwrap_or_default();
            let interval = every.map_or(interval, |e| e.max(interval));
            if interval > for_ {
                return Err(invalid(
                    for_at,
                    format!(
                        "FOR duration must be >= GROUP BY time duration: must be a minimum of {interval}, got {for_}"
                    ),
                ));
            }
        }
        Ok(CreateContinuousQuery {
            or_replace,
            name,
            database,
            resample,
            select,
        })
    }

    fn parse_schedule(&mut self) -> PResult<Option<Schedule>> {
        if self.eat_kw("EVERY")? {
            let every = self.parse_positive_duration("EVERY duration")?;
            let offset = if self.eat_kw("OFFSET")? {
                let (offset, at) = self.parse_signed_duration("OFFSET duration")?;
                if offset.is_negative() {
                    return Err(invalid(
                        at,
                        format!("OFFSET must not be negative, got {offset}"),
                    ));
                }
                if offset >= every {
                    return Err(invalid(
                        at,
                        format!("OFFSET must be less than EVERY ({every}), got {offset}"),
                    ));
                }
                Some(offset)
            } else {
                None
            };
            Ok(Some(Schedule::Every { every, offset }))
        } else if self.eat_kw("CRON")? {
            let (expr, at) = self.parse_string("cron expression string")?;
            validate::validate_cron(&expr).map_err(|m| invalid(at, m))?;
            Ok(Some(Schedule::Cron(expr)))
        } else {
            Ok(None)
        }
    }

    fn parse_create_alert(
        &mut self,
        or_replace: bool,
        functions: &Functions,
    ) -> PResult<CreateAlert> {
        let name = self.parse_name("alert name")?;
        self.expect_kw("ON")?;
        let database = self.parse_name("database name")?;
        let schedule = self.parse_schedule()?;
        let select = self.parse_body(TargetRule::Optional)?;
        let ctx = if schedule.is_some() {
            QueryContext::BatchAlert
        } else {
            QueryContext::StreamAlert
        };
        Self::validate_select(&select, ctx, functions)?;

        let mut alert = CreateAlert {
            or_replace,
            name,
            database,
            schedule,
            select,
            info: None,
            warn: None,
            crit: None,
            id: None,
            message: None,
            details: None,
            state_changes_only: false,
            flapping: None,
            history: None,
            all_ok: false,
            no_recoveries: false,
            topic: None,
        };
        let mut seen: Vec<String> = Vec::new();
        loop {
            let tok = self.peek_tok()?;
            if tok.kind != TokenKind::Ident {
                break;
            }
            let clause = tok.text.to_ascii_uppercase();
            let known = [
                "INFO", "WARN", "CRIT", "ID", "MESSAGE", "DETAILS", "STATE", "FLAPPING", "HISTORY",
                "ALL", "NO", "TOPIC",
            ];
            if !known.contains(&clause.as_str()) {
                break;
            }
            if seen.contains(&clause) {
                return Err(invalid(tok.start, format!("duplicate {clause} clause")));
            }
            seen.push(clause.clone());
            self.next()?;
            match clause.as_str() {
                "INFO" | "WARN" | "CRIT" => {
                    self.expect_kw("WHEN")?;
                    let at = self.peek_start()?;
                    let cond = self.parse_expr()?;
                    validate::validate_alert_condition(&cond).map_err(|m| invalid(at, m))?;
                    match clause.as_str() {
                        "INFO" => alert.info = Some(cond),
                        "WARN" => alert.warn = Some(cond),
                        _ => alert.crit = Some(cond),
                    }
                }
                "ID" | "MESSAGE" | "DETAILS" => {
                    let (text, at) = self.parse_string("template string")?;
                    Template::parse(&text).map_err(|e| invalid(at, format!("{clause}: {e}")))?;
                    match clause.as_str() {
                        "ID" => alert.id = Some(text),
                        "MESSAGE" => alert.message = Some(text),
                        _ => alert.details = Some(text),
                    }
                }
                "STATE" => {
                    self.expect_kw("CHANGES")?;
                    self.expect_kw("ONLY")?;
                    alert.state_changes_only = true;
                }
                "FLAPPING" => {
                    let low = self.parse_number("FLAPPING low threshold")?;
                    let high = self.parse_number("FLAPPING high threshold")?;
                    if !(0.0 < low && low < high && high < 1.0) {
                        return Err(invalid(
                            tok.start,
                            format!(
                                "FLAPPING thresholds must satisfy 0 < low < high < 1, got {} {}",
                                format_float(low),
                                format_float(high)
                            ),
                        ));
                    }
                    alert.flapping = Some(Flapping { low, high });
                }
                "HISTORY" => {
                    let n = self.expect(TokenKind::Integer, "HISTORY count")?;
                    match n.text.parse::<u32>() {
                        Ok(v) if v >= 2 => alert.history = Some(v),
                        Ok(_) => {
                            return Err(invalid(
                                n.start,
                                format!("HISTORY must be at least 2, got {}", n.text),
                            ))
                        }
                        Err(_) => {
                            return Err(invalid(
                                n.start,
                                format!("HISTORY must be at most {}, got {}", u32::MAX, n.text),
                            ))
                        }
                    }
                }
                "ALL" => {
                    self.expect_kw("OK")?;
                    alert.all_ok = true;
                }
                "NO" => {
                    self.expect_kw("RECOVERIES")?;
                    alert.no_recoveries = true;
                }
                _ => {
                    alert.topic = Some(self.parse_name("topic name")?);
                }
            }
        }
        if alert.info.is_none() && alert.warn.is_none() && alert.crit.is_none() {
            return Err(self.unexpected_next("INFO WHEN, WARN WHEN or CRIT WHEN"));
        }
        if alert.all_ok && alert.no_recoveries {
            let at = self.peek_start()?;
            return Err(invalid(at, "ALL OK and NO RECOVERIES cannot be combined"));
        }
        if !matches!(self.peek_kind()?, TokenKind::Semicolon | TokenKind::Eof) {
            return Err(self.unexpected_next(
                "INFO|WARN|CRIT WHEN, ID, MESSAGE, DETAILS, STATE CHANGES ONLY, FLAPPING, HISTORY, ALL OK, NO RECOVERIES, TOPIC or ';'",
            ));
        }
        Ok(alert)
    }

    fn parse_number(&mut self, what: &str) -> PResult<f64> {
        let tok = self.peek_tok()?;
        match tok.kind {
            TokenKind::Integer => {
                self.next()?;
                tok.text
                    .parse::<f64>()
                    .map_err(|_| invalid(tok.start, "unable to parse number"))
            }
            TokenKind::Number => {
                self.next()?;
                Self::float_from(&tok)
            }
            _ => Err(self.unexpected(&tok, what)),
        }
    }

    fn parse_options(&mut self) -> PResult<Options> {
        self.expect(TokenKind::LParen, "'('")?;
        let mut options: Options = Vec::new();
        if self.eat(TokenKind::RParen)? {
            return Ok(options);
        }
        loop {
            let key_tok = self.peek_tok()?;
            if !matches!(key_tok.kind, TokenKind::Ident | TokenKind::QuotedIdent) {
                return Err(self.unexpected(&key_tok, "option name"));
            }
            self.next()?;
            if options.iter().any(|(k, _)| *k == key_tok.text) {
                return Err(invalid(
                    key_tok.start,
                    format!("duplicate option '{}'", key_tok.text),
                ));
            }
            self.expect(TokenKind::Eq, "'='")?;
            let value = self.parse_option_value()?;
            options.push((key_tok.text, value));
            if self.eat(TokenKind::Comma)? {
                continue;
            }
            self.expect(TokenKind::RParen, "',' or ')'")?;
            return Ok(options);
        }
    }

    fn parse_option_value(&mut self) -> PResult<OptionValue> {
        let tok = self.peek_tok()?;
        const WHAT: &str = "option value (string, number, duration, boolean or list)";
        match tok.kind {
            TokenKind::String => {
                self.next()?;
                Ok(OptionValue::String(tok.text))
            }
            TokenKind::Integer | TokenKind::Number | TokenKind::Duration => {
                self.next()?;
                Self::option_number(&tok, false)
            }
            TokenKind::Minus => {
                self.next()?;
                let num = self.peek_tok()?;
                if !matches!(
                    num.kind,
                    TokenKind::Integer | TokenKind::Number | TokenKind::Duration
                ) {
                    return Err(self.unexpected(&num, "number or duration"));
                }
                self.next()?;
                Self::option_number(&num, true)
            }
            TokenKind::Ident if tok.text.eq_ignore_ascii_case("true") => {
                self.next()?;
                Ok(OptionValue::Boolean(true))
            }
            TokenKind::Ident if tok.text.eq_ignore_ascii_case("false") => {
                self.next()?;
                Ok(OptionValue::Boolean(false))
            }
            TokenKind::LBracket => {
                self.next()?;
                self.enter(tok.start)?;
                let result = self.parse_option_list();
                self.leave();
                result
            }
            _ => Err(self.unexpected(&tok, WHAT)),
        }
    }

    fn parse_option_list(&mut self) -> PResult<OptionValue> {
        let mut items = Vec::new();
        if self.eat(TokenKind::RBracket)? {
            return Ok(OptionValue::List(items));
        }
        loop {
            items.push(self.parse_option_value()?);
            if self.eat(TokenKind::Comma)? {
                continue;
            }
            self.expect(TokenKind::RBracket, "',' or ']'")?;
            return Ok(OptionValue::List(items));
        }
    }

    fn option_number(tok: &Token, negative: bool) -> PResult<OptionValue> {
        match tok.kind {
            TokenKind::Integer => match Self::integer_from(tok, negative)? {
                Expr::Integer(v) => Ok(OptionValue::Integer(v)),
                _ => Err(invalid(tok.start, "integer option value out of range")),
            },
            TokenKind::Number => {
                let v = Self::float_from(tok)?;
                Ok(OptionValue::Float(if negative { -v } else { v }))
            }
            _ => Ok(OptionValue::Duration(Self::duration_from(tok, negative)?)),
        }
    }

    fn parse_create_handler(&mut self, or_replace: bool) -> PResult<CreateHandler> {
        let name = self.parse_name("handler name")?;
        self.expect_kw("ON")?;
        self.expect_kw("TOPIC")?;
        let topic = self.parse_name("topic name")?;
        self.expect_kw("KIND")?;
        let kind_tok = self.peek_tok()?;
        let kind = self.parse_name("handler kind")?.to_ascii_lowercase();
        if !HANDLER_KINDS.contains(&kind.as_str()) {
            return Err(invalid(
                kind_tok.start,
                format!(
                    "unknown handler kind '{kind}', expected one of: {}",
                    HANDLER_KINDS.join(", ")
                ),
            ));
        }
        let options = if self.eat_kw("WITH")? {
            self.parse_options()?
        } else {
            Vec::new()
        };
        Ok(CreateHandler {
            or_replace,
            name,
            topic,
            kind,
            options,
        })
    }

    fn parse_create_archive(
        &mut self,
        or_replace: bool,
        functions: &Functions,
    ) -> PResult<CreateArchive> {
        let name = self.parse_name("archive name")?;
        self.expect_kw("ON")?;
        let database = self.parse_name("database name")?;
        let mut archive = CreateArchive {
            or_replace,
            name,
            database,
            source: ArchiveSource::All,
            url: None,
            partition_by: None,
            roll_every: None,
            time_unit: None,
            schedule: None,
        };
        let mut seen: Vec<&'static str> = Vec::new();
        let mut dup = |tok: &Token, clause: &'static str| -> PResult<()> {
            if seen.contains(&clause) {
                return Err(invalid(tok.start, format!("duplicate {clause} clause")));
            }
            seen.push(clause);
            Ok(())
        };
        let mut schedule_at = None;
        loop {
            let tok = self.peek_tok()?;
            if Self::is_kw(&tok, "FROM") {
                dup(&tok, "FROM")?;
                self.next()?;
                let mut ms = Vec::new();
                loop {
                    ms.push(self.parse_measurement()?);
                    if !self.eat(TokenKind::Comma)? {
                        break;
                    }
                }
                archive.source = ArchiveSource::Measurements(ms);
            } else if Self::is_kw(&tok, "TO") {
                dup(&tok, "TO")?;
                self.next()?;
                let (url, at) = self.parse_string("archive URL string")?;
                if url.trim().is_empty() {
                    return Err(invalid(at, "archive URL must not be empty"));
                }
                archive.url = Some(url);
            } else if Self::is_kw(&tok, "PARTITION") {
                dup(&tok, "PARTITION BY")?;
                self.next()?;
                self.expect_kw("BY")?;
                let p = self.peek_tok()?;
                archive.partition_by = Some(if Self::is_kw(&p, "hour") {
                    Partitioning::Hour
                } else if Self::is_kw(&p, "day") {
                    Partitioning::Day
                } else {
                    return Err(self.unexpected(&p, "hour or day"));
                });
                self.next()?;
            } else if Self::is_kw(&tok, "ROLL") {
                dup(&tok, "ROLL EVERY")?;
                self.next()?;
                self.expect_kw("EVERY")?;
                archive.roll_every = Some(self.parse_positive_duration("ROLL EVERY duration")?);
            } else if Self::is_kw(&tok, "TIME") {
                dup(&tok, "TIME UNIT")?;
                self.next()?;
                self.expect_kw("UNIT")?;
                let u = self.peek_tok()?;
                archive.time_unit = Some(if Self::is_kw(&u, "us") {
                    TimeUnit::Microsecond
                } else if Self::is_kw(&u, "ns") {
                    TimeUnit::Nanosecond
                } else {
                    return Err(self.unexpected(&u, "us or ns"));
                });
                self.next()?;
            } else if Self::is_kw(&tok, "EVERY") || Self::is_kw(&tok, "CRON") {
                dup(&tok, "EVERY/CRON")?;
                schedule_at = Some(tok.start);
                archive.schedule = self.parse_schedule()?;
            } else if Self::is_kw(&tok, "AS") {
                self.next()?;
                if matches!(archive.source, ArchiveSource::Measurements(_)) {
                    return Err(invalid(
                        tok.start,
                        "an ARCHIVE takes either FROM measurements or AS SELECT, not both",
                    ));
                }
                let select = self.parse_select(TargetRule::Optional)?;
                let ctx = if archive.schedule.is_some() {
                    QueryContext::BatchArchive
                } else {
                    QueryContext::Archive
                };
                Self::validate_select(&select, ctx, functions)?;
                archive.source = ArchiveSource::Select(select);
                break;
            } else if matches!(tok.kind, TokenKind::Semicolon | TokenKind::Eof) {
                break;
            } else {
                return Err(self.unexpected(
                    &tok,
                    "FROM, TO, PARTITION BY, ROLL EVERY, TIME UNIT, EVERY, CRON, AS SELECT or ';'",
                ));
            }
        }
        if let Some(at) = schedule_at {
            if !matches!(archive.source, ArchiveSource::Select(_)) {
                return Err(invalid(
                    at,
                    "a scheduled ARCHIVE (EVERY or CRON) needs AS SELECT: its query runs as a batch query",
                ));
            }
        }
        Ok(archive)
    }

    fn parse_create_batch(
        &mut self,
        or_replace: bool,
        functions: &Functions,
    ) -> PResult<CreateBatchQuery> {
        let name = self.parse_name("batch query name")?;
        self.expect_kw("ON")?;
        let database = self.parse_name("database name")?;
        let Some(schedule) = self.parse_schedule()? else {
            return Err(self.unexpected_next("EVERY or CRON"));
        };
        let select = self.parse_body(TargetRule::Required)?;
        Self::validate_select(&select, QueryContext::BatchQuery, functions)?;
        Ok(CreateBatchQuery {
            or_replace,
            name,
            database,
            schedule,
            select,
        })
    }

    fn parse_udf_type(&mut self, what: &str) -> PResult<UdfType> {
        let tok = self.peek_tok()?;
        match (tok.kind, UdfType::from_name(&tok.text)) {
            (TokenKind::Ident, Some(t)) => {
                self.next()?;
                Ok(t)
            }
            _ => Err(self.unexpected(
                &tok,
                &format!("{what} (float, integer, unsigned, string, boolean or duration)"),
            )),
        }
    }

    fn parse_create_function(&mut self, or_replace: bool) -> PResult<CreateFunction> {
        let name_tok = self.peek_tok()?;
        let name = self.parse_name("function name")?.to_ascii_lowercase();
        if crate::functions::lookup(&name).is_some() || name == "time" || name == "now" {
            return Err(invalid(
                name_tok.start,
                format!("function {name}() is a built-in function"),
            ));
        }
        let open = self.expect(TokenKind::LParen, "'('")?;
        let mut params: Vec<FunctionParam> = Vec::new();
        if !self.eat(TokenKind::RParen)? {
            loop {
                let p_tok = self.peek_tok()?;
                let p_name = self.parse_name("parameter name")?;
                if params.iter().any(|p| p.name == p_name) {
                    return Err(invalid(
                        p_tok.start,
                        format!("duplicate parameter '{p_name}'"),
                    ));
                }
                let data_type = self.parse_udf_type("parameter type")?;
                params.push(FunctionParam {
                    name: p_name,
                    data_type,
                });
                if self.eat(TokenKind::Comma)? {
                    continue;
                }
                self.expect(TokenKind::RParen, "',' or ')'")?;
                break;
            }
        }
        if params.is_empty() {
            return Err(invalid(
                open.start,
                "a FUNCTION needs at least one parameter (the field it reads)",
            ));
        }
        self.expect_kw("RETURNS")?;
        let returns = self.parse_udf_type("return type")?;
        self.expect_kw("LANGUAGE")?;
        let lang = self.peek_tok()?;
        if !Self::is_kw(&lang, "process") {
            if matches!(lang.kind, TokenKind::Ident | TokenKind::QuotedIdent) {
                return Err(invalid(
                    lang.start,
                    format!(
                        "unsupported LANGUAGE '{}': only LANGUAGE process is supported",
                        lang.text
                    ),
                ));
            }
            return Err(self.unexpected(&lang, "process"));
        }
        self.next()?;
        self.expect_kw("AS")?;
        let (command, at) = self.parse_string("command string")?;
        if command.trim().is_empty() {
            return Err(invalid(at, "function command must not be empty"));
        }
        let options = if self.eat_kw("WITH")? {
            self.parse_options()?
        } else {
            Vec::new()
        };
        Ok(CreateFunction {
            or_replace,
            name,
            params,
            returns,
            command,
            options,
        })
    }

    fn parse_object_kind(&mut self) -> PResult<ObjectKind> {
        let tok = self.peek_tok()?;
        let kind = if Self::is_kw(&tok, "TASK") {
            ObjectKind::Task
        } else if Self::is_kw(&tok, "CONTINUOUS") {
            self.next()?;
            self.expect_kw("QUERY")?;
            return Ok(ObjectKind::ContinuousQuery);
        } else if Self::is_kw(&tok, "ALERT") {
            ObjectKind::Alert
        } else if Self::is_kw(&tok, "ARCHIVE") {
            ObjectKind::Archive
        } else if Self::is_kw(&tok, "BATCH") {
            self.next()?;
            self.expect_kw("QUERY")?;
            return Ok(ObjectKind::BatchQuery);
        } else if Self::is_kw(&tok, "HANDLER") {
            ObjectKind::Handler
        } else if Self::is_kw(&tok, "FUNCTION") {
            ObjectKind::Function
        } else {
            return Err(self.unexpected(
                &tok,
                "TASK, CONTINUOUS QUERY, ALERT, ARCHIVE, BATCH QUERY, HANDLER or FUNCTION",
            ));
        };
        self.next()?;
        Ok(kind)
    }

    fn parse_drop(&mut self) -> PResult<Statement> {
        let kind = self.parse_object_kind()?;
        let if_exists = if self.eat_kw("IF")? {
            self.expect_kw("EXISTS")?;
            true
        } else {
            false
        };
        let name = self.parse_name(&format!("{} name", kind.as_str().to_ascii_lowercase()))?;
        let database = if kind == ObjectKind::ContinuousQuery && self.eat_kw("ON")? {
            Some(self.parse_name("database name")?)
        } else {
            None
        };
        Ok(Statement::Drop(Drop {
            kind,
            if_exists,
            name,
            database,
        }))
    }

    fn parse_show(&mut self) -> PResult<Statement> {
        let tok = self.peek_tok()?;
        let show = if Self::is_kw(&tok, "TASKS") {
            Show::Tasks
        } else if Self::is_kw(&tok, "TASK") {
            self.next()?;
            return Ok(Statement::Show(Show::Task(self.parse_name("task name")?)));
        } else if Self::is_kw(&tok, "CONTINUOUS") {
            self.next()?;
            self.expect_kw("QUERIES")?;
            return Ok(Statement::Show(Show::ContinuousQueries));
        } else if Self::is_kw(&tok, "ALERTS") {
            Show::Alerts
        } else if Self::is_kw(&tok, "ARCHIVES") {
            Show::Archives
        } else if Self::is_kw(&tok, "BATCH") {
            self.next()?;
            self.expect_kw("QUERIES")?;
            return Ok(Statement::Show(Show::BatchQueries));
        } else if Self::is_kw(&tok, "HANDLERS") {
            Show::Handlers
        } else if Self::is_kw(&tok, "TOPICS") {
            Show::Topics
        } else if Self::is_kw(&tok, "FUNCTIONS") {
            Show::Functions
        } else {
            return Err(self.unexpected(
                &tok,
                "TASKS, TASK, CONTINUOUS QUERIES, ALERTS, ARCHIVES, BATCH QUERIES, HANDLERS, TOPICS or FUNCTIONS",
            ));
        };
        self.next()?;
        Ok(Statement::Show(show))
    }
}

/// How a dotted name ends.
enum SegmentEnd {
    Name,
    Regex(Regex),
    Source,
}

/// Leading segments (at most two) to database and retention policy;
/// empty segments (`db..m`) mean "default".
fn split_db_rp(segments: Vec<String>) -> (Option<String>, Option<String>) {
    let non_empty = |s: String| if s.is_empty() { None } else { Some(s) };
    let mut it = segments.into_iter();
    match (it.next(), it.next()) {
        (Some(rp), None) => (None, non_empty(rp)),
        (Some(db), Some(rp)) => (non_empty(db), non_empty(rp)),
        _ => (None, None),
    }
}
