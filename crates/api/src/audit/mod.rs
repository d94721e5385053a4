//! The audit trail of the API: every request, allowed or denied, signed or not, becomes one
//! [`AuditRecord`] (`entry` gathers it along the pipeline, `redact` decides what of its
//! parameters is kept), and `LookupEvents` reads the trail back (`lookup`).
//!
//! Key decision: recording never waits for the store. A request's record goes into a bounded
//! in-memory queue, and one writer task per node appends what has queued up in batches (one
//! transaction each), so the hot path pays an allocation and a channel send, not a commit.
//! The price, documented in the README: a process killed with `kill -9` loses the records of
//! the last flush interval and of the batch being written; a graceful stop writes everything
//! ([`Trail::close`], called once the last request has been answered).
//!
//! When the queue is full (the store is down, or cannot keep up with a flood), new records
//! are dropped and counted (`bpops_audit_dropped_total`, and a warning in the log), never
//! silently: waiting for room instead would let a flood of unsigned requests slow down every
//! signed one, which is the attack the trail is there to show.

mod entry;
pub(crate) mod lookup;
mod redact;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bpops_store::{AuditRecord, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) use entry::{Entry, Target};

/// How the trail is kept.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// Whether requests are recorded at all; `LookupEvents` still reads what was.
    pub enabled: bool,
    /// The most records waiting to be written; past it new ones are dropped and counted.
    pub queue: usize,
    /// The most records written in one transaction.
    pub batch: usize,
    /// How long the writer collects records before writing them, once one has arrived:
    /// under load, a few commits a second instead of one per request. What `kill -9` can
    /// lose is bounded by it.
    pub flush_interval: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            // About 5 MB of typical records, 50 MB at most (a record is bounded to ~5 KB).
            queue: 10_000,
            batch: 512,
            flush_interval: Duration::from_millis(100),
        }
    }
}

/// How many times the writer tries a batch before dropping it (and counting it).
const WRITE_ATTEMPTS: u32 = 3;

/// The pause between two attempts at one batch.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What the trail counts, for `/metrics`.
#[derive(Clone)]
pub(crate) struct TrailMetrics {
    /// Records written.
    pub written: Counter,
    /// Records dropped, by reason.
    pub dropped: Family<DropLabels, Counter>,
}

/// Why records were dropped.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DropLabels {
    reason: String,
}

/// The queue was full.
const QUEUE_FULL: &str = "queue_full";
/// Their batch could not be written.
const WRITE_FAILED: &str = "write_failed";

impl Default for TrailMetrics {
    fn default() -> Self {
        let dropped = Family::<DropLabels, Counter>::default();
        // N.B. both series exist from the start, at 0: an alert on them needs them to.
        for reason in [QUEUE_FULL, WRITE_FAILED] {
            let _ = dropped.get_or_create(&DropLabels {
                reason: reason.to_owned(),
            });
        }
        TrailMetrics {
            written: Counter::default(),
            dropped,
        }
    }
}

impl TrailMetrics {
    /// Counts `n` records dropped for `reason`; returns how many were before.
    fn count_dropped(&self, reason: &str, n: u64) -> u64 {
        self.dropped
            .get_or_create(&DropLabels {
                reason: reason.to_owned(),
            })
            .inc_by(n)
    }
}

/// The sending side of the trail, held by the request path.
pub(crate) struct Trail {
    /// `None` when auditing is off.
    queue: Option<mpsc::Sender<AuditRecord>>,
    metrics: TrailMetrics,
    stop: CancellationToken,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Trail {
    /// Starts the writer task over `store` (none when auditing is off).
    pub(crate) fn start(
        store: Arc<dyn Store>,
        settings: &AuditSettings,
        metrics: TrailMetrics,
    ) -> Trail {
        let stop = CancellationToken::new();
        if !settings.enabled {
            return Trail {
                queue: None,
                metrics,
                stop,
                writer: Mutex::new(None),
            };
        }
        let (queue, records) = mpsc::channel(settings.queue.max(1));
        let writer = Writer {
            store,
            batch: settings.batch.max(1),
            flush_interval: settings.flush_interval,
            metrics: metrics.clone(),
        };
        let task = tokio::spawn(writer.run(records, stop.clone()));
        Trail {
            queue: Some(queue),
            metrics,
            stop,
            writer: Mutex::new(Some(task)),
        }
    }

    /// Whether requests are recorded.
    pub(crate) fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `record` for the writer, or counts it dropped when the queue is full.
    pub(crate) fn record(&self, record: AuditRecord) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(record).is_err() {
            let dropped = self.metrics.count_dropped(QUEUE_FULL, 1) + 1;
            // At the 1st, 2nd, 4th, 8th, … drop: loud at once, without a line per request.
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "the audit queue is full: records are being dropped (bpops_audit_dropped_total)"
                );
            }
        }
    }

    /// Stops the writer once it has written every record queued so far; records sent after
    /// this are dropped. For a graceful stop, once no request is in flight.
    pub(crate) async fn close(&self) {
        self.stop.cancel();
        let task = self.writer.lock().expect("trail lock poisoned").take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the audit writer failed");
        }
    }
}

/// The task that appends queued records to the store, a batch at a time.
struct Writer {
    store: Arc<dyn Store>,
    batch: usize,
    flush_interval: Duration,
    metrics: TrailMetrics,
}

impl Writer {
    async fn run(self, mut records: mpsc::Receiver<AuditRecord>, stop: CancellationToken) {
        let mut batch = Vec::with_capacity(self.batch);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                n = records.recv_many(&mut batch, self.batch) => if n == 0 { break },
            }
            // What arrives within the interval joins the batch.
            let deadline = Instant::now() + self.flush_interval;
            while batch.len() < self.batch {
                let room = self.batch - batch.len();
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    more = tokio::time::timeout_at(deadline, records.recv_many(&mut batch, room)) => {
                        if !matches!(more, Ok(n) if n > 0) {
                            break;
                        }
                    }
                }
            }
            self.write(&mut batch, &stop).await;
        }
        // Stopping: nothing new gets in, and what is queued is written.
        records.close();
        while records.recv_many(&mut batch, self.batch).await > 0 || !batch.is_empty() {
            self.write(&mut batch, &stop).await;
        }
    }

    /// Writes `batch` and empties it; a failure is retried a few times (not while stopping,
    /// when the store is as likely to be gone for good), then the batch is dropped and counted.
    async fn write(&self, batch: &mut Vec<AuditRecord>, stop: &CancellationToken) {
        for attempt in 1..=WRITE_ATTEMPTS {
            match self.store.record_audit(batch).await {
                Ok(()) => {
                    self.metrics.written.inc_by(batch.len() as u64);
                    batch.clear();
                    return;
                }
                Err(e) if attempt < WRITE_ATTEMPTS && !stop.is_cancelled() => {
                    tracing::warn!(error = %e, records = batch.len(), attempt, "writing audit records failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, records = batch.len(), "writing audit records failed; they are dropped (bpops_audit_dropped_total)");
                    break;
                }
            }
        }
        self.metrics.count_dropped(WRITE_FAILED, batch.len() as u64);
        batch.clear();
    }
}
