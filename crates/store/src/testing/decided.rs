//! Decided submits: operations decided and applied at submission, or queued behind others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::join_all;
use serde_json::json;

use bpops_time::Timestamp;

use crate::{
    Decide, Effect, Finish, NewOperation, OperationId, QueueDepth, Status, Store, Submitted,
};

use super::{T0, account, claim, finish, ms, new_op, props, seed_instance, submit};

/// A decision for `submit_decided` that must never be asked for; it raises `asked` if it is.
fn never_asked(asked: &Arc<AtomicBool>) -> Decide {
    let asked = Arc::clone(asked);
    Box::new(move |_| {
        asked.store(true, Ordering::SeqCst);
        finish(Status::Success, T0)
    })
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
        ..finish(Status::Success, T0 + ms(1))
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
        store
            .submit_decided(&op, Timestamp::EPOCH, decide)
            .await
            .unwrap(),
        Submitted::Decided(decided)
    );
    let got = store.get(&acct, &op.id).await.unwrap().expect("stored");
    assert_eq!(got.status, Status::Success);
    assert_eq!((got.message.as_str(), got.attempt), ("done", 1));
    assert_eq!(got.finished_at, Some(T0 + ms(1)));
    let now = store.resource(&seeded.key).await.unwrap().unwrap();
    assert_eq!(now.properties, props(json!({"status": "Stopped"})));
    assert!(claim(store, T0 + ms(2), ms(998), 10).await.is_empty());
    assert_eq!(store.queue_depth().await.unwrap(), QueueDepth::default());

    // An operation on a resource the inventory lacks is decided on nothing.
    let absent = new_op(&acct, Some("i-404"), T0 + ms(3));
    let decide: Decide = Box::new(|resource| {
        assert_eq!(resource, None);
        finish(Status::Failure, T0 + ms(3))
    });
    let submitted = store
        .submit_decided(&absent, Timestamp::EPOCH, decide)
        .await
        .unwrap();
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
    let queued = new_op(&acct, Some("i-1"), T0 + ms(1));
    assert_eq!(
        store
            .submit_decided(&queued, Timestamp::EPOCH, never_asked(&asked))
            .await
            .unwrap(),
        Submitted::Created
    );
    assert!(!asked.load(Ordering::SeqCst), "no decision while held");
    let elsewhere = new_op(&acct, Some("i-2"), T0 + ms(2));
    let decide: Decide = Box::new(|_| finish(Status::Success, T0 + ms(2)));
    assert!(matches!(
        store
            .submit_decided(&elsewhere, Timestamp::EPOCH, decide)
            .await
            .unwrap(),
        Submitted::Decided(_)
    ));

    let claimed = claim(store, T0 + ms(3), ms(997), 10).await;
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .finish(&first.id, 1, &finish(Status::Success, T0 + ms(4)))
            .await
            .unwrap()
    );
    // `queued` is next on the resource, still INIT: a later submit waits behind it.
    let later = new_op(&acct, Some("i-1"), T0 + ms(5));
    assert_eq!(
        store
            .submit_decided(&later, Timestamp::EPOCH, never_asked(&asked))
            .await
            .unwrap(),
        Submitted::Created
    );
    assert!(!asked.load(Ordering::SeqCst), "no decision while queued");
    let next = claim(store, T0 + ms(6), ms(994), 10).await;
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
        store
            .submit_decided(&first, Timestamp::EPOCH, decide)
            .await
            .unwrap(),
        Submitted::Decided(_)
    ));
    let asked = Arc::new(AtomicBool::new(false));
    let again = NewOperation {
        id: OperationId::random(),
        ..first.clone()
    };
    assert_eq!(
        store
            .submit_decided(&again, Timestamp::EPOCH, never_asked(&asked))
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
                ..finish(Status::Success, T0 + ms(1))
            }
        })
    };
    let ops: Vec<NewOperation> = (0..20)
        .map(|n| new_op(&acct, Some("i-1"), T0 + ms(n)))
        .collect();
    let outcomes = join_all(
        ops.iter()
            .map(|op| store.submit_decided(op, Timestamp::EPOCH, increment())),
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
