//! Deletes expired operations in bounded batches, so a large backlog never holds the
//! database for long.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::Engine;

pub(crate) async fn run(engine: Arc<Engine>, shutdown: CancellationToken) {
    let interval = engine.settings.sweep_interval();
    loop {
        sweep_all(&engine).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Sweeps until a batch comes back short. Returns how many operations were deleted.
pub(crate) async fn sweep_all(engine: &Engine) -> usize {
    let batch = engine.settings.sweep_batch;
    let mut total = 0;
    loop {
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
                // Let requests in between batches.
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweep failed; retrying at the next interval");
                return total;
            }
        }
    }
}
