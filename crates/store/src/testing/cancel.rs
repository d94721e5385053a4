//! Cancelling: of waiting, running and final operations, and only within an account.

use crate::{AccountId, Budget, Cancelled, Lease, OperationId, Status, Store, StoreEvent};

use super::{NODE, T0, account, claim, finish, ms, new_op, next_event, requester, submit};

/// Cancelling an `INIT` operation ends it `FAILURE` at once, frees its resource for the next
/// one, and wakes its waiters.
pub async fn cancel_ends_an_init_operation_at_once(store: &dyn Store) {
    let acct = account(1);
    let first = new_op(&acct, Some("i-1"), T0);
    let second = new_op(&acct, Some("i-1"), T0 + ms(1));
    submit(store, &first).await;
    submit(store, &second).await;
    let mut events = store.subscribe();
    let outcome = store
        .cancel(
            &acct,
            &first.id,
            &requester(),
            "OperationCancelled: x",
            T0 + ms(5),
        )
        .await
        .unwrap();
    let Cancelled::Ended(op) = outcome else {
        panic!("expected Ended, got {outcome:?}");
    };
    assert_eq!(op.status, Status::Failure);
    assert_eq!(op.message, "OperationCancelled: x");
    assert_eq!(op.finished_at, Some(T0 + ms(5)));
    assert_eq!(op, store.get(&acct, &first.id).await.unwrap().unwrap());
    next_event(&mut events, |e| {
        *e == StoreEvent::Finished(first.id.clone())
    })
    .await;

    let claimed = claim(store, T0 + ms(6), ms(994), 10).await;
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
    store
        .claim(NODE, T0, ms(1000), Budget::uniform(10))
        .await
        .unwrap();
    let mut events = store.subscribe();
    let outcome = store
        .cancel(
            &acct,
            &op.id,
            &requester(),
            "OperationCancelled: x",
            T0 + ms(5),
        )
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
        store.renew_lease(&op.id, 1, T0 + ms(2000)).await.unwrap(),
        Lease::CancelRequested
    );
    assert_eq!(
        store.renew_lease(&op.id, 7, T0 + ms(2000)).await.unwrap(),
        Lease::Lost
    );
    assert!(matches!(
        store
            .cancel(&acct, &op.id, &requester(), "again", T0 + ms(6))
            .await
            .unwrap(),
        Cancelled::Requested(_)
    ));

    let taken_over = claim(store, T0 + ms(2001), ms(2999), 10).await;
    assert_eq!(taken_over.len(), 1);
    assert!(
        taken_over[0].cancel_requested,
        "the mark survives a takeover"
    );
    assert!(
        !store
            .finish(&op.id, 1, &finish(Status::Failure, T0 + ms(2002)))
            .await
            .unwrap(),
        "fenced"
    );
    assert!(
        store
            .finish(&op.id, 2, &finish(Status::Failure, T0 + ms(2002)))
            .await
            .unwrap()
    );
}

/// A final operation is not changed by a cancel.
pub async fn cancel_leaves_final_operations_alone(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    store
        .claim(NODE, T0, ms(1000), Budget::uniform(10))
        .await
        .unwrap();
    assert!(
        store
            .finish(&op.id, 1, &finish(Status::Success, T0 + ms(1)))
            .await
            .unwrap()
    );
    let outcome = store
        .cancel(
            &acct,
            &op.id,
            &requester(),
            "OperationCancelled: x",
            T0 + ms(5),
        )
        .await
        .unwrap();
    let Cancelled::AlreadyFinal(done) = outcome else {
        panic!("expected AlreadyFinal, got {outcome:?}");
    };
    assert_eq!(done.status, Status::Success);
    assert_eq!(done, store.get(&acct, &op.id).await.unwrap().unwrap());
}

/// Another account's operation and an unknown id are not found, and left alone.
pub async fn cancel_finds_nothing_outside_the_account(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    let cancel = |account: AccountId, id: OperationId| async move {
        store
            .cancel(&account, &id, &requester(), "OperationCancelled: x", T0)
            .await
            .unwrap()
    };
    assert_eq!(cancel(account(2), op.id.clone()).await, Cancelled::NotFound);
    assert_eq!(
        cancel(acct.clone(), OperationId::random()).await,
        Cancelled::NotFound
    );
    assert_eq!(
        store.get(&acct, &op.id).await.unwrap().unwrap().status,
        Status::Init
    );
    assert!(matches!(
        cancel(acct.clone(), op.id.clone()).await,
        Cancelled::Ended(_)
    ));
}
