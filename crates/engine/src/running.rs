//! The attempts running on this node, each with the token that cancels it, so that
//! `CancelExecuteOperation` (here, or on another node through the store's events or the
//! lease renewal) reaches the executor running the operation.

use std::collections::HashMap;
use std::sync::Mutex;

use bpops_store::OperationId;
use tokio_util::sync::CancellationToken;

/// The node-local registry of running attempts.
#[derive(Default)]
pub(crate) struct Running {
    attempts: Mutex<HashMap<OperationId, (u32, CancellationToken)>>,
}

impl Running {
    /// Registers attempt `attempt` of `id`; it is unregistered when the guard drops.
    pub(crate) fn register(&self, id: &OperationId, attempt: u32) -> Registration<'_> {
        let token = CancellationToken::new();
        self.attempts
            .lock()
            .expect("running registry lock poisoned")
            .insert(id.clone(), (attempt, token.clone()));
        Registration {
            running: self,
            id: id.clone(),
            attempt,
            token,
        }
    }

    /// Cancels the attempt of `id` running here, if any. Returns whether there was one.
    pub(crate) fn cancel(&self, id: &OperationId) -> bool {
        let attempts = self
            .attempts
            .lock()
            .expect("running registry lock poisoned");
        match attempts.get(id) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// A registered attempt; dropping it unregisters it.
pub(crate) struct Registration<'a> {
    running: &'a Running,
    id: OperationId,
    attempt: u32,
    token: CancellationToken,
}

impl Registration<'_> {
    /// The token cancelled when the operation is cancelled.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut attempts = self
            .running
            .attempts
            .lock()
            .expect("running registry lock poisoned");
        // N.B. a later attempt of the same operation may have replaced this one (a takeover
        // on this node after a lost lease): leave it registered.
        if attempts
            .get(&self.id)
            .is_some_and(|(a, _)| *a == self.attempt)
        {
            attempts.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reaches_the_registered_attempt_until_it_ends() {
        let running = Running::default();
        let id = OperationId::random();
        assert!(!running.cancel(&id));
        let first = running.register(&id, 1);
        assert!(running.cancel(&id));
        assert!(first.token().is_cancelled());
        drop(first);
        assert!(!running.cancel(&id), "unregistered when it ends");
    }

    #[test]
    fn an_older_attempt_ending_leaves_the_newer_registered() {
        let running = Running::default();
        let id = OperationId::random();
        let old = running.register(&id, 1);
        let new = running.register(&id, 2);
        drop(old);
        assert!(running.cancel(&id));
        assert!(new.token().is_cancelled());
    }
}
