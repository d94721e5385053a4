//! What an attempt gets ([`Job`]) and how it ends ([`Success`], [`Failure`]), plus reading an
//! executor's JSON answer, which both kinds share.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::FailureKind;

/// The most an answer's `Arguments` (as compact JSON text) and its `Message` may each hold:
/// 64 KiB. Both are stored with the operation and sent with every read of it, so their size is
/// what each finished operation costs; over it, the attempt is `ExecutorBadOutput`.
pub const RESULT_LIMIT: usize = 64 * 1024;

/// The most an answer (stdout, a response body) may hold: 192 KiB, room for `Arguments` and
/// `Message` at their limit and as much again of formatting and other keys. Every running
/// attempt may hold this much while it reads, so it bounds what many at once cost.
pub const OUTPUT_LIMIT: usize = 3 * RESULT_LIMIT;

/// How much of a failed program's stderr (its end) the failure message keeps: 2 KiB.
pub const STDERR_TAIL: usize = 2 * 1024;

/// What an executor gets: the operation, as JSON on stdin or in the POST body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// The operation's id; also the idempotency key.
    #[serde(rename = "OperationId")]
    pub operation_id: String,
    /// The service type, e.g. `deploy`.
    #[serde(rename = "ServiceType")]
    pub service: String,
    /// The operation name, e.g. `rollout`.
    #[serde(rename = "Operation")]
    pub operation: String,
    /// The validated attributes.
    #[serde(rename = "Attributes")]
    pub attributes: Map<String, Value>,
    /// The request's ApplicationId, if any (`null` in the JSON otherwise).
    #[serde(rename = "ApplicationId")]
    pub application: Option<String>,
    /// Which attempt this is, from 1.
    #[serde(rename = "Attempt")]
    pub attempt: u32,
    /// The attempt's span as a W3C `traceparent` (the operation's trace, a span of its own),
    /// passed as `TRACEPARENT` to a command and as the `traceparent` header of an HTTP call,
    /// not in the JSON.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl Job {
    /// The job as the JSON bytes an executor receives.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Job always serializes: string keys, JSON values")
    }
}

/// A successful attempt: the operation ends as `SUCCESS` with these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    /// The operation's `Message` (the answer's `Message`, empty when it had none).
    pub message: String,
    /// The operation's `Arguments` as JSON text (`{}` when the answer had none).
    pub arguments: String,
}

/// A failed attempt, classified at the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// Why it failed; the engine's retry policy decides on this alone.
    pub kind: FailureKind,
    /// The operation's `Message` if this is the last attempt: a stable code, `": "`, then
    /// detail, e.g. `CommandFailed: exit status 3: <stderr tail>`.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` whose message is `"{code}: {detail}"`.
    pub fn new(kind: FailureKind, code: &str, detail: impl fmt::Display) -> Failure {
        Failure {
            kind,
            message: format!("{code}: {detail}"),
        }
    }

    /// An answer that is not what the convention asks for.
    pub(crate) fn bad_output(detail: impl fmt::Display) -> Failure {
        Failure::new(FailureKind::BadOutput, "ExecutorBadOutput", detail)
    }

    /// The operation was cancelled while the attempt ran. The code is the one a cancelled
    /// INIT operation gets, so callers see one code for cancellation.
    pub(crate) fn cancelled(what: &str) -> Failure {
        Failure::new(
            FailureKind::Cancelled,
            "OperationCancelled",
            format!("the operation was cancelled while {what}"),
        )
    }

    /// The attempt ran out of time.
    pub(crate) fn timeout(what: &str, timeout: std::time::Duration) -> Failure {
        Failure::new(
            FailureKind::Timeout,
            "ExecutorTimeout",
            format!("{what} within {}", format_duration(timeout)),
        )
    }
}

/// Reads an answer: a JSON object with optional `Arguments` (any JSON) and `Message` (a
/// string). `source` names where it came from, for the error.
pub(crate) fn parse_answer(bytes: &[u8], source: &str) -> Result<Success, Failure> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| Failure::bad_output(format!("{source} is not JSON: {error}")))?;
    let Value::Object(mut answer) = value else {
        return Err(Failure::bad_output(format!(
            "{source} must be a JSON object with \"Arguments\" and optionally \"Message\""
        )));
    };
    let message = match answer.remove("Message") {
        None => String::new(),
        Some(Value::String(message)) => message,
        Some(_) => {
            return Err(Failure::bad_output(format!(
                "\"Message\" in {source} must be a string"
            )));
        }
    };
    let arguments = answer.remove("Arguments").unwrap_or(Value::Null);
    // Measured before it is written out, so an oversized answer costs no second copy.
    let arguments_length = if arguments.is_null() {
        2
    } else {
        json_length(&arguments)
    };
    for (name, length) in [("Arguments", arguments_length), ("Message", message.len())] {
        if length > RESULT_LIMIT {
            return Err(Failure::bad_output(format!(
                "\"{name}\" in {source} is {length} bytes, over the limit of {RESULT_LIMIT}"
            )));
        }
    }
    let arguments = match arguments {
        Value::Null => "{}".to_string(),
        arguments => arguments.to_string(),
    };
    Ok(Success { message, arguments })
}

/// How many bytes `value` is as compact JSON text.
fn json_length(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).expect("a JSON value always serializes");
    counter.0
}

/// Up to `limit` bytes from the end of `bytes` as text, trimmed, for a failure message.
pub(crate) fn tail_text(bytes: &[u8], limit: usize) -> String {
    let start = bytes.len().saturating_sub(limit);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

/// `30s`, `1.5s`, `200ms`: short and exact enough for a message.
fn format_duration(duration: std::time::Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.3}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_serializes_with_the_wire_names() {
        let job = Job {
            operation_id: "op_1".into(),
            service: "deploy".into(),
            operation: "rollout".into(),
            attributes: json!({"version": "v1"}).as_object().unwrap().clone(),
            application: None,
            attempt: 2,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        };
        let value: Value = serde_json::from_slice(&job.to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "OperationId": "op_1", "ServiceType": "deploy", "Operation": "rollout",
                "Attributes": {"version": "v1"}, "ApplicationId": null, "Attempt": 2
            })
        );
    }

    #[test]
    fn answer_gives_arguments_as_text_and_message() {
        let success = parse_answer(br#"{"Arguments": {"n": 1}, "Message": "done"}"#, "stdout");
        assert_eq!(
            success,
            Ok(Success {
                message: "done".into(),
                arguments: r#"{"n":1}"#.into()
            })
        );
        let bare = parse_answer(b"{}", "stdout").unwrap();
        assert_eq!((bare.message.as_str(), bare.arguments.as_str()), ("", "{}"));
        let list = parse_answer(br#"{"Arguments": [1, 2]}"#, "stdout").unwrap();
        assert_eq!(list.arguments, "[1,2]");
    }

    #[test]
    fn answers_that_break_the_convention_are_bad_output() {
        for (bytes, expected) in [
            (&b"hello"[..], "stdout is not JSON"),
            (b"[1]", "stdout must be a JSON object"),
            (
                br#"{"Message": 3}"#,
                "\"Message\" in stdout must be a string",
            ),
        ] {
            let failure = parse_answer(bytes, "stdout").unwrap_err();
            assert_eq!(failure.kind, FailureKind::BadOutput);
            assert!(
                failure.message.starts_with("ExecutorBadOutput: "),
                "{failure}"
            );
            assert!(failure.message.contains(expected), "{failure}");
        }
    }

    #[test]
    fn arguments_and_message_are_capped_in_bytes() {
        // A JSON string of n characters is n + 2 bytes of JSON text.
        let arguments = |n: usize| format!(r#"{{"Arguments": "{}"}}"#, "a".repeat(n - 2));
        assert!(parse_answer(arguments(RESULT_LIMIT).as_bytes(), "stdout").is_ok());
        let over = parse_answer(arguments(RESULT_LIMIT + 1).as_bytes(), "stdout").unwrap_err();
        assert_eq!(over.kind, FailureKind::BadOutput);
        assert_eq!(
            over.message,
            "ExecutorBadOutput: \"Arguments\" in stdout is 65537 bytes, over the limit of 65536"
        );
        let message = |n: usize| format!(r#"{{"Message": "{}"}}"#, "é".repeat(n / 2));
        assert!(parse_answer(message(RESULT_LIMIT).as_bytes(), "stdout").is_ok());
        let over = parse_answer(message(RESULT_LIMIT + 2).as_bytes(), "stdout").unwrap_err();
        assert!(
            over.message
                .contains("\"Message\" in stdout is 65538 bytes"),
            "{over}"
        );
    }

    #[test]
    fn tail_keeps_the_end_and_survives_split_characters() {
        assert_eq!(tail_text(b"  abcdef \n", 5), "def");
        let text = "ééé".as_bytes();
        assert_eq!(tail_text(text, 3), "\u{fffd}é");
    }

    #[test]
    fn durations_read_naturally_in_messages() {
        use std::time::Duration;
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500s");
    }
}
