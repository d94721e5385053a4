//! Claims and leases: who runs what, in which order, and the fencing of attempts.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::{
    Budget, Lease, NewOperation, Operation, OperationId, Pool, QueueDepth, Status, Store,
    StoreEvent,
};
use bpops_time::Timestamp;

use super::{NODE, T0, account, claim, finish, ms, new_op, next_event, submit};

/// Issue 11, item 8: a row that cannot be decoded does not stop claims. With the oldest
/// operation's row corrupted by `corrupt` (directly in the database, as the backend's own
/// test knows how), a claim sets it aside (ended, reported once) and claims the others,
/// including the next one on the corrupt operation's resource. Not in
/// [`store_conformance!`](crate::store_conformance): each backend calls it with its own way
/// to corrupt a row.
pub async fn an_unreadable_row_is_set_aside_and_the_others_run(
    store: &dyn Store,
    corrupt: impl AsyncFnOnce(&OperationId),
) {
    let (a, b) = (account(1), account(2));
    let bad = new_op(&a, Some("i-1"), T0);
    let behind = new_op(&a, Some("i-1"), T0 + ms(1));
    let other = new_op(&b, None, T0 + ms(2));
    for op in [&bad, &behind, &other] {
        submit(store, op).await;
    }
    corrupt(&bad.id).await;

    let claimed = store
        .claim(NODE, T0 + ms(10), ms(990), Budget::uniform(10))
        .await
        .unwrap();
    let ids: Vec<_> = claimed.operations.iter().map(|op| &op.id).collect();
    assert_eq!(ids, [&other.id], "the other tenant's operation runs");
    assert_eq!(claimed.unreadable.len(), 1, "{claimed:?}");
    assert!(!claimed.unreadable[0].reason.is_empty());
    assert_eq!(
        store.queue_depth().await.unwrap(),
        QueueDepth {
            init: 1,
            running: 1
        },
        "the unreadable row is no longer unfinished"
    );

    let next = store
        .claim(NODE, T0 + ms(11), ms(989), Budget::uniform(10))
        .await
        .unwrap();
    let ids: Vec<_> = next.operations.iter().map(|op| &op.id).collect();
    assert_eq!(ids, [&behind.id], "its resource is free for the next one");
    assert!(next.unreadable.is_empty(), "set aside once: {next:?}");
}

/// A claim moves `INIT` to `RUNNING` and increments the attempt; a claimed operation is not
/// claimed again while its lease holds.
pub async fn claim_marks_running_and_counts_attempts(store: &dyn Store) {
    let a = new_op(&account(1), None, T0);
    let b = new_op(&account(1), None, T0 + ms(1));
    submit(store, &a).await;
    submit(store, &b).await;

    let first = claim(store, T0, ms(1000), 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, a.id, "oldest first");
    assert_eq!(first[0].status, Status::Running);
    assert_eq!(first[0].attempt, 1);

    let second = claim(store, T0, ms(1000), 10).await;
    assert_eq!(
        second.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&b.id]
    );
    assert!(claim(store, T0, ms(1000), 10).await.is_empty());
    let stored = store.get(&a.account, &a.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Running);
}

/// Operations on one resource run one at a time in submission order; other resources are
/// not held up.
pub async fn claim_runs_one_operation_per_resource_in_order(store: &dyn Store) {
    let acct = account(1);
    let first = new_op(&acct, Some("i-1"), T0);
    let second = new_op(&acct, Some("i-1"), T0 + ms(1));
    let other = new_op(&acct, Some("i-2"), T0 + ms(2));
    let same_id_other_account = new_op(&account(2), Some("i-1"), T0 + ms(3));
    for op in [&first, &second, &other, &same_id_other_account] {
        submit(store, op).await;
    }

    let claimed: Vec<_> = claim(store, T0, ms(1000), 10)
        .await
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        claimed,
        vec![
            first.id.clone(),
            other.id.clone(),
            same_id_other_account.id.clone()
        ]
    );
    assert!(
        claim(store, T0, ms(1000), 10).await.is_empty(),
        "i-1 is busy"
    );

    assert!(
        store
            .finish(&first.id, 1, &finish(Status::Success, T0 + ms(10)))
            .await
            .unwrap()
    );
    let next = claim(store, T0 + ms(10), ms(990), 10).await;
    assert_eq!(
        next.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&second.id]
    );
}

/// A running operation whose lease ended is claimed again with a new attempt.
pub async fn claim_takes_over_an_expired_lease_only(store: &dyn Store) {
    let op = new_op(&account(1), Some("i-1"), T0);
    submit(store, &op).await;
    assert_eq!(claim(store, T0, ms(1000), 10).await.len(), 1);
    assert!(claim(store, T0 + ms(999), ms(1001), 10).await.is_empty());

    let again = claim(store, T0 + ms(1001), ms(1999), 10).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
}

/// Lease renewal only works for the current attempt of a running operation.
pub async fn renew_lease_is_fenced_by_the_attempt(store: &dyn Store) {
    let op = new_op(&account(1), None, T0);
    submit(store, &op).await;
    store
        .claim(NODE, T0, ms(100), Budget::uniform(10))
        .await
        .unwrap();
    assert_eq!(
        store.renew_lease(&op.id, 1, T0 + ms(5000)).await.unwrap(),
        Lease::Held
    );
    assert_eq!(
        store.renew_lease(&op.id, 2, T0 + ms(5000)).await.unwrap(),
        Lease::Lost
    );
    assert!(
        claim(store, T0 + ms(200), ms(5800), 10).await.is_empty(),
        "renewed lease holds"
    );
    assert!(
        store
            .finish(&op.id, 1, &finish(Status::Success, T0 + ms(300)))
            .await
            .unwrap()
    );
    assert_eq!(
        store.renew_lease(&op.id, 1, T0 + ms(9000)).await.unwrap(),
        Lease::Lost,
        "finished"
    );
}

/// A released attempt's operation is claimable at once by anyone, as a new attempt, and the
/// release wakes the workers; a stale attempt, or a final operation, releases nothing.
pub async fn release_makes_the_operation_claimable_at_once_and_is_fenced(store: &dyn Store) {
    let op = new_op(&account(1), Some("i-1"), T0);
    submit(store, &op).await;
    claim(store, T0, ms(60_000), 10).await;
    assert!(
        claim(store, T0 + ms(1), ms(59_999), 10).await.is_empty(),
        "leased"
    );
    assert!(
        !store.release(&op.id, 2, T0).await.unwrap(),
        "not yet an attempt"
    );

    let mut events = store.subscribe();
    assert!(store.release(&op.id, 1, T0).await.unwrap());
    next_event(&mut events, |e| *e == StoreEvent::Submitted).await;
    let again = claim(store, T0 + ms(2), ms(59_998), 10).await;
    assert_eq!(
        again.len(),
        1,
        "claimable long before the lease would have ended"
    );
    assert_eq!((again[0].status, again[0].attempt), (Status::Running, 2));

    assert!(!store.release(&op.id, 1, T0).await.unwrap(), "superseded");
    assert_eq!(
        store.renew_lease(&op.id, 2, T0 + ms(90_000)).await.unwrap(),
        Lease::Held,
        "the stale release left the new attempt alone"
    );
    assert!(
        store
            .finish(&op.id, 2, &finish(Status::Success, T0 + ms(3)))
            .await
            .unwrap()
    );
    assert!(!store.release(&op.id, 2, T0).await.unwrap(), "final");
    let got = store.get(&op.account, &op.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::Success);
    assert!(claim(store, T0 + ms(4), ms(59_996), 10).await.is_empty());
}

/// Several workers claiming and finishing at once (as on several nodes) run every
/// operation exactly once, never two of one resource at a time, each resource's in
/// submission order.
pub async fn concurrent_workers_claim_each_operation_once_in_resource_order(store: &dyn Store) {
    let acct = account(1);
    let mut submitted: HashMap<String, Vec<OperationId>> = HashMap::new();
    for n in 0..12 {
        let resource = format!("i-{}", n % 3);
        let op = new_op(&acct, Some(&resource), T0 + ms(n));
        submit(store, &op).await;
        submitted.entry(resource).or_default().push(op.id);
    }
    let running: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let ran: Mutex<HashMap<String, Vec<OperationId>>> = Mutex::new(HashMap::new());
    let worker = || async {
        let mut idle_rounds = 0;
        while idle_rounds < 3 {
            let claimed = claim(store, T0 + ms(100), ms(59_900), 2).await;
            if claimed.is_empty() {
                idle_rounds += 1;
                tokio::task::yield_now().await;
                continue;
            }
            idle_rounds = 0;
            for op in &claimed {
                let resource = op.resource.as_ref().expect("has a resource").id.clone();
                assert!(
                    running.lock().unwrap().insert(resource.clone()),
                    "two operations of {resource} ran at once"
                );
                ran.lock()
                    .unwrap()
                    .entry(resource)
                    .or_default()
                    .push(op.id.clone());
            }
            tokio::task::yield_now().await;
            for op in &claimed {
                let resource = op.resource.as_ref().expect("has a resource").id.clone();
                running.lock().unwrap().remove(&resource);
                assert!(
                    store
                        .finish(&op.id, op.attempt, &finish(Status::Success, T0 + ms(200)))
                        .await
                        .unwrap()
                );
            }
        }
    };
    tokio::join!(worker(), worker(), worker(), worker());
    // Workers may all go idle while one still holds a resource: finish the stragglers.
    loop {
        let claimed = claim(store, T0 + ms(100), ms(59_900), 10).await;
        if claimed.is_empty() {
            break;
        }
        for op in &claimed {
            let resource = op.resource.as_ref().expect("has a resource").id.clone();
            ran.lock()
                .unwrap()
                .entry(resource)
                .or_default()
                .push(op.id.clone());
            assert!(
                store
                    .finish(&op.id, op.attempt, &finish(Status::Success, T0 + ms(200)))
                    .await
                    .unwrap()
            );
        }
    }
    assert_eq!(ran.into_inner().unwrap(), submitted);
}

/// A claim takes at most its budget of each pool, the oldest first within a pool: a pool
/// with no room leaves its operations queued and never holds back another pool's, and the
/// pool is kept with the operation.
pub async fn a_claim_takes_at_most_each_pools_budget(store: &dyn Store) {
    let acct = account(1);
    let in_pool = |pool: Pool, n: u64| NewOperation {
        pool,
        ..new_op(&acct, None, T0 + ms(n))
    };
    // The oldest operations are commands: a full command pool must not hide the rest.
    let commands: Vec<_> = (0..3).map(|n| in_pool(Pool::Command, n)).collect();
    let emulated: Vec<_> = (3..6).map(|n| in_pool(Pool::Emulated, n)).collect();
    let http = in_pool(Pool::Http, 6);
    for op in commands.iter().chain(&emulated).chain([&http]) {
        submit(store, op).await;
    }

    let mut budget = Budget::default();
    budget[Pool::Emulated] = 2;
    budget[Pool::Http] = 5;
    let first = claim_budget(store, T0 + ms(10), budget).await;
    let ids: Vec<_> = first.iter().map(|op| &op.id).collect();
    assert_eq!(
        ids,
        [&emulated[0].id, &emulated[1].id, &http.id],
        "two emulated and the http one, in submission order; no command"
    );
    assert_eq!(first[2].pool, Pool::Http);

    budget = Budget::default();
    budget[Pool::Command] = 2;
    let second = claim_budget(store, T0 + ms(11), budget).await;
    let ids: Vec<_> = second.iter().map(|op| &op.id).collect();
    assert_eq!(
        ids,
        [&commands[0].id, &commands[1].id],
        "the oldest commands"
    );
    assert!(second.iter().all(|op| op.pool == Pool::Command));

    let rest = claim_budget(store, T0 + ms(12), Budget::uniform(10)).await;
    let ids: Vec<_> = rest.iter().map(|op| &op.id).collect();
    assert_eq!(
        ids,
        [&commands[2].id, &emulated[2].id],
        "the rest, oldest first"
    );
}

async fn claim_budget(store: &dyn Store, now: Timestamp, budget: Budget) -> Vec<Operation> {
    let claimed = store.claim(NODE, now, ms(1000), budget).await.unwrap();
    assert!(claimed.unreadable.is_empty(), "{claimed:?}");
    claimed.operations
}
