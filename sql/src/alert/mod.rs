//! Alerts: `CREATE ALERT`'s levels, templates and publishing rules applied to result rows.
//!
//! A stream alert's SELECT runs as a continuous query (its output rows come from
//! [`rows_from_lines`]); a batch alert's runs on its schedule. Either way each result row is
//! one evaluation of one alert ID:
//!
//! 1. the level is the highest `INFO|WARN|CRIT WHEN` condition that holds, else OK;
//! 2. the ID is the `ID` template rendered with the row (default `{{name}}:{{group}}`, as
//!    Kapacitor's `{{ .Name }}:{{ .Group }}`: `cpu:host=a`, `cpu:nil` without tags);
//! 3. the ID's [`AlertState`] decides, by the rules (`STATE CHANGES ONLY`, `ALL OK`,
//!    `NO RECOVERIES`, `FLAPPING`), whether an [`Event`] is published to the topic (default:
//!    the task's name), with `MESSAGE` (default `{{id}} is {{level}}`) and `DETAILS` rendered.
//!
//! Templates see every output column and tag by name and `id`, `level`, `previous_level`,
//! `time`, `duration`, `task`, `measurement` (also `name`), `group` and, in DETAILS, `message`.
//! Values print as Kapacitor's Go templates print them (see `format`).

mod cond;
mod format;
mod row;
mod stream;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use weir_engine::alert::{AlertState, Event, EventSeries, Level, Rules};
use weir_engine::time_text::rfc3339_go;

use crate::ast::{AlertLevel, CreateAlert};
use crate::eval::Value;
use crate::template::Template;

pub use row::{rows_from_lines, Row};
pub use stream::{plan_stream, Step, StreamAlert};

/// Why an alert cannot be created.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertError {
    #[error("alert {name}: {level} WHEN {condition}: {reason}")]
    Condition {
        name: String,
        level: &'static str,
        condition: String,
        reason: String,
    },
    #[error("alert {name}: {clause} template: {reason}")]
    Template {
        name: String,
        clause: &'static str,
        reason: String,
    },
    #[error("alert {name}: HISTORY must be at least 2, got {history}")]
    History { name: String, history: u32 },
    #[error("alert {name}: FLAPPING needs 0 <= low <= high <= 1, got {low} {high}")]
    Flapping { name: String, low: f64, high: f64 },
}

/// An alert's evaluation: conditions, templates and publishing rules, compiled once.
#[derive(Debug)]
pub struct AlertRules {
    task: String,
    topic: String,
    conditions: Vec<(Level, cond::Cond)>,
    id: Template,
    message: Template,
    details: Option<Template>,
    rules: Rules,
}

/// The state of every alert ID of one task: what survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertStates {
    pub states: BTreeMap<String, AlertState>,
}

/// What evaluating some rows gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluated {
    /// Events to publish, in row order.
    pub events: Vec<Event>,
    /// Evaluations (rows) by level: OK, INFO, WARNING, CRITICAL.
    pub evaluations: [u64; 4],
}

fn level(l: AlertLevel) -> Level {
    match l {
        AlertLevel::Ok => Level::Ok,
        AlertLevel::Info => Level::Info,
        AlertLevel::Warn => Level::Warning,
        AlertLevel::Crit => Level::Critical,
    }
}

fn template(name: &str, clause: &'static str, text: &str) -> Result<Template, AlertError> {
    Template::parse(text).map_err(|e| AlertError::Template {
        name: name.to_string(),
        clause,
        reason: e.to_string(),
    })
}

impl AlertRules {
    /// Compiles an alert's clauses.
    pub fn new(a: &CreateAlert) -> Result<AlertRules, AlertError> {
        let mut conditions = Vec::new();
        for (l, e) in a.conditions() {
            crate::validate::validate_alert_condition(e)
                .and_then(|()| cond::compile(e))
                .map(|c| conditions.push((level(l), c)))
                .map_err(|reason| AlertError::Condition {
                    name: a.name.clone(),
                    level: l.as_str(),
                    condition: e.to_string(),
                    reason,
                })?;
        }
        // Highest level first: the first condition that holds wins.
        conditions.reverse();
        let history = a.history.unwrap_or(21);
        if history < 2 {
            return Err(AlertError::History {
                name: a.name.clone(),
                history,
            });
        }
        if let Some(f) = a.flapping {
            if !(0.0..=1.0).contains(&f.low) || !(0.0..=1.0).contains(&f.high) || f.low > f.high {
                return Err(AlertError::Flapping {
                    name: a.name.clone(),
                    low: f.low,
                    high: f.high,
                });
            }
        }
        Ok(AlertRules {
            task: a.name.clone(),
            topic: a.topic.clone().unwrap_or_else(|| a.name.clone()),
            conditions,
            id: template(
                &a.name,
                "ID",
                a.id.as_deref().unwrap_or("{{name}}:{{group}}"),
            )?,
            message: template(
                &a.name,
                "MESSAGE",
                a.message.as_deref().unwrap_or("{{id}} is {{level}}"),
            )?,
            details: a
                .details
                .as_deref()
                .map(|d| template(&a.name, "DETAILS", d))
                .transpose()?,
            rules: Rules {
                state_changes_only: a.state_changes_only,
                all_ok: a.all_ok,
                no_recoveries: a.no_recoveries,
                flapping: a.flapping.map(|f| (f.low, f.high)),
                history: history as usize,
            },
        })
    }

    /// The topic events are published to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The levels that have a condition, highest first (`CRITICAL`, `WARNING`).
    pub fn levels(&self) -> Vec<&'static str> {
        self.conditions.iter().map(|(l, _)| l.as_str()).collect()
    }

    /// The level of one row: the highest condition that holds.
    pub fn level_of(&self, row: &Row) -> Level {
        self.conditions
            .iter()
            .find(|(_, c)| c.holds(row))
            .map_or(Level::Ok, |(l, _)| *l)
    }

    /// Evaluates rows in order, updating `states`; returns the events to publish.
    pub fn evaluate(&self, states: &mut AlertStates, rows: &[Row]) -> Evaluated {
        let mut out = Evaluated::default();
        for row in rows {
            let level = self.level_of(row);
            out.evaluations[level as usize] += 1;
            let vars = Vars {
                rules: self,
                row,
                id: None,
                level,
                previous: Level::Ok,
                duration: 0,
                message: None,
            };
            let id = self.id.render(&|n| vars.get(n));
            let state = states
                .states
                .entry(id.clone())
                .or_insert_with(|| AlertState::new(row.time));
            let Some(t) = state.evaluate(row.time, level, &self.rules) else {
                continue;
            };
            let mut vars = Vars {
                id: Some(&id),
                previous: t.previous,
                duration: t.duration,
                ..vars
            };
            let message = self.message.render(&|n| vars.get(n));
            vars.message = Some(&message);
            let details = self
                .details
                .as_ref()
                .map(|d| d.render(&|n| vars.get(n)))
                .unwrap_or_default();
            out.events.push(Event {
                topic: self.topic.clone(),
                task: self.task.clone(),
                id,
                message,
                details,
                time: row.time,
                duration: t.duration,
                level: t.level,
                previous_level: t.previous,
                recoverable: !self.rules.no_recoveries,
                data: series(row),
            });
        }
        out
    }
}

/// The row as the event's data.
fn series(row: &Row) -> EventSeries {
    let mut columns = vec!["time".to_string()];
    let mut values = vec![json!(rfc3339_go(row.time))];
    for (k, v) in &row.fields {
        columns.push(k.clone());
        values.push(match v {
            Value::Float(f) => json!(f),
            Value::Int(i) => json!(i),
            Value::UInt(u) => json!(u),
            Value::Bool(b) => json!(b),
            Value::Str(s) => json!(s),
        });
    }
    EventSeries {
        name: row.measurement.clone(),
        tags: row.tags.iter().cloned().collect(),
        columns,
        values: vec![values],
    }
}

/// The names a template can use.
#[derive(Clone, Copy)]
struct Vars<'a> {
    rules: &'a AlertRules,
    row: &'a Row,
    id: Option<&'a str>,
    level: Level,
    previous: Level,
    duration: i64,
    message: Option<&'a str>,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        // Columns and tags first, then the alert's own variables (Kapacitor's capitalised
        // names are accepted too: `{{.ID}}`, `{{.Level}}`).
        if let Some(v) = self.row.get(name) {
            return Some(format::value(&v));
        }
        Some(match name.to_ascii_lowercase().as_str() {
            "id" => self.id?.to_string(),
            "level" => self.level.as_str().to_string(),
            "previous_level" | "previouslevel" => self.previous.as_str().to_string(),
            "time" => rfc3339_go(self.row.time),
            "duration" => format::duration(self.duration),
            "task" | "taskname" => self.rules.task.clone(),
            "measurement" | "name" => self.row.measurement.clone(),
            "group" => group(self.row),
            "message" => self.message?.to_string(),
            _ => return None,
        })
    }
}

/// Kapacitor's group id: `k1=v1,k2=v2` sorted by key, `nil` without tags.
fn group(row: &Row) -> String {
    if row.tags.is_empty() {
        return "nil".to_string();
    }
    row.tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
