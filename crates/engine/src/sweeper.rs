//! Deletes expired operations and audit records past their retention, in bounded batches,
//! so a large backlog never holds the database for long.

use std::sync::Arc;

use bpops_time::Timestamp;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Engine;

pub(crate) async fn run(engine: Arc<Engine>, shutdown: CancellationToken) {
    let interval = engine.settings.sweep_interval();
    loop {
        sweep_all(&engine).await;
        sweep_audit(&engine).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = engine.clock.sleep(interval) => {}
        }
    }
}

/// What a sweep deletes: operations that finished, or audit records written, before a cutoff.
#[derive(Clone, Copy)]
enum Swept {
    Operations(Timestamp),
    AuditRecords(Timestamp),
}

/// Sweeps expired operations until a batch comes back short. Returns how many were deleted.
async fn sweep_all(engine: &Engine) -> usize {
    let total = in_batches(engine, Swept::Operations(engine.expired_before())).await;
    if total > 0 {
        tracing::debug!(deleted = total, "swept expired operations");
    }
    total
}

/// Deletes the audit records older than their retention, as [`sweep_all`] does operations.
async fn sweep_audit(engine: &Engine) -> usize {
    let cutoff = engine.clock.now() - engine.settings.audit_retention;
    let total = in_batches(engine, Swept::AuditRecords(cutoff)).await;
    if total > 0 {
        tracing::debug!(deleted = total, "swept audit records past their retention");
    }
    total
}

/// Deletes what `swept` names, a batch at a time, until a batch comes back short; returns
/// how many were deleted.
///
/// Between full batches it pauses twice as long as the last batch took, so a backlog (a
/// million operations expiring together, say) holds the store's writer, and a core, at most
/// a third of the time, in short bursts, and requests keep their latency while it drains.
async fn in_batches(engine: &Engine, swept: Swept) -> usize {
    let batch = engine.settings.sweep_batch;
    let mut total = 0;
    loop {
        let started = Instant::now();
        let deleted = match swept {
            Swept::Operations(cutoff) => engine.store.sweep(cutoff, batch).await.inspect(|&n| {
                engine.metrics.swept(n);
            }),
            Swept::AuditRecords(cutoff) => engine.store.sweep_audit(cutoff, batch).await,
        };
        match deleted {
            Ok(n) => {
                total += n;
                if n < batch {
                    return total;
                }
                tokio::time::sleep(2 * started.elapsed()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweep failed; retrying at the next interval");
                return total;
            }
        }
    }
}
