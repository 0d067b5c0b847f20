//! Table-driven continuous-query cases: every `tests/cases/cq/*.case` file (at the workspace
//! root) is one case — a statement, input points and the lines the query writes `INTO`.
//!
//! ```text
//! # what the case shows (comment lines start with #)
//! -- statement
//! CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO out FROM m GROUP BY time(10s) END
//! -- input precision=s lateness=0s
//! m,host=a v=1 1
//! -- output
//! out mean=1.0 0
//! ```
//!
//! The input is ingested in order (one batch per `-- input` section, several sections allowed),
//! then the task clock is moved far enough for every window to close. The output is compared
//! as a sorted set of lines (InfluxDB stores points, not their order). Instead of `-- output`,
//! `-- error` expects the statement to be refused with a message containing the given text.
//!
//! Input arguments: `precision=`, `lateness=`, `series_ttl=`, and `rewrites=off` for the rows
//! an archive or an alert gets (each once, final) instead of what `INTO` InfluxDB gets (a row
//! that can still change is written at once and again when final).
//!
//! `WEIR_CQ_BLESS=1 cargo test -p weir-sql --test cq_cases` rewrites expected outputs (review
//! the diff!).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_engine::batch::RequestBuilder;
use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
use weir_engine::schema::SchemaRegistry;
use weir_sql::cq::{plan, run_to_completion, run_with_restarts, CqSettings};

#[derive(Debug, Default)]
struct Case {
    statement: String,
    inputs: Vec<(String, String)>,
    output: Option<String>,
    error: Option<String>,
}

fn parse_case(text: &str) -> Case {
    let mut case = Case::default();
    let mut section: Option<(String, String)> = None;
    let mut body = String::new();
    let flush = |case: &mut Case, section: Option<(String, String)>, body: &mut String| {
        if let Some((name, args)) = section {
            let text = std::mem::take(body);
            match name.as_str() {
                "statement" => case.statement = text,
                "input" => case.inputs.push((args, text)),
                "output" => case.output = Some(text),
                "error" => case.error = Some(text.trim().to_string()),
                other => panic!("unknown section -- {other}"),
            }
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- ") {
            flush(&mut case, section.take(), &mut body);
            let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
            section = Some((name.trim().to_string(), args.trim().to_string()));
            continue;
        }
        if line.starts_with('#') && section.as_ref().is_none_or(|(n, _)| n != "output") {
            continue;
        }
        if section.is_some() {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(&mut case, section.take(), &mut body);
    case
}

fn arg<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    args.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn duration_ns(s: &str) -> i64 {
    weir_sql::Duration::parse(s)
        .unwrap_or_else(|e| panic!("bad duration {s}: {e}"))
        .as_nanos()
}

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = parse_case(&text);
    let stmts = weir_sql::parse_statements(&case.statement)
        .map_err(|e| format!("statement does not parse: {e}"))?;
    let stmt = stmts.first().ok_or("no statement")?;
    let planned = plan(stmt);
    if let Some(want) = &case.error {
        return match planned {
            Err(e) if e.to_string().contains(want.as_str()) => Ok(()),
            Err(e) => Err(format!("error {e:?} does not contain {want:?}")),
            Ok(_) => Err(format!(
                "planned, but expected an error containing {want:?}"
            )),
        };
    }
    let planned = Arc::new(planned.map_err(|e| format!("refused: {e}"))?);
    // Small defaults keep fill() cases short: series are forgotten 30 s after their last point.
    // The lines a continuous query writes INTO InfluxDB, rewrites included.
    let mut settings = CqSettings {
        lateness: 0,
        series_ttl: 30_000_000_000,
        provisional: true,
    };
    let reg = SchemaRegistry::in_memory();
    let mut batches = Vec::new();
    for (args, body) in &case.inputs {
        if let Some(l) = arg(args, "lateness") {
            settings.lateness = duration_ns(l);
        }
        if let Some(t) = arg(args, "series_ttl") {
            settings.series_ttl = duration_ns(t);
        }
        // `rewrites=off`: rows once, final, as archives and alerts get them.
        if let Some(r) = arg(args, "rewrites") {
            settings.provisional = r != "off";
        }
        let precision = match arg(args, "precision").unwrap_or("ns") {
            "s" => Precision::Seconds,
            "ms" => Precision::Milliseconds,
            "u" | "us" => Precision::Microseconds,
            _ => Precision::Nanoseconds,
        };
        let mut b = RequestBuilder::new("db", &reg, precision, 0, 1024);
        let mut parsed = ParsedLine::default();
        for (n, l) in lines(body.as_bytes()) {
            parse_line(l, n, &mut parsed).map_err(|e| format!("input line {n}: {e}"))?;
            b.add_line(n, &parsed)
                .map_err(|e| format!("input line {n}: {}", e.reason))?;
        }
        for built in b.finish().map_err(|e| e.to_string())? {
            batches.push((built.measurement.to_string(), built.batch));
        }
    }
    let out = run_to_completion(Arc::clone(&planned), &batches, settings);
    // A restart after every batch (checkpoint, new state, restore) changes nothing.
    let restarted =
        run_with_restarts(planned, &batches, settings).map_err(|e| format!("checkpoint: {e}"))?;
    if restarted != out {
        return Err(format!(
            "output differs when the task is checkpointed and restored after every point:\n\
             without restarts:\n{}\nwith restarts:\n{}",
            String::from_utf8_lossy(&out.body),
            String::from_utf8_lossy(&restarted.body)
        ));
    }
    let mut got: Vec<&str> = std::str::from_utf8(&out.body)
        .map_err(|e| e.to_string())?
        .lines()
        .collect();
    got.sort_unstable();
    let want_text = case.output.clone().unwrap_or_default();
    let mut want: Vec<&str> = want_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    want.sort_unstable();
    if got == want {
        return Ok(());
    }
    if std::env::var_os("WEIR_CQ_BLESS").is_some() {
        let head = text.find("-- output").map_or(text.as_str(), |i| &text[..i]);
        let mut new = head.to_string();
        if !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str("-- output\n");
        for l in &got {
            new.push_str(l);
            new.push('\n');
        }
        std::fs::write(path, new).map_err(|e| e.to_string())?;
        return Ok(());
    }
    Err(format!(
        "output differs\n--- want\n{}\n--- got\n{}",
        want.join("\n"),
        got.join("\n")
    ))
}

#[test]
fn continuous_query_cases() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cases/cq");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "too few cases in {}", dir.display());
    let mut failures = Vec::new();
    for f in &files {
        if let Err(e) = run_case(f) {
            failures.push(format!("{}: {e}", f.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
