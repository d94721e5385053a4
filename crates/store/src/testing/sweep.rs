//! Retention: the sweeper deletes expired operations, in batches, once.

use bpops_time::Timestamp;

use crate::{Status, Store, Submitted};

use super::{T0, account, claim, finish, ms, new_op, submit};

/// The sweeper deletes only operations finished before the cutoff, at most `limit` per
/// call, never pending ones, and frees their client tokens.
pub async fn sweep_deletes_expired_operations_in_batches(store: &dyn Store) {
    let acct = account(1);
    let mut finished = Vec::new();
    for i in 0..5 {
        let mut op = new_op(&acct, None, T0 + ms(i));
        op.client_token = Some(format!("tok-{i}"));
        submit(store, &op).await;
        finished.push(op);
    }
    for op in claim(store, T0, ms(1000), 10).await {
        assert!(
            store
                .finish(&op.id, op.attempt, &finish(Status::Success, T0 + ms(10)))
                .await
                .unwrap()
        );
    }
    let pending = new_op(&acct, None, T0);
    submit(store, &pending).await;

    assert_eq!(
        store.sweep(T0 + ms(10), 100).await.unwrap(),
        0,
        "cutoff is exclusive"
    );
    assert_eq!(store.sweep(T0 + ms(11), 3).await.unwrap(), 3);
    assert_eq!(store.sweep(T0 + ms(11), 3).await.unwrap(), 2);
    assert_eq!(store.sweep(T0 + ms(11), 3).await.unwrap(), 0);
    for op in &finished {
        assert!(store.get(&acct, &op.id).await.unwrap().is_none());
    }
    assert!(store.get(&acct, &pending.id).await.unwrap().is_some());

    let mut reuse = new_op(&acct, None, T0 + ms(20));
    reuse.client_token = Some("tok-0".into());
    assert_eq!(
        store.submit(&reuse, Timestamp::EPOCH).await.unwrap(),
        Submitted::Created
    );
}

/// Sweepers running at once (one per node) share the work without errors: together they
/// delete every expired operation exactly once.
pub async fn concurrent_sweeps_delete_each_operation_once(store: &dyn Store) {
    let acct = account(1);
    for i in 0..10 {
        submit(store, &new_op(&acct, None, T0 + ms(i))).await;
    }
    for op in claim(store, T0, ms(1000), 100).await {
        assert!(
            store
                .finish(&op.id, op.attempt, &finish(Status::Success, T0 + ms(10)))
                .await
                .unwrap()
        );
    }
    let mut deleted = 0;
    loop {
        let (a, b, c) = tokio::join!(
            store.sweep(T0 + ms(11), 3),
            store.sweep(T0 + ms(11), 3),
            store.sweep(T0 + ms(11), 3)
        );
        let round = a.unwrap() + b.unwrap() + c.unwrap();
        if round == 0 {
            break;
        }
        deleted += round;
    }
    assert_eq!(deleted, 10);
}
