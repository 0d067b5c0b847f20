//! Parse and validation errors.
//!
//! A request may hold several statements; the HTTP API answers a bad one with
//! 400 naming the statement, the line, the column and the reason, so every
//! error carries all four. Positions are 1-based and count characters (not
//! bytes) so they match what an editor shows.

use std::fmt;

/// What kind of mistake an error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text cannot be split into tokens (unterminated string, stray `#`, bad escape...).
    Lexical,
    /// The tokens do not form a statement (`expected FROM, found 'GROUP'`).
    Syntax,
    /// The statement is well formed but not meaningful (unknown function, wrong
    /// argument count, aggregates mixed with raw fields, ...). Wording follows
    /// InfluxDB's where InfluxDB has a message for the same mistake.
    Invalid,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Lexical => "lexical error",
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Invalid => "invalid statement",
        })
    }
}

/// An error in a request of statements, with where it is.
///
/// `Display` gives `line 3, column 14: expected GROUP BY time interval, found 'foo'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct ParseError {
    /// Index (0-based) of the statement within the request.
    pub statement: usize,
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// Byte offset of the offending token in the request text.
    pub offset: usize,
    /// The kind of mistake.
    pub kind: ErrorKind,
    /// What was expected and what was found, or why the statement is invalid.
    pub reason: String,
    /// The text of the offending statement (up to its `;`), for error responses.
    pub statement_text: String,
}

/// An error located by byte offset only; turned into a [`ParseError`] once the
/// statement index and the text are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawError {
    pub offset: usize,
    pub kind: ErrorKind,
    pub reason: String,
}

impl RawError {
    pub(crate) fn new(offset: usize, kind: ErrorKind, reason: impl Into<String>) -> Self {
        RawError {
            offset,
            kind,
            reason: reason.into(),
        }
    }

    pub(crate) fn into_parse_error(
        self,
        text: &str,
        statement: usize,
        statement_text: String,
    ) -> ParseError {
        let (line, column) = line_column(text, self.offset);
        ParseError {
            statement,
            line,
            column,
            offset: self.offset,
            kind: self.kind,
            reason: self.reason,
            statement_text,
        }
    }
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (2, 4));
        assert_eq!(line_column(text, 8), (3, 1));
        assert_eq!(line_column(text, 100), (3, 2));
    }
}
