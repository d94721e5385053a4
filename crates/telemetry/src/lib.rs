//! bpops's own spans, exported over OTLP/HTTP (protobuf) with the official OpenTelemetry
//! crates, when `[telemetry] otlp_endpoint` is set.
//!
//! [`Spans`] is the handle the request path and the engine hold: they describe what they did
//! in bpops's own terms (a request, an operation's wait in its queue, an attempt), and it turns
//! that into OpenTelemetry spans. The span ids are those of the W3C `traceparent` the request
//! continued or started and passed on ([`bpops_store::TraceParent`]), so what a command or an
//! HTTP endpoint was handed is exactly the span a trace viewer shows as its parent.
//!
//! Key decisions:
//! - Exporting never slows a request or an attempt. A span goes into a bounded queue with
//!   `try_send`, and one task per node ([`Exporter`]) sends what queued up in batches; a full
//!   queue drops and counts (`bpops_spans_dropped_total`), and so does a batch the collector
//!   refused or never answered. Without an endpoint the handle is empty and every call returns
//!   at once.
//! - Only sampled traces are exported (the W3C `sampled` flag: the caller's, or set on traces
//!   bpops starts itself while exporting), as OpenTelemetry's default parent-based sampler
//!   would.
//! - The OTLP exporter is given an HTTP/1 client over the hyper bpops already has (`client`),
//!   rather than a client feature of its own: no second HTTP stack, no TLS stack, no gRPC.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod export;
mod metrics;
mod spans;

pub use export::{Endpoint, Exporter, InvalidEndpoint, Settings, StartError, start};
pub use spans::{AttemptSpan, Outcome, RequestSpan, Spans};
