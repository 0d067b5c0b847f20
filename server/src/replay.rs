//! `weir replay TASK [FILE]`: what a task would produce from recorded points, computed here
//! and printed, without touching the daemon's state: a dry run to check a continuous query or
//! an alert against old data before (or after) it runs for real.
//!
//! The task's definition comes from the daemon (`GET /api/v1/tasks/{name}`); the points from
//! FILE (line protocol, `-` or absent for stdin). They are fed in file order, in requests of
//! `--batch` lines as a client would send them, to the same operators the daemon runs, with a
//! clock that only the points move (each task's clock is its largest event time, SPEC §3.2), so
//! old data gives the results live data gave. At the end the clock passes every window's end.
//! A continuous query or a derived archive prints its result lines (line protocol, ns); an
//! alert prints its events (one JSON object per line with `--json`, a table otherwise).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use weir_engine::batch::RequestBuilder;
use weir_engine::clock::{ManualClock, SharedClock};
use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
use weir_engine::schema::SchemaRegistry;
use weir_sql::alert::{plan_stream, StreamAlert};
use weir_sql::ast::ArchiveSource;
use weir_sql::cq::{CqSettings, CqState, Udfs};
use weir_sql::Statement;

/// `weir replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The task (continuous query, stream alert or archive with AS SELECT).
    task: String,
    /// Line protocol file; standard input when absent or `-`.
    file: Option<PathBuf>,
    /// Timestamp precision of the lines: ns, u, ms, s.
    #[arg(long, default_value = "ns")]
    precision: String,
    /// How long windows wait for late points (the daemon's `[engine] lateness`).
    #[arg(long, default_value = "5s")]
    lateness: humantime::Duration,
    /// Lines per simulated write request.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error("cannot read the points: {0}")]
    Input(std::io::Error),
    #[error("unknown precision {0:?} (ns, u, ms or s)")]
    Precision(String),
    #[error("{0}")]
    Daemon(String),
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("task {task}: {reason}")]
    Task { task: String, reason: String },
}

/// Runs the replay; prints the results on stdout.
pub fn run(url: &str, json: bool, args: ReplayArgs) -> ExitCode {
    match replay(url, json, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn precision(p: &str) -> Result<Precision, ReplayError> {
    Ok(match p {
        "n" | "ns" => Precision::Nanoseconds,
        "u" | "us" | "µ" => Precision::Microseconds,
        "ms" => Precision::Milliseconds,
        "s" => Precision::Seconds,
        other => return Err(ReplayError::Precision(other.to_string())),
    })
}

fn definition(url: &str, task: &str) -> Result<String, ReplayError> {
    let path = format!(
        "{}/api/v1/tasks/{}",
        url.trim_end_matches('/'),
        crate::tasks::urlencode(task)
    );
    let (status, body) =
        crate::client::call(reqwest::Method::GET, &path, None).map_err(ReplayError::Daemon)?;
    if status != 200 {
        return Err(ReplayError::Daemon(format!(
            "weir answered {status}: {}",
            body["error"].as_str().unwrap_or("")
        )));
    }
    body["statement"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ReplayError::Daemon("the task has no statement".into()))
}

/// The points as routed batches, `per_request` lines at a time.
fn batches(
    body: &[u8],
    precision: Precision,
    per_request: usize,
) -> Result<Vec<(String, datafusion::arrow::record_batch::RecordBatch)>, ReplayError> {
    let registry = SchemaRegistry::in_memory();
    let mut out = Vec::new();
    let all: Vec<(usize, &[u8])> = lines(body).collect();
    let mut parsed = ParsedLine::default();
    for chunk in all.chunks(per_request.max(1)) {
        let mut b = RequestBuilder::new("replay", &registry, precision, 0, chunk.len());
        for (n, l) in chunk {
            parse_line(l, *n, &mut parsed).map_err(|e| ReplayError::Line {
                line: *n,
                reason: e.to_string(),
            })?;
            b.add_line(*n, &parsed).map_err(|e| ReplayError::Line {
                line: *n,
                reason: e.reason,
            })?;
        }
        for m in b.finish().map_err(|e| ReplayError::Daemon(e.to_string()))? {
            out.push((m.measurement.to_string(), m.batch));
        }
    }
    Ok(out)
}

fn replay(url: &str, json: bool, args: &ReplayArgs) -> Result<(), ReplayError> {
    let mut body = Vec::new();
    match args.file.as_deref() {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut body))
        }
        _ => std::io::stdin().read_to_end(&mut body),
    }
    .map_err(ReplayError::Input)?;
    let precision = precision(&args.precision)?;
    let statement = definition(url, &args.task)?;
    let task_err = |reason: String| ReplayError::Task {
        task: args.task.clone(),
        reason,
    };
    let stmt = weir_sql::parse_statements(&statement)
        .map_err(|e| {
            task_err(format!(
                "{e} (a task calling user-defined functions cannot be replayed)"
            ))
        })?
        .into_iter()
        .next()
        .ok_or_else(|| task_err("empty statement".into()))?;
    let input = batches(&body, precision, args.batch)?;
    let settings = CqSettings {
        lateness: i64::try_from(args.lateness.as_nanos()).unwrap_or(i64::MAX),
        // As the task writes: a continuous query's INTO keeps the last write of a series and
        // time, archives and alerts keep every row.
        provisional: matches!(stmt, Statement::CreateContinuousQuery(_)),
        ..CqSettings::default()
    };
    let wall = ManualClock::new(0);
    let shared: SharedClock = Arc::new(wall.clone());
    // Far enough for any window (and RESAMPLE FOR) to close.
    let end = 400 * 86_400_000_000_000;
    match &stmt {
        Statement::CreateContinuousQuery(_) | Statement::CreateArchive(_) => {
            let plan = match &stmt {
                Statement::CreateArchive(a) => match &a.source {
                    ArchiveSource::Select(s) => crate::tasks::archive_query::plan(a, s, &Udfs::default()),
                    _ => Err("an archive of raw points has nothing to compute: its points are archived as they are".into()),
                },
                _ => weir_sql::cq::plan(&stmt).map_err(|e| e.to_string()),
            }
            .map_err(task_err)?;
            let mut state = CqState::new(Arc::new(plan), shared, settings);
            let mut out = std::io::stdout().lock();
            let mut write = |b: &[u8]| std::io::Write::write_all(&mut out, b);
            for (m, b) in &input {
                let r = state.ingest(m, b);
                write(&r.output.body).map_err(ReplayError::Input)?;
                write(&state.close().body).map_err(ReplayError::Input)?;
            }
            wall.advance(end);
            write(&state.close().body).map_err(ReplayError::Input)?;
        }
        Statement::CreateAlert(a) if a.schedule.is_none() => {
            let (rules, plan) = plan_stream(&stmt, &Udfs::default()).map_err(task_err)?;
            let mut alert = StreamAlert::new(Arc::new(rules), Arc::new(plan), shared, settings);
            let mut events = Vec::new();
            for (m, b) in &input {
                events.extend(alert.ingest(m, b).evaluated.events);
                events.extend(alert.close().evaluated.events);
            }
            wall.advance(end);
            events.extend(alert.close().evaluated.events);
            if json {
                for e in &events {
                    println!("{}", crate::topics::event_json(e));
                }
            } else {
                let columns: Vec<String> = ["time", "id", "level", "previous", "message"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let rows: Vec<Vec<String>> = events
                    .iter()
                    .map(|e| {
                        vec![
                            weir_engine::time_text::rfc3339_go(e.time),
                            e.id.clone(),
                            e.level.as_str().to_string(),
                            e.previous_level.as_str().to_string(),
                            e.message.clone(),
                        ]
                    })
                    .collect();
                print!("{}", crate::table::render(&columns, &rows));
            }
        }
        _ => {
            return Err(task_err(
                "only continuous queries, stream alerts and archives with AS SELECT can be replayed (a batch task queries its source itself)".into(),
            ))
        }
    }
    Ok(())
}
