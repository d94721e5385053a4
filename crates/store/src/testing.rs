//! The store conformance suite: every backend runs these cases through
//! [`store_conformance!`](crate::store_conformance), so all backends keep one contract.
//!
//! Each case takes a fresh, empty store and panics on a broken rule.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::{
    AccountId, BootstrapKey, Cancelled, Decide, Effect, Finish, Lease, ListQuery, NewOperation,
    Operation, OperationId, QueueDepth, Resource, ResourceKey, Status, Store, StoreError,
    StoreEvent, Submitted,
};

/// Generates one `#[tokio::test]` per conformance case. `$make` is an expression whose
/// `.await` gives `(Arc<dyn Store>, guard)`; the guard lives as long as the test (for example
/// a temporary directory).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@cases $make;
            submit_stores_an_init_operation,
            queue_depth_counts_unfinished_operations,
            operations_are_invisible_to_other_accounts,
            client_token_returns_the_first_operation,
            client_token_of_an_expired_operation_is_free,
            claim_marks_running_and_counts_attempts,
            claim_runs_one_operation_per_resource_in_order,
            claim_takes_over_an_expired_lease_only,
            finish_is_fenced_by_the_attempt,
            finish_commits_effect_with_status,
            submit_decided_stores_a_final_operation_with_its_effect,
            submit_decided_queues_behind_an_unfinished_operation,
            submit_decided_honours_a_used_client_token,
            renew_lease_is_fenced_by_the_attempt,
            release_makes_the_operation_claimable_at_once_and_is_fenced,
            sweep_deletes_expired_operations_in_batches,
            seeding_never_overwrites_the_inventory,
            bootstrap_key_is_created_once,
            a_nonce_is_spent_once_per_key,
            a_nonce_is_remembered_through_the_last_millisecond_of_its_window,
            concurrent_spends_of_one_nonce_find_it_new_once,
            concurrent_submits_with_one_client_token_create_one_operation,
            a_failing_submit_among_concurrent_ones_fails_alone,
            concurrent_decided_submits_on_one_resource_decide_in_turn,
            concurrent_workers_claim_each_operation_once_in_resource_order,
            concurrent_sweeps_delete_each_operation_once,
            submit_and_finish_publish_events,
            list_pages_newest_first_without_skipping_or_repeating,
            list_pages_stay_stable_under_concurrent_submits,
            list_filters_narrow_the_result,
            list_leaves_out_expired_and_foreign_operations,
            cancel_ends_an_init_operation_at_once,
            cancel_marks_a_running_operation_for_its_worker,
            cancel_leaves_final_operations_alone,
            cancel_finds_nothing_outside_the_account_or_applications,
            load_stores_final_operations_as_given,
            load_refuses_unfinished_operations_and_stores_nothing,
            loaded_operations_expire_like_finished_ones
        );
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $make.await;
                $crate::testing::$case(&*store).await;
            }
        )*
    };
}

const T0: i64 = 1_700_000_000_000;

fn account(n: u8) -> AccountId {
    AccountId::new(format!("100000000000000{n}"))
}

fn key(account: &AccountId, id: &str) -> ResourceKey {
    ResourceKey {
        account: account.clone(),
        service: "ecs".into(),
        id: id.into(),
    }
}

/// A new `INIT` operation of `account`, on `resource` of `ecs` when given: any operation will
/// do for the cases here and for backends' own tests.
pub fn new_op(account: &AccountId, resource: Option<&str>, created_at: i64) -> NewOperation {
    NewOperation {
        id: OperationId::random(),
        account: account.clone(),
        service: "ecs".into(),
        operation: "addTags".into(),
        application: Some("APP-WEB".into()),
        resource: resource.map(|r| key(account, r)),
        attributes: r#"{"instanceId":"i-1"}"#.into(),
        client_token: None,
        fingerprint: "f1".into(),
        created_at,
    }
}

fn finish(status: Status, at: i64) -> Finish {
    Finish {
        status,
        message: "done".into(),
        arguments: "{}".into(),
        finished_at: at,
        effect: None,
    }
}

/// Seeds instance `i-1` of `account` with `properties` and returns it.
async fn seed_instance(store: &dyn Store, account: &AccountId, properties: Value) -> Resource {
    let seeded = Resource {
        key: key(account, "i-1"),
        application: "APP-WEB".into(),
        properties: props(properties),
    };
    store
        .seed_resources(std::slice::from_ref(&seeded))
        .await
        .unwrap();
    seeded
}

fn props(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("properties are an object"),
    }
}

/// The operations `store.claim` takes (none of the rows in these cases is unreadable).
async fn claim(store: &dyn Store, now: i64, lease_until: i64, limit: usize) -> Vec<Operation> {
    store
        .claim(now, lease_until, limit)
        .await
        .unwrap()
        .operations
}

async fn submit(store: &dyn Store, op: &NewOperation) {
    assert_eq!(store.submit(op, 0).await.unwrap(), Submitted::Created);
}

/// Issue 11, item 8: a row that cannot be decoded does not stop claims. With the oldest
/// operation's row corrupted by `corrupt` (directly in the database, as the backend's own
/// test knows how), a claim sets it aside (ended, reported once) and claims the others,
/// including the next one on the corrupt operation's resource. Not in
/// [`store_conformance!`]: each backend calls it with its own way to corrupt a row.
pub async fn an_unreadable_row_is_set_aside_and_the_others_run(
    store: &dyn Store,
    corrupt: impl AsyncFnOnce(&OperationId),
) {
    let (a, b) = (account(1), account(2));
    let bad = new_op(&a, Some("i-1"), T0);
    let behind = new_op(&a, Some("i-1"), T0 + 1);
    let other = new_op(&b, None, T0 + 2);
    for op in [&bad, &behind, &other] {
        submit(store, op).await;
    }
    corrupt(&bad.id).await;

    let claimed = store.claim(T0 + 10, T0 + 1000, 10).await.unwrap();
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

    let next = store.claim(T0 + 11, T0 + 1000, 10).await.unwrap();
    let ids: Vec<_> = next.operations.iter().map(|op| &op.id).collect();
    assert_eq!(ids, [&behind.id], "its resource is free for the next one");
    assert!(next.unreadable.is_empty(), "set aside once: {next:?}");
}

/// A decision for `submit_decided` that must never be asked for; it raises `asked` if it is.
fn never_asked(asked: &Arc<AtomicBool>) -> Decide {
    let asked = Arc::clone(asked);
    Box::new(move |_| {
        asked.store(true, Ordering::SeqCst);
        finish(Status::Success, T0)
    })
}

/// A submitted operation is stored in `INIT` with empty results.
pub async fn submit_stores_an_init_operation(store: &dyn Store) {
    let op = new_op(&account(1), Some("i-1"), T0);
    submit(store, &op).await;
    let got = store
        .get(&op.account, &op.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got.status, Status::Init);
    assert_eq!(got.attempt, 0);
    assert_eq!(got.attributes, op.attributes);
    assert_eq!(got.application, op.application);
    assert_eq!(got.resource, op.resource);
    assert_eq!(got.created_at, T0);
    assert_eq!(got.finished_at, None);
    assert_eq!(got.arguments, "{}");
}

/// The queue depth counts waiting and running operations of every account, not final ones.
pub async fn queue_depth_counts_unfinished_operations(store: &dyn Store) {
    assert_eq!(store.queue_depth().await.unwrap(), QueueDepth::default());
    for n in 0..3 {
        submit(store, &new_op(&account(n % 2 + 1), None, T0 + i64::from(n))).await;
    }
    let claimed = claim(store, T0, T0 + 1000, 2).await;
    assert_eq!(
        store.queue_depth().await.unwrap(),
        QueueDepth {
            init: 1,
            running: 2
        }
    );
    assert!(
        store
            .finish(
                &claimed[0].id,
                claimed[0].attempt,
                &finish(Status::Success, T0 + 5)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.queue_depth().await.unwrap(),
        QueueDepth {
            init: 1,
            running: 1
        }
    );
}

/// Another account reading the same id gets nothing.
pub async fn operations_are_invisible_to_other_accounts(store: &dyn Store) {
    let op = new_op(&account(1), None, T0);
    submit(store, &op).await;
    assert!(store.get(&account(2), &op.id).await.unwrap().is_none());
}

/// A reused token returns the first id and says whether the parameters match; tokens are
/// per account.
pub async fn client_token_returns_the_first_operation(store: &dyn Store) {
    let mut first = new_op(&account(1), None, T0);
    first.client_token = Some("tok".into());
    submit(store, &first).await;

    let mut again = new_op(&account(1), None, T0 + 1);
    again.client_token = Some("tok".into());
    let same = store.submit(&again, 0).await.unwrap();
    assert_eq!(
        same,
        Submitted::Existing {
            id: first.id.clone(),
            same_parameters: true
        }
    );
    assert!(
        store
            .get(&again.account, &again.id)
            .await
            .unwrap()
            .is_none()
    );

    again.fingerprint = "other".into();
    let different = store.submit(&again, 0).await.unwrap();
    assert_eq!(
        different,
        Submitted::Existing {
            id: first.id.clone(),
            same_parameters: false
        }
    );

    let mut elsewhere = new_op(&account(2), None, T0);
    elsewhere.client_token = Some("tok".into());
    assert_eq!(
        store.submit(&elsewhere, 0).await.unwrap(),
        Submitted::Created
    );
}

/// Once the operation holding a token has expired, the token starts a new operation.
pub async fn client_token_of_an_expired_operation_is_free(store: &dyn Store) {
    let mut first = new_op(&account(1), None, T0);
    first.client_token = Some("tok".into());
    submit(store, &first).await;
    let claimed = claim(store, T0, T0 + 1000, 10).await;
    assert!(
        store
            .finish(
                &first.id,
                claimed[0].attempt,
                &finish(Status::Success, T0 + 5)
            )
            .await
            .unwrap()
    );

    let mut second = new_op(&account(1), None, T0 + 100);
    second.client_token = Some("tok".into());
    // Not expired yet: finished at T0+5, cutoff T0+5 is exclusive.
    assert!(matches!(
        store.submit(&second, T0 + 5).await.unwrap(),
        Submitted::Existing { .. }
    ));
    assert_eq!(
        store.submit(&second, T0 + 6).await.unwrap(),
        Submitted::Created
    );
    assert!(
        store
            .get(&second.account, &second.id)
            .await
            .unwrap()
            .is_some()
    );
}

/// A claim moves `INIT` to `RUNNING` and increments the attempt; a claimed operation is not
/// claimed again while its lease holds.
pub async fn claim_marks_running_and_counts_attempts(store: &dyn Store) {
    let a = new_op(&account(1), None, T0);
    let b = new_op(&account(1), None, T0 + 1);
    submit(store, &a).await;
    submit(store, &b).await;

    let first = claim(store, T0, T0 + 1000, 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, a.id, "oldest first");
    assert_eq!(first[0].status, Status::Running);
    assert_eq!(first[0].attempt, 1);

    let second = claim(store, T0, T0 + 1000, 10).await;
    assert_eq!(
        second.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&b.id]
    );
    assert!(claim(store, T0, T0 + 1000, 10).await.is_empty());
    let stored = store.get(&a.account, &a.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Running);
}

/// Operations on one resource run one at a time in submission order; other resources are
/// not held up.
pub async fn claim_runs_one_operation_per_resource_in_order(store: &dyn Store) {
    let acct = account(1);
    let first = new_op(&acct, Some("i-1"), T0);
    let second = new_op(&acct, Some("i-1"), T0 + 1);
    let other = new_op(&acct, Some("i-2"), T0 + 2);
    let same_id_other_account = new_op(&account(2), Some("i-1"), T0 + 3);
    for op in [&first, &second, &other, &same_id_other_account] {
        submit(store, op).await;
    }

    let claimed: Vec<_> = claim(store, T0, T0 + 1000, 10)
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
        claim(store, T0, T0 + 1000, 10).await.is_empty(),
        "i-1 is busy"
    );

    assert!(
        store
            .finish(&first.id, 1, &finish(Status::Success, T0 + 10))
            .await
            .unwrap()
    );
    let next = claim(store, T0 + 10, T0 + 1000, 10).await;
    assert_eq!(
        next.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&second.id]
    );
}

/// A running operation whose lease ended is claimed again with a new attempt.
pub async fn claim_takes_over_an_expired_lease_only(store: &dyn Store) {
    let op = new_op(&account(1), Some("i-1"), T0);
    submit(store, &op).await;
    assert_eq!(claim(store, T0, T0 + 1000, 10).await.len(), 1);
    assert!(claim(store, T0 + 999, T0 + 2000, 10).await.is_empty());

    let again = claim(store, T0 + 1001, T0 + 3000, 10).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
}

/// Only the current attempt can finish; a final status never changes.
pub async fn finish_is_fenced_by_the_attempt(store: &dyn Store) {
    let op = new_op(&account(1), None, T0);
    submit(store, &op).await;
    store.claim(T0, T0 + 10, 10).await.unwrap();
    store.claim(T0 + 11, T0 + 1000, 10).await.unwrap();

    assert!(
        !store
            .finish(&op.id, 1, &finish(Status::Failure, T0 + 20))
            .await
            .unwrap(),
        "stale"
    );
    assert!(
        store
            .finish(&op.id, 2, &finish(Status::Success, T0 + 20))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish(&op.id, 2, &finish(Status::Failure, T0 + 30))
            .await
            .unwrap(),
        "final"
    );

    let got = store.get(&op.account, &op.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::Success);
    assert_eq!(got.finished_at, Some(T0 + 20));
    assert_eq!(got.message, "done");
}

/// A decided submit stores the operation final, from its resource's state at that moment,
/// with the effect applied, in one transaction: nothing is left to claim.
pub async fn submit_decided_stores_a_final_operation_with_its_effect(store: &dyn Store) {
    let acct = account(1);
    let seeded = seed_instance(store, &acct, json!({"status": "Running"})).await;
    let op = new_op(&acct, Some("i-1"), T0);
    let decided = Finish {
        effect: Some(Effect::Update {
            key: seeded.key.clone(),
            properties: props(json!({"status": "Stopped"})),
        }),
        ..finish(Status::Success, T0 + 1)
    };
    let (expected, answer) = (seeded.clone(), decided.clone());
    let decide: Decide = Box::new(move |resource| {
        assert_eq!(
            resource.as_ref(),
            Some(&expected),
            "decided on the current state"
        );
        answer.clone()
    });
    assert_eq!(
        store.submit_decided(&op, 0, decide).await.unwrap(),
        Submitted::Decided(decided)
    );
    let got = store.get(&acct, &op.id).await.unwrap().expect("stored");
    assert_eq!(got.status, Status::Success);
    assert_eq!((got.message.as_str(), got.attempt), ("done", 1));
    assert_eq!(got.finished_at, Some(T0 + 1));
    let now = store.resource(&seeded.key).await.unwrap().unwrap();
    assert_eq!(now.properties, props(json!({"status": "Stopped"})));
    assert!(claim(store, T0 + 2, T0 + 1000, 10).await.is_empty());
    assert_eq!(store.queue_depth().await.unwrap(), QueueDepth::default());

    // An operation on a resource the inventory lacks is decided on nothing.
    let absent = new_op(&acct, Some("i-404"), T0 + 3);
    let decide: Decide = Box::new(|resource| {
        assert_eq!(resource, None);
        finish(Status::Failure, T0 + 3)
    });
    let submitted = store.submit_decided(&absent, 0, decide).await.unwrap();
    assert!(matches!(submitted, Submitted::Decided(f) if f.status == Status::Failure));
}

/// While an unfinished operation holds the resource, a decided submit queues like any other
/// (its decision is never asked for), and so does every later one until the queue drains;
/// other resources are not held up.
pub async fn submit_decided_queues_behind_an_unfinished_operation(store: &dyn Store) {
    let acct = account(1);
    let first = new_op(&acct, Some("i-1"), T0);
    submit(store, &first).await;
    let asked = Arc::new(AtomicBool::new(false));
    let queued = new_op(&acct, Some("i-1"), T0 + 1);
    assert_eq!(
        store
            .submit_decided(&queued, 0, never_asked(&asked))
            .await
            .unwrap(),
        Submitted::Created
    );
    assert!(!asked.load(Ordering::SeqCst), "no decision while held");
    let elsewhere = new_op(&acct, Some("i-2"), T0 + 2);
    let decide: Decide = Box::new(|_| finish(Status::Success, T0 + 2));
    assert!(matches!(
        store.submit_decided(&elsewhere, 0, decide).await.unwrap(),
        Submitted::Decided(_)
    ));

    let claimed = claim(store, T0 + 3, T0 + 1000, 10).await;
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .finish(&first.id, 1, &finish(Status::Success, T0 + 4))
            .await
            .unwrap()
    );
    // `queued` is next on the resource, still INIT: a later submit waits behind it.
    let later = new_op(&acct, Some("i-1"), T0 + 5);
    assert_eq!(
        store
            .submit_decided(&later, 0, never_asked(&asked))
            .await
            .unwrap(),
        Submitted::Created
    );
    assert!(!asked.load(Ordering::SeqCst), "no decision while queued");
    let next = claim(store, T0 + 6, T0 + 1000, 10).await;
    assert_eq!(next.iter().map(|o| &o.id).collect::<Vec<_>>(), [&queued.id]);
}

/// A decided submit with a client token already in use stores nothing and decides nothing.
pub async fn submit_decided_honours_a_used_client_token(store: &dyn Store) {
    let acct = account(1);
    let first = NewOperation {
        client_token: Some("token-1".into()),
        ..new_op(&acct, Some("i-1"), T0)
    };
    let decide: Decide = Box::new(|_| finish(Status::Success, T0));
    assert!(matches!(
        store.submit_decided(&first, 0, decide).await.unwrap(),
        Submitted::Decided(_)
    ));
    let asked = Arc::new(AtomicBool::new(false));
    let again = NewOperation {
        id: OperationId::random(),
        ..first.clone()
    };
    assert_eq!(
        store
            .submit_decided(&again, 0, never_asked(&asked))
            .await
            .unwrap(),
        Submitted::Existing {
            id: first.id.clone(),
            same_parameters: true
        }
    );
    assert!(!asked.load(Ordering::SeqCst));
    assert!(store.get(&acct, &again.id).await.unwrap().is_none());
}

/// An effect commits with the status, and a fenced-out finish applies no effect.
pub async fn finish_commits_effect_with_status(store: &dyn Store) {
    let acct = account(1);
    let seeded = seed_instance(store, &acct, json!({"status": "Running"})).await;
    let op = new_op(&acct, Some("i-1"), T0);
    submit(store, &op).await;
    store.claim(T0, T0 + 1000, 10).await.unwrap();

    let stale = Finish {
        effect: Some(Effect::Update {
            key: seeded.key.clone(),
            properties: props(json!({"status": "Bogus"})),
        }),
        ..finish(Status::Success, T0 + 1)
    };
    assert!(!store.finish(&op.id, 7, &stale).await.unwrap());
    assert_eq!(
        store
            .resource(&seeded.key)
            .await
            .unwrap()
            .unwrap()
            .properties,
        seeded.properties
    );

    let update = Finish {
        effect: Some(Effect::Update {
            key: seeded.key.clone(),
            properties: props(json!({"status": "Stopped"})),
        }),
        ..finish(Status::Success, T0 + 1)
    };
    assert!(store.finish(&op.id, 1, &update).await.unwrap());
    let now = store.resource(&seeded.key).await.unwrap().unwrap();
    assert_eq!(now.properties, props(json!({"status": "Stopped"})));
    assert_eq!(now.application, "APP-WEB");

    let delete_op = new_op(&acct, Some("i-1"), T0 + 2);
    submit(store, &delete_op).await;
    store.claim(T0 + 2, T0 + 1000, 10).await.unwrap();
    let delete = Finish {
        effect: Some(Effect::Delete {
            key: seeded.key.clone(),
        }),
        ..finish(Status::Success, T0 + 3)
    };
    assert!(store.finish(&delete_op.id, 1, &delete).await.unwrap());
    assert!(store.resource(&seeded.key).await.unwrap().is_none());
}

/// Lease renewal only works for the current attempt of a running operation.
pub async fn renew_lease_is_fenced_by_the_attempt(store: &dyn Store) {
    let op = new_op(&account(1), None, T0);
    submit(store, &op).await;
    store.claim(T0, T0 + 100, 10).await.unwrap();
    assert_eq!(
        store.renew_lease(&op.id, 1, T0 + 5000).await.unwrap(),
        Lease::Held
    );
    assert_eq!(
        store.renew_lease(&op.id, 2, T0 + 5000).await.unwrap(),
        Lease::Lost
    );
    assert!(
        claim(store, T0 + 200, T0 + 6000, 10).await.is_empty(),
        "renewed lease holds"
    );
    assert!(
        store
            .finish(&op.id, 1, &finish(Status::Success, T0 + 300))
            .await
            .unwrap()
    );
    assert_eq!(
        store.renew_lease(&op.id, 1, T0 + 9000).await.unwrap(),
        Lease::Lost,
        "finished"
    );
}

/// A released attempt's operation is claimable at once by anyone, as a new attempt, and the
/// release wakes the workers; a stale attempt, or a final operation, releases nothing.
pub async fn release_makes_the_operation_claimable_at_once_and_is_fenced(store: &dyn Store) {
    let op = new_op(&account(1), Some("i-1"), T0);
    submit(store, &op).await;
    claim(store, T0, T0 + 60_000, 10).await;
    assert!(
        claim(store, T0 + 1, T0 + 60_000, 10).await.is_empty(),
        "leased"
    );
    assert!(
        !store.release(&op.id, 2).await.unwrap(),
        "not yet an attempt"
    );

    let mut events = store.subscribe();
    assert!(store.release(&op.id, 1).await.unwrap());
    next_event(&mut events, |e| *e == StoreEvent::Submitted).await;
    let again = claim(store, T0 + 2, T0 + 60_000, 10).await;
    assert_eq!(
        again.len(),
        1,
        "claimable long before the lease would have ended"
    );
    assert_eq!((again[0].status, again[0].attempt), (Status::Running, 2));

    assert!(!store.release(&op.id, 1).await.unwrap(), "superseded");
    assert_eq!(
        store.renew_lease(&op.id, 2, T0 + 90_000).await.unwrap(),
        Lease::Held,
        "the stale release left the new attempt alone"
    );
    assert!(
        store
            .finish(&op.id, 2, &finish(Status::Success, T0 + 3))
            .await
            .unwrap()
    );
    assert!(!store.release(&op.id, 2).await.unwrap(), "final");
    let got = store.get(&op.account, &op.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::Success);
    assert!(claim(store, T0 + 4, T0 + 60_000, 10).await.is_empty());
}

/// The sweeper deletes only operations finished before the cutoff, at most `limit` per
/// call, never pending ones, and frees their client tokens.
pub async fn sweep_deletes_expired_operations_in_batches(store: &dyn Store) {
    let acct = account(1);
    let mut finished = Vec::new();
    for i in 0..5 {
        let mut op = new_op(&acct, None, T0 + i);
        op.client_token = Some(format!("tok-{i}"));
        submit(store, &op).await;
        finished.push(op);
    }
    for op in claim(store, T0, T0 + 1000, 10).await {
        assert!(
            store
                .finish(&op.id, op.attempt, &finish(Status::Success, T0 + 10))
                .await
                .unwrap()
        );
    }
    let pending = new_op(&acct, None, T0);
    submit(store, &pending).await;

    assert_eq!(
        store.sweep(T0 + 10, 100).await.unwrap(),
        0,
        "cutoff is exclusive"
    );
    assert_eq!(store.sweep(T0 + 11, 3).await.unwrap(), 3);
    assert_eq!(store.sweep(T0 + 11, 3).await.unwrap(), 2);
    assert_eq!(store.sweep(T0 + 11, 3).await.unwrap(), 0);
    for op in &finished {
        assert!(store.get(&acct, &op.id).await.unwrap().is_none());
    }
    assert!(store.get(&acct, &pending.id).await.unwrap().is_some());

    let mut reuse = new_op(&acct, None, T0 + 20);
    reuse.client_token = Some("tok-0".into());
    assert_eq!(store.submit(&reuse, 0).await.unwrap(), Submitted::Created);
}

/// Seeding adds only resources never held before: changed and deleted ones keep their state.
pub async fn seeding_never_overwrites_the_inventory(store: &dyn Store) {
    let acct = account(1);
    let seed = |id: &str| Resource {
        key: key(&acct, id),
        application: "APP-WEB".into(),
        properties: props(json!({"status": "Running"})),
    };
    store
        .seed_resources(&[seed("i-1"), seed("i-2")])
        .await
        .unwrap();

    let op = new_op(&acct, Some("i-2"), T0);
    submit(store, &op).await;
    store.claim(T0, T0 + 1000, 10).await.unwrap();
    let delete = Finish {
        effect: Some(Effect::Delete {
            key: key(&acct, "i-2"),
        }),
        ..finish(Status::Success, T0 + 1)
    };
    assert!(store.finish(&op.id, 1, &delete).await.unwrap());

    let mut changed = seed("i-1");
    changed.properties = props(json!({"status": "Stopped"}));
    store
        .seed_resources(&[changed, seed("i-2"), seed("i-3")])
        .await
        .unwrap();

    assert_eq!(
        store
            .resource(&key(&acct, "i-1"))
            .await
            .unwrap()
            .unwrap()
            .properties,
        props(json!({"status": "Running"}))
    );
    assert!(
        store.resource(&key(&acct, "i-2")).await.unwrap().is_none(),
        "deleted stays deleted"
    );
    assert!(store.resource(&key(&acct, "i-3")).await.unwrap().is_some());
    assert!(
        store
            .resource(&key(&account(2), "i-1"))
            .await
            .unwrap()
            .is_none()
    );
}

/// The first bootstrap key is kept; later candidates are ignored.
pub async fn bootstrap_key_is_created_once(store: &dyn Store) {
    let first = BootstrapKey {
        account: account(1),
        access_key_id: "LTAIa".into(),
        secret: "s1".into(),
    };
    let second = BootstrapKey {
        account: account(2),
        access_key_id: "LTAIb".into(),
        secret: "s2".into(),
    };
    assert_eq!(
        store.bootstrap_key(&first).await.unwrap(),
        (first.clone(), true)
    );
    assert_eq!(store.bootstrap_key(&second).await.unwrap(), (first, false));
}

/// A nonce is new once per AccessKey.
pub async fn a_nonce_is_spent_once_per_key(store: &dyn Store) {
    assert!(store.spend_nonce("key", "n1", T0, T0 + 1000).await.unwrap());
    assert!(
        !store
            .spend_nonce("key", "n1", T0 + 10, T0 + 1010)
            .await
            .unwrap()
    );
    assert!(
        store
            .spend_nonce("other-key", "n1", T0 + 10, T0 + 1010)
            .await
            .unwrap(),
        "nonces are per key"
    );
}

/// Sweeps the moment of a second spend across the end of the first one's window: refused
/// through `expires_at` included, new from the next millisecond on (`nonce_expired`), even
/// right after another spend at that moment forgot what had expired. And a nonce spent again
/// once expired is new while its expired spend is still stored (a backend forgets a few
/// per spend).
pub async fn a_nonce_is_remembered_through_the_last_millisecond_of_its_window(store: &dyn Store) {
    const WINDOW: i64 = 1_800_000;
    for (k, offset) in (-3..=3).enumerate() {
        let end = T0 + WINDOW + 10 * k as i64;
        let nonce = format!("n{k}");
        assert!(store.spend_nonce("key", &nonce, T0, end).await.unwrap());
        let now = end + offset;
        let other = format!("other{k}");
        assert!(
            store
                .spend_nonce("key", &other, now, now + WINDOW)
                .await
                .unwrap()
        );
        let new = store.spend_nonce("key", &nonce, now, now + WINDOW).await;
        assert_eq!(
            new.unwrap(),
            crate::nonce_expired(end, now),
            "a second spend {offset} ms from the end of the window"
        );
    }
    let end = T0 + 2 * WINDOW;
    let nonces: Vec<String> = (0..20).map(|n| format!("late{n}")).collect();
    for nonce in &nonces {
        assert!(
            store
                .spend_nonce("key", nonce, end - WINDOW, end)
                .await
                .unwrap()
        );
    }
    for nonce in &nonces {
        let new = store.spend_nonce("key", nonce, end + 1, end + WINDOW).await;
        assert!(new.unwrap(), "{nonce} expired");
    }
}

/// Concurrent spends (which a backend may store together) find a nonce new once.
pub async fn concurrent_spends_of_one_nonce_find_it_new_once(store: &dyn Store) {
    let nonces: Vec<String> = (0..40)
        .map(|n| match n % 4 {
            0 => "twice".to_owned(),
            _ => format!("n{n}"),
        })
        .collect();
    let spent = join_all(
        nonces
            .iter()
            .map(|n| store.spend_nonce("key", n, T0, T0 + 1000)),
    )
    .await;
    let mut new_twice = 0;
    for (nonce, spent) in nonces.iter().zip(spent) {
        match nonce.as_str() {
            "twice" => new_twice += usize::from(spent.unwrap()),
            _ => assert!(spent.unwrap(), "{nonce} is new"),
        }
    }
    assert_eq!(new_twice, 1, "one of the ten spends of one nonce");
}

/// Submits racing with one client token (as on several nodes at once) store one operation;
/// every other submit gets its id back, never an error.
pub async fn concurrent_submits_with_one_client_token_create_one_operation(store: &dyn Store) {
    let racer = |n: i64| {
        let mut op = new_op(&account(1), Some("i-1"), T0 + n);
        op.client_token = Some("race".into());
        op
    };
    let ops = [racer(0), racer(1), racer(2), racer(3)];
    let (a, b, c, d) = tokio::join!(
        store.submit(&ops[0], 0),
        store.submit(&ops[1], 0),
        store.submit(&ops[2], 0),
        store.submit(&ops[3], 0)
    );
    let outcomes = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    let created: Vec<&NewOperation> = ops
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| **outcome == Submitted::Created)
        .map(|(op, _)| op)
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let Submitted::Existing {
            id,
            same_parameters,
        } = outcome
        {
            assert_eq!(id, &created[0].id);
            assert!(same_parameters);
        }
    }
    assert_eq!(claim(store, T0, T0 + 1000, 10).await.len(), 1);
}

/// Among concurrent submits (which a backend may store together), one that cannot be stored
/// fails alone: every other one is stored.
pub async fn a_failing_submit_among_concurrent_ones_fails_alone(store: &dyn Store) {
    let acct = account(1);
    let first = new_op(&acct, None, T0);
    submit(store, &first).await;
    let mut ops: Vec<NewOperation> = (1..=40)
        .map(|n| new_op(&acct, Some(&format!("i-{n}")), T0 + n))
        .collect();
    // An id already taken: this one cannot be stored.
    ops[17].id = first.id.clone();
    let outcomes = join_all(ops.iter().map(|op| store.submit(op, 0))).await;
    for (n, outcome) in outcomes.iter().enumerate() {
        match n {
            17 => assert!(outcome.is_err(), "{outcome:?}"),
            _ => assert_eq!(outcome.as_ref().unwrap(), &Submitted::Created, "submit {n}"),
        }
    }
    let stored = store
        .list(&list_query(&acct, 100))
        .await
        .unwrap()
        .operations;
    assert_eq!(stored.len(), 40);
    let original = store.get(&acct, &first.id).await.unwrap().expect("kept");
    assert_eq!(
        original.created_at, T0,
        "the taken id still names the first operation"
    );
}

/// Concurrent decided submits on one resource are decided one after another, each from the
/// state the one before it left.
pub async fn concurrent_decided_submits_on_one_resource_decide_in_turn(store: &dyn Store) {
    let acct = account(1);
    let seeded = seed_instance(store, &acct, json!({"n": 0})).await;
    let increment = || -> Decide {
        Box::new(|resource| {
            let resource = resource.expect("seeded");
            let n = resource.properties["n"].as_i64().expect("a count");
            Finish {
                effect: Some(Effect::Update {
                    key: resource.key,
                    properties: props(json!({ "n": n + 1 })),
                }),
                ..finish(Status::Success, T0 + 1)
            }
        })
    };
    let ops: Vec<NewOperation> = (0..20)
        .map(|n| new_op(&acct, Some("i-1"), T0 + n))
        .collect();
    let outcomes = join_all(
        ops.iter()
            .map(|op| store.submit_decided(op, 0, increment())),
    )
    .await;
    for outcome in outcomes {
        assert!(matches!(outcome, Ok(Submitted::Decided(_))), "{outcome:?}");
    }
    let resource = store.resource(&seeded.key).await.unwrap().expect("kept");
    assert_eq!(
        resource.properties["n"], 20,
        "every decision saw the one before"
    );
}

/// Several workers claiming and finishing at once (as on several nodes) run every
/// operation exactly once, never two of one resource at a time, each resource's in
/// submission order.
pub async fn concurrent_workers_claim_each_operation_once_in_resource_order(store: &dyn Store) {
    let acct = account(1);
    let mut submitted: HashMap<String, Vec<OperationId>> = HashMap::new();
    for n in 0..12 {
        let resource = format!("i-{}", n % 3);
        let op = new_op(&acct, Some(&resource), T0 + n);
        submit(store, &op).await;
        submitted.entry(resource).or_default().push(op.id);
    }
    let running: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let ran: Mutex<HashMap<String, Vec<OperationId>>> = Mutex::new(HashMap::new());
    let worker = || async {
        let mut idle_rounds = 0;
        while idle_rounds < 3 {
            let claimed = claim(store, T0 + 100, T0 + 60_000, 2).await;
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
                        .finish(&op.id, op.attempt, &finish(Status::Success, T0 + 200))
                        .await
                        .unwrap()
                );
            }
        }
    };
    tokio::join!(worker(), worker(), worker(), worker());
    // Workers may all go idle while one still holds a resource: finish the stragglers.
    loop {
        let claimed = claim(store, T0 + 100, T0 + 60_000, 10).await;
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
                    .finish(&op.id, op.attempt, &finish(Status::Success, T0 + 200))
                    .await
                    .unwrap()
            );
        }
    }
    assert_eq!(ran.into_inner().unwrap(), submitted);
}

/// Sweepers running at once (one per node) share the work without errors: together they
/// delete every expired operation exactly once.
pub async fn concurrent_sweeps_delete_each_operation_once(store: &dyn Store) {
    let acct = account(1);
    for i in 0..10 {
        submit(store, &new_op(&acct, None, T0 + i)).await;
    }
    for op in claim(store, T0, T0 + 1000, 100).await {
        assert!(
            store
                .finish(&op.id, op.attempt, &finish(Status::Success, T0 + 10))
                .await
                .unwrap()
        );
    }
    let mut deleted = 0;
    loop {
        let (a, b, c) = tokio::join!(
            store.sweep(T0 + 11, 3),
            store.sweep(T0 + 11, 3),
            store.sweep(T0 + 11, 3)
        );
        let round = a.unwrap() + b.unwrap() + c.unwrap();
        if round == 0 {
            break;
        }
        deleted += round;
    }
    assert_eq!(deleted, 10);
}

/// A committed submit and a committed finish are published to subscribers.
pub async fn submit_and_finish_publish_events(store: &dyn Store) {
    let mut events = store.subscribe();
    let op = new_op(&account(1), None, T0);
    submit(store, &op).await;
    next_event(&mut events, |e| *e == StoreEvent::Submitted).await;
    let claimed = claim(store, T0, T0 + 1000, 10).await;
    assert!(
        store
            .finish(&op.id, claimed[0].attempt, &finish(Status::Success, T0 + 1))
            .await
            .unwrap()
    );
    next_event(&mut events, |e| *e == StoreEvent::Finished(op.id.clone())).await;
}

/// Waits (boundedly) for an event matching `wanted`, skipping others.
async fn next_event(
    events: &mut broadcast::Receiver<StoreEvent>,
    wanted: impl Fn(&StoreEvent) -> bool,
) {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(event) if wanted(&event) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the event stream closed"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no matching event was published");
}

/// A listing of every operation of `account` within no retention, `limit` to a page: any
/// listing will do for the cases here and for the engine's own tests.
pub fn list_query(account: &AccountId, limit: usize) -> ListQuery {
    ListQuery {
        account: account.clone(),
        status: None,
        service: None,
        operation: None,
        applications: None,
        created_from: None,
        created_before: None,
        expired_before: 0,
        after: None,
        limit,
    }
}

/// Every page of `query`, followed to the end, as ids.
async fn all_pages(store: &dyn Store, mut query: ListQuery) -> Vec<Vec<OperationId>> {
    let mut pages = Vec::new();
    loop {
        let page = store.list(&query).await.unwrap();
        assert!(page.operations.len() <= query.limit);
        pages.push(page.operations.into_iter().map(|o| o.id).collect());
        match page.next {
            Some(next) => query.after = Some(next),
            None => return pages,
        }
    }
}

/// A listing is newest first (submission time, then submission order for equal times), in
/// pages of at most `limit`, each item exactly once; the last page has no cursor.
pub async fn list_pages_newest_first_without_skipping_or_repeating(store: &dyn Store) {
    let acct = account(1);
    let mut ids = Vec::new();
    for i in 0..7 {
        // Pairs share a creation time: the order within them is the submission order.
        let op = new_op(&acct, None, T0 + i / 2);
        submit(store, &op).await;
        ids.push(op.id);
    }
    ids.reverse();
    let pages = all_pages(store, list_query(&acct, 3)).await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages.concat(), ids);

    let exact = all_pages(store, list_query(&acct, 7)).await;
    assert_eq!(exact, vec![ids.clone()], "no empty trailing page");
    assert_eq!(
        all_pages(store, list_query(&account(3), 5)).await,
        vec![vec![]]
    );
}

/// Operations submitted while a client pages through a listing never make it skip or repeat
/// an item: the cursor is a position in a fixed order, not an offset.
pub async fn list_pages_stay_stable_under_concurrent_submits(store: &dyn Store) {
    let acct = account(1);
    let mut before = Vec::new();
    for i in 0..10 {
        let op = new_op(&acct, None, T0 + i);
        submit(store, &op).await;
        before.push(op.id);
    }
    before.reverse();
    let mut q = list_query(&acct, 3);
    let mut seen = Vec::new();
    let mut late = 0;
    loop {
        // Submits racing with the read of each page: newer ones, and one at an equal time.
        let newer = new_op(&acct, None, T0 + 100 + late);
        let same_time = new_op(&acct, None, T0 + 5);
        let (page, a, b) = tokio::join!(
            store.list(&q),
            store.submit(&newer, 0),
            store.submit(&same_time, 0)
        );
        a.unwrap();
        b.unwrap();
        late += 1;
        let page = page.unwrap();
        seen.extend(page.operations.into_iter().map(|o| o.id));
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    let unique: HashSet<&OperationId> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an item was repeated: {seen:?}");
    let kept: Vec<OperationId> = seen.into_iter().filter(|id| before.contains(id)).collect();
    assert_eq!(kept, before, "an item was skipped or reordered");
}

/// Each filter narrows the listing to what it names.
pub async fn list_filters_narrow_the_result(store: &dyn Store) {
    let acct = account(1);
    let op = |n: i64, service: &str, operation: &str, application: Option<&str>| {
        let mut op = new_op(&acct, None, T0 + n);
        op.service = service.into();
        op.operation = operation.into();
        op.application = application.map(str::to_owned);
        op
    };
    let a = op(0, "ecs", "addTags", Some("APP-A"));
    let b = op(1, "ecs", "rename", Some("APP-B"));
    let c = op(2, "slb", "modifyListenerAttribute", None);
    let d = op(3, "ecs", "addTags", Some("APP-B"));
    for op in [&a, &b, &c, &d] {
        submit(store, op).await;
    }
    // `a` runs and finishes, `b` runs, `c` and `d` wait.
    let claimed = claim(store, T0, T0 + 1000, 2).await;
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .finish(&a.id, 1, &finish(Status::Success, T0 + 10))
            .await
            .unwrap()
    );
    let ids = |q: ListQuery| async move {
        let page = store.list(&q).await.unwrap();
        page.operations
            .into_iter()
            .map(|o| o.id)
            .collect::<Vec<_>>()
    };
    let base = list_query(&acct, 10);
    assert_eq!(
        ids(ListQuery {
            status: Some(Status::Init),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), c.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            status: Some(Status::Running),
            ..base.clone()
        })
        .await,
        vec![b.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            status: Some(Status::Success),
            ..base.clone()
        })
        .await,
        vec![a.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            service: Some("slb".into()),
            ..base.clone()
        })
        .await,
        vec![c.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            operation: Some("addTags".into()),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), a.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            applications: Some(vec!["APP-B".into()]),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), b.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            applications: Some(vec!["APP-A".into(), "APP-B".into()]),
            service: Some("ecs".into()),
            operation: Some("addTags".into()),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), a.id.clone()]
    );
    assert!(
        ids(ListQuery {
            applications: Some(vec![]),
            ..base.clone()
        })
        .await
        .is_empty(),
        "an empty application list matches nothing"
    );
    assert_eq!(
        ids(ListQuery {
            created_from: Some(T0 + 1),
            created_before: Some(T0 + 3),
            ..base.clone()
        })
        .await,
        vec![c.id.clone(), b.id.clone()],
        "from is inclusive, before is exclusive"
    );
}

/// A listing leaves out operations that finished before the cutoff and other accounts'.
pub async fn list_leaves_out_expired_and_foreign_operations(store: &dyn Store) {
    let acct = account(1);
    let old = new_op(&acct, None, T0);
    let pending = new_op(&acct, None, T0 + 1);
    let foreign = new_op(&account(2), None, T0 + 2);
    for op in [&old, &pending, &foreign] {
        submit(store, op).await;
    }
    store.claim(T0, T0 + 1000, 1).await.unwrap();
    assert!(
        store
            .finish(&old.id, 1, &finish(Status::Success, T0 + 10))
            .await
            .unwrap()
    );
    let acct = &acct;
    let listed = |expired_before: i64| async move {
        let q = ListQuery {
            expired_before,
            ..list_query(acct, 10)
        };
        let page = store.list(&q).await.unwrap();
        page.operations
            .into_iter()
            .map(|o| o.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(T0 + 10).await,
        vec![pending.id.clone(), old.id.clone()]
    );
    assert_eq!(listed(T0 + 11).await, vec![pending.id.clone()]);
}

/// Cancelling an `INIT` operation ends it `FAILURE` at once, frees its resource for the next
/// one, and wakes its waiters.
pub async fn cancel_ends_an_init_operation_at_once(store: &dyn Store) {
    let acct = account(1);
    let first = new_op(&acct, Some("i-1"), T0);
    let second = new_op(&acct, Some("i-1"), T0 + 1);
    submit(store, &first).await;
    submit(store, &second).await;
    let mut events = store.subscribe();
    let outcome = store
        .cancel(&acct, &first.id, None, "OperationCancelled: x", T0 + 5)
        .await
        .unwrap();
    let Cancelled::Ended(op) = outcome else {
        panic!("expected Ended, got {outcome:?}");
    };
    assert_eq!(op.status, Status::Failure);
    assert_eq!(op.message, "OperationCancelled: x");
    assert_eq!(op.finished_at, Some(T0 + 5));
    assert_eq!(op, store.get(&acct, &first.id).await.unwrap().unwrap());
    next_event(&mut events, |e| {
        *e == StoreEvent::Finished(first.id.clone())
    })
    .await;

    let claimed = claim(store, T0 + 6, T0 + 1000, 10).await;
    assert_eq!(
        claimed.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&second.id],
        "the cancelled one never runs, and no longer holds its resource"
    );
}

/// Cancelling a `RUNNING` operation marks it: its lease renewal says so, the event tells the
/// node running it, and a claim after its lease (its worker gone) returns it marked. Only the
/// current attempt can still finish it.
pub async fn cancel_marks_a_running_operation_for_its_worker(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    store.claim(T0, T0 + 1000, 10).await.unwrap();
    let mut events = store.subscribe();
    let outcome = store
        .cancel(&acct, &op.id, None, "OperationCancelled: x", T0 + 5)
        .await
        .unwrap();
    let Cancelled::Requested(marked) = outcome else {
        panic!("expected Requested, got {outcome:?}");
    };
    assert_eq!(marked.status, Status::Running);
    assert!(marked.cancel_requested);
    next_event(&mut events, |e| {
        *e == StoreEvent::CancelRequested(op.id.clone())
    })
    .await;
    assert_eq!(
        store.renew_lease(&op.id, 1, T0 + 2000).await.unwrap(),
        Lease::CancelRequested
    );
    assert_eq!(
        store.renew_lease(&op.id, 7, T0 + 2000).await.unwrap(),
        Lease::Lost
    );
    assert!(matches!(
        store
            .cancel(&acct, &op.id, None, "again", T0 + 6)
            .await
            .unwrap(),
        Cancelled::Requested(_)
    ));

    let taken_over = claim(store, T0 + 2001, T0 + 5000, 10).await;
    assert_eq!(taken_over.len(), 1);
    assert!(
        taken_over[0].cancel_requested,
        "the mark survives a takeover"
    );
    assert!(
        !store
            .finish(&op.id, 1, &finish(Status::Failure, T0 + 2002))
            .await
            .unwrap(),
        "fenced"
    );
    assert!(
        store
            .finish(&op.id, 2, &finish(Status::Failure, T0 + 2002))
            .await
            .unwrap()
    );
}

/// A final operation is not changed by a cancel.
pub async fn cancel_leaves_final_operations_alone(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    store.claim(T0, T0 + 1000, 10).await.unwrap();
    assert!(
        store
            .finish(&op.id, 1, &finish(Status::Success, T0 + 1))
            .await
            .unwrap()
    );
    let outcome = store
        .cancel(&acct, &op.id, None, "OperationCancelled: x", T0 + 5)
        .await
        .unwrap();
    let Cancelled::AlreadyFinal(done) = outcome else {
        panic!("expected AlreadyFinal, got {outcome:?}");
    };
    assert_eq!(done.status, Status::Success);
    assert_eq!(done, store.get(&acct, &op.id).await.unwrap().unwrap());
}

/// Another account's operation, an unknown id, and an operation outside the applications
/// asked for are all not found, and left alone.
pub async fn cancel_finds_nothing_outside_the_account_or_applications(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    let cancel = |account: AccountId, id: OperationId, apps: Option<Vec<String>>| async move {
        store
            .cancel(&account, &id, apps.as_deref(), "OperationCancelled: x", T0)
            .await
            .unwrap()
    };
    assert_eq!(
        cancel(account(2), op.id.clone(), None).await,
        Cancelled::NotFound
    );
    assert_eq!(
        cancel(acct.clone(), OperationId::random(), None).await,
        Cancelled::NotFound
    );
    assert_eq!(
        cancel(acct.clone(), op.id.clone(), Some(vec!["APP-OTHER".into()])).await,
        Cancelled::NotFound
    );
    assert_eq!(
        store.get(&acct, &op.id).await.unwrap().unwrap().status,
        Status::Init
    );
    assert!(matches!(
        cancel(acct.clone(), op.id.clone(), Some(vec!["APP-WEB".into()])).await,
        Cancelled::Ended(_)
    ));
}

/// A final operation of `account` as [`Store::load`] takes it.
fn finished_op(account: &AccountId, created_at: i64, finished_at: i64) -> Operation {
    Operation {
        id: OperationId::random(),
        account: account.clone(),
        service: "ecs".into(),
        operation: "rename".into(),
        application: Some("APP-WEB".into()),
        resource: Some(key(account, "i-1")),
        attributes: r#"{"instanceId":"i-1","instance_name":"web-2"}"#.into(),
        status: Status::Success,
        message: String::new(),
        arguments: "{}".into(),
        attempt: 1,
        created_at,
        finished_at: Some(finished_at),
        cancel_requested: false,
    }
}

/// Loaded operations read back exactly as given, list in submission order after what was
/// there (slice order breaks ties of creation time), and hold up nothing: they are final.
pub async fn load_stores_final_operations_as_given(store: &dyn Store) {
    let acct = account(1);
    let earlier = new_op(&acct, None, T0);
    submit(store, &earlier).await;
    let first = finished_op(&acct, T0, T0 + 5);
    let second = Operation {
        status: Status::Failure,
        message: "InjectedFailure: x".into(),
        application: None,
        resource: None,
        attempt: 3,
        cancel_requested: true,
        ..finished_op(&acct, T0, T0 + 6)
    };
    let third = Operation {
        arguments: r#"{"tagMap":{"env":["i-1"]}}"#.into(),
        ..finished_op(&acct, T0 + 1, T0 + 7)
    };
    let loaded = [first, second, third];
    store.load(&loaded).await.unwrap();

    for op in &loaded {
        assert_eq!(store.get(&acct, &op.id).await.unwrap().as_ref(), Some(op));
    }
    let newest_first: Vec<_> = all_pages(store, list_query(&acct, 2)).await.concat();
    assert_eq!(
        newest_first,
        vec![
            loaded[2].id.clone(),
            loaded[1].id.clone(),
            loaded[0].id.clone(),
            earlier.id.clone()
        ]
    );
    assert_eq!(
        store.queue_depth().await.unwrap(),
        QueueDepth {
            init: 1,
            running: 0
        }
    );
    let on_the_resource = new_op(&acct, Some("i-1"), T0 + 10);
    submit(store, &on_the_resource).await;
    let claimed = claim(store, T0 + 10, T0 + 1000, 10).await;
    assert_eq!(
        claimed.len(),
        2,
        "loaded operations do not hold the resource"
    );
}

/// An operation that is not final is refused, and the whole call stores nothing.
pub async fn load_refuses_unfinished_operations_and_stores_nothing(store: &dyn Store) {
    let acct = account(1);
    let done = finished_op(&acct, T0, T0 + 1);
    let running = Operation {
        status: Status::Running,
        finished_at: None,
        ..finished_op(&acct, T0, T0 + 1)
    };
    let undated = Operation {
        finished_at: None,
        ..finished_op(&acct, T0, T0 + 1)
    };
    for refused in [running, undated] {
        let outcome = store.load(&[done.clone(), refused.clone()]).await;
        match outcome {
            Err(StoreError::Other(message)) => {
                assert!(message.contains(refused.id.as_str()), "{message}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(store.get(&acct, &done.id).await.unwrap().is_none());
    }
    assert_eq!(store.queue_depth().await.unwrap(), QueueDepth::default());
}

/// Loaded operations expire and are swept like operations that finished in this store.
pub async fn loaded_operations_expire_like_finished_ones(store: &dyn Store) {
    let acct = account(1);
    let expired: Vec<_> = (0..5)
        .map(|i| finished_op(&acct, T0 + i, T0 + 10))
        .collect();
    let retained = finished_op(&acct, T0, T0 + 20);
    store.load(&expired).await.unwrap();
    store.load(std::slice::from_ref(&retained)).await.unwrap();

    let listed = ListQuery {
        expired_before: T0 + 11,
        ..list_query(&acct, 10)
    };
    assert_eq!(
        store.list(&listed).await.unwrap().operations,
        vec![retained.clone()]
    );
    assert_eq!(store.sweep(T0 + 11, 3).await.unwrap(), 3);
    assert_eq!(store.sweep(T0 + 11, 3).await.unwrap(), 2);
    assert_eq!(store.sweep(T0 + 11, 3).await.unwrap(), 0);
    for op in &expired {
        assert!(store.get(&acct, &op.id).await.unwrap().is_none());
    }
    assert_eq!(
        store.get(&acct, &retained.id).await.unwrap(),
        Some(retained)
    );
}
