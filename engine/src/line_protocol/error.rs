//! Parse errors.

/// Why and where a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// 1-based line number in the body. For a line that spans several physical lines (a string
    /// field value containing a newline), the physical line the error is on.
    pub line: usize,
    /// 1-based byte column in that physical line.
    pub column: usize,
    /// The reason.
    pub kind: ParseErrorKind,
}

/// The reason a line could not be parsed. The messages follow InfluxDB's ("missing fields",
/// "invalid number", "unbalanced quotes", "bad timestamp", ...) and add what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The line is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The line starts with `,` (or is empty).
    #[error("missing measurement")]
    MissingMeasurement,
    /// A `,` in the tag set is not followed by a tag key.
    #[error("missing tag key")]
    MissingTagKey,
    /// A tag key has no `=value` or the value is empty.
    #[error("missing tag value")]
    MissingTagValue,
    /// A tag value contains an unescaped `=`.
    #[error(r"invalid tag format: unescaped '=' in a tag value (write it as \=)")]
    InvalidTagFormat,
    /// The same tag key appears twice.
    #[error("duplicate tags: tag key \"{key}\" appears more than once")]
    DuplicateTag {
        /// The tag key, unescaped.
        key: String,
    },
    /// The line has no field set.
    #[error("missing fields")]
    MissingFields,
    /// A field has an empty key (`=1`).
    #[error("missing field key")]
    MissingFieldKey,
    /// A field key ends with a backslash (`a\\=1`), which InfluxDB rejects.
    #[error("invalid field key \"{key}\": a field key may not end with a backslash")]
    InvalidFieldKey {
        /// The field key, as written.
        key: String,
    },
    /// Something in the field set is not a `key=value` pair (`a=1,b`, `a=1,`, `a=1, b=2`).
    #[error("invalid field format: expected key=value")]
    InvalidFieldFormat,
    /// A field key is followed by `=` but no value.
    #[error("missing field value for field \"{field}\"")]
    MissingFieldValue {
        /// The field key, unescaped.
        field: String,
    },
    /// A numeric field value is malformed (`1.2.3`, `1e`, `12x`, `NaN`, `-1u`).
    #[error("invalid number {value} for field \"{field}\"")]
    InvalidNumber {
        /// The field key, unescaped.
        field: String,
        /// The value as written (shortened if long).
        value: String,
    },
    /// A float field value overflows a 64-bit float.
    #[error("invalid float {value} for field \"{field}\": out of range")]
    FloatOutOfRange {
        /// The field key, unescaped.
        field: String,
        /// The value as written (shortened if long).
        value: String,
    },
    /// An integer field value does not fit in a signed 64-bit integer.
    #[error("integer {value} out of range for field \"{field}\": must be between -9223372036854775808i and 9223372036854775807i")]
    IntegerOutOfRange {
        /// The field key, unescaped.
        field: String,
        /// The value as written (shortened if long).
        value: String,
    },
    /// An unsigned field value does not fit in an unsigned 64-bit integer.
    #[error("unsigned integer {value} out of range for field \"{field}\": must be between 0u and 18446744073709551615u")]
    UnsignedOutOfRange {
        /// The field key, unescaped.
        field: String,
        /// The value as written (shortened if long).
        value: String,
    },
    /// A field value starting with `t`, `f`, `T` or `F` is not a boolean.
    #[error("invalid boolean {value} for field \"{field}\": use t, T, true, True, TRUE, f, F, false, False or FALSE (strings must be double-quoted)")]
    InvalidBoolean {
        /// The field key, unescaped.
        field: String,
        /// The value as written (shortened if long).
        value: String,
    },
    /// A field value is not a number, a boolean or a double-quoted string.
    #[error("invalid field value {value} for field \"{field}\": expected a float (1.5), an integer (1i), an unsigned integer (1u), a boolean (true, false) or a double-quoted string")]
    InvalidFieldValue {
        /// The field key, unescaped.
        field: String,
        /// The value as written (shortened if long).
        value: String,
    },
    /// A string field value has no closing double quote.
    #[error("unbalanced quotes: the string value of field \"{field}\" has no closing double quote (write a quote inside a string as \\\")")]
    UnterminatedString {
        /// The field key, unescaped.
        field: String,
    },
    /// Something other than `,`, a space or the end of the line follows a string value's
    /// closing quote.
    #[error("invalid string value for field \"{field}\": unexpected character after the closing double quote (write a quote inside a string as \\\")")]
    TrailingAfterString {
        /// The field key, unescaped.
        field: String,
    },
    /// The timestamp is not an integer.
    #[error("bad timestamp: must be an integer")]
    InvalidTimestamp,
    /// The timestamp does not fit in a signed 64-bit integer.
    #[error("bad timestamp: out of the range of a 64-bit integer")]
    TimestampOutOfRange,
    /// Something other than spaces follows the timestamp.
    #[error("invalid point: unexpected data after the timestamp")]
    TrailingContent,
    /// The key (measurement and tags), or the key plus a field key, is too long.
    #[error("max key length exceeded: {len} > 65535")]
    KeyTooLong {
        /// The length InfluxDB would compute.
        len: usize,
    },
}
