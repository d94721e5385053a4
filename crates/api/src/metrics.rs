//! `/metrics` in the Prometheus (OpenMetrics) text format: requests by action and code,
//! request latency by action, the engine's operation counters and execution times, and the
//! queue depth and the webhook deliveries pending, read from the store at each scrape; the
//! audit records written and dropped; the spans exported and dropped.
//! Labels carry no tenant data.

use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::App;
use crate::audit::TrailMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    action: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// The request path's metrics and the registry that renders them with the engine's.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ActionLabels, Histogram>,
    queue: Family<StatusLabels, Gauge>,
    deliveries_pending: Gauge,
}

impl Metrics {
    /// The metrics, registered with the engine's and the span export's, and the audit
    /// trail's counters (registered here too).
    pub(crate) fn new(
        engine: &bpops_engine::EngineMetrics,
        spans: &bpops_telemetry::Spans,
    ) -> (Metrics, TrailMetrics) {
        let mut registry = Registry::default();
        engine.register(&mut registry);
        spans.register(&mut registry);
        let requests = Family::<RequestLabels, Counter>::default();
        // 0.1 ms to about 100 s: reads take well under a millisecond, waits up to a minute.
        let latency = Family::<ActionLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 21))
        });
        let queue = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "bpops_requests",
            "API requests by action and answer code",
            requests.clone(),
        );
        registry.register(
            "bpops_request_seconds",
            "API request latency by action",
            latency.clone(),
        );
        registry.register(
            "bpops_operations_unfinished",
            "Operations waiting (INIT) or running (RUNNING), in the whole store",
            queue.clone(),
        );
        let deliveries_pending = Gauge::default();
        registry.register(
            "bpops_webhook_deliveries_pending",
            "Webhook deliveries not yet delivered nor expired, in the whole store",
            deliveries_pending.clone(),
        );
        let trail = TrailMetrics::default();
        registry.register(
            "bpops_audit_records",
            "Audit records written to the store",
            trail.written.clone(),
        );
        registry.register(
            "bpops_audit_dropped",
            "Audit records dropped, by reason: the queue was full (queue_full), or their batch \
             could not be written (write_failed)",
            trail.dropped.clone(),
        );
        let metrics = Metrics {
            registry,
            requests,
            latency,
            queue,
            deliveries_pending,
        };
        (metrics, trail)
    }

    /// Counts one answered request. `action` is `None` when the request never named a valid
    /// one (for example an unsigned or malformed request).
    pub(crate) fn request(&self, action: Option<&str>, code: &str, elapsed: Duration) {
        let action = action.unwrap_or("unknown").to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                action: action.clone(),
                code: code.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&ActionLabels { action })
            .observe(elapsed.as_secs_f64());
    }
}

/// Renders every metric, reading the queue depth from the store first.
pub(crate) async fn render(app: &App) -> Response {
    match app.store.queue_depth().await {
        Ok(depth) => {
            for (status, n) in [("INIT", depth.init), ("RUNNING", depth.running)] {
                let gauge = app.metrics.queue.get_or_create(&StatusLabels {
                    status: status.to_owned(),
                });
                gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        // The rest is still worth scraping; the gauge keeps its last value.
        Err(e) => tracing::warn!(error = %e, "reading the queue depth failed"),
    }
    match app.store.delivery_backlog().await {
        Ok(n) => {
            app.metrics
                .deliveries_pending
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "reading the webhook backlog failed"),
    }
    let mut text = String::new();
    if let Err(e) = encode(&mut text, &app.metrics.registry) {
        tracing::error!(error = %e, "encoding metrics failed");
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::empty())
            .expect("a static response is valid");
    }
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
        .body(Body::from(text))
        .expect("a static response is valid")
}
