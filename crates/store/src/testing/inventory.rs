//! The inventory and the bootstrap key: seeding never overwrites what is held.

use secrecy::ExposeSecret;
use serde_json::json;

use crate::{BootstrapKey, Budget, Effect, Finish, Resource, Status, Store};

use super::{NODE, T0, account, finish, key, ms, new_op, props, submit};

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
    store
        .claim(NODE, T0, ms(1000), Budget::uniform(10))
        .await
        .unwrap();
    let delete = Finish {
        effect: Some(Effect::Delete {
            key: key(&acct, "i-2"),
        }),
        ..finish(Status::Success, T0 + ms(1))
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
    let (kept, created) = store.bootstrap_key(&first).await.unwrap();
    assert!(created);
    assert_same_key(&kept, &first);
    let (kept, created) = store.bootstrap_key(&second).await.unwrap();
    assert!(!created);
    assert_same_key(&kept, &first);
}

/// Every field, the secret included (`SecretString` has no `PartialEq`).
fn assert_same_key(found: &BootstrapKey, expected: &BootstrapKey) {
    assert_eq!(found.account, expected.account);
    assert_eq!(found.access_key_id, expected.access_key_id);
    assert_eq!(
        found.secret.expose_secret(),
        expected.secret.expose_secret()
    );
}
