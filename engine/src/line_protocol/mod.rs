//! A zero-copy parser for InfluxDB line protocol, compatible with InfluxDB 1.x.
//!
//! ```text
//! measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]
//! ```
//!
//! The body of a write request is split into lines by [`lines`] and each line is parsed by
//! [`parse_line`] into a reusable [`ParsedLine`] whose strings borrow from the body. Nothing is
//! allocated per line in the common case: strings with escapes are returned as
//! [`EscapedStr`]s, which are unescaped (and allocate) only when asked.
//!
//! # Syntax and semantics
//!
//! The grammar is the one InfluxDB 1.x accepts (`models/points.go`), with the deviations
//! listed at the end of this section.
//!
//! * **Measurement**: everything up to the first unescaped `,` (tags follow) or space (fields
//!   follow). `\,` and `\ ` are escapes; a backslash before any other byte is kept literally.
//!   It may not start with `,`.
//! * **Tags** (optional): `key=value` pairs separated by `,`. In keys and values `\,`, `\=`
//!   and `\ ` are escapes; a backslash before any other byte is kept literally. Keys and
//!   values may not be empty and a value may not contain an unescaped `=` (except, as in
//!   InfluxDB, as its first byte). Duplicate tag keys are an error ("duplicate tags"), as in
//!   InfluxDB. Tags are returned in input order; sorting them is the caller's job.
//! * **Escapes in the key section**: as in InfluxDB, a byte is escaped when the byte before
//!   it is a backslash, so `\\,` is a literal backslash followed by an *escaped* comma (the
//!   measurement `a\\,b` unescapes to `a\,b`). `\\` is not an escape for a backslash.
//! * **Fields** (at least one): `key=value` pairs separated by `,`. Field keys may not be
//!   empty; `\,`, `\=`, `\ ` and `\"` are escapes (InfluxDB's field key iterator unescapes
//!   `\"` too). As in InfluxDB's field scanner, a backslash escapes exactly the next byte,
//!   and a field key may not end with a backslash (InfluxDB rejects `a\\=1`).
//!   Values:
//!   * float: `-1.5`, `1`, `.5`, `5.`, `1e10`, `-1.5E-3` (no `NaN`/`Inf`; values that
//!     overflow `f64` are an error, as in InfluxDB);
//!   * integer: `-12i` (must fit in `i64`);
//!   * unsigned: `12u` (must fit in `u64`; InfluxDB 2.x syntax, also accepted here);
//!   * boolean: `t`, `T`, `true`, `True`, `TRUE`, `f`, `F`, `false`, `False`, `FALSE`;
//!   * string: `"..."`, where `\"` is a double quote and `\\` a backslash; a backslash
//!     before any other byte is kept literally. A string may contain newlines (see
//!     [`lines`]).
//!
//!   Duplicate field keys are accepted and the **last value wins** (InfluxDB 1.x keeps the
//!   last one too); [`ParsedLine::fields`] therefore never contains the same key twice.
//! * **Timestamp** (optional): a signed 64-bit integer in the request's precision. It is
//!   returned raw; scale it with [`Precision::to_nanos`], which also applies InfluxDB's valid
//!   time range. Only spaces may follow it.
//! * Whitespace: leading spaces, tabs and NUL bytes are skipped; the sections are separated by
//!   one or more spaces (after the first space, tabs and NULs are skipped as well, as in
//!   InfluxDB); trailing spaces are allowed.
//! * The key (measurement and tags, as written) may be at most 65535 bytes, and the key plus a
//!   field key plus 4 at most 65535 bytes ("max key length exceeded"), as in InfluxDB.
//! * The whole line must be valid UTF-8.
//!
//! Deliberate deviations from InfluxDB 1.x:
//!
//! * Lines may end with `\r\n` (InfluxDB 1.x rejects the `\r`).
//! * A comment line (first non-blank byte `#`) always ends at the next newline. InfluxDB
//!   decides where a comment ends with the same quote-aware scanner it uses for data lines, so
//!   a comment containing a space, `=` and `"` (or ending in a backslash) silently swallows the
//!   following lines.
//! * After the closing quote of a string value only `,`, a space or the end of the line may
//!   follow. InfluxDB accepts `f="a"b` and stores a mangled value.
//! * Invalid UTF-8 is rejected (InfluxDB 1.x stores it as is).
//! * Unsigned integers (`12u`) are accepted (InfluxDB 1.x OSS rejects them unless built with
//!   unsigned support; 2.x accepts them).

mod error;
mod escaped;
mod find;
mod lines;
mod number;
mod parser;
mod precision;

pub use error::{ParseError, ParseErrorKind};
pub use escaped::EscapedStr;
pub use lines::{lines, Lines};
pub use parser::parse_line;
pub use precision::{Precision, UnknownPrecision, MAX_NANO_TIME, MIN_NANO_TIME};

/// The longest key (measurement and tags as written) InfluxDB accepts.
pub const MAX_KEY_LENGTH: usize = 65535;

/// A field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// A float, e.g. `1.5`, `1`, `1e10`.
    Float(f64),
    /// An integer with the `i` suffix, e.g. `-12i`.
    Integer(i64),
    /// An unsigned integer with the `u` suffix, e.g. `12u`.
    UInteger(u64),
    /// A boolean, e.g. `t` or `false`.
    Boolean(bool),
    /// A double-quoted string, without the quotes.
    String(EscapedStr<'a>),
}

impl FieldValue<'_> {
    /// The name InfluxDB uses for the value's type: `"float"`, `"integer"`, `"unsigned"`,
    /// `"boolean"` or `"string"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Integer(_) => "integer",
            FieldValue::UInteger(_) => "unsigned",
            FieldValue::Boolean(_) => "boolean",
            FieldValue::String(_) => "string",
        }
    }
}

/// One parsed line. Reused across lines to avoid allocation: [`parse_line`] clears and refills
/// it.
#[derive(Debug, Default, Clone)]
pub struct ParsedLine<'a> {
    /// The measurement name.
    pub measurement: EscapedStr<'a>,
    /// The tags, in input order (not sorted); keys are unique.
    pub tags: Vec<(EscapedStr<'a>, EscapedStr<'a>)>,
    /// The fields, at least one; keys are unique (for a key written more than once the last
    /// value is kept, at the position of its last occurrence).
    pub fields: Vec<(EscapedStr<'a>, FieldValue<'a>)>,
    /// The raw timestamp, in the request's precision.
    pub timestamp: Option<i64>,
}

impl ParsedLine<'_> {
    /// Empties the line, keeping the allocations.
    pub fn clear(&mut self) {
        self.measurement = EscapedStr::default();
        self.tags.clear();
        self.fields.clear();
        self.timestamp = None;
    }
}

/// Parses every line of `body`, calling `f` with each line's result in order.
///
/// A convenience over [`lines`] and [`parse_line`] that reuses one [`ParsedLine`].
pub fn parse_body<'a, F>(body: &'a [u8], mut f: F)
where
    F: FnMut(Result<&ParsedLine<'a>, ParseError>),
{
    let mut out = ParsedLine::default();
    for (line_no, line) in lines(body) {
        match parse_line(line, line_no, &mut out) {
            Ok(()) => f(Ok(&out)),
            Err(e) => f(Err(e)),
        }
    }
}
