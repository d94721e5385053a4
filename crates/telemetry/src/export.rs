//! The export: where spans are sent ([`Endpoint`], [`Settings`]) and the task that sends
//! them ([`start`], [`Exporter`]).
//!
//! Spans queue up to [`QUEUE`]; the task takes what queued within [`FLUSH_INTERVAL`] of the
//! first, or a full [`BATCH`] at once, and sends it in one OTLP request, one request at a
//! time. A batch
//! the collector refuses or does not answer within [`EXPORT_TIMEOUT`] is dropped and counted,
//! not retried: the queue behind it matters more than the batch, and a collector that is down
//! would only be asked the same thing again.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hyper::Uri;
use opentelemetry_otlp::{Protocol, RetryPolicy, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::Http;
use crate::metrics::{EXPORT_FAILED, SpanMetrics};
use crate::spans::Spans;

/// The most spans waiting to be sent (a span is well under a kilobyte); past it new ones
/// are dropped and counted.
const QUEUE: usize = 4096;
/// The most spans sent in one request.
const BATCH: usize = 512;
/// How long the task lets a batch gather once a span has arrived.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How long one export may take, connection included (OpenTelemetry's default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// On a graceful stop, how long sending what is still queued may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest endpoint accepted, in bytes.
const MAX_ENDPOINT_BYTES: usize = 2048;

/// Where and as what spans are exported.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The collector.
    pub endpoint: Endpoint,
    /// The `service.name` of the spans' resource.
    pub service_name: String,
}

/// An OTLP/HTTP collector: the URL spans are POSTed to, `<base>/v1/traces`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint(String);

/// Why an endpoint was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEndpoint(String);

impl FromStr for Endpoint {
    type Err = InvalidEndpoint;

    /// A base URL such as `http://127.0.0.1:4318`, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it:
    /// traces go to its path followed by `/v1/traces` (the OTLP exporter specification,
    /// "Endpoint URLs for OTLP/HTTP"). Only `http`: bpops has no TLS client; a collector on
    /// the node itself forwards spans on over TLS.
    fn from_str(base: &str) -> Result<Endpoint, InvalidEndpoint> {
        let invalid = |why: &str| Err(InvalidEndpoint(format!("{base:?} {why}")));
        if base.len() > MAX_ENDPOINT_BYTES {
            return Err(InvalidEndpoint(format!(
                "is longer than {MAX_ENDPOINT_BYTES} bytes"
            )));
        }
        let Ok(uri) = base.parse::<Uri>() else {
            return invalid("is not a URL such as \"http://127.0.0.1:4318\"");
        };
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return invalid(
                    "uses https, which bpops cannot send: send to a collector on this \
                     machine over http, and let it forward over TLS",
                );
            }
            _ => return invalid("is not an http:// URL such as \"http://127.0.0.1:4318\""),
        }
        if uri.host().is_none_or(str::is_empty) {
            return invalid("names no host");
        }
        if uri.query().is_some() {
            return invalid("has a query, which a base URL cannot have");
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return invalid("holds credentials, which would be sent in the clear");
        }
        Ok(Endpoint(format!(
            "{}/v1/traces",
            base.trim_end_matches('/')
        )))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The task that sends queued spans to the collector.
#[derive(Debug)]
pub struct Exporter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Why the export could not start.
#[derive(Debug, thiserror::Error)]
#[error("the OTLP exporter could not be built: {0}")]
pub struct StartError(#[from] opentelemetry_otlp::ExporterBuildError);

/// Starts exporting to `settings.endpoint`: the handle that queues spans, and the task that
/// sends them. Must be called on a Tokio runtime.
pub fn start(settings: &Settings) -> Result<(Spans, Exporter), StartError> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.endpoint.to_string())
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(Http::new(EXPORT_TIMEOUT))
        .with_retry_policy(RetryPolicy::disabled())
        .build()?;
    exporter.set_resource(
        &Resource::builder_empty()
            .with_service_name(settings.service_name.clone())
            .build(),
    );
    let (queue, queued) = mpsc::channel(QUEUE);
    let metrics = SpanMetrics::default();
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(exporter, queued, metrics.clone(), stop.clone()));
    Ok((Spans::new(queue, metrics), Exporter { stop, task }))
}

impl Exporter {
    /// Sends what is queued, within a bounded time, and stops. For a graceful stop, once
    /// no request is in flight and no attempt runs; spans recorded after it are dropped.
    pub async fn close(self) {
        self.stop.cancel();
        let abort = self.task.abort_handle();
        match tokio::time::timeout(CLOSE_TIMEOUT, self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the span exporter failed"),
            Err(_) => {
                abort.abort();
                tracing::warn!(
                    "the OTLP collector took too long: spans still queued at shutdown are dropped"
                );
            }
        }
    }
}

/// Sends batches until `stop`, then what is still queued.
async fn run(
    exporter: opentelemetry_otlp::SpanExporter,
    mut queued: mpsc::Receiver<SpanData>,
    metrics: SpanMetrics,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut failures = 0u64;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            n = queued.recv_many(&mut batch, BATCH) => if n == 0 { break },
        }
        if batch.len() < BATCH {
            // What arrives meanwhile joins the batch; under load, full batches go at once.
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(FLUSH_INTERVAL) => {}
            }
            fill(&mut batch, &mut queued);
        }
        export(&exporter, &mut batch, &metrics, &mut failures).await;
    }
    // Stopping: nothing new gets in, and what is queued is sent.
    queued.close();
    fill(&mut batch, &mut queued);
    while !batch.is_empty() {
        export(&exporter, &mut batch, &metrics, &mut failures).await;
        fill(&mut batch, &mut queued);
    }
}

/// Adds what is queued to `batch`, up to [`BATCH`], without waiting.
fn fill(batch: &mut Vec<SpanData>, queued: &mut mpsc::Receiver<SpanData>) {
    while batch.len() < BATCH
        && let Ok(span) = queued.try_recv()
    {
        batch.push(span);
    }
}

/// Sends `batch` and empties it; a failure drops it and counts it.
async fn export(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    metrics: &SpanMetrics,
    failures: &mut u64,
) {
    let n = batch.len() as u64;
    match exporter.export(std::mem::take(batch)).await {
        Ok(()) => metrics.exported(n),
        Err(e) => {
            metrics.dropped(EXPORT_FAILED, n);
            *failures += 1;
            // At the 1st, 2nd, 4th, 8th, … failure: a collector that is down is said once in
            // a while, not at every batch.
            if failures.is_power_of_two() {
                tracing::warn!(error = %e, spans = n, failures = *failures, "exporting spans failed; they are dropped (bpops_spans_dropped_total)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_go_to_the_base_url_followed_by_v1_traces() {
        for (base, traces) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
            ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
            (
                "http://collector:4318/otlp/",
                "http://collector:4318/otlp/v1/traces",
            ),
            ("http://[::1]:4318", "http://[::1]:4318/v1/traces"),
        ] {
            assert_eq!(base.parse::<Endpoint>().unwrap().to_string(), traces);
        }
    }

    #[test]
    fn an_endpoint_that_is_no_plain_http_base_url_is_refused() {
        let long = format!("http://collector/{}", "a".repeat(MAX_ENDPOINT_BYTES));
        for (bad, why) in [
            ("", "not a URL"),
            ("collector:4318", "URL"),
            ("ftp://collector", "not an http:// URL"),
            ("https://collector:4318", "uses https"),
            ("http://collector:4318/?a=b", "has a query"),
            ("http://user:pw@collector:4318", "credentials"),
            ("http://coll ector", "not a URL"),
            (long.as_str(), "longer than"),
        ] {
            let error = bad.parse::<Endpoint>().unwrap_err().to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }
}
