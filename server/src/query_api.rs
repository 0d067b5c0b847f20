//! `POST /api/v1/query` and `weir query 'SQL'`: DataFusion SQL over the Parquet archive
//! (tables `db.rp.measurement`, partition pruning on `time`, schemas unified by name).
//!
//! The request body is the SQL text, or JSON `{"query": "..."}`. The answer is JSON
//! `{"columns": [{"name", "type"}], "rows": [[...]]}` (timestamps RFC 3339 with nanoseconds),
//! CSV with `Accept: text/csv`, or an Arrow IPC stream with
//! `Accept: application/vnd.apache.arrow.stream`.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use weir_archive::{ArchiveError, ArchiveQuery, ArchiveRoot};

static ARCHIVE: OnceLock<Arc<ArchiveQuery>> = OnceLock::new();

const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Points the query API at the archive root of `config` (`[archive] url`, relative paths
/// against `[storage] dir`; S3 credentials from the `AWS_*` environment). `serve` calls it
/// once at start; without the call the root is taken from the defaults and `WEIR_*` variables.
pub fn configure(config: &crate::config::Config) -> Result<(), ArchiveError> {
    let q = open(config)?;
    let _ = ARCHIVE.set(Arc::new(q));
    Ok(())
}

fn open(config: &crate::config::Config) -> Result<ArchiveQuery, ArchiveError> {
    let url = &config.archive.url;
    let url = if url.contains("://") {
        url.clone()
    } else {
        config.resolve(url).to_string_lossy().into_owned()
    };
    Ok(ArchiveQuery::new(ArchiveRoot::open(
        &url,
        &config.archive.store_config(),
    )?))
}

/// The archive `POST /api/v1/query` reads (also read by `FROM ARCHIVE` batch queries).
pub(crate) fn archive() -> Result<Arc<ArchiveQuery>, String> {
    if let Some(q) = ARCHIVE.get() {
        return Ok(Arc::clone(q));
    }
    let config = crate::config::Config::load(None).map_err(|e| e.to_string())?;
    let q = open(&config).map_err(|e| e.to_string())?;
    Ok(Arc::clone(ARCHIVE.get_or_init(|| Arc::new(q))))
}

/// The query route; merged into the daemon's router.
pub fn routes() -> Router {
    Router::new().route("/api/v1/query", post(query))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// The SQL of a request body: JSON `{"query": ...}` or the text itself.
fn sql_of(headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "the request body is not UTF-8".to_string())?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
        || text.trim_start().starts_with('{');
    let sql = if is_json {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON body: {e}"))?;
        v.get("query")
            .and_then(|q| q.as_str())
            .ok_or_else(|| "JSON body needs a \"query\" string".to_string())?
            .to_string()
    } else {
        text.to_string()
    };
    if sql.trim().is_empty() {
        return Err("empty query".into());
    }
    Ok(sql)
}

async fn query(headers: HeaderMap, body: Bytes) -> Response {
    let sql = match sql_of(&headers, &body) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let archive = match archive() {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("archive unavailable: {e}"),
            )
        }
    };
    let result = match archive.sql(&sql).await {
        Ok(r) => r,
        Err(e @ ArchiveError::Query(_)) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let rendered = if accept.contains(ARROW_STREAM) {
        weir_archive::query::to_arrow_ipc(&result)
            .map(|b| ([(header::CONTENT_TYPE, ARROW_STREAM)], b).into_response())
    } else if accept.contains("text/csv") {
        weir_archive::query::to_csv(&result)
            .map(|s| ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], s).into_response())
    } else {
        weir_archive::query::to_json(&result).map(|v| axum::Json(v).into_response())
    };
    rendered.unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// `weir query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// SQL over the archive, e.g. `SELECT * FROM telegraf.autogen.cpu WHERE time > now() - interval '1 hour'`.
    sql: String,
    /// Print CSV instead of a table.
    #[arg(long)]
    csv: bool,
}

/// Runs the query on the daemon and prints a table (or JSON with `--json`, CSV with `--csv`).
pub fn run(url: &str, json: bool, args: QueryArgs) -> ExitCode {
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
    let accept = if args.csv {
        "text/csv"
    } else {
        "application/json"
    };
    let result = runtime.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/query", url.trim_end_matches('/')))
            .header("Accept", accept)
            .header("Content-Type", "text/plain")
            .body(args.sql)
            .send()
            .await
            .map_err(|e| format!("cannot reach weir at {url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((status, text))
    });
    match result {
        Ok((status, text)) if status.is_success() => {
            if json || args.csv {
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            } else {
                let rendered = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| {
                        crate::table::render_result(&v)
                            .map(|t| (t, v["rows"].as_array().map_or(0, Vec::len)))
                    });
                match rendered {
                    Some((table, n)) => {
                        println!("{table}({n} row{})", if n == 1 { "" } else { "s" })
                    }
                    None => println!("{text}"),
                }
            }
            ExitCode::SUCCESS
        }
        Ok((status, text)) => crate::client::report_text_error(json, status, text),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn body_is_sql_text_or_json() {
        let h = HeaderMap::new();
        assert_eq!(sql_of(&h, b"SELECT 1").unwrap(), "SELECT 1");
        assert_eq!(sql_of(&h, br#"{"query": "SELECT 2"}"#).unwrap(), "SELECT 2");
        assert!(sql_of(&h, b"  ").is_err());
        assert!(sql_of(&h, br#"{"q": 1}"#).is_err());
    }

    /// The route on a real socket: JSON, JSON body, CSV, Arrow IPC, and a SQL error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_route_answers_json_csv_and_arrow() {
        use weir_archive::encode::{file_schema, record_columns, sorted_rows, write_parquet};
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::load(None).unwrap();
        config.storage.dir = dir.path().to_path_buf();
        config.archive.url = "archive".into();
        // One archive file, as the sink writes it.
        let part = dir
            .path()
            .join("archive/telegraf/autogen/cpu/date=2024-01-01/hour=00");
        std::fs::create_dir_all(&part).unwrap();
        let schema = std::sync::Arc::new(arrow_schema());
        let batch = weir_archive::arrow::record_batch::RecordBatch::try_new(
            std::sync::Arc::clone(&schema),
            vec![
                std::sync::Arc::new(
                    weir_archive::arrow::array::TimestampNanosecondArray::from(vec![
                        1_704_067_200_000_000_001,
                    ])
                    .with_timezone("UTC"),
                ),
                std::sync::Arc::new(
                    ["web,1"]
                        .into_iter()
                        .collect::<weir_archive::arrow::array::DictionaryArray<
                            weir_archive::arrow::datatypes::Int32Type,
                        >>(),
                ),
                std::sync::Arc::new(weir_archive::arrow::array::Float64Array::from(vec![
                    f64::NAN,
                ])),
            ],
        )
        .unwrap();
        let mut cols = weir_archive::encode::Columns::new();
        record_columns(&mut cols, &schema);
        let fs = file_schema(&cols, weir_archive::TimeUnitSpec::Ns);
        let bytes = write_parquet(&sorted_rows(&[batch], &fs).unwrap(), vec![]).unwrap();
        std::fs::write(part.join("a-f000000000001-0000.parquet"), bytes).unwrap();
        configure(&config).unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, routes()).await });
        let url = format!("http://{addr}/api/v1/query");
        let c = reqwest::Client::new();
        let sql = "SELECT time, host, usage FROM telegraf.autogen.cpu";

        let r = c.post(&url).body(sql).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "columns": [{"name": "time", "type": "timestamp"}, {"name": "host", "type": "string"}, {"name": "usage", "type": "float64"}],
                "rows": [["2024-01-01T00:00:00.000000001Z", "web,1", "NaN"]]
            })
        );
        let r = c
            .post(&url)
            .header("Content-Type", "application/json")
            .body(serde_json::json!({ "query": sql }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<serde_json::Value>().await.unwrap(), v);

        let r = c
            .post(&url)
            .header("Accept", "text/csv")
            .body(sql)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            r.text().await.unwrap(),
            "time,host,usage\n2024-01-01T00:00:00.000000001Z,\"web,1\",NaN\n"
        );

        let r = c
            .post(&url)
            .header("Accept", ARROW_STREAM)
            .body(sql)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], ARROW_STREAM);
        let body = r.bytes().await.unwrap();
        assert_eq!(
            &body[..4],
            &[0xff, 0xff, 0xff, 0xff],
            "IPC stream continuation marker"
        );

        let r = c
            .post(&url)
            .body("SELECT nope FROM telegraf.autogen.cpu")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let e: serde_json::Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains("nope"), "{e}");
    }

    fn arrow_schema() -> weir_archive::arrow::datatypes::Schema {
        use weir_engine::schema::{arrow_field, time_field, ColumnKind, FieldType};
        weir_archive::arrow::datatypes::Schema::new(vec![
            time_field(),
            arrow_field("host", ColumnKind::Tag),
            arrow_field("usage", ColumnKind::Field(FieldType::Float)),
        ])
    }
}
