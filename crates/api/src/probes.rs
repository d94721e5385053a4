//! Unsigned endpoints for operators and orchestrators: `/healthz` (the process answers),
//! `/readyz` (the store answers too) and `/metrics`. They reveal nothing about any tenant.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use bpops_store::{AccountId, OperationId};

use crate::App;

/// The answer to a probe, or `None` when `path` is not one (then it is an API request).
pub(crate) async fn answer(app: &App, method: &Method, path: &str) -> Option<Response> {
    if method != Method::GET {
        return None;
    }
    match path {
        "/healthz" => Some(status(StatusCode::OK, "ok")),
        "/readyz" => Some(ready(app).await),
        "/metrics" => Some(crate::metrics::render(app).await),
        _ => None,
    }
}

/// Ready when a read reaches the store: any read will do, so ask for an id nobody has.
async fn ready(app: &App) -> Response {
    let probe = app
        .engine
        .store()
        .get(&AccountId::new(""), &OperationId::random())
        .await;
    match probe {
        Ok(_) => status(StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            status(StatusCode::SERVICE_UNAVAILABLE, "the store does not answer")
        }
    }
}

fn status(code: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({ "status": text }).to_string(),
        ))
        .expect("a static response is valid")
}
