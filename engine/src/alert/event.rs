//! An alert event: what an alert task publishes to its topic when an ID changes level (or on
//! every evaluation, by its rules), and what every handler on the topic receives.
//!
//! Its JSON ([`Event::kapacitor_json`]) is Kapacitor's `alert.Data`, byte for byte in field
//! names and formats, so webhooks written for Kapacitor's `post` handler read it unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Level;
use crate::time_text::rfc3339_go;

/// The row (or rows) that raised an event, as InfluxDB's `/query` shapes a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSeries {
    /// Measurement name.
    pub name: String,
    /// The series' tags (the GROUP BY tags).
    pub tags: BTreeMap<String, String>,
    /// `time` first, then the row's fields in output order.
    pub columns: Vec<String>,
    /// One row per point; `time` as RFC 3339 text (Go's format).
    pub values: Vec<Vec<Value>>,
}

/// One published alert event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The topic it was published to.
    pub topic: String,
    /// The alert task that raised it.
    pub task: String,
    /// The rendered `ID` template: which thing is alerting (`cpu:server01`).
    pub id: String,
    /// The rendered `MESSAGE` template.
    pub message: String,
    /// The rendered `DETAILS` template (empty when there is none).
    pub details: String,
    /// Event time of the evaluation, ns since the epoch.
    pub time: i64,
    /// How long the ID has been at `level`, ns.
    pub duration: i64,
    pub level: Level,
    pub previous_level: Level,
    /// Whether a return to OK will be published (`NO RECOVERIES` makes it false).
    pub recoverable: bool,
    /// The data the evaluation saw.
    pub data: EventSeries,
}

impl Event {
    /// Kapacitor's `alert.Data` JSON: the body of a `post` handler's request and the record a
    /// `log` handler appends.
    pub fn kapacitor_json(&self) -> Value {
        json!({
            "id": self.id,
            "message": self.message,
            "details": self.details,
            "time": rfc3339_go(self.time),
            "duration": self.duration,
            "level": self.level.as_str(),
            "data": { "series": [self.data.kapacitor_json()] },
            "previousLevel": self.previous_level.as_str(),
            "recoverable": self.recoverable,
        })
    }
}

impl EventSeries {
    /// InfluxDB's series JSON; `tags` is left out when there are none, as InfluxDB does.
    pub fn kapacitor_json(&self) -> Value {
        let mut series = serde_json::Map::new();
        series.insert("name".into(), json!(self.name));
        if !self.tags.is_empty() {
            series.insert("tags".into(), json!(self.tags));
        }
        series.insert("columns".into(), json!(self.columns));
        series.insert("values".into(), json!(self.values));
        Value::Object(series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kapacitor_shape() {
        let e = Event {
            topic: "cpu".into(),
            task: "cpu_idle".into(),
            id: "cpu:a".into(),
            message: "cpu:a is CRITICAL".into(),
            details: String::new(),
            time: 1_704_067_260_000_000_000,
            duration: 60_000_000_000,
            level: Level::Critical,
            previous_level: Level::Ok,
            recoverable: true,
            data: EventSeries {
                name: "cpu".into(),
                tags: [("host".to_string(), "a".to_string())].into(),
                columns: vec!["time".into(), "idle".into()],
                values: vec![vec![json!("2024-01-01T00:01:00Z"), json!(5.5)]],
            },
        };
        assert_eq!(
            e.kapacitor_json().to_string(),
            r#"{"data":{"series":[{"columns":["time","idle"],"name":"cpu","tags":{"host":"a"},"values":[["2024-01-01T00:01:00Z",5.5]]}]},"details":"","duration":60000000000,"id":"cpu:a","level":"CRITICAL","message":"cpu:a is CRITICAL","previousLevel":"OK","recoverable":true,"time":"2024-01-01T00:01:00Z"}"#
        );
    }
}
