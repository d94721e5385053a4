//! Recently read final operations, kept in memory so repeated reads skip the store.
//!
//! Caching is safe because a final operation never changes again (status only moves
//! forward, and nothing edits a final result), on any node; the only later change is its
//! deletion once expired, and readers check expiry from `finished_at` on every hit. The
//! cache holds a bounded number of entries and forgets the oldest first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bpops_store::{AccountId, Operation, OperationId};

/// Entries kept at most: a few kilobytes each, so a few tens of megabytes at worst.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(crate) struct Finals {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<OperationId, Arc<Operation>>,
    order: VecDeque<OperationId>,
}

impl Finals {
    /// The cached operation `id` of `account`, if any.
    pub(crate) fn get(&self, account: &AccountId, id: &OperationId) -> Option<Arc<Operation>> {
        let inner = self.inner.lock().expect("finals lock poisoned");
        inner
            .by_id
            .get(id)
            .filter(|op| &op.account == account)
            .cloned()
    }

    /// Remembers `op` if it is final.
    pub(crate) fn remember(&self, op: &Operation) {
        if !op.status.is_final() {
            return;
        }
        let mut inner = self.inner.lock().expect("finals lock poisoned");
        if inner.by_id.contains_key(&op.id) {
            return;
        }
        if inner.order.len() >= CAPACITY
            && let Some(oldest) = inner.order.pop_front()
        {
            inner.by_id.remove(&oldest);
        }
        inner.order.push_back(op.id.clone());
        inner.by_id.insert(op.id.clone(), Arc::new(op.clone()));
    }
}

#[cfg(test)]
mod tests {
    use bpops_store::Status;

    use super::*;

    fn op(status: Status) -> Operation {
        Operation {
            id: OperationId::random(),
            account: AccountId::new("1"),
            service: "ecs".into(),
            operation: "rename".into(),
            application: None,
            resource: None,
            attributes: "{}".into(),
            status,
            message: String::new(),
            arguments: "{}".into(),
            attempt: 1,
            created_at: 0,
            finished_at: status.is_final().then_some(1),
            cancel_requested: false,
        }
    }

    #[test]
    fn only_final_operations_are_kept_and_only_for_their_account() {
        let finals = Finals::default();
        let (running, done) = (op(Status::Running), op(Status::Success));
        finals.remember(&running);
        finals.remember(&done);
        assert!(finals.get(&running.account, &running.id).is_none());
        assert_eq!(finals.get(&done.account, &done.id).as_deref(), Some(&done));
        assert!(finals.get(&AccountId::new("2"), &done.id).is_none());
    }

    #[test]
    fn the_oldest_entries_are_forgotten_past_the_capacity() {
        let finals = Finals::default();
        let first = op(Status::Failure);
        finals.remember(&first);
        for _ in 0..CAPACITY {
            finals.remember(&op(Status::Success));
        }
        assert!(finals.get(&first.account, &first.id).is_none());
        assert_eq!(finals.inner.lock().unwrap().by_id.len(), CAPACITY);
    }
}
