//! What the engine does with the operations running here when told to stop (its waiters are
//! answered at once, see `Engine::start`): give them
//! [`Settings::shutdown_grace`](crate::Settings) to finish, then release the leases of those
//! still running, so that another node (or this one, restarted) resumes them at once instead
//! of after their lease.

use std::time::Duration;

use bpops_store::Operation;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Engine;

/// How long the abandoned attempts may take to release their leases (one store write each,
/// concurrently): past it, their leases expire by themselves.
const RELEASE_WAIT: Duration = Duration::from_millis(500);

/// Drains the attempts in `attempts` (no new one is started any more), abandoning those still
/// running when the grace is over through `abandon`.
pub(crate) async fn drain(engine: &Engine, attempts: TaskTracker, abandon: CancellationToken) {
    attempts.close();
    let grace = engine.settings.shutdown_grace;
    if !attempts.is_empty() {
        tracing::info!(running = attempts.len(), grace = ?grace, "letting running operations finish");
    }
    if tokio::time::timeout(grace, attempts.wait()).await.is_ok() {
        return;
    }
    tracing::info!(
        running = attempts.len(),
        "shutdown grace over; releasing the running operations"
    );
    abandon.cancel();
    if tokio::time::timeout(RELEASE_WAIT, attempts.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = attempts.len(),
            "some leases were not released in time; they expire by themselves"
        );
    }
}

/// Releases the lease of an abandoned attempt.
pub(crate) async fn release(engine: &Engine, op: &Operation) {
    match engine
        .store
        .release(&op.id, op.attempt, engine.clock.now())
        .await
    {
        Ok(true) => {
            engine.outbox_written();
            tracing::info!(operation = %op.id, attempt = op.attempt, "lease released")
        }
        // It finished, or another node took it over, meanwhile.
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(operation = %op.id, error = %e, "releasing the lease failed; it expires by itself")
        }
    }
}
