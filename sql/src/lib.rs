//! weir's statement language: parsing and validation.
//!
//! weir is driven by statements sent to `POST /api/v1/sql` or `weir exec`:
//! InfluxDB's `CREATE CONTINUOUS QUERY` plus weir's `CREATE ALERT`, `HANDLER`,
//! `ARCHIVE`, `BATCH QUERY`, `FUNCTION` and the management statements. This
//! crate turns their text into a typed tree ([`ast`]) and rejects, with a line,
//! a column and a reason, everything that can be rejected without data.
//!
//! ```
//! let stmts = weir_sql::parse_statements(
//!     "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN \
//!        SELECT mean(usage_idle) INTO cpu_1m FROM cpu GROUP BY time(1m), host \
//!      END; SHOW TASKS",
//! ).unwrap();
//! assert_eq!(stmts.len(), 2);
//! assert_eq!(stmts[1].to_string(), "SHOW TASKS");
//! ```
//!
//! The grammar, with weir's choices where InfluxQL is silent, is documented
//! in [`grammar`].

pub mod alert;
pub mod ast;
pub mod cq;
pub mod duration;
pub mod error;
pub mod eval;
pub mod functions;
#[doc = include_str!("grammar.md")]
pub mod grammar {}
pub mod lexer;
mod parse_stack;
pub mod parser;
mod sql_expr;
pub mod template;
pub mod validate;

pub use ast::{Expr, Select, Statement};
pub use duration::Duration;
pub use error::{ErrorKind, ParseError};
pub use validate::{FunctionSignature, Functions, QueryContext};

use error::RawError;
use lexer::{Lexer, TokenKind};
use parser::{Parser, TargetRule};

/// Context for parsing: what is already defined outside the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParseOptions {
    /// User-defined functions (from `CREATE FUNCTION`, e.g. loaded from the
    /// task store) that SELECTs may call. Functions created earlier in the
    /// same request are added automatically.
    pub functions: Functions,
}

impl ParseOptions {
    /// Adds a user-defined function.
    pub fn with_function(mut self, f: &ast::CreateFunction) -> Self {
        self.functions
            .insert(f.name.clone(), FunctionSignature::from(f));
        self
    }
}

/// Parses and validates a request of `;`-separated statements.
///
/// Empty statements (`;;`) are skipped. Fails on the first bad statement,
/// giving its index, line, column and the reason.
pub fn parse_statements(text: &str) -> Result<Vec<Statement>, ParseError> {
    parse_statements_with(text, &ParseOptions::default())
}

/// [`parse_statements`] with user-defined functions known from elsewhere.
pub fn parse_statements_with(
    text: &str,
    options: &ParseOptions,
) -> Result<Vec<Statement>, ParseError> {
    parse_stack::on_parse_stack(text, || statements_here(text, options))
}

fn statements_here(text: &str, options: &ParseOptions) -> Result<Vec<Statement>, ParseError> {
    let mut parser = Parser::new(text);
    let mut functions = options.functions.clone();
    let mut out = Vec::new();
    loop {
        let mut start = None;
        let result = (|| -> Result<Option<Statement>, RawError> {
            while parser.peek_kind()? == TokenKind::Semicolon {
                parser.next()?;
            }
            let first = parser.peek()?;
            if first.kind == TokenKind::Eof {
                return Ok(None);
            }
            start = Some(first.start);
            let stmt = parser.parse_statement(&functions)?;
            let tok = parser.peek()?;
            match tok.kind {
                TokenKind::Semicolon | TokenKind::Eof => Ok(Some(stmt)),
                _ => Err(RawError::new(
                    tok.start,
                    ErrorKind::Syntax,
                    format!(
                        "expected ';' or end of input, found '{}'",
                        text.get(tok.start..tok.end).unwrap_or(&tok.text)
                    ),
                )),
            }
        })();
        match result {
            Ok(None) => return Ok(out),
            Ok(Some(stmt)) => {
                if let Statement::CreateFunction(f) = &stmt {
                    functions.insert(f.name.clone(), FunctionSignature::from(f));
                }
                out.push(stmt);
            }
            Err(e) => {
                let stmt_text = statement_text(text, start.unwrap_or(e.offset), e.offset);
                return Err(e.into_parse_error(text, out.len(), stmt_text));
            }
        }
    }
}

/// The statement starting at `start` that contains the error at `error_at`:
/// up to the first `;` at or after the error (best effort when lexing fails).
fn statement_text(text: &str, start: usize, error_at: usize) -> String {
    let mut lexer = Lexer::new(text);
    let from = error_at.max(start).min(text.len());
    lexer.seek(from);
    let mut end = text.len();
    while let Ok(tok) = lexer.next_token() {
        match tok.kind {
            TokenKind::Semicolon => {
                end = tok.start;
                break;
            }
            TokenKind::Eof => break,
            _ => {}
        }
    }
    let start = start.min(end);
    text.get(start..end).unwrap_or("").trim().to_string()
}

/// Parses and validates one InfluxQL SELECT (InfluxDB's rules only).
pub fn parse_select(text: &str) -> Result<Select, ParseError> {
    parse_select_with(text, QueryContext::Select, &ParseOptions::default())
}

/// Parses one SELECT and validates it for use in `context`.
pub fn parse_select_with(
    text: &str,
    context: QueryContext,
    options: &ParseOptions,
) -> Result<Select, ParseError> {
    parse_stack::on_parse_stack(text, || select_here(text, context, options))
}

fn select_here(
    text: &str,
    context: QueryContext,
    options: &ParseOptions,
) -> Result<Select, ParseError> {
    let mut parser = Parser::new(text);
    let result = (|| -> Result<Select, RawError> {
        let target = match context {
            QueryContext::ContinuousQuery | QueryContext::BatchQuery => TargetRule::Required,
            _ => TargetRule::Optional,
        };
        let select = parser.parse_select(target)?;
        parser.next_is_end()?;
        validate::validate_select(&select, context, &options.functions)
            .map_err(|e| RawError::new(e.span.start, ErrorKind::Invalid, e.message))?;
        Ok(select)
    })();
    result.map_err(|e| {
        let stmt_text = statement_text(text, 0, e.offset);
        e.into_parse_error(text, 0, stmt_text)
    })
}

/// Parses one expression (an alert condition, a WHERE clause), without validation.
pub fn parse_expr(text: &str) -> Result<Expr, ParseError> {
    parse_stack::on_parse_stack(text, || expr_here(text))
}

fn expr_here(text: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(text);
    let result = (|| -> Result<Expr, RawError> {
        let expr = parser.parse_expr()?;
        parser.next_is_end()?;
        Ok(expr)
    })();
    result.map_err(|e| e.into_parse_error(text, 0, text.trim().to_string()))
}
