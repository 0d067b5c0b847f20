//! The daemon's HTTP API.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use weir_connectors::http_write::{self, add_version, WriteState};
use weir_engine::IngestPipeline;

/// State shared by the API handlers.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub pipeline: Arc<IngestPipeline>,
    pub tasks: Arc<crate::tasks::TaskManager>,
}

/// All routes of the daemon.
pub fn app(state: ApiState, max_body_size: usize) -> Router {
    let writes = http_write::routes(WriteState {
        pipeline: Arc::clone(&state.pipeline),
        max_body_size,
    });
    Router::new()
        .route("/ping", get(ping).head(ping))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(writes)
        .merge(crate::api::routes(Arc::clone(&state.tasks)))
        .merge(crate::query_api::routes())
        .fallback(not_found)
}

async fn ping() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    add_version(resp.headers_mut());
    resp
}

async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state.pipeline, &state.tasks),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "error": format!("no such endpoint: {}", uri.path()) })),
    )
        .into_response()
}
