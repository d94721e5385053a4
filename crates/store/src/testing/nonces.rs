//! Nonces: each spent once per AccessKey within its window.

use std::time::Duration;

use futures_util::future::join_all;

use crate::Store;
use crate::nonces::NonceSpend;

use super::{T0, ms};

/// A nonce is new once per AccessKey.
pub async fn a_nonce_is_spent_once_per_key(store: &dyn Store) {
    assert!(
        store
            .spend_nonce(&NonceSpend::new("key", "n1", T0 + ms(1000)), T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .spend_nonce(&NonceSpend::new("key", "n1", T0 + ms(1010)), T0 + ms(10))
            .await
            .unwrap()
    );
    assert!(
        store
            .spend_nonce(
                &NonceSpend::new("other-key", "n1", T0 + ms(1010)),
                T0 + ms(10)
            )
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
    const WINDOW: Duration = Duration::from_secs(1800);
    for k in 0..7 {
        let end = T0 + WINDOW + ms(10 * k);
        let nonce = format!("n{k}");
        assert!(
            store
                .spend_nonce(&NonceSpend::new("key", &nonce, end), T0)
                .await
                .unwrap()
        );
        // From 3 ms before the window's last millisecond to 3 ms after it.
        let now = end - ms(3) + ms(k);
        let other = format!("other{k}");
        assert!(
            store
                .spend_nonce(&NonceSpend::new("key", &other, now + WINDOW), now)
                .await
                .unwrap()
        );
        let new = store
            .spend_nonce(&NonceSpend::new("key", &nonce, now + WINDOW), now)
            .await;
        assert_eq!(
            new.unwrap(),
            crate::nonce_expired(end, now),
            "a second spend at {now}, the window ending at {end}"
        );
    }
    let end = T0 + 2 * WINDOW;
    let nonces: Vec<String> = (0..20).map(|n| format!("late{n}")).collect();
    for nonce in &nonces {
        assert!(
            store
                .spend_nonce(&NonceSpend::new("key", nonce, end), end - WINDOW)
                .await
                .unwrap()
        );
    }
    for nonce in &nonces {
        let new = store
            .spend_nonce(&NonceSpend::new("key", nonce, end + WINDOW), end + ms(1))
            .await;
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
    let spends: Vec<NonceSpend> = nonces
        .iter()
        .map(|n| NonceSpend::new("key", n, T0 + ms(1000)))
        .collect();
    let spent = join_all(spends.iter().map(|spend| store.spend_nonce(spend, T0))).await;
    let mut new_twice = 0;
    for (nonce, spent) in nonces.iter().zip(spent) {
        match nonce.as_str() {
            "twice" => new_twice += usize::from(spent.unwrap()),
            _ => assert!(spent.unwrap(), "{nonce} is new"),
        }
    }
    assert_eq!(new_twice, 1, "one of the ten spends of one nonce");
}
