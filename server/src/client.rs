//! Client commands: talk to a running daemon over HTTP.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// `weir write`.
#[derive(Debug, clap::Args)]
pub struct WriteArgs {
    /// Database.
    #[arg(long, default_value = "weir")]
    db: String,
    /// Retention policy (default: the database's default, `autogen`).
    #[arg(long)]
    rp: Option<String>,
    /// Timestamp precision of the lines: n, u, ms, s, m, h.
    #[arg(long, default_value = "ns")]
    precision: String,
    /// Gzip the body on the wire.
    #[arg(long)]
    gzip: bool,
    /// Line protocol file; standard input when absent or `-`.
    file: Option<PathBuf>,
}

/// Sends the lines; exits non-zero with the server's message if any line was rejected.
pub fn write(url: &str, json: bool, args: WriteArgs) -> ExitCode {
    let mut body = Vec::new();
    let read = match args.file.as_deref() {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut body))
        }
        _ => std::io::stdin().read_to_end(&mut body),
    };
    if let Err(e) = read {
        eprintln!("error: cannot read input: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut query = vec![
        ("db", args.db.clone()),
        ("precision", args.precision.clone()),
    ];
    if let Some(rp) = &args.rp {
        query.push(("rp", rp.clone()));
    }
    let bytes = body.len();
    let result = runtime.block_on(async move {
        let client = reqwest::Client::new();
        let mut req = client
            .post(format!("{}/write", url.trim_end_matches('/')))
            .query(&query);
        let payload = if args.gzip {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body).map_err(|e| e.to_string())?;
            req = req.header("Content-Encoding", "gzip");
            enc.finish().map_err(|e| e.to_string())?
        } else {
            body
        };
        let resp = req
            .body(payload)
            .send()
            .await
            .map_err(|e| format!("cannot reach weir at {url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Ok::<_, String>((status, text))
    });
    match result {
        Ok((status, _)) if status.is_success() => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "status": status.as_u16(), "bytes": bytes })
                );
            }
            ExitCode::SUCCESS
        }
        Ok((status, text)) => report_text_error(json, status, text),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Statements to send: a file, or `-e` text.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Statements given on the command line.
    #[arg(short = 'e', long = "execute", conflicts_with = "file")]
    execute: Option<String>,
    /// A file of `;`-separated statements (`-` for standard input).
    file: Option<PathBuf>,
}

/// Calls the daemon's API: returns the status and the JSON body (or the text as a string).
pub(crate) fn call(
    method: reqwest::Method,
    url: &str,
    body: Option<String>,
) -> Result<(u16, serde_json::Value), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let mut req = reqwest::Client::new().request(method, url);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("cannot reach weir at {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        Ok((status, value))
    })
}

fn api(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Prints an error answer and returns the failure exit code.
/// Prints an error answer whose body is text (JSON with an `error` member, or anything) and
/// returns the failure exit code.
pub fn report_text_error(json: bool, status: reqwest::StatusCode, text: String) -> ExitCode {
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or(text);
    if json {
        println!(
            "{}",
            serde_json::json!({ "status": status.as_u16(), "error": message })
        );
    } else {
        eprintln!("error: weir answered {status}: {message}");
    }
    ExitCode::FAILURE
}

fn report_error(json: bool, status: u16, body: &serde_json::Value) -> ExitCode {
    if json {
        println!("{body}");
    } else {
        let message = body
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        eprintln!("error: weir answered {status}: {message}");
        if let Some(text) = body.get("statement_text").and_then(|t| t.as_str()) {
            eprintln!("in statement: {text}");
        }
    }
    ExitCode::FAILURE
}

/// `weir exec`.
pub fn exec(url: &str, json: bool, args: ExecArgs) -> ExitCode {
    let text = match (args.execute, args.file) {
        (Some(t), _) => t,
        (None, Some(p)) if p.as_os_str() != "-" => match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
        _ => {
            let mut t = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut t) {
                eprintln!("error: cannot read standard input: {e}");
                return ExitCode::FAILURE;
            }
            t
        }
    };
    match call(reqwest::Method::POST, &api(url, "/api/v1/sql"), Some(text)) {
        Ok((200, body)) => {
            if json {
                println!("{body}");
            } else if let Some(results) = body.get("results").and_then(|r| r.as_array()) {
                for r in results {
                    match crate::table::render_result(r) {
                        Some(t) => print!("{t}"),
                        None => println!("{}", describe_result(r)),
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => report_error(json, status, &body),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn describe_result(r: &serde_json::Value) -> String {
    let Some(obj) = r.as_object() else {
        return r.to_string();
    };
    let kind = obj.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    for verb in ["created", "replaced", "dropped", "enabled", "disabled"] {
        if let Some(name) = obj.get(verb) {
            return match name.as_str() {
                Some(n) if kind.is_empty() => format!("{verb} {n}"),
                Some(n) => format!("{verb} {kind} {n}"),
                None => format!("nothing {verb}"),
            };
        }
    }
    r.to_string()
}

/// Prints the list of objects under `key` of the answer to `GET path` as a table of
/// `columns` (or the whole answer as JSON).
fn list(url: &str, json: bool, path: &str, key: &str, columns: &[&str]) -> ExitCode {
    match call(reqwest::Method::GET, &api(url, path), None) {
        Ok((200, body)) => {
            if json {
                println!("{body}");
                return ExitCode::SUCCESS;
            }
            let columns: Vec<String> = columns.iter().map(|s| s.to_string()).collect();
            let rows: Vec<Vec<String>> = body
                .get(key)
                .and_then(|t| t.as_array())
                .map(|items| {
                    items
                        .iter()
                        .map(|t| {
                            columns
                                .iter()
                                .map(|c| crate::table::cell(&t[c.as_str()]))
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            print!("{}", crate::table::render(&columns, &rows));
            ExitCode::SUCCESS
        }
        Ok((status, body)) => report_error(json, status, &body),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `weir tasks`.
pub fn tasks(url: &str, json: bool) -> ExitCode {
    list(
        url,
        json,
        "/api/v1/tasks",
        "tasks",
        &["name", "kind", "database", "status", "running", "modified"],
    )
}

/// `weir topics`.
pub fn topics(url: &str, json: bool) -> ExitCode {
    list(
        url,
        json,
        "/api/v1/topics",
        "topics",
        &["topic", "level", "events", "handlers"],
    )
}

/// `weir events TOPIC`: the latest event of every alert ID of the topic.
pub fn events(url: &str, json: bool, topic: &str) -> ExitCode {
    list(
        url,
        json,
        &format!("/api/v1/topics/{}/events", crate::tasks::urlencode(topic)),
        "events",
        &["id", "level", "time", "duration", "message", "task"],
    )
}

/// `weir show NAME`.
pub fn show(url: &str, json: bool, name: &str) -> ExitCode {
    match call(
        reqwest::Method::GET,
        &api(url, &format!("/api/v1/tasks/{name}")),
        None,
    ) {
        Ok((200, body)) => {
            if json {
                println!("{body}");
                return ExitCode::SUCCESS;
            }
            for key in [
                "name",
                "kind",
                "database",
                "status",
                "running",
                "created",
                "modified",
                "last_error",
            ] {
                println!("{key:<10} {}", crate::table::cell(&body[key]));
            }
            println!("\nstatement:\n  {}", crate::table::cell(&body["statement"]));
            if let Some(stats) = body.get("stats").and_then(|s| s.as_object()) {
                println!("\nstats:");
                for (k, v) in stats {
                    if k != "last_error" {
                        println!("  {k:<16} {v}");
                    }
                }
            }
            if let Some(plan) = body.get("plan").and_then(|p| p.as_str()) {
                println!("\nplan:\n{plan}");
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => report_error(json, status, &body),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `weir enable|disable NAME`.
pub fn set_status(url: &str, json: bool, name: &str, status: &str) -> ExitCode {
    let body = serde_json::json!({ "status": status }).to_string();
    match call(
        reqwest::Method::PATCH,
        &api(url, &format!("/api/v1/tasks/{name}")),
        Some(body),
    ) {
        Ok((200 | 204, body)) => {
            if json {
                println!("{body}");
            } else {
                println!("{name} {status}");
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => report_error(json, status, &body),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `weir drop NAME`.
pub fn drop_task(url: &str, json: bool, name: &str) -> ExitCode {
    match call(
        reqwest::Method::DELETE,
        &api(url, &format!("/api/v1/tasks/{name}")),
        None,
    ) {
        Ok((204, _)) => {
            if json {
                println!("{}", serde_json::json!({ "dropped": name }));
            } else {
                println!("dropped {name}");
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => report_error(json, status, &body),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
