//! The `http` executor: one attempt POSTs the job to the declared URL, signed with the
//! declared secret (the scheme is in the crate documentation), and reads the answer from a
//! bounded response body; plus [`signature`] and [`verify_signature`], the two halves of the
//! scheme, so a Rust receiver (and the tests) verify with the same definition.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bpops_catalog::HttpSpec;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::FailureKind;
use crate::job::{Failure, Job, OUTPUT_LIMIT, Success, parse_answer, tail_text};

/// How much of an error response's body the failure message keeps.
const ERROR_BODY_TAIL: usize = 512;

type HmacSha256 = Hmac<Sha256>;

/// Runs one attempt of an HTTP operation: POSTs the job, reads the answer.
///
/// Each call uses its own connection (no pool): a pooled connection would be tied to the
/// runtime that opened it, and an operation's rate is far below where connection set-up
/// matters.
pub async fn run_http(
    spec: &HttpSpec,
    job: &Job,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Success, Failure> {
    let request = signed_post(
        &spec.url,
        spec.secret.expose_secret(),
        &job.operation_id,
        job.traceparent.as_deref(),
        job.to_json(),
    )
    .map_err(|error| {
        Failure::new(
            FailureKind::Connect,
            "ExecutorUnreachable",
            format!("cannot build a request to {}: {error}", spec.url),
        )
    })?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();

    let exchange = async {
        let response = client.request(request).await.map_err(|error| {
            Failure::new(
                FailureKind::Connect,
                "ExecutorUnreachable",
                format!("{}: {}", spec.url, error_chain(&error)),
            )
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), OUTPUT_LIMIT)
            .collect()
            .await
            .map_err(|error| {
                if error.downcast_ref::<LengthLimitError>().is_some() {
                    Failure::bad_output(format!("the response exceeds {OUTPUT_LIMIT} bytes"))
                } else {
                    Failure::new(
                        FailureKind::Connect,
                        "ExecutorUnreachable",
                        format!("{}: the answer broke off: {error}", spec.url),
                    )
                }
            })?
            .to_bytes();
        Ok::<_, Failure>((status, body))
    };
    let (status, body) = tokio::select! {
        result = exchange => result?,
        () = tokio::time::sleep(timeout) => {
            return Err(Failure::timeout("the endpoint did not answer", timeout));
        }
        () = cancel.cancelled() => {
            return Err(Failure::cancelled("its endpoint was called"));
        }
    };
    classify(status, &body)
}

/// A POST of `body` to `url`, signed with `secret` (the scheme in the crate documentation),
/// with its `Idempotency-Key` and, when given, its `traceparent`: every signed call bpops
/// makes (an operation's attempt, a webhook delivery) is built here.
fn signed_post(
    url: &str,
    secret: &str,
    idempotency_key: &str,
    traceparent: Option<&str>,
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, concat!("bpops/", env!("CARGO_PKG_VERSION")))
        .header("Idempotency-Key", idempotency_key)
        .header("X-Bpops-Timestamp", timestamp.to_string())
        .header("X-Bpops-Signature", signature(secret, timestamp, &body));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.body(Full::new(Bytes::from(body)))
}

/// What a webhook receiver answered: its status and the start of its body (for the
/// delivery's log when it is not 2xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The tail of the body, at most 512 bytes, as text.
    pub body: String,
}

/// POSTs one webhook delivery: `body` to `url`, signed with `secret` exactly as an
/// operation's call is, with `idempotency_key` (receivers deduplicate by it: a delivery may
/// arrive more than once) and the `traceparent` given. The error says why no answer came
/// (unreachable, timed out, broken off).
pub async fn post_webhook(
    url: &str,
    secret: &str,
    idempotency_key: &str,
    traceparent: Option<&str>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<WebhookAnswer, String> {
    let request = signed_post(url, secret, idempotency_key, traceparent, body)
        .map_err(|error| format!("cannot build a request to {url}: {error}"))?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|error| error_chain(&error))?;
        let status = response.status().as_u16();
        // The body is only kept for a log line: a receiver that sends more is cut short.
        let body = match Limited::new(response.into_body(), OUTPUT_LIMIT)
            .collect()
            .await
        {
            Ok(body) => tail_text(&body.to_bytes(), ERROR_BODY_TAIL),
            Err(_) => String::new(),
        };
        Ok(WebhookAnswer { status, body })
    };
    tokio::select! {
        answer = exchange => answer,
        () = tokio::time::sleep(timeout) => Err(format!("no answer within {timeout:?}")),
    }
}

/// What a complete answer means.
fn classify(status: StatusCode, body: &[u8]) -> Result<Success, Failure> {
    let detail = || {
        let tail = tail_text(body, ERROR_BODY_TAIL);
        if tail.is_empty() {
            format!("status {}", status.as_u16())
        } else {
            format!("status {}: {tail}", status.as_u16())
        }
    };
    if status.is_success() {
        parse_answer(body, "the response body")
    } else if status.is_server_error() {
        Err(Failure::new(
            FailureKind::Http5xx,
            "HttpExecutorFailed",
            detail(),
        ))
    } else if status.is_client_error() {
        Err(Failure::new(
            FailureKind::Http4xx,
            "HttpExecutorRejected",
            detail(),
        ))
    } else {
        // 1xx leftovers and redirects (which are not followed: the URL is configured).
        Err(Failure::bad_output(format!("unexpected {}", detail())))
    }
}

/// The `X-Bpops-Signature` value: `sha256=` and the lower-case hex of
/// HMAC-SHA256(`secret`, `"<timestamp>.<body>"`).
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (an `X-Bpops-Signature` value) signs `timestamp` and `body` with
/// `secret`, compared in constant time. Checking the timestamp's age is the caller's part.
pub fn verify_signature(secret: &str, timestamp: u64, body: &[u8], header: &str) -> bool {
    let Some(expected) = header
        .strip_prefix("sha256=")
        .and_then(|hex_text| hex::decode(hex_text).ok())
    else {
        return false;
    };
    let mut mac = keyed(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn keyed(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts a key of any length")
}

/// The error and its causes, `a: b: c`: hyper's outer errors alone ("client error
/// (Connect)") hide the cause an operator needs ("Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_hand_computed_vector() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        let header = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            header,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert!(verify_signature("key", 1_700_000_000, b"{}", &header));
    }

    #[test]
    fn verification_fails_on_any_change() {
        let header = signature("key", 10, b"body");
        assert!(!verify_signature("other", 10, b"body", &header));
        assert!(!verify_signature("key", 11, b"body", &header));
        assert!(!verify_signature("key", 10, b"bodY", &header));
        assert!(!verify_signature("key", 10, b"body", &header[7..]));
        assert!(!verify_signature("key", 10, b"body", "sha256=zz"));
    }

    #[test]
    fn statuses_classify_by_class() {
        let ok = classify(StatusCode::OK, br#"{"Arguments": {"a": 1}}"#).unwrap();
        assert_eq!(ok.arguments, r#"{"a":1}"#);
        let kinds = [
            (StatusCode::INTERNAL_SERVER_ERROR, FailureKind::Http5xx),
            (StatusCode::SERVICE_UNAVAILABLE, FailureKind::Http5xx),
            (StatusCode::NOT_FOUND, FailureKind::Http4xx),
            (StatusCode::FOUND, FailureKind::BadOutput),
        ];
        for (status, kind) in kinds {
            assert_eq!(
                classify(status, b"oops").unwrap_err().kind,
                kind,
                "{status}"
            );
        }
        let failure = classify(StatusCode::BAD_GATEWAY, b"upstream down\n").unwrap_err();
        assert_eq!(
            failure.message,
            "HttpExecutorFailed: status 502: upstream down"
        );
        assert_eq!(
            classify(StatusCode::OK, b"<html>").unwrap_err().kind,
            FailureKind::BadOutput
        );
    }
}
