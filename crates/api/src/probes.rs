//! Unsigned endpoints for operators and orchestrators: `/healthz` (the process answers, and
//! says so when it runs on the test clock), `/readyz` (the store answers and takes writes too)
//! and `/metrics`. They reveal nothing about any tenant.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use bpops_protocol::signature::format_timestamp;
use bpops_store::StoreError;
use bpops_time::Clock;

use crate::App;

/// The answer to a probe, or `None` when `path` is not one (then it is an API request).
pub(crate) async fn answer(app: &App, method: &Method, path: &str) -> Option<Response> {
    if method != Method::GET {
        return None;
    }
    match path {
        "/healthz" => Some(healthz(app)),
        "/readyz" => Some(ready(app).await),
        "/metrics" => Some(crate::metrics::render(app).await),
        _ => None,
    }
}

/// Alive; on the test clock, says so and how far it was advanced, where no operator can miss
/// it.
fn healthz(app: &App) -> Response {
    let Some(clock) = app.engine.clock().as_manual() else {
        return status(StatusCode::OK, "ok");
    };
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "clock": "manual",
            "advanced": humantime::format_duration(clock.advanced()).to_string(),
            "now": format_timestamp(clock.now()),
        }),
    )
}

/// Ready when the store answers and takes writes: a node whose disk is full still answers
/// reads, but must not be sent submits.
async fn ready(app: &App) -> Response {
    match app.store.ready().await {
        Ok(()) => status(StatusCode::OK, "ready"),
        Err(StoreError::Full(cause)) => {
            tracing::warn!(cause = %cause, "not ready: the storage is full");
            status(StatusCode::SERVICE_UNAVAILABLE, "the storage is full")
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            status(StatusCode::SERVICE_UNAVAILABLE, "the store does not answer")
        }
    }
}

fn status(code: StatusCode, text: &str) -> Response {
    json(code, &serde_json::json!({ "status": text }))
}

fn json(code: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a static response is valid")
}
