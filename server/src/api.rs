//! The management API: statements (`/api/v1/sql`), tasks (`/api/v1/tasks`) and alert topics
//! (`/api/v1/topics`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::tasks::model::Status;
use crate::tasks::{ExecError, TaskManager};

/// Routes of the management API.
pub fn routes(tasks: Arc<TaskManager>) -> Router {
    Router::new()
        .route("/api/v1/sql", post(sql))
        .route("/api/v1/tasks", get(list_tasks))
        .route(
            "/api/v1/tasks/{name}",
            get(get_task).patch(patch_task).delete(delete_task),
        )
        .route("/api/v1/topics", get(list_topics))
        .route(
            "/api/v1/topics/{topic}",
            get(topic_events).delete(delete_topic),
        )
        .route("/api/v1/topics/{topic}/events", get(topic_events))
        .route("/api/v1/topics/{topic}/handlers", get(topic_handlers))
        .with_state(tasks)
}

async fn list_topics(State(tasks): State<Arc<TaskManager>>) -> Response {
    match tokio::task::block_in_place(|| tasks.topics()) {
        Ok(list) => Json(json!({ "topics": list })).into_response(),
        Err(e) => error(500, json!({ "error": e.to_string() })),
    }
}

fn no_topic(topic: &str) -> Response {
    error(
        404,
        json!({ "error": format!("topic {topic:?} does not exist: no event was published to it and no handler is subscribed to it") }),
    )
}

async fn topic_events(
    State(tasks): State<Arc<TaskManager>>,
    Path(topic): Path<String>,
) -> Response {
    match tokio::task::block_in_place(|| tasks.topic_events(&topic)) {
        Ok(Some(events)) => Json(json!({ "topic": topic, "events": events })).into_response(),
        Ok(None) => no_topic(&topic),
        Err(e) => error(500, json!({ "error": e.to_string() })),
    }
}

async fn topic_handlers(
    State(tasks): State<Arc<TaskManager>>,
    Path(topic): Path<String>,
) -> Response {
    match tokio::task::block_in_place(|| tasks.topic_handlers(&topic)) {
        Ok(handlers) => Json(json!({ "topic": topic, "handlers": handlers })).into_response(),
        Err(e) => error(500, json!({ "error": e.to_string() })),
    }
}

async fn delete_topic(
    State(tasks): State<Arc<TaskManager>>,
    Path(topic): Path<String>,
) -> Response {
    match tokio::task::block_in_place(|| tasks.delete_topic(&topic)) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => no_topic(&topic),
        Err(e) => error(500, json!({ "error": e.to_string() })),
    }
}

fn error(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

fn exec_error(e: &ExecError) -> Response {
    error(e.http_status(), json!({ "error": e.to_string() }))
}

/// The statements are the body: plain text, or JSON `{"query": "..."}`.
fn statement_text(body: &str) -> String {
    if body.trim_start().starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            if let Some(q) = v.get("query").and_then(Value::as_str) {
                return q.to_string();
            }
        }
    }
    body.to_string()
}

async fn sql(State(tasks): State<Arc<TaskManager>>, body: String) -> Response {
    let text = statement_text(&body);
    let result = tokio::task::block_in_place(|| tasks.execute(&text));
    match result {
        Ok(results) => Json(json!({ "results": results })).into_response(),
        Err(failure) => {
            let mut body = json!({
                "error": failure.error.to_string(),
                "statement_text": failure.statement_text,
                "results": failure.applied,
            });
            match &failure.error {
                ExecError::Parse(p) => {
                    body["statement"] = json!(p.statement);
                    body["line"] = json!(p.line);
                    body["column"] = json!(p.column);
                    body["reason"] = json!(p.reason);
                }
                ExecError::Invalid { index, reason } | ExecError::Conflict { index, reason } => {
                    body["statement"] = json!(index);
                    body["reason"] = json!(reason);
                }
                _ => {}
            }
            error(failure.error.http_status(), body)
        }
    }
}

async fn list_tasks(State(tasks): State<Arc<TaskManager>>) -> Response {
    match tasks.list() {
        Ok(list) => Json(json!({ "tasks": list })).into_response(),
        Err(e) => error(500, json!({ "error": e.to_string() })),
    }
}

async fn get_task(State(tasks): State<Arc<TaskManager>>, Path(name): Path<String>) -> Response {
    match tasks.get(&name) {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(
            404,
            json!({ "error": format!("task {name:?} does not exist") }),
        ),
        Err(e) => error(500, json!({ "error": e.to_string() })),
    }
}

async fn patch_task(
    State(tasks): State<Arc<TaskManager>>,
    Path(name): Path<String>,
    body: String,
) -> Response {
    let status = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string));
    let status = match status.as_deref() {
        Some("enabled") => Status::Enabled,
        Some("disabled") => Status::Disabled,
        _ => {
            return error(
                400,
                json!({ "error": "expected a JSON body {\"status\": \"enabled\"} or {\"status\": \"disabled\"}" }),
            )
        }
    };
    match tokio::task::block_in_place(|| tasks.set_status(&name, status)) {
        Ok(_) => match tasks.get(&name) {
            Ok(Some(v)) => Json(v).into_response(),
            _ => StatusCode::NO_CONTENT.into_response(),
        },
        Err(e) => exec_error(&e),
    }
}

async fn delete_task(State(tasks): State<Arc<TaskManager>>, Path(name): Path<String>) -> Response {
    match tokio::task::block_in_place(|| tasks.delete_task(&name)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => exec_error(&e),
    }
}
