//! The rows an alert evaluates: a continuous query's output lines read back, or a batch
//! query's result rows.

use weir_engine::line_protocol::{lines, parse_line, FieldValue, ParsedLine};

use crate::eval::Value;

/// One result row: a series (measurement and tags) at a time, with its output columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub measurement: String,
    /// The GROUP BY tags, sorted by key.
    pub tags: Vec<(String, String)>,
    /// The output columns in SELECT order (null columns are absent).
    pub fields: Vec<(String, Value)>,
    /// ns since the epoch (the window's start for a windowed query).
    pub time: i64,
}

impl Row {
    /// The value of column or tag `name`: a column first, as InfluxQL resolves names.
    pub fn get(&self, name: &str) -> Option<Value> {
        if let Some((_, v)) = self.fields.iter().find(|(k, _)| k == name) {
            return Some(v.clone());
        }
        self.tag(name).map(|t| Value::Str(t.to_string()))
    }

    /// The value of tag `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads line protocol with nanosecond timestamps (a continuous query's output) into rows.
pub fn rows_from_lines(body: &[u8]) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut parsed = ParsedLine::default();
    for (n, line) in lines(body) {
        parse_line(line, n, &mut parsed).map_err(|e| e.to_string())?;
        let mut tags: Vec<(String, String)> = parsed
            .tags
            .iter()
            .map(|(k, v)| (k.unescaped().into_owned(), v.unescaped().into_owned()))
            .collect();
        tags.sort();
        let fields = parsed
            .fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FieldValue::Float(f) => Value::Float(*f),
                    FieldValue::Integer(i) => Value::Int(*i),
                    FieldValue::UInteger(u) => Value::UInt(*u),
                    FieldValue::Boolean(b) => Value::Bool(*b),
                    FieldValue::String(s) => Value::Str(s.unescaped().into_owned()),
                };
                (k.unescaped().into_owned(), v)
            })
            .collect();
        rows.push(Row {
            measurement: parsed.measurement.unescaped().into_owned(),
            tags,
            fields,
            time: parsed.timestamp.unwrap_or(0),
        });
    }
    Ok(rows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_back() {
        let rows =
            rows_from_lines(b"cpu,host=a,dc=x idle=5.5,n=3i,s=\"a b\" 60000000000\n").unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.measurement, "cpu");
        assert_eq!(
            r.tags,
            vec![("dc".into(), "x".into()), ("host".into(), "a".into())]
        );
        assert_eq!(r.get("idle"), Some(Value::Float(5.5)));
        assert_eq!(r.get("n"), Some(Value::Int(3)));
        assert_eq!(r.get("s"), Some(Value::Str("a b".into())));
        assert_eq!(r.get("host"), Some(Value::Str("a".into())));
        assert_eq!(r.get("nope"), None);
        assert_eq!(r.time, 60_000_000_000);
    }
}
