//! Submitting: what a submit stores, client tokens (idempotency) and concurrent submits.

use futures_util::future::join_all;

use bpops_time::Timestamp;

use crate::{NewOperation, QueueDepth, Status, Store, Submitted};

use super::{T0, account, claim, finish, list_query, ms, new_op, submit};

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
        submit(
            store,
            &new_op(&account(n % 2 + 1), None, T0 + ms(u64::from(n))),
        )
        .await;
    }
    let claimed = claim(store, T0, ms(1000), 2).await;
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
                &finish(Status::Success, T0 + ms(5))
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

    let mut again = new_op(&account(1), None, T0 + ms(1));
    again.client_token = Some("tok".into());
    let same = store.submit(&again, Timestamp::EPOCH).await.unwrap();
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
    let different = store.submit(&again, Timestamp::EPOCH).await.unwrap();
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
        store.submit(&elsewhere, Timestamp::EPOCH).await.unwrap(),
        Submitted::Created
    );
}

/// Once the operation holding a token has expired, the token starts a new operation.
pub async fn client_token_of_an_expired_operation_is_free(store: &dyn Store) {
    let mut first = new_op(&account(1), None, T0);
    first.client_token = Some("tok".into());
    submit(store, &first).await;
    let claimed = claim(store, T0, ms(1000), 10).await;
    assert!(
        store
            .finish(
                &first.id,
                claimed[0].attempt,
                &finish(Status::Success, T0 + ms(5))
            )
            .await
            .unwrap()
    );

    let mut second = new_op(&account(1), None, T0 + ms(100));
    second.client_token = Some("tok".into());
    // Not expired yet: finished at T0+5, cutoff T0+5 is exclusive.
    assert!(matches!(
        store.submit(&second, T0 + ms(5)).await.unwrap(),
        Submitted::Existing { .. }
    ));
    assert_eq!(
        store.submit(&second, T0 + ms(6)).await.unwrap(),
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

/// Submits racing with one client token (as on several nodes at once) store one operation;
/// every other submit gets its id back, never an error.
pub async fn concurrent_submits_with_one_client_token_create_one_operation(store: &dyn Store) {
    let racer = |n: u64| {
        let mut op = new_op(&account(1), Some("i-1"), T0 + ms(n));
        op.client_token = Some("race".into());
        op
    };
    let ops = [racer(0), racer(1), racer(2), racer(3)];
    let (a, b, c, d) = tokio::join!(
        store.submit(&ops[0], Timestamp::EPOCH),
        store.submit(&ops[1], Timestamp::EPOCH),
        store.submit(&ops[2], Timestamp::EPOCH),
        store.submit(&ops[3], Timestamp::EPOCH)
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
    assert_eq!(claim(store, T0, ms(1000), 10).await.len(), 1);
}

/// Among concurrent submits (which a backend may store together), one that cannot be stored
/// fails alone: every other one is stored.
pub async fn a_failing_submit_among_concurrent_ones_fails_alone(store: &dyn Store) {
    let acct = account(1);
    let first = new_op(&acct, None, T0);
    submit(store, &first).await;
    let mut ops: Vec<NewOperation> = (1..=40)
        .map(|n| new_op(&acct, Some(&format!("i-{n}")), T0 + ms(n)))
        .collect();
    // An id already taken: this one cannot be stored.
    ops[17].id = first.id.clone();
    let outcomes = join_all(ops.iter().map(|op| store.submit(op, Timestamp::EPOCH))).await;
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
