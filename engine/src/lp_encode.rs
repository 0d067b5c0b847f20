//! Writing Arrow batches back out as line protocol: for sinks that speak it (InfluxDB's
//! `/write`, the diagnostic tap).

use arrow::array::{
    Array, AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Int32Type, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::schema::{COLUMN_KIND_KEY, TIME_COLUMN};

/// Why a batch cannot be written as line protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("batch has no nanosecond \"time\" column")]
    NoTime,
    #[error("column \"{0}\" has type {1}, which line protocol cannot carry")]
    Unsupported(String, DataType),
}

enum Col<'a> {
    Tag(&'a str, &'a DictionaryArray<Int32Type>, &'a StringArray),
    Float(&'a str, &'a Float64Array),
    Int(&'a str, &'a Int64Array),
    UInt(&'a str, &'a UInt64Array),
    Bool(&'a str, &'a BooleanArray),
    Str(&'a str, &'a StringArray),
}

/// Appends one line per row of `batch` to `out`. Rows without any non-null field are skipped
/// (line protocol requires a field), as are NaN and infinite floats (it cannot express them).
/// Columns whose metadata marks them as tags, or that are dictionary/utf8 without metadata and
/// listed in `extra_tags`, are written as tags.
pub fn encode_batch(
    out: &mut Vec<u8>,
    measurement: &str,
    batch: &RecordBatch,
    extra_tags: &[&str],
) -> Result<usize, EncodeError> {
    let schema = batch.schema();
    let mut time: Option<&TimestampNanosecondArray> = None;
    let mut cols: Vec<Col<'_>> = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let name = field.name().as_str();
        let array = batch.column(i);
        if name == TIME_COLUMN {
            if let DataType::Timestamp(TimeUnit::Nanosecond, _) = field.data_type() {
                time = array.as_any().downcast_ref::<TimestampNanosecondArray>();
            }
            continue;
        }
        let is_tag = field.metadata().get(COLUMN_KIND_KEY).map(String::as_str) == Some("tag")
            || extra_tags.contains(&name);
        let unsupported = || EncodeError::Unsupported(name.to_string(), field.data_type().clone());
        let col = match field.data_type() {
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                let dict = array.as_dictionary::<Int32Type>();
                let values = dict.values().as_string::<i32>();
                if is_tag {
                    Col::Tag(name, dict, values)
                } else {
                    return Err(unsupported());
                }
            }
            DataType::Utf8 if is_tag => return Err(unsupported()),
            DataType::Utf8 => Col::Str(name, array.as_string::<i32>()),
            DataType::Float64 => Col::Float(name, array.as_primitive()),
            DataType::Int64 => Col::Int(name, array.as_primitive()),
            DataType::UInt64 => Col::UInt(name, array.as_primitive()),
            DataType::Boolean => Col::Bool(name, array.as_boolean()),
            _ => return Err(unsupported()),
        };
        cols.push(col);
    }
    let time = time.ok_or(EncodeError::NoTime)?;
    let mut written = 0;
    let mut line = Vec::with_capacity(256);

    for row in 0..batch.num_rows() {
        line.clear();
        escape_into(&mut line, measurement, MEASUREMENT_SPECIAL);
        for col in &cols {
            if let Col::Tag(name, dict, values) = col {
                if dict.is_valid(row) {
                    let key = dict.keys().value(row) as usize;
                    let v = values.value(key);
                    if !v.is_empty() {
                        line.push(b',');
                        escape_into(&mut line, name, KEY_SPECIAL);
                        line.push(b'=');
                        escape_into(&mut line, v, KEY_SPECIAL);
                    }
                }
            }
        }
        let mut sep = b' ';
        let mut fields = 0usize;
        for col in &cols {
            let name = match col {
                Col::Tag(..) => continue,
                Col::Float(n, _)
                | Col::Int(n, _)
                | Col::UInt(n, _)
                | Col::Bool(n, _)
                | Col::Str(n, _) => *n,
            };
            let mark = line.len();
            line.push(sep);
            escape_into(&mut line, name, KEY_SPECIAL);
            line.push(b'=');
            if write_value(&mut line, col, row) {
                sep = b',';
                fields += 1;
            } else {
                line.truncate(mark);
            }
        }
        if fields == 0 || !time.is_valid(row) {
            continue;
        }
        line.push(b' ');
        line.extend_from_slice(time.value(row).to_string().as_bytes());
        line.push(b'\n');
        out.extend_from_slice(&line);
        written += 1;
    }
    Ok(written)
}

/// Appends the value of `col` at `row`; false when there is none to write (null, NaN, inf).
fn write_value(out: &mut Vec<u8>, col: &Col<'_>, row: usize) -> bool {
    match col {
        Col::Tag(..) => false,
        Col::Float(_, a) => {
            let ok = a.is_valid(row) && a.value(row).is_finite();
            if ok {
                out.extend_from_slice(format_float(a.value(row)).as_bytes());
            }
            ok
        }
        Col::Int(_, a) => {
            let ok = a.is_valid(row);
            if ok {
                out.extend_from_slice(a.value(row).to_string().as_bytes());
                out.push(b'i');
            }
            ok
        }
        Col::UInt(_, a) => {
            let ok = a.is_valid(row);
            if ok {
                out.extend_from_slice(a.value(row).to_string().as_bytes());
                out.push(b'u');
            }
            ok
        }
        Col::Bool(_, a) => {
            let ok = a.is_valid(row);
            if ok {
                out.extend_from_slice(if a.value(row) { b"true" } else { b"false" });
            }
            ok
        }
        Col::Str(_, a) => {
            let ok = a.is_valid(row);
            if ok {
                out.push(b'"');
                escape_into(out, a.value(row), STRING_SPECIAL);
                out.push(b'"');
            }
            ok
        }
    }
}

/// A float as line protocol reads it back exactly (shortest round-trip form).
fn format_float(v: f64) -> String {
    // `{:?}` gives "1.0", "1e300", "-0.0": all valid line protocol floats.
    format!("{v:?}")
}

/// Bytes escaped in measurement names.
pub const MEASUREMENT_SPECIAL: &[u8] = b", ";
/// Bytes escaped in tag keys, tag values and field keys.
pub const KEY_SPECIAL: &[u8] = b",= ";
/// Bytes escaped inside double-quoted string field values.
pub const STRING_SPECIAL: &[u8] = b"\"\\";

/// Appends `s` with a backslash before every byte of `special` (one of the sets above), so
/// every sink that writes line protocol escapes the same way the parser unescapes.
pub fn escape_into(out: &mut Vec<u8>, s: &str, special: &[u8]) {
    let bytes = s.as_bytes();
    // Runs without a special byte are copied whole: names and tag values rarely need an
    // escape, and this is on every output line.
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        // `any` over the two or three special bytes compiles to compares (`contains` would
        // call memchr for every byte).
        if special.iter().any(|c| c == b) {
            out.extend_from_slice(&bytes[from..i]);
            out.push(b'\\');
            from = i;
        }
    }
    out.extend_from_slice(&bytes[from..]);
}

/// [`escape_into`] for a `String` (the special sets are ASCII, so UTF-8 stays intact).
pub fn escape_into_string(out: &mut String, s: &str, special: &[u8]) {
    for c in s.chars() {
        if c.is_ascii() && special.contains(&(c as u8)) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::batch::RequestBuilder;
    use crate::line_protocol::{lines, parse_line, ParsedLine, Precision};
    use crate::schema::SchemaRegistry;

    #[test]
    fn escapes_every_special_byte_wherever_it_is() {
        for (s, want) in [
            ("", ""),
            ("plain", "plain"),
            (",a", "\\,a"),
            ("a b", "a\\ b"),
            ("a=", "a\\="),
            (",= x,", "\\,\\=\\ x\\,"),
            ("héllo wörld", "héllo\\ wörld"),
        ] {
            let mut out = b"k=".to_vec();
            escape_into(&mut out, s, KEY_SPECIAL);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("k={want}"),
                "{s:?}"
            );
            let mut string = String::from("k=");
            escape_into_string(&mut string, s, KEY_SPECIAL);
            assert_eq!(string, format!("k={want}"), "{s:?}");
        }
    }

    #[test]
    fn encodes_what_the_parser_reads_back() {
        let body = "we\\ ird,ho\\=st=a\\,b v=1.5,i=-3i,u=7u,b=true,s=\"q\\\"uo\\\\te\" 10\n\
                    we\\ ird,ho\\=st=c i=4i 20\n";
        let reg = SchemaRegistry::in_memory();
        let mut b = RequestBuilder::new("db", &reg, Precision::Nanoseconds, 0, 8);
        let mut line = ParsedLine::default();
        for (n, l) in lines(body.as_bytes()) {
            parse_line(l, n, &mut line).unwrap();
            b.add_line(n, &line).unwrap();
        }
        let built = b.finish().unwrap();
        let mut out = Vec::new();
        let n = encode_batch(&mut out, &built[0].measurement, &built[0].batch, &[]).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "we\\ ird,ho\\=st=a\\,b b=true,i=-3i,s=\"q\\\"uo\\\\te\",u=7u,v=1.5 10\n\
             we\\ ird,ho\\=st=c i=4i 20\n"
        );
    }
}
