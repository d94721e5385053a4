//! Recently read final operations, kept in memory so repeated reads skip the store.
//!
//! Caching is safe because a final operation never changes again (status only moves
//! forward, and nothing edits a final result), on any node; the only later change is its
//! deletion once expired, and readers check expiry from `finished_at` on every hit. The
//! cache holds a bounded number of bytes and forgets the oldest entries first: counting
//! entries would not bound it, since one operation may carry up to the request limits
//! (64 KiB of attributes) and the executors' (64 KiB each of `Arguments` and `Message`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bpops_store::{AccountId, Operation, OperationId};

/// Bytes kept at most, as [`cost`] counts them: about 14,000 operations of a few hundred
/// bytes, or 40 at the largest an operation can be.
const BUDGET: usize = 8 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct FinalCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<OperationId, Arc<Operation>>,
    /// Oldest first, with what each costs.
    order: VecDeque<(OperationId, usize)>,
    /// The sum of the costs in `order`.
    bytes: usize,
}

impl FinalCache {
    /// The cached operation `id` of `account`, if any.
    pub(crate) fn get(&self, account: &AccountId, id: &OperationId) -> Option<Arc<Operation>> {
        let inner = self.inner.lock().expect("final cache lock poisoned");
        inner
            .by_id
            .get(id)
            .filter(|op| &op.account == account)
            .cloned()
    }

    /// Remembers `op` if it is final, forgetting the oldest entries until it fits.
    pub(crate) fn remember(&self, op: &Operation) {
        if !op.status.is_final() {
            return;
        }
        let cost = cost(op);
        if cost > BUDGET {
            return;
        }
        let mut inner = self.inner.lock().expect("final cache lock poisoned");
        if inner.by_id.contains_key(&op.id) {
            return;
        }
        while inner.bytes + cost > BUDGET
            && let Some((oldest, freed)) = inner.order.pop_front()
        {
            inner.by_id.remove(&oldest);
            inner.bytes -= freed;
        }
        inner.order.push_back((op.id.clone(), cost));
        inner.bytes += cost;
        inner.by_id.insert(op.id.clone(), Arc::new(op.clone()));
    }
}

/// What one entry costs beyond the record and its text: the map's and the queue's slots and
/// the allocators' headers, roughly.
const ENTRY_OVERHEAD: usize = 128;

/// What keeping `op` costs: the record and its text, the two more copies of its id (the map's
/// key, the queue's) and [`ENTRY_OVERHEAD`].
fn cost(op: &Operation) -> usize {
    let resource = op.resource.as_ref().map_or(0, |key| {
        key.account.as_str().len() + key.service.len() + key.id.len()
    });
    std::mem::size_of::<Operation>()
        + 3 * op.id.as_str().len()
        + ENTRY_OVERHEAD
        + op.account.as_str().len()
        + op.service.len()
        + op.operation.len()
        + op.application.as_ref().map_or(0, String::len)
        + resource
        + op.attributes.len()
        + op.message.len()
        + op.arguments.len()
}

#[cfg(test)]
mod tests {
    use bpops_store::{Pool, Status};
    use bpops_time::Timestamp;

    use super::*;

    fn op(status: Status) -> Operation {
        Operation {
            id: OperationId::random(),
            account: AccountId::new("1"),
            service: "ecs".into(),
            operation: "rename".into(),
            application: None,
            resource: None,
            pool: Pool::Emulated,
            attributes: "{}".into(),
            status,
            message: String::new(),
            arguments: "{}".into(),
            attempt: 1,
            created_at: Timestamp::EPOCH,
            finished_at: status.is_final().then_some(Timestamp::from_millis(1)),
            cancel_requested: false,
            submitted_by: None,
        }
    }

    #[test]
    fn only_final_operations_are_kept_and_only_for_their_account() {
        let cache = FinalCache::default();
        let (running, done) = (op(Status::Running), op(Status::Success));
        cache.remember(&running);
        cache.remember(&done);
        assert!(cache.get(&running.account, &running.id).is_none());
        assert_eq!(cache.get(&done.account, &done.id).as_deref(), Some(&done));
        assert!(cache.get(&AccountId::new("2"), &done.id).is_none());
    }

    #[test]
    fn the_bytes_kept_stay_within_the_budget_and_the_oldest_go_first() {
        let cache = FinalCache::default();
        let large = |n: usize| Operation {
            arguments: "a".repeat(n),
            ..op(Status::Success)
        };
        let first = large(64 * 1024);
        cache.remember(&first);
        let mut last = None;
        // About 12 times the budget, in entries of every size up to the largest.
        for n in 0..1_000 {
            let op = large((n * 7_919) % (200 * 1024));
            cache.remember(&op);
            last = Some(op);
            let inner = cache.inner.lock().unwrap();
            let held: usize = inner.by_id.values().map(|op| cost(op)).sum();
            assert_eq!(held, inner.bytes);
            assert!(inner.bytes <= BUDGET, "{} bytes held", inner.bytes);
            assert_eq!(inner.by_id.len(), inner.order.len());
        }
        assert!(cache.get(&first.account, &first.id).is_none());
        let last = last.unwrap();
        assert!(cache.get(&last.account, &last.id).is_some());
        // Small entries fill it by the thousand.
        for _ in 0..20_000 {
            cache.remember(&op(Status::Success));
        }
        assert!(cache.inner.lock().unwrap().by_id.len() > 10_000);
    }

    #[test]
    fn an_operation_larger_than_the_budget_is_not_kept() {
        let cache = FinalCache::default();
        let kept = op(Status::Success);
        cache.remember(&kept);
        let huge = Operation {
            message: "m".repeat(BUDGET),
            ..op(Status::Failure)
        };
        cache.remember(&huge);
        assert!(cache.get(&huge.account, &huge.id).is_none());
        assert!(cache.get(&kept.account, &kept.id).is_some());
    }
}
