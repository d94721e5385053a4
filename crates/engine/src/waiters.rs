//! Readers waiting for an operation to finish, woken by the store's `Finished` event, or
//! all at once when the node stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bpops_store::OperationId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Per-operation wake-ups. An entry exists only while someone waits on it, so memory is
/// proportional to the number of waiters.
#[derive(Default)]
pub(crate) struct Waiters {
    entries: Mutex<HashMap<OperationId, (Arc<Notify>, usize)>>,
    /// Cancelled when the node stops: every wait ends then, and no new one starts.
    stopped: CancellationToken,
}

/// A registration; dropping it forgets the waiter.
pub(crate) struct Registration<'a> {
    waiters: &'a Waiters,
    id: OperationId,
    notify: Arc<Notify>,
}

impl Waiters {
    /// Registers interest in `id`. Register before reading the status, so a finish between
    /// the read and the wait is not missed.
    pub(crate) fn register(&self, id: &OperationId) -> Registration<'_> {
        let mut entries = self.entries.lock().expect("waiters lock poisoned");
        let entry = entries
            .entry(id.clone())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Registration {
            waiters: self,
            id: id.clone(),
            notify: Arc::clone(&entry.0),
        }
    }

    /// Wakes everyone waiting on `id`.
    pub(crate) fn notify(&self, id: &OperationId) {
        let entries = self.entries.lock().expect("waiters lock poisoned");
        if let Some((notify, _)) = entries.get(id) {
            notify.notify_waiters();
        }
    }

    /// Wakes every waiter, for when events may have been missed.
    pub(crate) fn notify_all(&self) {
        let entries = self.entries.lock().expect("waiters lock poisoned");
        for (notify, _) in entries.values() {
            notify.notify_waiters();
        }
    }

    /// Ends every wait, now and from now on: the node is stopping, and a waiter is better
    /// answered with the current status than cut off.
    pub(crate) fn stop(&self) {
        self.stopped.cancel();
    }

    /// Completes once the node stops.
    pub(crate) async fn stopped(&self) {
        self.stopped.cancelled().await;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

impl Registration<'_> {
    /// The wake-up source; create the `notified()` future before reading the status.
    pub(crate) fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut entries = self.waiters.entries.lock().expect("waiters lock poisoned");
        if let Some(entry) = entries.get_mut(&self.id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                entries.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_registered_waiter_is_woken_and_forgotten_when_dropped() {
        let waiters = Waiters::default();
        let id = OperationId::random();
        let registration = waiters.register(&id);
        let woken = registration.notify().notified();
        waiters.notify(&id);
        woken.await;
        assert_eq!(waiters.len(), 1);
        drop(registration);
        assert_eq!(waiters.len(), 0);
    }
}
