//! `GET /metrics` in the Prometheus text exposition format.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use weir_connectors::influx_writer::WriterStats;

use weir_engine::IngestPipeline;

/// Renders the process metrics.
pub fn render(pipeline: &IngestPipeline, tasks: &crate::tasks::TaskManager) -> String {
    let mut out = String::new();
    let stats = pipeline.stats();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        "weir_ingest_requests_total",
        "Write requests received.",
        stats.requests.load(Ordering::Relaxed),
    );
    counter(
        "weir_ingest_bytes_total",
        "Line protocol bytes received (after decompression).",
        stats.bytes.load(Ordering::Relaxed),
    );
    counter(
        "weir_points_accepted_total",
        "Points acknowledged and written to the write-ahead log.",
        stats.points_accepted.load(Ordering::Relaxed),
    );
    counter(
        "weir_points_rejected_total",
        "Lines rejected as malformed or conflicting.",
        stats.points_rejected.load(Ordering::Relaxed),
    );
    counter(
        "weir_points_replayed_total",
        "Points replayed from the write-ahead log at start-up.",
        stats.points_replayed.load(Ordering::Relaxed),
    );
    let wal = pipeline.wal().map(|w| w.stats()).unwrap_or_default();
    counter(
        "weir_wal_records_total",
        "Records appended to the write-ahead log.",
        wal.records_written,
    );
    counter(
        "weir_wal_written_bytes_total",
        "Bytes appended to the write-ahead log.",
        wal.bytes_written,
    );
    counter(
        "weir_wal_fsyncs_total",
        "fsync calls on the write-ahead log.",
        wal.fsyncs,
    );
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        "weir_wal_bytes",
        "Bytes of write-ahead log on disk.",
        wal.bytes_on_disk,
    );
    gauge(
        "weir_wal_segments",
        "Write-ahead log segment files.",
        wal.segments,
    );
    gauge(
        "weir_batcher_buffered_rows",
        "Rows waiting to be cut into a batch.",
        pipeline.buffered_rows() as u64,
    );
    gauge(
        "weir_router_subscribers",
        "Subscribers of the router (tasks, archives).",
        pipeline.router().subscriber_names().len() as u64,
    );
    task_metrics(&mut out, tasks);
    alert_metrics(&mut out, tasks);
    out
}

/// One metric family: `rows` are (labels as `k="v",...`, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
}

/// Alert events by task and level, deliveries by handler, calls by user-defined function.
fn alert_metrics(out: &mut String, tasks: &crate::tasks::TaskManager) {
    let stats = tasks.stats_snapshot();
    let mut rows = Vec::new();
    for (task, s) in &stats {
        for (level, c) in [
            ("OK", &s.alerts_ok),
            ("INFO", &s.alerts_info),
            ("WARNING", &s.alerts_warn),
            ("CRITICAL", &s.alerts_crit),
        ] {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                rows.push((
                    format!("task=\"{}\",level=\"{level}\"", escape_label(task)),
                    n,
                ));
            }
        }
    }
    family(
        out,
        "weir_task_alerts_total",
        "counter",
        "Alert events a task published, by level.",
        rows,
    );
    let handlers = tasks.handler_stats();
    let label = |h: &weir_connectors::handlers::HandlerStats| {
        format!(
            "handler=\"{}\",topic=\"{}\",kind=\"{}\"",
            escape_label(&h.name),
            escape_label(&h.topic),
            escape_label(&h.kind)
        )
    };
    type Get = fn(&weir_connectors::handlers::HandlerStats) -> u64;
    let handler_families: [(&str, &str, &str, Get); 5] = [
        (
            "weir_handler_sent_total",
            "counter",
            "Alert events a handler delivered.",
            |h| h.sent,
        ),
        (
            "weir_handler_failed_total",
            "counter",
            "Alert events a handler gave up (refused, or failing after every retry).",
            |h| h.failed,
        ),
        (
            "weir_handler_retries_total",
            "counter",
            "Failed deliveries that were retried.",
            |h| h.retries,
        ),
        (
            "weir_handler_dropped_total",
            "counter",
            "Alert events dropped because the handler's queue was full.",
            |h| h.dropped,
        ),
        (
            "weir_handler_queued",
            "gauge",
            "Alert events waiting for a handler.",
            |h| h.queued,
        ),
    ];
    for (name, kind, help, get) in handler_families {
        family(
            out,
            name,
            kind,
            help,
            handlers.iter().map(|h| (label(h), get(h))).collect(),
        );
    }
    let udfs = tasks.udf_stats();
    type UdfGet = fn(&weir_connectors::udf_process::UdfStats) -> u64;
    let udf_families: [(&str, &str, UdfGet); 3] = [
        (
            "weir_udf_calls_total",
            "Calls of a user-defined function.",
            |u| u.calls.load(Ordering::Relaxed),
        ),
        (
            "weir_udf_failures_total",
            "Calls of a user-defined function that failed.",
            |u| u.failures.load(Ordering::Relaxed),
        ),
        (
            "weir_udf_restarts_total",
            "Restarts of a user-defined function's program.",
            |u| u.restarts.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, get) in udf_families {
        family(
            out,
            name,
            "counter",
            help,
            udfs.iter()
                .map(|(f, u)| (format!("function=\"{}\"", escape_label(f)), get(u)))
                .collect(),
        );
    }
}

/// A per-task counter family: name, help, and how to read it from the stats.
type Family = (
    &'static str,
    &'static str,
    fn(&crate::tasks::model::TaskStats) -> u64,
);

fn task_metrics(out: &mut String, tasks: &crate::tasks::TaskManager) {
    let stats = tasks.stats_snapshot();
    let families: [Family; 5] = [
        (
            "weir_task_points_in_total",
            "Points a task received.",
            |s| s.points_in.load(Ordering::Relaxed),
        ),
        (
            "weir_task_points_out_total",
            "Points a task emitted.",
            |s| s.points_out.load(Ordering::Relaxed),
        ),
        (
            "weir_task_windows_emitted_total",
            "Windows a task emitted.",
            |s| s.windows_emitted.load(Ordering::Relaxed),
        ),
        (
            "weir_task_points_late_total",
            "Points that arrived after their window closed.",
            |s| s.points_late.load(Ordering::Relaxed),
        ),
        ("weir_task_errors_total", "Errors of a task.", |s| {
            s.errors.load(Ordering::Relaxed)
        }),
    ];
    for (name, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (task, s) in &stats {
            let _ = writeln!(out, "{name}{{task=\"{}\"}} {}", escape_label(task), get(s));
        }
    }
    // Writers to InfluxDB (continuous queries' INTO): the outbox backlog and its retries.
    let writers: Vec<(&String, Arc<WriterStats>)> = stats
        .iter()
        .filter_map(|(task, s)| s.writer().map(|w| (task, w)))
        .collect();
    let writer_families: [WriterFamily; 5] = [
        (
            "weir_task_writer_backlog_bytes",
            "gauge",
            "Bytes of output waiting in a task's outbox for InfluxDB.",
            |w| w.backlog_bytes.load(Ordering::Relaxed),
        ),
        (
            "weir_task_writer_backlog_batches",
            "gauge",
            "Batches of output waiting in a task's outbox for InfluxDB.",
            |w| w.backlog_batches.load(Ordering::Relaxed),
        ),
        (
            "weir_task_writer_points_written_total",
            "counter",
            "Points InfluxDB accepted from a task.",
            |w| w.points_written.load(Ordering::Relaxed),
        ),
        (
            "weir_task_writer_retries_total",
            "counter",
            "Failed writes to InfluxDB that were retried.",
            |w| w.retries.load(Ordering::Relaxed),
        ),
        (
            "weir_task_writer_batches_dropped_total",
            "counter",
            "Batches InfluxDB refused (dropped).",
            |w| w.batches_dropped.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, get) in writer_families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (task, w) in &writers {
            let _ = writeln!(out, "{name}{{task=\"{}\"}} {}", escape_label(task), get(w));
        }
    }
}

/// A per-writer metric family: name, type, help, and how to read it.
type WriterFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WriterStats) -> u64,
);

/// Escapes a Prometheus label value.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
