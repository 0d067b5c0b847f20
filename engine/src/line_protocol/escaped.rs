//! [`EscapedStr`]: a possibly-escaped string borrowed from the request body.

use std::borrow::Cow;
use std::fmt;

/// Which escapes apply to a string; each part of a line has its own set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Escaping {
    /// Measurement: `\,` and `\ `.
    #[default]
    Measurement,
    /// Tag key or tag value: `\,`, `\=` and `\ `.
    Tag,
    /// Field key: `\,`, `\=`, `\ ` and `\"`.
    FieldKey,
    /// String field value (between the quotes): `\"` and `\\`.
    StringValue,
}

impl Escaping {
    /// Whether `\` followed by `b` is an escape sequence standing for `b`.
    #[inline]
    pub(crate) fn is_escapable(self, b: u8) -> bool {
        match self {
            Escaping::Measurement => b == b',' || b == b' ',
            Escaping::Tag => b == b',' || b == b' ' || b == b'=',
            Escaping::FieldKey => b == b',' || b == b' ' || b == b'=' || b == b'"',
            Escaping::StringValue => b == b'"' || b == b'\\',
        }
    }
}

/// A possibly-escaped string slice borrowed from the request body (always valid UTF-8: the
/// parser validates).
///
/// `raw()` is the text as written; `unescaped()` is its meaning, borrowed when the text contains
/// no escape sequence. Which escapes apply depends on where the string appeared (measurement,
/// tag, field key or string field value); the value remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EscapedStr<'a> {
    raw: &'a str,
    has_escapes: bool,
    escaping: Escaping,
}

impl<'a> EscapedStr<'a> {
    #[inline]
    pub(crate) fn new(raw: &'a str, has_escapes: bool, escaping: Escaping) -> Self {
        EscapedStr {
            raw,
            has_escapes,
            escaping,
        }
    }

    /// The text as written, escapes included.
    #[inline]
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the text contains an escape sequence, i.e. whether [`Self::unescaped`] differs
    /// from [`Self::raw`].
    #[inline]
    pub fn has_escapes(&self) -> bool {
        self.has_escapes
    }

    /// The text with escape sequences resolved; borrowed when there are none.
    #[inline]
    pub fn unescaped(&self) -> Cow<'a, str> {
        if self.has_escapes {
            Cow::Owned(unescape(self.raw, self.escaping))
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

impl fmt::Display for EscapedStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.unescaped())
    }
}

/// Resolves escapes: a backslash followed by an escapable byte stands for that byte; any other
/// backslash is literal. This is what InfluxDB's `unescapeTag`, `unescapeMeasurement`,
/// `escape.AppendUnescaped` and `unescapeStringField` do.
fn unescape(raw: &str, escaping: Escaping) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\\', &b[i..]) {
        let p = i + p;
        match b.get(p + 1) {
            Some(&next) if escaping.is_escapable(next) => {
                out.push_str(&raw[last..p]);
                last = p + 1;
                i = p + 2;
            }
            _ => i = p + 1,
        }
    }
    out.push_str(&raw[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_rules() {
        let cases = [
            (Escaping::Measurement, r"a\,b\ c\=d", r"a,b c\=d"),
            (Escaping::Tag, r"a\,b\ c\=d\x", r"a,b c=d\x"),
            (Escaping::Tag, r"a\\,b", r"a\,b"),
            (Escaping::Tag, r"a\\\,b", r"a\\,b"),
            (Escaping::FieldKey, r#"a\"b\=c"#, r#"a"b=c"#),
            (Escaping::StringValue, r#"a\"b\\c\d\"#, r#"a"b\c\d\"#),
            (Escaping::StringValue, r"\\\\", r"\\"),
            (Escaping::StringValue, r"\\\", r"\\"),
        ];
        for (esc, raw, want) in cases {
            assert_eq!(unescape(raw, esc), want, "{raw:?} {esc:?}");
        }
    }
}
