//! Deletes expired operations in bounded batches, so a large backlog never holds the
//! database for long.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Engine;

pub(crate) async fn run(engine: Arc<Engine>, shutdown: CancellationToken) {
    let interval = engine.settings.sweep_interval();
    loop {
        sweep_all(&engine).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = engine.clock.sleep(interval) => {}
        }
    }
}

/// Sweeps until a batch comes back short. Returns how many operations were deleted.
///
/// Between full batches it pauses twice as long as the last batch took, so a backlog (a
/// million operations expiring together, say) holds the store's writer, and a core, at most
/// a third of the time, in short bursts, and requests keep their latency while it drains.
pub(crate) async fn sweep_all(engine: &Engine) -> usize {
    let batch = engine.settings.sweep_batch;
    let mut total = 0;
    loop {
        let started = Instant::now();
        match engine.store.sweep(engine.expired_before(), batch).await {
            Ok(n) => {
                total += n;
                engine.metrics.swept(n);
                if n < batch {
                    if total > 0 {
                        tracing::debug!(deleted = total, "swept expired operations");
                    }
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
