//! InfluxQL expressions on sqlparser's expression grammar.
//!
//! weir's lexer reads InfluxQL's tokens (durations, `/regex/`, `=~`, double-quoted names) and
//! its statement parser the clauses around expressions. An expression's tokens are handed to
//! sqlparser (the version DataFusion uses) as a pre-lexed token stream, through a dialect with
//! InfluxQL's operator precedence (`OR` < `AND` < comparisons < `+ - |` < `* / % & ^`, all
//! left-associative). Its tree is then read into weir's [`Expr`] with InfluxQL's rules: a unary
//! minus on a name is `-1 * x`, an integer literal is int64 (unsigned past it), a regex only
//! follows `=~` / `!~`, `::type` only follows a name or `*`.
//!
//! Every word reaches sqlparser as a plain identifier except `AND`, `OR`, `TRUE` and `FALSE`,
//! so SQL's own keywords (`INTERVAL`, `CASE`, `CAST`, `OVER`, ...) stay usable as field and tag
//! names, as they are in InfluxQL. Durations and regexes travel as placeholders naming their
//! token. A token's span holds its index in the stream (line 1, column index + 1), which is how
//! an error sqlparser reports is placed back at a byte offset of the statement.

use datafusion::sql::sqlparser::ast as sql;
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser as SqlParser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{
    Location, Span as SqlSpan, Token as SqlToken, TokenWithSpan, Word,
};

use crate::ast::{is_reserved, BinaryOp, Call, Expr, Regex, Span, VarRef, VarType, Wildcard};
use crate::error::{ErrorKind, RawError};
use crate::lexer::{Lexer, Token, TokenKind};
use crate::parser::{describe_token, Parser, MAX_DEPTH};

type PResult<T> = Result<T, RawError>;

fn syntax(offset: usize, reason: impl Into<String>) -> RawError {
    RawError::new(offset, ErrorKind::Syntax, reason)
}

fn invalid(offset: usize, reason: impl Into<String>) -> RawError {
    RawError::new(offset, ErrorKind::Invalid, reason)
}

fn too_deep(offset: usize) -> RawError {
    invalid(
        offset,
        format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
    )
}

/// InfluxQL's expression syntax for sqlparser.
#[derive(Debug)]
struct InfluxQl;

/// Precedences on sqlparser's scale (its defaults for the same operators, so the unary minus
/// it parses binds as InfluxQL's).
const PREC_OR: u8 = 5;
const PREC_AND: u8 = 10;
const PREC_COMPARE: u8 = 20;
const PREC_ADD: u8 = 30;
const PREC_MUL: u8 = 40;
const PREC_CAST: u8 = 50;

impl Dialect for InfluxQl {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_ascii_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_ascii_alphanumeric() || ch == '_'
    }

    fn get_next_precedence(&self, parser: &SqlParser) -> Option<Result<u8, ParserError>> {
        let prec = match &parser.peek_token_ref().token {
            SqlToken::Word(w) if w.keyword == Keyword::OR => PREC_OR,
            SqlToken::Word(w) if w.keyword == Keyword::AND => PREC_AND,
            SqlToken::Eq
            | SqlToken::Neq
            | SqlToken::Lt
            | SqlToken::LtEq
            | SqlToken::Gt
            | SqlToken::GtEq
            | SqlToken::Tilde
            | SqlToken::ExclamationMarkTilde => PREC_COMPARE,
            SqlToken::Plus | SqlToken::Minus | SqlToken::Pipe => PREC_ADD,
            SqlToken::Mul
            | SqlToken::Div
            | SqlToken::Mod
            | SqlToken::Ampersand
            | SqlToken::Caret => PREC_MUL,
            SqlToken::DoubleColon => PREC_CAST,
            _ => 0,
        };
        Some(Ok(prec))
    }

    fn parse_prefix(&self, parser: &mut SqlParser) -> Option<Result<sql::Expr, ParserError>> {
        let next = parser.peek_token();
        match &next.token {
            // `*`, `*::field`, `*::tag` (the cast is parsed as an infix).
            SqlToken::Mul => {
                parser.next_token();
                Some(Ok(sql::Expr::Wildcard(
                    sql::helpers::attached_token::AttachedToken(next),
                )))
            }
            // `DISTINCT x` is `distinct(x)` (`DISTINCT(x)` is a call already).
            SqlToken::Word(w)
                if w.quote_style.is_none()
                    && w.value.eq_ignore_ascii_case("distinct")
                    && parser.peek_nth_token_ref(1).token != SqlToken::LParen =>
            {
                parser.next_token();
                let arg = parser.next_token();
                Some(match &arg.token {
                    SqlToken::Word(a) if a.quote_style.is_some() || !is_reserved(&a.value) => {
                        Ok(distinct_call(&next, a.clone().into_ident(arg.span)))
                    }
                    _ => parser.expected("identifier", arg),
                })
            }
            // InfluxQL's reserved words are not names.
            SqlToken::Word(w)
                if w.quote_style.is_none()
                    && is_reserved(&w.value)
                    && !w.value.eq_ignore_ascii_case("distinct")
                    && !matches!(w.keyword, Keyword::TRUE | Keyword::FALSE) =>
            {
                Some(parser.expected("identifier, string, number or boolean", next))
            }
            _ => None,
        }
    }
}

/// `distinct(arg)` as sqlparser's call, for `DISTINCT arg`.
fn distinct_call(kw: &TokenWithSpan, arg: sql::Ident) -> sql::Expr {
    let name = sql::Ident::with_span(kw.span, "distinct");
    sql::Expr::Function(sql::Function {
        name: sql::ObjectName::from(vec![name]),
        uses_odbc_syntax: false,
        parameters: sql::FunctionArguments::None,
        args: sql::FunctionArguments::List(sql::FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(
                sql::Expr::Identifier(arg),
            ))],
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// The tokens of one expression (and what may follow it, up to where it surely ends).
pub(crate) struct Lexed {
    toks: Vec<Token>,
    /// Where the input ends, when it ends before anything stopped the scan.
    eof: Option<Token>,
    /// A lexical error the scan stopped at (it is the expression's only if the expression
    /// reaches it).
    error: Option<RawError>,
}

impl Lexed {
    /// Token `i` of the scan.
    pub(crate) fn token(&self, i: usize) -> Option<&Token> {
        self.toks.get(i)
    }
}

/// The most operators one parenthesis level may hold. A chain of them nests as deep as it is
/// long, and [`MAX_DEPTH`] refuses it past that; this bound only keeps the tree small enough
/// to take apart without deep recursion.
const MAX_CHAIN: usize = 1024;

fn is_operator(t: &Token) -> bool {
    match t.kind {
        TokenKind::Plus
        | TokenKind::Minus
        | TokenKind::Star
        | TokenKind::Slash
        | TokenKind::Percent
        | TokenKind::Amp
        | TokenKind::Pipe
        | TokenKind::Caret
        | TokenKind::Eq
        | TokenKind::Neq
        | TokenKind::EqRegex
        | TokenKind::NeqRegex
        | TokenKind::Lt
        | TokenKind::Lte
        | TokenKind::Gt
        | TokenKind::Gte => true,
        TokenKind::Ident => t.text.eq_ignore_ascii_case("AND") || t.text.eq_ignore_ascii_case("OR"),
        _ => false,
    }
}

/// Whether a `/` after `prev` divides (else it starts a regex).
fn ends_operand(prev: Option<&Token>) -> bool {
    prev.is_some_and(|t| match t.kind {
        TokenKind::Ident => {
            !(t.text.eq_ignore_ascii_case("AND") || t.text.eq_ignore_ascii_case("OR"))
        }
        TokenKind::QuotedIdent
        | TokenKind::String
        | TokenKind::Integer
        | TokenKind::Number
        | TokenKind::Duration
        | TokenKind::Regex
        | TokenKind::RParen
        | TokenKind::RBracket => true,
        _ => false,
    })
}

/// Reads the tokens from `start` to where an expression surely ends: a `,` or a `)` outside
/// its parentheses, a `;`, the end of input, or a lexical error. Nesting deeper than
/// [`MAX_DEPTH`] parentheses is refused here, before any recursion.
pub(crate) fn prelex(lexer: &mut Lexer<'_>, start: usize) -> PResult<Lexed> {
    lexer.seek(start);
    let mut toks: Vec<Token> = Vec::new();
    let mut depth = 0usize;
    // Operators per open parenthesis level (a chain `x + x + ...` nests without them).
    let mut ops: Vec<usize> = vec![0];
    let mut eof = None;
    let mut error = None;
    loop {
        let tok = match lexer.next_token() {
            Ok(t) if t.kind == TokenKind::Slash && !ends_operand(toks.last()) => {
                match lexer.scan_regex(t.start) {
                    Ok(re) => re,
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            Ok(t) => t,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        match tok.kind {
            TokenKind::Eof => {
                eof = Some(tok);
                break;
            }
            TokenKind::Semicolon => {
                toks.push(tok);
                break;
            }
            TokenKind::LParen | TokenKind::LBracket => {
                depth += 1;
                ops.push(0);
                if depth > MAX_DEPTH {
                    return Err(too_deep(tok.start));
                }
            }
            TokenKind::RParen | TokenKind::RBracket if depth == 0 => {
                toks.push(tok);
                break;
            }
            TokenKind::RParen | TokenKind::RBracket => {
                depth -= 1;
                ops.pop();
            }
            _ if is_operator(&tok) => {
                if let Some(n) = ops.last_mut() {
                    *n += 1;
                    if *n > MAX_CHAIN {
                        return Err(too_deep(tok.start));
                    }
                }
            }
            TokenKind::Comma if depth == 0 => {
                toks.push(tok);
                break;
            }
            _ => {}
        }
        toks.push(tok);
    }
    Ok(Lexed { toks, eof, error })
}

/// The span sqlparser carries for token `i`: its index, see the module doc.
fn span_of(i: usize) -> SqlSpan {
    let at = Location {
        line: 1,
        column: u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1),
    };
    SqlSpan::new(at, at)
}

fn index_of(span: SqlSpan) -> Option<usize> {
    (span.start.line == 1)
        .then(|| usize::try_from(span.start.column.checked_sub(1)?).ok())
        .flatten()
}

fn word(value: &str, keyword: Keyword, quote: Option<char>) -> SqlToken {
    SqlToken::Word(Word {
        value: value.to_string(),
        quote_style: quote,
        keyword,
    })
}

fn to_sql(i: usize, t: &Token) -> SqlToken {
    match t.kind {
        TokenKind::Ident => {
            let kw = [
                ("AND", Keyword::AND),
                ("OR", Keyword::OR),
                ("TRUE", Keyword::TRUE),
                ("FALSE", Keyword::FALSE),
            ]
            .into_iter()
            .find(|(k, _)| t.text.eq_ignore_ascii_case(k))
            .map_or(Keyword::NoKeyword, |(_, k)| k);
            word(&t.text, kw, None)
        }
        TokenKind::QuotedIdent => word(&t.text, Keyword::NoKeyword, Some('"')),
        TokenKind::String => SqlToken::SingleQuotedString(t.text.clone()),
        TokenKind::Integer | TokenKind::Number => SqlToken::Number(t.text.clone(), false),
        TokenKind::Duration | TokenKind::Regex => SqlToken::Placeholder(format!("${i}")),
        TokenKind::Plus => SqlToken::Plus,
        TokenKind::Minus => SqlToken::Minus,
        TokenKind::Star => SqlToken::Mul,
        TokenKind::Slash => SqlToken::Div,
        TokenKind::Percent => SqlToken::Mod,
        TokenKind::Amp => SqlToken::Ampersand,
        TokenKind::Pipe => SqlToken::Pipe,
        TokenKind::Caret => SqlToken::Caret,
        TokenKind::Eq => SqlToken::Eq,
        TokenKind::Neq => SqlToken::Neq,
        TokenKind::EqRegex => SqlToken::Tilde,
        TokenKind::NeqRegex => SqlToken::ExclamationMarkTilde,
        TokenKind::Lt => SqlToken::Lt,
        TokenKind::Lte => SqlToken::LtEq,
        TokenKind::Gt => SqlToken::Gt,
        TokenKind::Gte => SqlToken::GtEq,
        TokenKind::LParen => SqlToken::LParen,
        TokenKind::RParen => SqlToken::RParen,
        TokenKind::LBracket => SqlToken::LBracket,
        TokenKind::RBracket => SqlToken::RBracket,
        TokenKind::Comma => SqlToken::Comma,
        TokenKind::Colon => SqlToken::Colon,
        TokenKind::DoubleColon => SqlToken::DoubleColon,
        TokenKind::Semicolon => SqlToken::SemiColon,
        TokenKind::Dot => SqlToken::Period,
        TokenKind::Eof => SqlToken::EOF,
    }
}

/// Reads one expression from the tokens: the expression and how many tokens it took.
/// Runs on [`crate::parse_stack`]'s thread (sqlparser recurses deeply).
pub(crate) fn parse(lexed: &Lexed, src: &str) -> PResult<(Expr, usize)> {
    let mut tokens: Vec<TokenWithSpan> = lexed
        .toks
        .iter()
        .enumerate()
        .map(|(i, t)| TokenWithSpan::new(to_sql(i, t), span_of(i)))
        .collect();
    tokens.push(TokenWithSpan::new(SqlToken::EOF, span_of(lexed.toks.len())));
    let dialect = InfluxQl;
    // One level of sqlparser's recursion per nested operand, and a few for its entry.
    let mut parser = SqlParser::new(&dialect)
        .with_recursion_limit(2 * MAX_DEPTH + 8)
        .with_tokens_with_locations(tokens);
    let cx = Cx { lexed, src };
    let tree = parser.parse_expr().map_err(|e| cx.error(e))?;
    let used = parser.index();
    let (expr, depth) = cx.convert(tree)?;
    if depth > MAX_DEPTH {
        let at = lexed.toks.first().map_or(0, |t| t.start);
        return Err(too_deep(at));
    }
    Ok((expr, used))
}

/// The index of the first token of `e`, found down its left edge (no recursion: a chain of
/// operators is as deep as it is long).
fn first_token(e: &sql::Expr) -> Option<usize> {
    let mut e = e;
    // A parenthesis or sign before the operand moves the start back by a token each.
    let mut before = 0usize;
    loop {
        match e {
            sql::Expr::BinaryOp { left, .. } => e = left,
            sql::Expr::Cast { expr, .. } => e = expr,
            sql::Expr::Nested(inner) | sql::Expr::UnaryOp { expr: inner, .. } => {
                before += 1;
                e = inner;
            }
            sql::Expr::Identifier(id) => return index_of(id.span)?.checked_sub(before),
            sql::Expr::CompoundIdentifier(ids) => {
                return index_of(ids.first()?.span)?.checked_sub(before)
            }
            sql::Expr::Value(v) => return index_of(v.span)?.checked_sub(before),
            sql::Expr::Wildcard(t) => return index_of(t.0.span)?.checked_sub(before),
            sql::Expr::Function(f) => {
                let name = f.name.0.first()?.as_ident()?;
                return index_of(name.span)?.checked_sub(before);
            }
            _ => return None,
        }
    }
}

/// What converting a tree needs: the tokens its spans index, the source for messages.
struct Cx<'a> {
    lexed: &'a Lexed,
    src: &'a str,
}

impl Cx<'_> {
    fn tok(&self, i: usize) -> Option<&Token> {
        self.lexed.toks.get(i)
    }

    /// The byte offset of token `i` (the end of input past the last).
    fn offset(&self, i: usize) -> usize {
        match self.tok(i) {
            Some(t) => t.start,
            None => self
                .lexed
                .eof
                .as_ref()
                .map(|t| t.start)
                .or_else(|| self.lexed.toks.last().map(|t| t.end))
                .unwrap_or(0),
        }
    }

    fn describe(&self, i: usize) -> String {
        match self.tok(i) {
            Some(t) => describe_token(self.src, t),
            None => "end of input".to_string(),
        }
    }

    /// sqlparser's error, placed and worded as weir's.
    fn error(&self, e: ParserError) -> RawError {
        let msg = match e {
            ParserError::RecursionLimitExceeded => {
                return too_deep(self.offset(0));
            }
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
        };
        let (text, at) = match msg.rsplit_once(" at Line: 1, Column: ") {
            Some((text, col)) => (
                text.to_string(),
                col.parse::<usize>().ok().and_then(|c| c.checked_sub(1)),
            ),
            None => (msg.clone(), None),
        };
        let at = at.unwrap_or(self.lexed.toks.len());
        // The scan stopped at a lexical error, and the expression needed what follows.
        if at >= self.lexed.toks.len() {
            if let Some(e) = &self.lexed.error {
                return e.clone();
            }
        }
        let reason = match text
            .strip_prefix("Expected: ")
            .and_then(|r| r.split_once(", found: "))
        {
            Some((what, _)) => {
                let what = if what == "an expression" {
                    "identifier, string, number or boolean".to_string()
                } else if what.chars().count() == 1 {
                    format!("'{what}'")
                } else {
                    what.to_string()
                };
                format!("expected {what}, found {}", self.describe(at))
            }
            None => text,
        };
        syntax(self.offset(at), reason)
    }

    /// The byte offset where `e` starts.
    fn start_of(&self, e: &sql::Expr) -> usize {
        self.offset(first_token(e).unwrap_or(self.lexed.toks.len()))
    }

    /// The token a placeholder stands for.
    fn placeholder(&self, p: &str) -> Option<&Token> {
        p.strip_prefix('$')?
            .parse::<usize>()
            .ok()
            .and_then(|i| self.tok(i))
    }

    /// A number token's literal, negated when `negative`.
    fn number(&self, span: SqlSpan, negative: bool) -> PResult<Expr> {
        let tok = index_of(span)
            .and_then(|i| self.tok(i))
            .ok_or_else(|| syntax(0, "a number without its token"))?;
        match tok.kind {
            TokenKind::Integer => Parser::integer_from(tok, negative),
            _ => {
                let v = Parser::float_from(tok)?;
                Ok(Expr::Float(if negative { -v } else { v }))
            }
        }
    }

    /// sqlparser's tree as weir's, with its depth (a literal or name is 1).
    fn convert(&self, e: sql::Expr) -> PResult<(Expr, usize)> {
        let at = self.start_of(&e);
        match e {
            sql::Expr::Identifier(id) => Ok((
                Expr::VarRef(VarRef {
                    name: id.value,
                    data_type: None,
                }),
                1,
            )),
            sql::Expr::CompoundIdentifier(ids) => Ok((Expr::VarRef(self.var_ref(ids, None)?), 1)),
            sql::Expr::Wildcard(_) => Ok((Expr::Wildcard(Wildcard::All), 1)),
            sql::Expr::Cast {
                kind: sql::CastKind::DoubleColon,
                expr,
                data_type,
                ..
            } => self.cast(*expr, &data_type),
            sql::Expr::Value(v) => self.value(v, false),
            sql::Expr::Nested(inner) => self.convert(*inner),
            sql::Expr::UnaryOp { op, expr } => match op {
                sql::UnaryOperator::Minus => self.signed(*expr, true),
                sql::UnaryOperator::Plus => self.signed(*expr, false),
                _ => Err(syntax(at, format!("unexpected operator {op}"))),
            },
            e @ sql::Expr::BinaryOp { .. } => self.chain(e),
            sql::Expr::Function(f) => self.call(f),
            // Tuples, arrays, subscripts, ...: SQL, not InfluxQL.
            other => {
                use datafusion::sql::sqlparser::ast::Spanned;
                let i = index_of(other.span()).unwrap_or(self.lexed.toks.len());
                Err(syntax(
                    self.offset(i),
                    format!("InfluxQL has no expression {other}"),
                ))
            }
        }
    }

    fn var_ref(&self, ids: Vec<sql::Ident>, data_type: Option<VarType>) -> PResult<VarRef> {
        let at = ids
            .first()
            .and_then(|i| index_of(i.span))
            .map_or(0, |i| self.offset(i));
        let names: Vec<String> = ids.into_iter().map(|i| i.value).collect();
        if names.len() > 3 {
            return Err(invalid(
                at,
                format!("too many segments in {}", names.join(".")),
            ));
        }
        Ok(VarRef {
            name: names.join("."),
            data_type,
        })
    }

    /// `name::type`, `*::field`, `*::tag`.
    fn cast(&self, expr: sql::Expr, data_type: &sql::DataType) -> PResult<(Expr, usize)> {
        let at = self.start_of(&expr);
        let name = match data_type {
            sql::DataType::Custom(name, modifiers) if modifiers.is_empty() => name.to_string(),
            other => other.to_string(),
        };
        let type_at = self
            .lexed
            .toks
            .iter()
            .position(|t| t.kind == TokenKind::DoubleColon && t.start >= at)
            .map_or(at, |i| self.offset(i + 1));
        let type_word = || {
            self.lexed
                .toks
                .iter()
                .find(|t| t.start == type_at)
                .map_or_else(
                    || "end of input".to_string(),
                    |t| describe_token(self.src, t),
                )
        };
        match expr {
            sql::Expr::Wildcard(_) => {
                let w = if name.eq_ignore_ascii_case("field") {
                    Wildcard::Fields
                } else if name.eq_ignore_ascii_case("tag") {
                    Wildcard::Tags
                } else {
                    return Err(syntax(
                        type_at,
                        format!("expected field or tag, found {}", type_word()),
                    ));
                };
                Ok((Expr::Wildcard(w), 1))
            }
            sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) => {
                let Some(t) = VarType::from_name(&name) else {
                    return Err(syntax(
                        type_at,
                        format!(
                            "expected float, integer, unsigned, string, boolean, field or tag, found {}",
                            type_word()
                        ),
                    ));
                };
                let ids = match expr {
                    sql::Expr::Identifier(id) => vec![id],
                    sql::Expr::CompoundIdentifier(ids) => ids,
                    _ => Vec::new(),
                };
                Ok((Expr::VarRef(self.var_ref(ids, Some(t))?), 1))
            }
            _ => Err(syntax(
                type_at.saturating_sub(2),
                "a ::type cast only follows a name or *",
            )),
        }
    }

    fn value(&self, v: sql::ValueWithSpan, negative: bool) -> PResult<(Expr, usize)> {
        let span = v.span;
        let at = index_of(span).map_or(0, |i| self.offset(i));
        let expr = match v.value {
            sql::Value::Number(..) => self.number(span, negative)?,
            sql::Value::SingleQuotedString(s) => Expr::String(s),
            sql::Value::Boolean(b) => Expr::Boolean(b),
            sql::Value::Placeholder(p) => match self.placeholder(&p) {
                Some(tok) if tok.kind == TokenKind::Duration => {
                    Expr::Duration(Parser::duration_from(tok, negative)?)
                }
                Some(tok) if tok.kind == TokenKind::Regex => Expr::Regex(
                    Regex::new(&tok.text)
                        .map_err(|msg| invalid(tok.start, format!("invalid regex: {msg}")))?,
                ),
                _ => return Err(syntax(at, "unexpected placeholder")),
            },
            other => return Err(syntax(at, format!("unexpected value {other}"))),
        };
        Ok((expr, 1))
    }

    /// After a unary `-`/`+`: negates a literal, and turns `-expr` into `-1 * expr` as
    /// InfluxQL does.
    fn signed(&self, inner: sql::Expr, negative: bool) -> PResult<(Expr, usize)> {
        let at = self.start_of(&inner);
        // A literal right after the sign is negated as one token (-9223372036854775808).
        if let sql::Expr::Value(v) = &inner {
            let direct = match &v.value {
                sql::Value::Number(..) => true,
                sql::Value::Placeholder(p) => self
                    .placeholder(p)
                    .is_some_and(|t| t.kind == TokenKind::Duration),
                _ => false,
            };
            if direct {
                if let sql::Expr::Value(v) = inner {
                    return self.value(v, negative);
                }
            }
        }
        let operand = matches!(
            inner,
            sql::Expr::Nested(_)
                | sql::Expr::Identifier(_)
                | sql::Expr::CompoundIdentifier(_)
                | sql::Expr::Function(_)
                | sql::Expr::Cast { .. }
        );
        if !operand {
            let i = first_token(&inner).unwrap_or(self.lexed.toks.len());
            return Err(syntax(
                at,
                format!(
                    "expected identifier, number, duration or '(', found {}",
                    self.describe(i)
                ),
            ));
        }
        let (expr, depth) = self.convert(inner)?;
        if !negative {
            return match expr {
                Expr::String(_) | Expr::Boolean(_) | Expr::Regex(_) | Expr::Wildcard(_) => {
                    Err(invalid(at, format!("cannot apply unary + to {expr}")))
                }
                e => Ok((e, depth)),
            };
        }
        let negated = match expr {
            Expr::Integer(v) => match v.checked_neg() {
                Some(n) => Expr::Integer(n),
                None => return Err(invalid(at, format!("constant -({v}) overflows int64"))),
            },
            Expr::Unsigned(v) if v == 1u64 << 63 => Expr::Integer(i64::MIN),
            Expr::Unsigned(v) => {
                return Err(invalid(at, format!("constant -{v} underflows int64")))
            }
            Expr::Float(v) => Expr::Float(-v),
            Expr::Duration(d) => match d.checked_neg() {
                Some(n) => Expr::Duration(n),
                None => return Err(invalid(at, format!("duration -({d}) overflows"))),
            },
            e @ (Expr::VarRef(_) | Expr::Call(_) | Expr::Binary { .. }) => {
                return Ok((Expr::binary(BinaryOp::Mul, Expr::Integer(-1), e), depth + 1))
            }
            other => return Err(invalid(at, format!("cannot negate {other}"))),
        };
        Ok((negated, depth))
    }

    /// A binary expression: its left edge is taken apart in a loop (a chain of `MAX_CHAIN`
    /// operators is that deep), the right operands converted from the innermost out.
    fn chain(&self, e: sql::Expr) -> PResult<(Expr, usize)> {
        let mut spine = Vec::new();
        let mut cur = e;
        while let sql::Expr::BinaryOp { left, op, right } = cur {
            spine.push((op, *right));
            cur = *left;
        }
        let (mut expr, mut depth) = self.convert(cur)?;
        while let Some((op, right)) = spine.pop() {
            (expr, depth) = self.binary(expr, depth, &op, right)?;
        }
        Ok((expr, depth))
    }

    fn binary(
        &self,
        lhs: Expr,
        ldepth: usize,
        op: &sql::BinaryOperator,
        right: sql::Expr,
    ) -> PResult<(Expr, usize)> {
        use sql::BinaryOperator as B;
        let right_at = self.start_of(&right);
        let op = match op {
            B::Plus => BinaryOp::Add,
            B::Minus => BinaryOp::Sub,
            B::Multiply => BinaryOp::Mul,
            B::Divide => BinaryOp::Div,
            B::Modulo => BinaryOp::Mod,
            B::BitwiseAnd => BinaryOp::BitAnd,
            B::BitwiseOr => BinaryOp::BitOr,
            B::BitwiseXor | B::PGExp => BinaryOp::BitXor,
            B::Eq => BinaryOp::Eq,
            B::NotEq => BinaryOp::Neq,
            B::Lt => BinaryOp::Lt,
            B::LtEq => BinaryOp::Lte,
            B::Gt => BinaryOp::Gt,
            B::GtEq => BinaryOp::Gte,
            B::And => BinaryOp::And,
            B::Or => BinaryOp::Or,
            B::PGRegexMatch => BinaryOp::EqRegex,
            B::PGRegexNotMatch => BinaryOp::NeqRegex,
            other => return Err(syntax(right_at, format!("unexpected operator {other}"))),
        };
        let (rhs, rdepth) = if matches!(op, BinaryOp::EqRegex | BinaryOp::NeqRegex) {
            // Only a regex literal, right after the operator.
            let is_regex = matches!(&right, sql::Expr::Value(v)
                if matches!(&v.value, sql::Value::Placeholder(p)
                    if self.placeholder(p).is_some_and(|t| t.kind == TokenKind::Regex)));
            if !is_regex {
                let i = first_token(&right).unwrap_or(self.lexed.toks.len());
                return Err(syntax(
                    self.offset(i),
                    format!("expected regex, found {}", self.describe(i)),
                ));
            }
            self.convert(right)?
        } else {
            self.convert(right)?
        };
        let depth = ldepth.max(rdepth) + 1;
        if depth > MAX_DEPTH {
            return Err(too_deep(right_at));
        }
        Ok((Expr::binary(op, lhs, rhs), depth))
    }

    fn call(&self, f: sql::Function) -> PResult<(Expr, usize)> {
        let name_ident = match f.name.0.as_slice() {
            [part] => part.as_ident().cloned(),
            _ => None,
        };
        let Some(name) = name_ident else {
            return Err(syntax(0, format!("unexpected call {}", f.name)));
        };
        let name_i = index_of(name.span).unwrap_or(0);
        let start = self.offset(name_i);
        if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
            return Err(syntax(
                start,
                format!("unexpected clause after {}()", name.value),
            ));
        }
        let mut args = Vec::new();
        let mut depth = 0;
        match f.args {
            sql::FunctionArguments::List(list) => {
                if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                    return Err(syntax(
                        start,
                        format!("unexpected clause in {}()", name.value),
                    ));
                }
                for arg in list.args {
                    let (e, d) = match arg {
                        sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e)) => {
                            self.convert(e)?
                        }
                        sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard) => {
                            (Expr::Wildcard(Wildcard::All), 1)
                        }
                        other => return Err(syntax(start, format!("unexpected argument {other}"))),
                    };
                    depth = depth.max(d);
                    args.push(e);
                }
            }
            sql::FunctionArguments::None => {}
            sql::FunctionArguments::Subquery(_) => {
                return Err(syntax(start, "unexpected subquery"));
            }
        }
        Ok((
            Expr::Call(Call {
                name: name.value.to_ascii_lowercase(),
                args,
                span: Span::new(start, self.call_end(name_i)),
            }),
            depth + 1,
        ))
    }

    /// Where the call named by token `name_i` ends: its `)`, or (`DISTINCT x`) its argument.
    fn call_end(&self, name_i: usize) -> usize {
        let toks = &self.lexed.toks;
        if toks.get(name_i + 1).map(|t| t.kind) != Some(TokenKind::LParen) {
            return toks.get(name_i + 1).map_or(0, |t| t.end);
        }
        let mut depth = 0usize;
        for t in toks.iter().skip(name_i + 1) {
            match t.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return t.end;
                    }
                }
                _ => {}
            }
        }
        toks.last().map_or(0, |t| t.end)
    }
}
