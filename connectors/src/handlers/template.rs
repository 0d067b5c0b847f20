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

fn field(ev: &Event, f: &str) -> String {
    match f {
        "ID" => ev.id.clone(),
        "Message" => ev.message.clone(),
        "Level" => ev.level.as_str().to_string(),
        "Name" => ev.data.name.clone(),
        "TaskName" => ev.task.clone(),
        "Group" => group(ev),
        "Details" => ev.details.clone(),
        "Time" => weir_engine::time_text::rfc3339_go(ev.time),
        "Duration" => format!(
            "{:?}",
            std::time::Duration::from_nanos(ev.duration.max(0) as u64)
        ),
        _ => String::new(),
    }
}
