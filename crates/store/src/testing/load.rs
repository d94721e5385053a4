//! Loading finished operations from elsewhere (an import).

use bpops_time::Timestamp;

use crate::{
    AccountId, ListQuery, Operation, OperationId, Pool, QueueDepth, Status, Store, StoreError,
};

use super::{T0, account, all_pages, claim, key, list_query, ms, new_op, requester, submit};

/// A final operation of `account` as [`Store::load`] takes it.
fn finished_op(account: &AccountId, created_at: Timestamp, finished_at: Timestamp) -> Operation {
    Operation {
        id: OperationId::random(),
        account: account.clone(),
        service: "ecs".into(),
        operation: "rename".into(),
        application: Some("APP-WEB".into()),
        resource: Some(key(account, "i-1")),
        pool: Pool::Emulated,
        attributes: r#"{"instanceId":"i-1","instance_name":"web-2"}"#.into(),
        status: Status::Success,
        message: String::new(),
        arguments: "{}".into(),
        attempt: 1,
        created_at,
        finished_at: Some(finished_at),
        cancel_requested: false,
        submitted_by: None,
    }
}

/// Loaded operations read back exactly as given, list in submission order after what was
/// there (slice order breaks ties of creation time), and hold up nothing: they are final.
pub async fn load_stores_final_operations_as_given(store: &dyn Store) {
    let acct = account(1);
    let earlier = new_op(&acct, None, T0);
    submit(store, &earlier).await;
    let first = finished_op(&acct, T0, T0 + ms(5));
    let second = Operation {
        status: Status::Failure,
        message: "InjectedFailure: x".into(),
        application: None,
        resource: None,
        attempt: 3,
        cancel_requested: true,
        submitted_by: Some(requester()),
        ..finished_op(&acct, T0, T0 + ms(6))
    };
    let third = Operation {
        arguments: r#"{"tagMap":{"env":["i-1"]}}"#.into(),
        ..finished_op(&acct, T0 + ms(1), T0 + ms(7))
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
    let on_the_resource = new_op(&acct, Some("i-1"), T0 + ms(10));
    submit(store, &on_the_resource).await;
    let claimed = claim(store, T0 + ms(10), ms(990), 10).await;
    assert_eq!(
        claimed.len(),
        2,
        "loaded operations do not hold the resource"
    );
}

/// An operation that is not final is refused, and the whole call stores nothing.
pub async fn load_refuses_unfinished_operations_and_stores_nothing(store: &dyn Store) {
    let acct = account(1);
    let done = finished_op(&acct, T0, T0 + ms(1));
    let running = Operation {
        status: Status::Running,
        finished_at: None,
        ..finished_op(&acct, T0, T0 + ms(1))
    };
    let undated = Operation {
        finished_at: None,
        ..finished_op(&acct, T0, T0 + ms(1))
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
        .map(|i| finished_op(&acct, T0 + ms(i), T0 + ms(10)))
        .collect();
    let retained = finished_op(&acct, T0, T0 + ms(20));
    store.load(&expired).await.unwrap();
    store.load(std::slice::from_ref(&retained)).await.unwrap();

    let listed = ListQuery {
        expired_before: T0 + ms(11),
        ..list_query(&acct, 10)
    };
    assert_eq!(
        store.list(&listed).await.unwrap().operations,
        vec![retained.clone()]
    );
    assert_eq!(store.sweep(T0 + ms(11), 3).await.unwrap(), 3);
    assert_eq!(store.sweep(T0 + ms(11), 3).await.unwrap(), 2);
    assert_eq!(store.sweep(T0 + ms(11), 3).await.unwrap(), 0);
    for op in &expired {
        assert!(store.get(&acct, &op.id).await.unwrap().is_none());
    }
    assert_eq!(
        store.get(&acct, &retained.id).await.unwrap(),
        Some(retained)
    );
}
