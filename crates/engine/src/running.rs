//! The attempts running on this node, each with the token that cancels it, so that
//! `CancelExecuteOperation` (here, or on another node through the store's events or the
//! lease renewal) reaches the executor running the operation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bpops_store::OperationId;
use tokio_util::sync::CancellationToken;

type Attempts = Mutex<HashMap<OperationId, (u32, CancellationToken)>>;

/// The node-local registry of running attempts.
#[derive(Default)]
pub(crate) struct Running {
    attempts: Arc<Attempts>,
}

impl Running {
    /// Registers attempt `attempt` of `id`; it is unregistered when the guard drops.
    pub(crate) fn register(&self, id: &OperationId, attempt: u32) -> Registration {
        let token = CancellationToken::new();
        self.attempts
            .lock()
            .expect("running registry lock poisoned")
            .insert(id.clone(), (attempt, token.clone()));
        Registration {
            attempts: Arc::clone(&self.attempts),
            id: id.clone(),
            attempt,
            token,
        }
    }

    /// Every attempt registered now, as `(id, attempt)`.
    pub(crate) fn attempts(&self) -> Vec<(OperationId, u32)> {
        self.attempts
            .lock()
            .expect("running registry lock poisoned")
            .iter()
            .map(|(id, (attempt, _))| (id.clone(), *attempt))
            .collect()
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
pub(crate) struct Registration {
    attempts: Arc<Attempts>,
    id: OperationId,
    attempt: u32,
    token: CancellationToken,
}

impl Registration {
    /// The token cancelled when the operation is cancelled.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut attempts = self
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
        assert_eq!(running.attempts(), [(id.clone(), 1)]);
        assert!(running.cancel(&id));
        assert!(first.token().is_cancelled());
        drop(first);
        assert!(!running.cancel(&id), "unregistered when it ends");
        assert!(running.attempts().is_empty());
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
