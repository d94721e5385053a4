//! What the engine counts, for `/metrics`: operations submitted and finished (by service,
//! operation and status), how long executions take, how many expired operations were
//! swept, how many unreadable ones were set aside, and webhook deliveries (attempts by
//! outcome, and how long they take). Counters are per node; Prometheus sums nodes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// An operation kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    service: String,
    operation: String,
}

/// An operation kind and the final status it reached.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FinishedLabels {
    service: String,
    operation: String,
    status: String,
}

/// A webhook, and what one attempt of a delivery to it came to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    notification: String,
    outcome: String,
}

/// A webhook.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    notification: String,
}

/// The engine's metrics. Clones share the same values.
#[derive(Clone)]
pub struct EngineMetrics {
    submitted: Family<OperationLabels, Counter>,
    finished: Family<FinishedLabels, Counter>,
    execution: Family<OperationLabels, Histogram>,
    swept: Counter,
    unreadable: Counter,
    deliveries: Family<DeliveryLabels, Counter>,
    delivery_seconds: Family<NotificationLabels, Histogram>,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics {
            submitted: Family::default(),
            finished: Family::default(),
            // 1 ms to about 9 minutes: emulated operations take milliseconds, declared
            // programs up to their timeout.
            execution: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 20))
            }),
            swept: Counter::default(),
            unreadable: Counter::default(),
            deliveries: Family::default(),
            // 1 ms to about 65 s: a receiver answers in milliseconds, or times out.
            delivery_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 17))
            }),
        }
    }
}

impl EngineMetrics {
    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "bpops_operations_submitted",
            "Operations stored by this node",
            self.submitted.clone(),
        );
        registry.register(
            "bpops_operations_finished",
            "Operations this node brought to a final status",
            self.finished.clone(),
        );
        registry.register(
            "bpops_operation_execution_seconds",
            "Time from claiming an attempt to committing its result",
            self.execution.clone(),
        );
        registry.register(
            "bpops_operations_swept",
            "Expired operations deleted by this node's sweeper",
            self.swept.clone(),
        );
        registry.register(
            "bpops_operations_unreadable",
            "Stored operations this node could not read, set aside and ended FAILURE",
            self.unreadable.clone(),
        );
        registry.register(
            "bpops_webhook_deliveries",
            "Webhook delivery attempts this node made or gave up, by notification and outcome: \
             delivered, failed (to be retried) or expired (given up)",
            self.deliveries.clone(),
        );
        registry.register(
            "bpops_webhook_attempt_seconds",
            "Time a webhook receiver took to answer (or to time out), by notification",
            self.delivery_seconds.clone(),
        );
    }

    pub(crate) fn submitted(&self, service: &str, operation: &str) {
        self.submitted
            .get_or_create(&labels(service, operation))
            .inc();
    }

    /// An operation reached its final status after running for `seconds`.
    pub(crate) fn finished(&self, service: &str, operation: &str, status: &str, seconds: f64) {
        self.ended_unrun(service, operation, status);
        self.execution
            .get_or_create(&self::labels(service, operation))
            .observe(seconds);
    }

    /// An operation reached its final status without running (cancelled while `INIT`):
    /// counted as finished, with no execution time.
    pub(crate) fn ended_unrun(&self, service: &str, operation: &str, status: &str) {
        let labels = FinishedLabels {
            service: service.to_owned(),
            operation: operation.to_owned(),
            status: status.to_owned(),
        };
        self.finished.get_or_create(&labels).inc();
    }

    pub(crate) fn swept(&self, n: usize) {
        self.swept.inc_by(n as u64);
    }

    pub(crate) fn unreadable(&self) {
        self.unreadable.inc();
    }

    /// A delivery attempt to `notification` came to `outcome`.
    pub(crate) fn delivery(&self, notification: &str, outcome: &str) {
        let labels = DeliveryLabels {
            notification: notification.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.deliveries.get_or_create(&labels).inc();
    }

    /// A POST to `notification` got its answer, or gave up, after `seconds`.
    pub(crate) fn delivery_attempt(&self, notification: &str, seconds: f64) {
        let labels = NotificationLabels {
            notification: notification.to_owned(),
        };
        self.delivery_seconds
            .get_or_create(&labels)
            .observe(seconds);
    }
}

fn labels(service: &str, operation: &str) -> OperationLabels {
    OperationLabels {
        service: service.to_owned(),
        operation: operation.to_owned(),
    }
}
