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
        Some(p) if p.as_os_str() != "-" => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut body)),
        _ => std::io::stdin().read_to_end(&mut body),
    };
    if let Err(e) = read {
        eprintln!("error: cannot read input: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut query = vec![("db", args.db.clone()), ("precision", args.precision.clone())];
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
                println!("{}", serde_json::json!({ "status": status.as_u16(), "bytes": bytes }));
            }
            ExitCode::SUCCESS
        }
        Ok((status, text)) => {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or(text);
            if json {
                println!("{}", serde_json::json!({ "status": status.as_u16(), "error": message }));
            } else {
                eprintln!("error: weir answered {status}: {message}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
