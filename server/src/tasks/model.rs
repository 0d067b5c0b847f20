//! What the task store keeps: task and handler definitions, and task stats.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weir_connectors::influx_writer::WriterStats;

/// The kinds of task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    ContinuousQuery,
    Alert,
    Archive,
    BatchQuery,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::ContinuousQuery => "continuous_query",
            TaskKind::Alert => "alert",
            TaskKind::Archive => "archive",
            TaskKind::BatchQuery => "batch_query",
        }
    }

    /// The statement keyword, for messages.
    pub fn keyword(self) -> &'static str {
        match self {
            TaskKind::ContinuousQuery => "CONTINUOUS QUERY",
            TaskKind::Alert => "ALERT",
            TaskKind::Archive => "ARCHIVE",
            TaskKind::BatchQuery => "BATCH QUERY",
        }
    }
}

/// Whether a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Enabled,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Disabled => "disabled",
        }
    }
}

/// A stored task definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDef {
    pub name: String,
    pub kind: TaskKind,
    pub database: String,
    /// The defining statement, in canonical form (re-parsed on start).
    pub statement: String,
    pub status: Status,
    /// RFC 3339.
    pub created: String,
    pub modified: String,
}

/// A stored handler definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandlerDef {
    pub name: String,
    pub topic: String,
    pub kind: String,
    pub options: serde_json::Map<String, serde_json::Value>,
    pub statement: String,
    pub created: String,
    pub modified: String,
}

/// A stored user-defined function (`CREATE FUNCTION`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    /// `process`.
    pub language: String,
    /// The command line weir starts.
    pub command: String,
    /// How long one call may take, ns.
    pub timeout_ns: u64,
    /// The full statement: its signature is what statements calling it are checked against.
    pub statement: String,
    pub created: String,
    pub modified: String,
}

/// Counters of one task, shared with its runtime.
#[derive(Debug, Default)]
pub struct TaskStats {
    pub points_in: AtomicU64,
    pub points_out: AtomicU64,
    pub windows_emitted: AtomicU64,
    pub points_late: AtomicU64,
    pub errors: AtomicU64,
    pub alerts_ok: AtomicU64,
    pub alerts_info: AtomicU64,
    pub alerts_warn: AtomicU64,
    pub alerts_crit: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The task's InfluxDB writer, if it has one (backlog, retries).
    writer: Mutex<Option<Arc<WriterStats>>>,
}

impl TaskStats {
    /// Counts an error and remembers it as the last one.
    pub fn record_error(&self, message: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(message.into());
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Shows `writer`'s counters with the task's.
    pub fn attach_writer(&self, writer: Arc<WriterStats>) {
        *self.writer.lock() = Some(writer);
    }

    /// The task's InfluxDB writer counters, if it writes to InfluxDB.
    pub fn writer(&self) -> Option<Arc<WriterStats>> {
        self.writer.lock().clone()
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "points_in": get(&self.points_in),
            "points_out": get(&self.points_out),
            "windows_emitted": get(&self.windows_emitted),
            "points_late": get(&self.points_late),
            "errors": get(&self.errors),
            "alerts": {
                "ok": get(&self.alerts_ok),
                "info": get(&self.alerts_info),
                "warn": get(&self.alerts_warn),
                "crit": get(&self.alerts_crit),
            },
            "last_error": self.last_error(),
            "writer": self.writer().map(|w| serde_json::json!({
                "backlog_bytes": get(&w.backlog_bytes),
                "backlog_batches": get(&w.backlog_batches),
                "points_written": get(&w.points_written),
                "retries": get(&w.retries),
                "batches_dropped": get(&w.batches_dropped),
                "last_error": w.last_error(),
            })),
        })
    }
}
