//! Console sessions: found by their token's hash until they expire or end, on any node.

use crate::{NewSession, Session, Store};

use super::{T0, ms};

fn new_session(hash: &str, key: &str, lifetime_ms: u64) -> NewSession {
    NewSession {
        token_hash: hash.to_owned(),
        access_key_id: key.to_owned(),
        created_at: T0,
        expires_at: T0 + ms(lifetime_ms),
    }
}

/// A session is found by its hash, with its key, through the last millisecond before it
/// expires, and not from then on; another hash finds nothing.
pub async fn a_session_is_found_until_it_expires(store: &dyn Store) {
    store
        .create_session(&new_session("h1", "key-1", 1000))
        .await
        .unwrap();
    let found = Session {
        access_key_id: "key-1".to_owned(),
        expires_at: T0 + ms(1000),
    };
    assert_eq!(store.session("h1", T0).await.unwrap(), Some(found.clone()));
    assert_eq!(
        store.session("h1", T0 + ms(999)).await.unwrap(),
        Some(found)
    );
    assert_eq!(store.session("h1", T0 + ms(1000)).await.unwrap(), None);
    assert_eq!(store.session("h2", T0).await.unwrap(), None);
}

/// An ended session is never found again; ending it twice, or one that never was, says so.
pub async fn an_ended_session_is_gone(store: &dyn Store) {
    store
        .create_session(&new_session("h1", "key-1", 1000))
        .await
        .unwrap();
    store
        .create_session(&new_session("h2", "key-1", 1000))
        .await
        .unwrap();
    assert!(store.end_session("h1").await.unwrap());
    assert_eq!(store.session("h1", T0).await.unwrap(), None);
    assert!(!store.end_session("h1").await.unwrap());
    assert!(!store.end_session("never").await.unwrap());
    assert!(
        store.session("h2", T0).await.unwrap().is_some(),
        "other sessions of the key go on"
    );
}

/// Creating a session forgets the expired ones, and only those.
pub async fn creating_a_session_forgets_expired_ones(store: &dyn Store) {
    store
        .create_session(&new_session("old", "key-1", 10))
        .await
        .unwrap();
    store
        .create_session(&new_session("live", "key-1", 5000))
        .await
        .unwrap();
    let later = NewSession {
        created_at: T0 + ms(10),
        expires_at: T0 + ms(2000),
        ..new_session("new", "key-1", 0)
    };
    store.create_session(&later).await.unwrap();
    assert!(!store.end_session("old").await.unwrap(), "forgotten");
    assert!(store.end_session("live").await.unwrap(), "kept");
}
