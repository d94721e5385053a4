//! The spans bpops records, described in its own terms, and [`Spans`], the handle that turns
//! them into OpenTelemetry spans and queues them for export.
//!
//! A request is a server span whose ids are the request's `traceparent`, its parent the
//! caller's span. An operation's wait in its queue and each of its attempts are children of
//! the request that submitted it; a retry's span links to the first attempt's, whose id any
//! node derives ([`TraceParent::attempt`]).

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bpops_store::TraceParent;
use bpops_time::Timestamp;
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use tokio::sync::mpsc;

use crate::metrics::{QUEUE_FULL, SpanMetrics};

/// The longest error message a span keeps, in bytes: an operation's message may be 64 KiB,
/// which a trace viewer does not need.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Where spans go: the export queue, or nowhere. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Spans {
    /// `None` when nothing is exported.
    queue: Option<mpsc::Sender<SpanData>>,
    metrics: SpanMetrics,
}

/// An API request, once answered.
#[derive(Debug)]
pub struct RequestSpan<'a> {
    /// The request's span: in its caller's trace, or a trace of its own.
    pub trace: TraceParent,
    /// The caller's span, when the request carried a valid `traceparent`.
    pub caller: Option<TraceParent>,
    /// The action, the span's name (`unknown` when the request named none validly).
    pub action: &'static str,
    /// The request's RequestId.
    pub request_id: &'a str,
    /// The account of the AccessKey it named, once found.
    pub account: Option<&'a str>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The answer's `Code`.
    pub code: &'a str,
    /// When it arrived.
    pub start: Timestamp,
    /// How long it took to answer.
    pub duration: Duration,
}

/// One attempt of an operation, once it has ended.
#[derive(Debug)]
pub struct AttemptSpan<'a> {
    /// The span of the request that submitted the operation.
    pub request: TraceParent,
    /// The operation.
    pub operation_id: &'a str,
    /// Its service.
    pub service: &'a str,
    /// Its operation name.
    pub operation: &'a str,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// The node that ran it.
    pub node: &'a str,
    /// How it ended.
    pub outcome: Outcome<'a>,
    /// When it was claimed.
    pub start: Timestamp,
    /// How long it ran.
    pub duration: Duration,
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// The operation succeeded.
    Success,
    /// The operation failed, with this message.
    Failure(&'a str),
    /// The attempt failed with this message, and the operation will be tried again.
    Retry(&'a str),
}

impl Spans {
    /// Spans that go nowhere.
    pub fn disabled() -> Spans {
        Spans::default()
    }

    /// Spans queued on `queue`, counted in `metrics`.
    pub(crate) fn new(queue: mpsc::Sender<SpanData>, metrics: SpanMetrics) -> Spans {
        Spans {
            queue: Some(queue),
            metrics,
        }
    }

    /// Whether spans are exported: the traces this server starts are then marked sampled.
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Registers the export's counters (`bpops_spans_exported_total`,
    /// `bpops_spans_dropped_total`), at zero when nothing is exported.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
    }

    /// Records an answered request.
    pub fn request(&self, span: RequestSpan<'_>) {
        if !self.records(&span.trace) {
            return;
        }
        let mut attributes = vec![
            KeyValue::new("bpops.action", span.action),
            KeyValue::new("bpops.request_id", span.request_id.to_owned()),
            KeyValue::new("http.response.status_code", i64::from(span.status)),
            KeyValue::new("bpops.code", span.code.to_owned()),
        ];
        if let Some(account) = span.account {
            attributes.push(KeyValue::new("bpops.account_id", account.to_owned()));
        }
        let status = if span.status >= 500 {
            Status::error(span.code.to_owned())
        } else {
            Status::Unset
        };
        self.send(SpanData {
            parent_span_id: span.caller.map_or(SpanId::INVALID, |c| span_id(&c)),
            parent_span_is_remote: span.caller.is_some(),
            span_kind: SpanKind::Server,
            attributes,
            status,
            ..span_data(&span.trace, span.action, span.start, span.duration)
        });
    }

    /// Records how long an operation submitted by `request` waited, from `submitted` until
    /// its first attempt was claimed at `claimed`.
    pub fn queue_wait(
        &self,
        request: &TraceParent,
        operation_id: &str,
        submitted: Timestamp,
        claimed: Timestamp,
    ) {
        if !self.records(request) {
            return;
        }
        let wait = claimed.duration_since(submitted);
        self.send(SpanData {
            parent_span_id: span_id(request),
            attributes: vec![KeyValue::new("bpops.operation_id", operation_id.to_owned())],
            ..span_data(&request.child(), "queue wait", submitted, wait)
        });
    }

    /// Records an attempt that has ended.
    pub fn attempt(&self, span: AttemptSpan<'_>) {
        if !self.records(&span.request) {
            return;
        }
        let own = span.request.attempt(span.operation_id, span.attempt);
        let (outcome, status) = match span.outcome {
            Outcome::Success => ("success", Status::Unset),
            Outcome::Failure(message) => ("failure", Status::error(bounded(message))),
            Outcome::Retry(message) => ("retry", Status::error(bounded(message))),
        };
        let mut attributes = vec![
            KeyValue::new("bpops.operation_id", span.operation_id.to_owned()),
            KeyValue::new("bpops.service", span.service.to_owned()),
            KeyValue::new("bpops.operation", span.operation.to_owned()),
            KeyValue::new("bpops.attempt", i64::from(span.attempt)),
            KeyValue::new("bpops.node", span.node.to_owned()),
            KeyValue::new("bpops.outcome", outcome),
        ];
        if let Status::Error { description } = &status {
            attributes.push(KeyValue::new("error.message", description.clone()));
        }
        let mut links = SpanLinks::default();
        if span.attempt > 1 {
            let first = span.request.attempt(span.operation_id, 1);
            links.links.push(Link::new(context(&first), Vec::new(), 0));
        }
        self.send(SpanData {
            parent_span_id: span_id(&span.request),
            attributes,
            links,
            status,
            ..span_data(&own, "attempt", span.start, span.duration)
        });
    }

    /// Whether a span of `trace` is to be exported.
    fn records(&self, trace: &TraceParent) -> bool {
        self.queue.is_some() && trace.sampled()
    }

    /// Queues `span`, or counts it dropped when the queue is full: never waits.
    fn send(&self, span: SpanData) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(span).is_err() {
            let dropped = self.metrics.dropped(QUEUE_FULL, 1) + 1;
            // At the 1st, 2nd, 4th, 8th, … drop: loud at once, without a line per span.
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "the span queue is full: spans are being dropped (bpops_spans_dropped_total)"
                );
            }
        }
    }
}

/// A span of bpops's own, internal and without a parent until the caller sets them.
fn span_data(
    own: &TraceParent,
    name: &'static str,
    start: Timestamp,
    duration: Duration,
) -> SpanData {
    let start = system_time(start);
    SpanData {
        span_context: context(own),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(name),
        start_time: start,
        end_time: start + duration,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("bpops")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    }
}

fn context(span: &TraceParent) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(span.trace_id_bytes()),
        span_id(span),
        TraceFlags::new(span.flags()),
        false,
        TraceState::NONE,
    )
}

fn span_id(span: &TraceParent) -> SpanId {
    SpanId::from_bytes(span.span_id_bytes())
}

/// `at` as a system time; instants before the epoch (never stored) as the epoch.
fn system_time(at: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(at.as_millis()).unwrap_or(0))
}

/// At most [`MAX_MESSAGE_BYTES`] of `message`, cut at a character boundary.
fn bounded(message: &str) -> String {
    let mut end = message.len().min(MAX_MESSAGE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES && cut.len() >= MAX_MESSAGE_BYTES - 1);
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn unsampled_traces_and_disabled_spans_queue_nothing() {
        let (queue, mut queued) = mpsc::channel(4);
        let spans = Spans::new(queue, SpanMetrics::default());
        let request = |trace| RequestSpan {
            trace,
            caller: None,
            action: "ListServices",
            request_id: "R",
            account: None,
            status: 200,
            code: "200",
            start: Timestamp::EPOCH,
            duration: Duration::ZERO,
        };
        spans.request(request(TraceParent::new_trace(false)));
        Spans::disabled().request(request(TraceParent::new_trace(true)));
        assert!(queued.try_recv().is_err());
        spans.request(request(TraceParent::new_trace(true)));
        assert_eq!(queued.try_recv().unwrap().name, "ListServices");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (queue, _queued) = mpsc::channel(1);
        let metrics = SpanMetrics::default();
        let spans = Spans::new(queue, metrics.clone());
        let trace = TraceParent::new_trace(true);
        for _ in 0..3 {
            spans.queue_wait(&trace, "op_1", Timestamp::EPOCH, Timestamp::EPOCH);
        }
        assert_eq!(metrics.dropped(QUEUE_FULL, 0), 2);
    }
}
