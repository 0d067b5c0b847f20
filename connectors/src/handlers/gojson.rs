//! Go's `json.Marshal` text of Kapacitor's `models.Result` (`{"series":[{"name","tags",
//! "columns","values"}]}`), for the handlers that send it inside a string (OpsGenie's
//! `description`, VictorOps' `data`): field order, HTML escaping and number format as Go
//! writes them, so the string is the one Kapacitor sends.

use std::fmt::Write as _;

use serde_json::Value;
use weir_engine::alert::Event;

/// `json.Marshal(event.Data.Result)`.
pub(crate) fn result_text(ev: &Event) -> String {
    let s = &ev.data;
    let mut out = String::from("{\"series\":[{");
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    if !s.name.is_empty() {
        sep(&mut out);
        out.push_str("\"name\":");
        string(&mut out, &s.name);
    }
    if !s.tags.is_empty() {
        sep(&mut out);
        out.push_str("\"tags\":{");
        for (i, (k, v)) in s.tags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(&mut out, k);
            out.push(':');
            string(&mut out, v);
        }
        out.push('}');
    }
    if !s.columns.is_empty() {
        sep(&mut out);
        out.push_str("\"columns\":[");
        for (i, c) in s.columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(&mut out, c);
        }
        out.push(']');
    }
    if !s.values.is_empty() {
        sep(&mut out);
        out.push_str("\"values\":[");
        for (i, row) in s.values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                value(&mut out, v);
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push_str("}]}");
    out
}

/// A JSON value as Go's encoder writes it (object keys sorted, as Go sorts map keys).
pub(crate) fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                float(out, n.as_f64().unwrap_or(0.0));
            }
        }
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value(out, v);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, k);
                out.push(':');
                value(out, &m[k]);
            }
            out.push('}');
        }
    }
}

/// Go's float64 format: shortest digits, exponent form below 1e-6 and from 1e21.
fn float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        // Rust: 1e21, 1.5e-7; Go: 1e+21, 1.5e-07.
        if let Some((mant, exp)) = text.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let _ = write!(out, "{mant}e{sign}{digits:0>2}");
            return;
        }
        out.push_str(&text);
    } else {
        let _ = write!(out, "{f}");
    }
}

/// A string as Go's encoder escapes it (`<`, `>`, `&`, U+2028 and U+2029 too).
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_floats() {
        let mut s = String::new();
        for f in [10.0, 5.5, 1e21, 1.5e-7, 0.000001, -2.25e30, 0.0] {
            float(&mut s, f);
            s.push(' ');
        }
        assert_eq!(s, "10 5.5 1e+21 1.5e-07 0.000001 -2.25e+30 0 ");
    }

    #[test]
    fn go_strings() {
        let mut s = String::new();
        string(&mut s, "a<b>&\"c\"\n\u{1}");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"c\"\n\u0001""#);
    }
}
