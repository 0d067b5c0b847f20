//! InfluxDB-compatible write endpoints.
//!
//! `/write` and `/kapacitor/v1/write` speak InfluxDB 1.x (`db`, `rp`, `precision`, `u`/`p`);
//! `/api/v2/write` speaks 2.x (`bucket=db[/rp]`, `org`, `precision`, `Authorization: Token`),
//! so Telegraf's `influxdb` and `influxdb_v2` outputs both work unchanged. A request is
//! answered 204 only once its lines are in the write-ahead log.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use weir_engine::line_protocol::Precision;
use weir_engine::{IngestPipeline, WriteRequest};

/// Shared state of the write handlers.
#[derive(Debug, Clone)]
pub struct WriteState {
    pub pipeline: Arc<IngestPipeline>,
    /// Largest body, compressed or not, in bytes.
    pub max_body_size: usize,
}

/// Routes for the three write endpoints.
pub fn routes(state: WriteState) -> Router {
    Router::new()
        .route("/write", post(write_v1))
        .route("/kapacitor/v1/write", post(write_v1))
        .route("/api/v2/write", post(write_v2))
        .with_state(state)
}

/// Which API flavour answers, for the error body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    V1,
    V2,
}

/// A failed write, as an HTTP answer.
#[derive(Debug)]
struct WriteFailure {
    status: StatusCode,
    message: String,
    flavour: Flavour,
}

impl WriteFailure {
    fn bad_request(flavour: Flavour, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            flavour,
        }
    }
}

impl IntoResponse for WriteFailure {
    fn into_response(self) -> Response {
        let body = match self.flavour {
            Flavour::V1 => serde_json::json!({ "error": self.message }),
            Flavour::V2 => {
                let code = match self.status {
                    StatusCode::PAYLOAD_TOO_LARGE => "request too large",
                    StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE => {
                        "internal error"
                    }
                    _ => "invalid",
                };
                serde_json::json!({ "code": code, "message": self.message, "error": self.message })
            }
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        add_version(resp.headers_mut());
        resp
    }
}

/// Adds `X-Weir-Version` to a response.
pub fn add_version(headers: &mut HeaderMap) {
    headers.insert(
        "X-Weir-Version",
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
}

async fn write_v1(
    State(state): State<WriteState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let flavour = Flavour::V1;
    let result = async {
        let db = params
            .get("db")
            .filter(|d| !d.is_empty())
            .ok_or_else(|| WriteFailure::bad_request(flavour, "database is required (db=...)"))?
            .clone();
        let rp = params
            .get("rp")
            .filter(|r| !r.is_empty())
            .cloned()
            .unwrap_or_else(|| "autogen".to_string());
        let precision = precision(flavour, params.get("precision"))?;
        handle(&state, flavour, db, rp, precision, &headers, body).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn write_v2(
    State(state): State<WriteState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let flavour = Flavour::V2;
    let result = async {
        let bucket = params
            .get("bucket")
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                WriteFailure::bad_request(flavour, "bucket is required (bucket=db or bucket=db/rp)")
            })?;
        let (db, rp) = match bucket.split_once('/') {
            Some((db, rp)) if !rp.is_empty() => (db.to_string(), rp.to_string()),
            Some((db, _)) => (db.to_string(), "autogen".to_string()),
            None => (bucket.clone(), "autogen".to_string()),
        };
        if db.is_empty() {
            return Err(WriteFailure::bad_request(
                flavour,
                "bucket has an empty database name",
            ));
        }
        let precision = precision(flavour, params.get("precision"))?;
        handle(&state, flavour, db, rp, precision, &headers, body).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn precision(flavour: Flavour, raw: Option<&String>) -> Result<Precision, WriteFailure> {
    match raw {
        None => Ok(Precision::Nanoseconds),
        Some(p) => Precision::parse(p).map_err(|_| {
            WriteFailure::bad_request(
                flavour,
                format!("invalid precision {p:?}: use n, ns, u, us, µ, ms, s, m or h"),
            )
        }),
    }
}

async fn handle(
    state: &WriteState,
    flavour: Flavour,
    db: String,
    rp: String,
    precision: Precision,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, WriteFailure> {
    let body = read_body(state.max_body_size, flavour, headers, body).await?;
    let outcome = state
        .pipeline
        .write(WriteRequest {
            db,
            rp,
            precision,
            body,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "write failed");
            WriteFailure {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("write failed, nothing was stored: {e}"),
                flavour,
            }
        })?;
    if outcome.rejected.is_empty() {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        add_version(resp.headers_mut());
        return Ok(resp);
    }
    // InfluxDB's partial write: the valid lines are stored, the answer names the others.
    const SHOWN: usize = 20;
    let mut message = String::from("partial write: ");
    for (i, r) in outcome.rejected.iter().take(SHOWN).enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        message.push_str(&r.to_string());
    }
    if outcome.rejected.len() > SHOWN {
        message.push_str(&format!(
            "; and {} more rejected lines",
            outcome.rejected.len() - SHOWN
        ));
    }
    message.push_str(&format!(
        " (accepted={} dropped={})",
        outcome.accepted,
        outcome.rejected.len()
    ));
    Err(WriteFailure::bad_request(flavour, message))
}

async fn read_body(
    limit: usize,
    flavour: Flavour,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, WriteFailure> {
    let too_large = || WriteFailure {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("request body exceeds the limit of {limit} bytes ([http] max_body_size)"),
        flavour,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let raw = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large()
        } else {
            WriteFailure::bad_request(flavour, format!("cannot read request body: {e}"))
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(raw),
        Some("gzip") => {
            let mut out = Vec::with_capacity(raw.len() * 4);
            let mut decoder = flate2::read::MultiGzDecoder::new(&raw[..]).take(limit as u64 + 1);
            decoder.read_to_end(&mut out).map_err(|e| {
                WriteFailure::bad_request(flavour, format!("invalid gzip body: {e}"))
            })?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(WriteFailure {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!("unsupported Content-Encoding {other:?}: use gzip or none"),
            flavour,
        }),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}
