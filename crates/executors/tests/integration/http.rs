//! The `http` executor against a real receiver on loopback (axum), which verifies the
//! signature the way the crate documentation tells receivers to.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use bpops_catalog::HttpSpec;
use bpops_executors::{FailureKind, Job, OUTPUT_LIMIT, RESULT_LIMIT, run_http};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::common::{TRACEPARENT, job};

const SECRET: &str = "receiver-shared-secret";
const LONG: Duration = Duration::from_secs(20);

/// Checks the request as a receiver must, computing the HMAC here rather than through the
/// crate, so a mistake in the crate's scheme cannot hide itself.
fn verified(headers: &HeaderMap, body: &[u8]) -> Result<Value, (StatusCode, String)> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
            .ok_or((StatusCode::BAD_REQUEST, format!("missing {name}")))
    };
    let timestamp = text("x-bpops-timestamp")?;
    let signature = text("x-bpops-signature")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let expected = hex::decode(signature.strip_prefix("sha256=").unwrap_or_default())
        .map_err(|_| (StatusCode::UNAUTHORIZED, "malformed signature".to_string()))?;
    mac.verify_slice(&expected)
        .map_err(|_| (StatusCode::UNAUTHORIZED, "bad signature".to_string()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed_at: u64 = timestamp.parse().unwrap();
    if now.abs_diff(signed_at) > 300 {
        return Err((StatusCode::UNAUTHORIZED, "stale timestamp".to_string()));
    }
    if text("content-type")? != "application/json" {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "not JSON".to_string()));
    }
    let job: Value = serde_json::from_slice(body)
        .map_err(|_| (StatusCode::BAD_REQUEST, "body is not JSON".to_string()))?;
    if text("idempotency-key")? != job["OperationId"] {
        return Err((
            StatusCode::BAD_REQUEST,
            "idempotency key mismatch".to_string(),
        ));
    }
    Ok(job)
}

async fn hook(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    match verified(&headers, &body) {
        Ok(job) => {
            let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
            let answer = json!({
                "Arguments": {"received": job, "traceparent": traceparent},
                "Message": format!("rolled out {}", job["Attributes"]["version"].as_str().unwrap_or("?")),
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                answer.to_string(),
            )
        }
        Err((status, why)) => (status, [(header::CONTENT_TYPE, "text/plain")], why),
    }
}

/// Starts the receiver on an ephemeral loopback port.
async fn receiver() -> SocketAddr {
    let app = Router::new()
        .route("/hooks/rollout", post(hook))
        .route(
            "/hooks/broken",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database is down") }),
        )
        .route(
            "/hooks/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/hooks/html", post(|| async { "<html>ok</html>" }))
        .route(
            "/hooks/huge",
            post(|| async { "x".repeat(2 * 1024 * 1024) }),
        )
        .route(
            "/hooks/at-cap",
            post(|| async { arguments_of(RESULT_LIMIT) }),
        )
        .route(
            "/hooks/over-cap",
            post(|| async { arguments_of(RESULT_LIMIT + 1) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// An answer whose `Arguments` are a JSON string `bytes` long as JSON text.
fn arguments_of(bytes: usize) -> String {
    format!(r#"{{"Arguments": "{}"}}"#, "a".repeat(bytes - 2))
}

/// One attempt against the receiver's `path`, signed with `secret`, for operation `id`.
async fn attempt(
    address: SocketAddr,
    path: &str,
    secret: &str,
    id: &str,
) -> Result<bpops_executors::Success, bpops_executors::Failure> {
    run_http(
        &spec(address, path, secret),
        &job(id),
        LONG,
        &CancellationToken::new(),
    )
    .await
}

fn spec(address: SocketAddr, path: &str, secret: &str) -> HttpSpec {
    HttpSpec {
        url: format!("http://{address}{path}"),
        secret: SecretString::from(secret),
    }
}

/// Runs `sent` against a fresh receiver's `/hooks/rollout`, which verifies it.
async fn rollout(sent: &Job) -> bpops_executors::Success {
    let address = receiver().await;
    run_http(
        &spec(address, "/hooks/rollout", SECRET),
        sent,
        LONG,
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn signed_post_is_verified_and_its_json_answer_is_the_result() {
    let sent = job("op_Http00000000000000000");
    let success = rollout(&sent).await;
    assert_eq!(success.message, "rolled out v12");
    let arguments: Value = serde_json::from_str(&success.arguments).unwrap();
    assert_eq!(
        arguments["received"],
        serde_json::from_slice::<Value>(&sent.to_json()).unwrap()
    );
    assert_eq!(arguments["traceparent"], TRACEPARENT);
}

#[tokio::test]
async fn without_a_trace_no_traceparent_is_sent() {
    let sent = Job {
        traceparent: None,
        ..job("op_Http00000000000000001")
    };
    let arguments: Value = serde_json::from_str(&rollout(&sent).await.arguments).unwrap();
    assert_eq!(arguments["traceparent"], Value::Null);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver_as_a_4xx() {
    let address = receiver().await;
    let failure = attempt(address, "/hooks/rollout", "not-the-secret", "op_wrong")
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Http4xx);
    assert_eq!(
        failure.message,
        "HttpExecutorRejected: status 401: bad signature"
    );
}

#[tokio::test]
async fn server_errors_are_http_5xx_with_the_body() {
    let address = receiver().await;
    let failure = attempt(address, "/hooks/broken", SECRET, "op_500")
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Http5xx);
    assert_eq!(
        failure.message,
        "HttpExecutorFailed: status 500: database is down"
    );
}

#[tokio::test]
async fn not_found_is_http_4xx() {
    let address = receiver().await;
    let failure = attempt(address, "/hooks/nowhere", SECRET, "op_404")
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Http4xx);
    assert!(
        failure
            .message
            .starts_with("HttpExecutorRejected: status 404"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let address = receiver().await;
    let started = Instant::now();
    let failure = run_http(
        &spec(address, "/hooks/slow", SECRET),
        &job("op_slow"),
        Duration::from_millis(300),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(
        failure.message,
        "ExecutorTimeout: the endpoint did not answer within 300ms"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn cancel_abandons_the_call() {
    let address = receiver().await;
    let cancel = CancellationToken::new();
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    };
    let (slow, sent) = (spec(address, "/hooks/slow", SECRET), job("op_cancel"));
    let started = Instant::now();
    let (result, ()) = tokio::join!(run_http(&slow, &sent, LONG, &cancel), canceller);
    let failure = result.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Cancelled);
    assert!(
        failure.message.starts_with("OperationCancelled: "),
        "{failure}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn nothing_listening_is_connect() {
    // Bind and drop: the port was free a moment ago and nobody listens on it now.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let failure = attempt(address, "/hooks/rollout", SECRET, "op_down")
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Connect);
    assert!(
        failure.message.starts_with("ExecutorUnreachable: "),
        "{failure}"
    );
    assert!(
        failure.message.to_lowercase().contains("refused"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_2xx_that_is_not_json_is_bad_output() {
    let address = receiver().await;
    let failure = attempt(address, "/hooks/html", SECRET, "op_html")
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::BadOutput);
    assert!(
        failure.message.contains("the response body is not JSON"),
        "{failure}"
    );
}

#[tokio::test]
async fn an_oversized_answer_is_bad_output() {
    let address = receiver().await;
    let failure = attempt(address, "/hooks/huge", SECRET, "op_huge")
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::BadOutput);
    assert!(
        failure
            .message
            .contains(&format!("exceeds {OUTPUT_LIMIT} bytes")),
        "{failure}"
    );
}

#[tokio::test]
async fn arguments_over_the_cap_are_bad_output() {
    let address = receiver().await;
    let success = attempt(address, "/hooks/at-cap", SECRET, "op_at_cap")
        .await
        .unwrap();
    assert_eq!(success.arguments.len(), RESULT_LIMIT);
    let failure = attempt(address, "/hooks/over-cap", SECRET, "op_over_cap")
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::BadOutput);
    assert_eq!(
        failure.message,
        "ExecutorBadOutput: \"Arguments\" in the response body is 65537 bytes, over the limit \
         of 65536"
    );
}
