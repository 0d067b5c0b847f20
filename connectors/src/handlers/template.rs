//! The small part of Go's text/template that Kapacitor's handler options use (Alerta's
//! `resource`/`event`/`group`, PagerDuty links, Discord's embed title, MQTT topics):
//! `{{ .ID }}`, `{{ .Message }}`, `{{ .Level }}`, `{{ .Name }}`, `{{ .TaskName }}`,
//! `{{ .Group }}`, `{{ .Details }}`, `{{ .Time }}`, `{{ index .Tags "host" }}`,
//! `{{ index .Fields "value" }}`; any other text is copied.

use serde_json::Value;
use weir_engine::alert::Event;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(&'static str),
    Tag(String),
    Value(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

const FIELDS: &[&str] = &[
    "ID", "Message", "Level", "Name", "TaskName", "Group", "Details", "Time", "Duration",
];

impl Template {
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in template '{text}'"))?;
            let action = after[..end]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            parts.push(parse_action(action).ok_or_else(|| {
                format!(
                    "unsupported template action '{{{{ {action} }}}}' in '{text}': use .ID, .Message, .Level, .Name, .TaskName, .Group, .Details, .Time, .Duration, index .Tags \"key\" or index .Fields \"key\""
                )
            })?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The text with every action replaced by `x`: to check what surrounds them.
    pub(crate) fn render_sample(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                _ => "x",
            })
            .collect()
    }

    pub(crate) fn render(&self, ev: &Event) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(&field(ev, f)),
                Part::Tag(k) => out.push_str(ev.data.tags.get(k).map_or("", String::as_str)),
                Part::Value(k) => {
                    if let Some(v) = first_row_value(ev, k) {
                        match v {
                            Value::String(s) => out.push_str(s),
                            v => out.push_str(&v.to_string()),
                        }
                    }
                }
            }
        }
        out
    }
}

fn parse_action(action: &str) -> Option<Part> {
    if let Some(name) = action.strip_prefix('.') {
        return FIELDS.iter().find(|f| **f == name).map(|f| Part::Field(f));
    }
    let mut words = action.split_whitespace();
    if words.next()? != "index" {
        return None;
    }
    let map = words.next()?;
    let key: String = words.collect::<Vec<_>>().join(" ");
    let key = key.strip_prefix('"')?.strip_suffix('"')?.to_string();
    match map {
        ".Tags" => Some(Part::Tag(key)),
        ".Fields" => Some(Part::Value(key)),
        _ => None,
    }
}

/// Kapacitor's group ID of the series: `k=v,k=v` over the tags, `nil` without tags.
pub(crate) fn group(ev: &Event) -> String {
    if ev.data.tags.is_empty() {
        return "nil".to_string();
    }
    ev.data
        .tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn first_row_value<'a>(ev: &'a Event, column: &str) -> Option<&'a Value> {
    let i = ev.data.columns.iter().position(|c| c == column)?;
    ev.data.values.first()?.get(i)
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1m30s`, `250ms`, `0s`.
pub(crate) fn go_duration(ns: i64) -> String {
    fn frac(whole: u64, rest: u64, digits: usize) -> String {
        let r = format!("{rest:0digits$}");
        let r = r.trim_end_matches('0');
        if r.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{r}")
        }
    }
    let sign = if ns < 0 { "-" } else { "" };
    let n = ns.unsigned_abs();
    let text = if n == 0 {
        "0s".to_string()
    } else if n < 1_000 {
        format!("{n}ns")
    } else if n < 1_000_000 {
        format!("{}µs", frac(n / 1_000, n % 1_000, 3))
    } else if n < 1_000_000_000 {
        format!("{}ms", frac(n / 1_000_000, n % 1_000_000, 6))
    } else {
        let secs = n / 1_000_000_000;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let s = format!("{}s", frac(s, n % 1_000_000_000, 9));
        match (h, m) {
            (0, 0) => s,
            (0, m) => format!("{m}m{s}"),
            (h, m) => format!("{h}h{m}m{s}"),
        }
    };
    format!("{sign}{text}")
}

fn field(ev: &Event, f: &str) -> String {
    match f {
        "ID" => ev.id.clone(),
        "Message" => ev.message.clone(),
        "Level" => ev.level.as_str().to_string(),
        "Name" => ev.data.name.clone(),
        "TaskName" => ev.task.clone(),
        "Group" => group(ev),
        "Details" => ev.details.clone(),
        // Go prints a time.Time as `2006-01-02 15:04:05.999999999 -0700 MST`.
        "Time" => {
            let t = weir_engine::time_text::rfc3339_go(ev.time);
            format!(
                "{} +0000 UTC",
                t.trim_end_matches('Z').replacen('T', " ", 1)
            )
        }
        "Duration" => go_duration(ev.duration),
        _ => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use weir_engine::alert::{EventSeries, Level};

    fn ev(tags: &[(&str, &str)]) -> Event {
        Event {
            topic: "t".into(),
            task: "task1".into(),
            id: "cpu:a".into(),
            message: "m".into(),
            details: "d".into(),
            time: 1_500_000_000,
            duration: 90_000_000_000,
            level: Level::Warning,
            previous_level: Level::Ok,
            recoverable: true,
            data: EventSeries {
                name: "cpu".into(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                columns: vec!["time".into(), "idle".into(), "host_name".into()],
                values: vec![vec![json!("x"), json!(5), json!("web1")]],
            },
        }
    }

    #[test]
    fn renders_kapacitor_fields() {
        let t = Template::parse(
            "{{ .ID }}|{{.Level}}|{{ .Name }}|{{ .TaskName }}|{{ .Group }}|{{ index .Tags \"host\" }}|{{ index .Fields \"idle\" }}|{{ index .Fields \"host_name\" }}|{{ .Time }}|{{ .Duration }}|{{- .Message -}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&ev(&[("host", "a"), ("dc", "x")])),
            "cpu:a|WARNING|cpu|task1|dc=x,host=a|a|5|web1|1970-01-01 00:00:01.5 +0000 UTC|1m30s|m"
        );
        assert_eq!(group(&ev(&[])), "nil");
        let d: Vec<String> = [
            0,
            999,
            1_500,
            250_000_000,
            3_723_500_000_000,
            -2_000_000_000,
        ]
        .into_iter()
        .map(go_duration)
        .collect();
        assert_eq!(d, ["0s", "999ns", "1.5µs", "250ms", "1h2m3.5s", "-2s"]);
        assert_eq!(Template::parse("plain").unwrap().render(&ev(&[])), "plain");
    }

    #[test]
    fn refuses_what_it_cannot_render() {
        assert!(Template::parse("{{ .Nope }}").is_err());
        assert!(Template::parse("{{ if .ID }}x{{ end }}").is_err());
        assert!(Template::parse("{{ .ID ").unwrap_err().contains("unclosed"));
    }
}
