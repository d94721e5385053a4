//! OTLP span export end to end: a collector started by the test (a real HTTP server on
//! loopback that decodes `ExportTraceServiceRequest` with the official opentelemetry-proto
//! types) receives the span of a traced request, its operation's wait in the queue and each
//! attempt, a retry linked to the first; without an endpoint nothing is sampled or exported,
//! and a dead or silent collector never fails a request.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use prost::Message;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::{ACCOUNT, Key, ROOT, TestDir};
use crate::declared::{declared, script};
use crate::traces::{parts, submit_traced};
use crate::waiting::{sample, scrape};

const WAIT: Duration = Duration::from_secs(20);

/// A caller's span, sampled.
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A span as the collector received it, with its resource's `service.name`.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

/// An OTLP/HTTP collector on loopback that keeps every span sent to `/v1/traces`.
#[derive(Clone)]
struct Collector {
    addr: std::net::SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    async fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let collector = Collector {
            addr: listener.local_addr().unwrap(),
            spans: Arc::default(),
        };
        let spans = Arc::clone(&collector.spans);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let spans = Arc::clone(&spans);
                let service = service_fn(move |request| receive(request, Arc::clone(&spans)));
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        collector
    }

    /// The base URL, as `[telemetry] otlp_endpoint` takes it.
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The spans received in `trace`, once `enough` says they are all there.
    async fn wait_for(&self, trace: &[u8], enough: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let received: Vec<Received> = (self.spans.lock().unwrap().iter())
                .filter(|r| r.span.trace_id == trace)
                .cloned()
                .collect();
            if enough(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the collector has only {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One export: a POST of protobuf to `/v1/traces`, answered as OTLP says (an empty
/// `ExportTraceServiceResponse` is full success).
async fn receive(
    request: Request<hyper::body::Incoming>,
    spans: Arc<Mutex<Vec<Received>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let wrong = |status: u16| {
        let mut answer = Response::new(Full::default());
        *answer.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        Ok(answer)
    };
    let protobuf = request
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/x-protobuf");
    if request.method() != "POST" || request.uri().path() != "/v1/traces" || !protobuf {
        return wrong(404);
    }
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let Ok(export) = ExportTraceServiceRequest::decode(body) else {
        return wrong(400);
    };
    let mut kept = spans.lock().unwrap();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            kept.extend(scope_spans.spans.into_iter().map(|span| Received {
                service: service.clone(),
                span,
            }));
        }
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    let mut answer = Response::new(Full::new(Bytes::from(answer)));
    answer
        .headers_mut()
        .insert("content-type", "application/x-protobuf".parse().unwrap());
    Ok(answer)
}

fn text(value: &any_value::Value) -> Option<String> {
    match value {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// The attribute `key` of `span` as JSON (strings and integers), `null` when absent.
fn attribute(span: &Span, key: &str) -> Value {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref());
    match value {
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::IntValue(n)) => json!(n),
        Some(other) => panic!("{key} is {other:?}"),
        None => Value::Null,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The status of `span`, `Unset` when it has none.
fn status(span: &Span) -> Status {
    span.status.clone().unwrap_or_default()
}

fn named<'a>(spans: &'a [Received], name: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .map(|r| &r.span)
        .filter(|s| s.name == name)
        .collect()
}

/// A declared `flaky` operation whose command fails its first attempt and succeeds its
/// second, writing the `TRACEPARENT` of each to `spans` in the test directory.
fn flaky(dir: &TestDir) -> String {
    let seen = dir.path().join("traceparents");
    let program = script(
        dir,
        "flaky.sh",
        &format!(
            r#"job=$(cat)
echo "$TRACEPARENT" >> '{seen}'
case "$job" in *'"Attempt":1'*) echo 'not yet' >&2; exit 3;; esac
printf '{{}}'"#,
            seen = seen.display()
        ),
    );
    let retry =
        "retry = { attempts = 3, backoff = \"50ms\", max_backoff = \"100ms\", on = [\"exit\"] }";
    declared("flaky", &program, retry)
}

#[tokio::test]
async fn a_request_its_queue_wait_and_each_attempt_reach_the_collector_in_the_caller_s_trace() {
    let collector = Collector::start().await;
    let dir = TestDir::new();
    let telemetry = format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"bpops-test\"\n",
        collector.endpoint()
    );
    let server = dir
        .serve(&dir.config(&format!("{}\n{telemetry}", flaky(&dir))))
        .await;
    let id = submit_traced(&server, "flaky", Some(CALLER)).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");

    let (caller_trace, caller_span, _) = parts(CALLER);
    let spans = collector
        .wait_for(&unhex(&caller_trace), |spans| {
            named(spans, "attempt").len() == 2 && named(spans, "queue wait").len() == 1
        })
        .await;
    assert!(
        spans.iter().all(|r| r.service == "bpops-test"),
        "{spans:#?}"
    );

    // The request: a server span in the caller's trace, the caller's span its parent.
    let [request] = named(&spans, "ExecuteOperationASync")[..] else {
        panic!("one request span: {spans:#?}");
    };
    assert_eq!(hex(&request.parent_span_id), caller_span);
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(attribute(request, "bpops.action"), "ExecuteOperationASync");
    assert_eq!(attribute(request, "bpops.account_id"), ACCOUNT);
    assert_eq!(attribute(request, "http.response.status_code"), 200);
    assert_eq!(attribute(request, "bpops.code"), "200");
    assert!(attribute(request, "bpops.request_id").is_string());

    // The wait in the queue, from the submit to the first claim.
    let [wait] = named(&spans, "queue wait")[..] else {
        unreachable!()
    };
    assert_eq!(wait.parent_span_id, request.span_id);
    assert_eq!(attribute(wait, "bpops.operation_id"), id.as_str());
    assert!(wait.start_time_unix_nano <= wait.end_time_unix_nano);

    // Each attempt: a child of the request, the very span its command was handed.
    let mut attempts = named(&spans, "attempt");
    attempts.sort_by_key(|s| attribute(s, "bpops.attempt").as_i64());
    let handed = std::fs::read_to_string(dir.path().join("traceparents")).unwrap();
    let handed: Vec<String> = handed.lines().map(|line| parts(line).1).collect();
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.parent_span_id, request.span_id);
        assert_eq!(hex(&attempt.span_id), handed[n], "attempt {}", n + 1);
        assert_eq!(attribute(attempt, "bpops.operation_id"), id.as_str());
        assert_eq!(attribute(attempt, "bpops.service"), "deploy");
        assert_eq!(attribute(attempt, "bpops.operation"), "flaky");
        assert_eq!(attribute(attempt, "bpops.attempt"), n as i64 + 1);
        assert!(attribute(attempt, "bpops.node").is_string());
    }
    let [first, second] = attempts[..] else {
        unreachable!()
    };
    assert_eq!(attribute(first, "bpops.outcome"), "retry");
    let failed = status(first);
    assert_eq!(failed.code, StatusCode::Error as i32);
    assert!(failed.message.starts_with("CommandFailed"), "{failed:?}");
    assert_eq!(attribute(first, "error.message"), failed.message.as_str());
    assert!(first.links.is_empty());

    // The retry is a new span, linked to the first.
    assert_eq!(attribute(second, "bpops.outcome"), "success");
    assert_ne!(status(second).code, StatusCode::Error as i32);
    assert_eq!(second.links.len(), 1, "{second:?}");
    assert_eq!(second.links[0].span_id, first.span_id);
    assert_eq!(second.links[0].trace_id, first.trace_id);

    let page = scrape(&server).await;
    assert!(sample(&page, "bpops_spans_exported_total") >= 4.0, "{page}");
}

#[tokio::test]
async fn a_refused_request_is_a_span_of_a_trace_of_its_own_with_its_code() {
    let collector = Collector::start().await;
    let dir = TestDir::new();
    let telemetry = format!(
        "[telemetry]\notlp_endpoint = \"{}/\"\n",
        collector.endpoint()
    );
    let server = dir.serve(&dir.config(&telemetry)).await;
    let forged = Key {
        secret: "not-the-secret",
        ..ROOT
    };
    let reply = server.call(forged, "ListServices", &[]).await;
    reply.assert_error(400, "SignatureDoesNotMatch");
    let request_id = reply.request_id().to_owned();
    // The request started its own trace: find its span by its RequestId.
    let deadline = Instant::now() + WAIT;
    let span = loop {
        let found = (collector.spans.lock().unwrap().iter())
            .find(|r| attribute(&r.span, "bpops.request_id") == request_id.as_str())
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no span of {request_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(span.service, "bpops");
    assert!(span.span.parent_span_id.is_empty(), "a trace of its own");
    assert_eq!(span.span.name, "unknown", "no verified action names it");
    assert_eq!(attribute(&span.span, "bpops.code"), "SignatureDoesNotMatch");
    assert_eq!(attribute(&span.span, "http.response.status_code"), 400);
    assert_eq!(attribute(&span.span, "bpops.account_id"), ACCOUNT);
}

#[tokio::test]
async fn without_an_endpoint_traces_are_not_sampled_and_nothing_is_exported() {
    let dir = TestDir::new();
    let echo = script(
        &dir,
        "trace.sh",
        r#"cat > /dev/null
printf '{"Message":"%s"}' "${TRACEPARENT:-none}""#,
    );
    let server = dir.serve(&dir.config(&declared("trace", &echo, ""))).await;
    let id = submit_traced(&server, "trace", None).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    let (.., flags) = parts(data["Message"].as_str().unwrap());
    assert_eq!(flags, "00", "a trace bpops starts is not recorded");
    let page = scrape(&server).await;
    assert_eq!(sample(&page, "bpops_spans_exported_total"), 0.0, "{page}");
    for reason in ["queue_full", "export_failed"] {
        let series = format!("bpops_spans_dropped_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&page, &series), 0.0, "{page}");
    }

    // With an endpoint, a trace it starts is sampled, so what it passes on says so.
    let collector = Collector::start().await;
    let dir = TestDir::new();
    let echo = script(
        &dir,
        "trace.sh",
        r#"cat > /dev/null
printf '{"Message":"%s"}' "${TRACEPARENT:-none}""#,
    );
    let telemetry = format!(
        "[telemetry]\notlp_endpoint = \"{}\"\n",
        collector.endpoint()
    );
    let config = format!("{}\n{telemetry}", declared("trace", &echo, ""));
    let server = dir.serve(&dir.config(&config)).await;
    let id = submit_traced(&server, "trace", None).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    let (trace, ..) = parts(data["Message"].as_str().unwrap());
    assert_eq!(parts(data["Message"].as_str().unwrap()).2, "01");
    collector
        .wait_for(&unhex(&trace), |spans| named(spans, "attempt").len() == 1)
        .await;
}

#[tokio::test]
async fn a_dead_or_silent_collector_never_fails_or_holds_a_request() {
    // Dead: nothing listens on the port.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    // Silent: it accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_endpoint = format!("http://{}", silent.local_addr().unwrap());
    let (accepted, mut connections) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = silent.accept().await {
            let _ = accepted.send(stream);
        }
    });

    for (endpoint, is_silent) in [(dead, false), (silent_endpoint, true)] {
        let dir = TestDir::new();
        let telemetry = format!("[telemetry]\notlp_endpoint = \"{endpoint}\"\n");
        let server = dir.serve(&dir.config(&telemetry)).await;
        let first = server.call(ROOT, "ListServices", &[]).await;
        first.assert_ok();
        if is_silent {
            // An export is under way and unanswered: requests go on all the same.
            let _held = tokio::time::timeout(WAIT, connections.recv())
                .await
                .unwrap();
            for _ in 0..20 {
                server.call(ROOT, "ListServices", &[]).await.assert_ok();
            }
        } else {
            let deadline = Instant::now() + WAIT;
            let series = "bpops_spans_dropped_total{reason=\"export_failed\"}";
            while sample(&scrape(&server).await, series) < 1.0 {
                assert!(
                    Instant::now() < deadline,
                    "the failed export is not counted"
                );
                server.call(ROOT, "ListServices", &[]).await.assert_ok();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn spans_still_queued_at_a_graceful_stop_are_sent() {
    let collector = Collector::start().await;
    let dir = TestDir::new();
    let telemetry = format!(
        "[telemetry]\notlp_endpoint = \"{}\"\n",
        collector.endpoint()
    );
    let server = dir.serve(&dir.config(&telemetry)).await;
    let reply = server.call(ROOT, "ListServices", &[]).await;
    reply.assert_ok();
    let request_id = reply.request_id().to_owned();
    let (status, ..) = server.stop("TERM").await;
    assert!(status.success(), "{status}");
    let sent = collector
        .spans
        .lock()
        .unwrap()
        .iter()
        .any(|r| attribute(&r.span, "bpops.request_id") == request_id.as_str());
    assert!(sent, "the last request's span was sent before the exit");
}
