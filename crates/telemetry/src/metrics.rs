//! What the export counts, for `/metrics`: spans sent to the collector, and spans lost, by
//! why.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The queue was full.
pub(crate) const QUEUE_FULL: &str = "queue_full";
/// Their batch was refused by the collector, or not answered in time.
pub(crate) const EXPORT_FAILED: &str = "export_failed";

/// Why spans were dropped.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    reason: String,
}

/// The export's counters; clones count together.
#[derive(Clone, Debug)]
pub(crate) struct SpanMetrics {
    exported: Counter,
    dropped: Family<DropLabels, Counter>,
}

impl Default for SpanMetrics {
    fn default() -> Self {
        let dropped = Family::<DropLabels, Counter>::default();
        // N.B. both series exist from the start, at 0: an alert on them needs them to.
        for reason in [QUEUE_FULL, EXPORT_FAILED] {
            let _ = dropped.get_or_create(&DropLabels {
                reason: reason.to_owned(),
            });
        }
        SpanMetrics {
            exported: Counter::default(),
            dropped,
        }
    }
}

impl SpanMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "bpops_spans_exported",
            "Spans the OTLP collector accepted",
            self.exported.clone(),
        );
        registry.register(
            "bpops_spans_dropped",
            "Spans dropped, by reason: the export queue was full (queue_full), or the \
             collector refused their batch or did not answer in time (export_failed)",
            self.dropped.clone(),
        );
    }

    /// Counts `n` spans exported.
    pub(crate) fn exported(&self, n: u64) {
        self.exported.inc_by(n);
    }

    /// Counts `n` spans dropped for `reason`; returns how many were before.
    pub(crate) fn dropped(&self, reason: &str, n: u64) -> u64 {
        self.dropped
            .get_or_create(&DropLabels {
                reason: reason.to_owned(),
            })
            .inc_by(n)
    }
}
