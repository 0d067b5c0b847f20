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
    let start = out.len();
    escape_into(out, measurement, MEASUREMENT_SPECIAL);
    for (k, v) in tags {
        out.push(b',');
        escape_into(out, k, KEY_SPECIAL);
        out.push(b'=');
        escape_into(out, v, KEY_SPECIAL);
    }
    let mut sep = b' ';
    let mut n = 0;
    for (name, value) in fields {
        let mark = out.len();
        out.push(sep);
        escape_into(out, name, KEY_SPECIAL);
        out.push(b'=');
        if !value_into(out, value) {
            out.truncate(mark);
            continue;
        }
        sep = b',';
        n += 1;
    }
    if n == 0 {
        out.truncate(start);
        return false;
    }
    out.push(b' ');
    out.extend_from_slice(time.to_string().as_bytes());
    out.push(b'\n');
    true
}

/// Writes a field value; false for values line protocol cannot carry.
fn value_into(out: &mut Vec<u8>, v: &Value) -> bool {
    match v {
        Value::Float(f) if f.is_finite() => out.extend_from_slice(format!("{f:?}").as_bytes()),
        Value::Float(_) => return false,
        Value::Int(i) => out.extend_from_slice(format!("{i}i").as_bytes()),
        // InfluxDB 1.x stores no unsigned type by default: write what fits as an integer.
        Value::UInt(u) => match i64::try_from(*u) {
            Ok(i) => out.extend_from_slice(format!("{i}i").as_bytes()),
            Err(_) => out.extend_from_slice(format!("{:?}", *u as f64).as_bytes()),
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
