//! Human-readable tables for client commands on a terminal.

use serde_json::Value;

/// Renders `columns` and `rows` as an aligned text table.
pub fn render(columns: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let w = widths.get(i).copied().unwrap_or(0);
            s.push_str(cell);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w.saturating_sub(cell.chars().count())));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(columns);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// A JSON value as a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.replace('\n', " "),
        other => other.to_string(),
    }
}

/// Renders a `{"columns": [...], "rows": [[...]]}` result.
pub fn render_result(v: &Value) -> Option<String> {
    let columns: Vec<String> = v
        .get("columns")?
        .as_array()?
        .iter()
        .map(|c| match c {
            Value::Object(o) => o.get("name").map(cell).unwrap_or_default(),
            other => cell(other),
        })
        .collect();
    let rows: Vec<Vec<String>> = v
        .get("rows")?
        .as_array()?
        .iter()
        .map(|r| {
            r.as_array()
                .map(|cells| cells.iter().map(cell).collect())
                .unwrap_or_default()
        })
        .collect();
    Some(render(&columns, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let t = render(
            &["name".into(), "kind".into()],
            &[
                vec!["cpu_1m".into(), "continuous_query".into()],
                vec!["a".into(), "archive".into()],
            ],
        );
        assert_eq!(
            t,
            "name    kind\n------  ----------------\ncpu_1m  continuous_query\na       archive\n"
        );
    }
}
