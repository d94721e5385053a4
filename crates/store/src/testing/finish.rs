//! Finishing: fencing by attempt, effects committed with the status, and the events published.

use serde_json::json;

use crate::{Budget, Effect, Finish, Status, Store, StoreEvent};

use super::{
    NODE, T0, account, claim, finish, ms, new_op, next_event, props, seed_instance, submit,
};

/// Only the current attempt can finish; a final status never changes.
pub async fn finish_is_fenced_by_the_attempt(store: &dyn Store) {
    let op = new_op(&account(1), None, T0);
    submit(store, &op).await;
    store
        .claim(NODE, T0, ms(10), Budget::uniform(10))
        .await
        .unwrap();
    store
        .claim(NODE, T0 + ms(11), ms(989), Budget::uniform(10))
        .await
        .unwrap();

    assert!(
        !store
            .finish(&op.id, 1, &finish(Status::Failure, T0 + ms(20)))
            .await
            .unwrap(),
        "stale"
    );
    assert!(
        store
            .finish(&op.id, 2, &finish(Status::Success, T0 + ms(20)))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish(&op.id, 2, &finish(Status::Failure, T0 + ms(30)))
            .await
            .unwrap(),
        "final"
    );

    let got = store.get(&op.account, &op.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::Success);
    assert_eq!(got.finished_at, Some(T0 + ms(20)));
    assert_eq!(got.message, "done");
}

/// An effect commits with the status, and a fenced-out finish applies no effect.
pub async fn finish_commits_effect_with_status(store: &dyn Store) {
    let acct = account(1);
    let seeded = seed_instance(store, &acct, json!({"status": "Running"})).await;
    let op = new_op(&acct, Some("i-1"), T0);
    submit(store, &op).await;
    store
        .claim(NODE, T0, ms(1000), Budget::uniform(10))
        .await
        .unwrap();

    let stale = Finish {
        effect: Some(Effect::Update {
            key: seeded.key.clone(),
            properties: props(json!({"status": "Bogus"})),
        }),
        ..finish(Status::Success, T0 + ms(1))
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
        ..finish(Status::Success, T0 + ms(1))
    };
    assert!(store.finish(&op.id, 1, &update).await.unwrap());
    let now = store.resource(&seeded.key).await.unwrap().unwrap();
    assert_eq!(now.properties, props(json!({"status": "Stopped"})));
    assert_eq!(now.application, "APP-WEB");

    let delete_op = new_op(&acct, Some("i-1"), T0 + ms(2));
    submit(store, &delete_op).await;
    store
        .claim(NODE, T0 + ms(2), ms(998), Budget::uniform(10))
        .await
        .unwrap();
    let delete = Finish {
        effect: Some(Effect::Delete {
            key: seeded.key.clone(),
        }),
        ..finish(Status::Success, T0 + ms(3))
    };
    assert!(store.finish(&delete_op.id, 1, &delete).await.unwrap());
    assert!(store.resource(&seeded.key).await.unwrap().is_none());
}

/// A committed submit and a committed finish are published to subscribers.
pub async fn submit_and_finish_publish_events(store: &dyn Store) {
    let mut events = store.subscribe();
    let op = new_op(&account(1), None, T0);
    submit(store, &op).await;
    next_event(&mut events, |e| *e == StoreEvent::Submitted).await;
    let claimed = claim(store, T0, ms(1000), 10).await;
    assert!(
        store
            .finish(
                &op.id,
                claimed[0].attempt,
                &finish(Status::Success, T0 + ms(1))
            )
            .await
            .unwrap()
    );
    next_event(&mut events, |e| *e == StoreEvent::Finished(op.id.clone())).await;
}
