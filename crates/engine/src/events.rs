//! Turns the store's events into wake-ups: the dispatcher wakes when there may be work, an
//! operation's waiters when it finished, and its attempt on this node stops when its
//! cancellation is requested. The store publishes the commits of every node sharing it, so
//! this is how a node learns of work and results from the others.

use std::sync::Arc;

use bpops_store::StoreEvent;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::Engine;

pub(crate) async fn forward(
    engine: Arc<Engine>,
    mut events: broadcast::Receiver<StoreEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.recv() => event,
        };
        match event {
            Ok(StoreEvent::Submitted) => engine.work.notify_one(),
            Ok(StoreEvent::Finished(id)) => {
                engine.waiters.notify(&id);
                engine.work.notify_one();
            }
            Ok(StoreEvent::CancelRequested(id)) => {
                engine.running.cancel(&id);
            }
            // Some events are gone: wake everyone to re-check. A lost cancellation is still
            // seen at the next lease renewal.
            Ok(StoreEvent::Missed) | Err(RecvError::Lagged(_)) => {
                engine.waiters.notify_all();
                engine.work.notify_one();
            }
            Err(RecvError::Closed) => return,
        }
    }
}
