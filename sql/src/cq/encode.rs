//! Output rows as InfluxDB line protocol, the body of a `/write` to the `INTO` target.

use weir_engine::lp_encode::{escape_into, KEY_SPECIAL, MEASUREMENT_SPECIAL, STRING_SPECIAL};

use crate::eval::Value;

/// Appends one line; returns false (and appends nothing) when no field has a value InfluxDB
/// can store (null, NaN and infinities are not written, as InfluxDB's `INTO` drops them).
pub(crate) fn line<'a>(
    out: &mut Vec<u8>,
    measurement: &str,
    tags: &[(String, String)],
    fields: impl IntoIterator<Item = (&'a str, &'a Value)>,
    time: i64,
) -> bool {
    line_key(
        out,
        |out| {
            escape_into(out, measurement, MEASUREMENT_SPECIAL);
            for (k, v) in tags {
                out.push(b',');
                escape_into(out, k, KEY_SPECIAL);
                out.push(b'=');
                escape_into(out, v, KEY_SPECIAL);
            }
        },
        fields,
        time,
    )
}

/// As [`line`], with the series key (measurement and tags, escaped) written by `key`.
pub(crate) fn line_key<'a>(
    out: &mut Vec<u8>,
    key: impl FnOnce(&mut Vec<u8>),
    fields: impl IntoIterator<Item = (&'a str, &'a Value)>,
    time: i64,
) -> bool {
    let mut line = Line::start(out, key);
    for (name, value) in fields {
        line.field(name, value);
    }
    line.finish(time)
}

/// One line written field by field straight into the body, so a row's values need not be
/// collected first: [`Line::finish`] ends it, or takes it back when no field had a value.
pub(crate) struct Line<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    fields: usize,
}

impl<'o> Line<'o> {
    /// Starts a line with the series key written by `key`.
    pub(crate) fn start(out: &'o mut Vec<u8>, key: impl FnOnce(&mut Vec<u8>)) -> Line<'o> {
        let start = out.len();
        key(out);
        Line {
            out,
            start,
            fields: 0,
        }
    }

    /// Appends a field; a value line protocol cannot carry is left out.
    pub(crate) fn field(&mut self, name: &str, value: &Value) {
        let mark = self.out.len();
        self.out.push(if self.fields == 0 { b' ' } else { b',' });
        escape_into(self.out, name, KEY_SPECIAL);
        self.out.push(b'=');
        if value_into(self.out, value) {
            self.fields += 1;
        } else {
            self.out.truncate(mark);
        }
    }

    /// As [`Line::field`], the name written in two parts (`{prefix}_{suffix}`, the columns
    /// of `f(*)`) without building it.
    pub(crate) fn field_joined(&mut self, prefix: &str, suffix: &str, value: &Value) {
        let mark = self.out.len();
        self.out.push(if self.fields == 0 { b' ' } else { b',' });
        escape_into(self.out, prefix, KEY_SPECIAL);
        self.out.push(b'_');
        escape_into(self.out, suffix, KEY_SPECIAL);
        self.out.push(b'=');
        if value_into(self.out, value) {
            self.fields += 1;
        } else {
            self.out.truncate(mark);
        }
    }

    /// Ends the line at `time`; false (and nothing written) when it has no field.
    pub(crate) fn finish(self, time: i64) -> bool {
        if self.fields == 0 {
            self.out.truncate(self.start);
            return false;
        }
        self.out.push(b' ');
        int_into(self.out, time);
        self.out.push(b'\n');
        true
    }
}

/// Appends the decimal digits of `i` (as `{i}` formats it), without allocating.
fn int_into(out: &mut Vec<u8>, i: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut u = i.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}

/// Appends `f` exactly as `{f:?}` formats it (shortest round-trip digits, `.0` on integers,
/// an exponent below 1e-4 and from 1e16 on), written straight into the body. (`ryu` is not
/// used: where two shortest forms exist it can pick the other one, e.g. `1658206780088562.2`
/// for `{:?}`'s `1658206780088562.3`, and the output bytes must not change.)
fn float_into(out: &mut Vec<u8>, f: f64) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{f:?}");
}

/// Writes a field value; false for values line protocol cannot carry.
fn value_into(out: &mut Vec<u8>, v: &Value) -> bool {
    match v {
        Value::Float(f) if f.is_finite() => float_into(out, *f),
        Value::Float(_) => return false,
        Value::Int(i) => {
            int_into(out, *i);
            out.push(b'i');
        }
        // InfluxDB 1.x stores no unsigned type by default: write what fits as an integer.
        Value::UInt(u) => match i64::try_from(*u) {
            Ok(i) => {
                int_into(out, i);
                out.push(b'i');
            }
            Err(_) => float_into(out, *u as f64),
        },
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Str(s) => {
            out.push(b'"');
            escape_into(out, s, STRING_SPECIAL);
            out.push(b'"');
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_as_display_and_debug() {
        for i in [
            0,
            1,
            -1,
            9,
            10,
            12_345,
            i64::MIN,
            i64::MAX,
            -1_704_067_200_000_000_000,
        ] {
            let mut out = Vec::new();
            int_into(&mut out, i);
            assert_eq!(out, i.to_string().into_bytes());
        }
        let mut floats = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-5,
            9.99e-5,
            1e-4,
            0.00012,
            123.456,
            1e15,
            9_999_999_999_999_998.0,
            1e16,
            1.5e16,
            1e17,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ];
        // Random bit patterns (every magnitude) and random decimals.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() {
                floats.push(f);
            }
            floats.push((x % 1_000_000) as f64 / 10f64.powi(i % 12) - 500.0);
        }
        for f in floats {
            let mut out = Vec::new();
            float_into(&mut out, f);
            assert_eq!(out, format!("{f:?}").into_bytes(), "{f:?}");
        }
    }
}
