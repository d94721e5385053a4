//! Signature nonces seen recently, to refuse replays.
//!
//! A nonce only needs remembering while its request's timestamp is acceptable, so each entry
//! expires after twice the clock-skew window (a timestamp up to `skew` in the future stays
//! valid for `2 × skew`). Entries are evicted in expiry order; the table has a hard size
//! limit so a flood of unique nonces cannot exhaust memory.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// What [`Nonces::check_and_remember`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// First use: remembered.
    Fresh,
    /// Seen before within the window.
    Replayed,
    /// The table is full of unexpired nonces.
    Full,
}

pub(crate) struct Nonces {
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<String>,
    by_expiry: VecDeque<(i64, String)>,
}

impl Nonces {
    pub(crate) fn new(limit: usize) -> Self {
        Nonces {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records `nonce` of `access_key_id` until `expires_at` (Unix ms), unless already seen.
    pub(crate) fn check_and_remember(
        &self,
        access_key_id: &str,
        nonce: &str,
        now: i64,
        expires_at: i64,
    ) -> NonceCheck {
        let key = format!("{access_key_id}\n{nonce}");
        let mut inner = self.inner.lock().expect("nonce lock poisoned");
        while inner.by_expiry.front().is_some_and(|(at, _)| *at <= now) {
            let (_, old) = inner.by_expiry.pop_front().expect("front exists");
            inner.seen.remove(&old);
        }
        if inner.seen.contains(&key) {
            return NonceCheck::Replayed;
        }
        if inner.seen.len() >= self.limit {
            return NonceCheck::Full;
        }
        inner.seen.insert(key.clone());
        // Expiries are nearly monotonic (now + constant); keep the queue sorted anyway.
        let at = inner.by_expiry.partition_point(|(t, _)| *t <= expires_at);
        inner.by_expiry.insert(at, (expires_at, key));
        NonceCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_the_second_time_within_its_window() {
        let nonces = Nonces::new(10);
        assert_eq!(
            nonces.check_and_remember("k", "n1", 0, 100),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember("k", "n1", 50, 150),
            NonceCheck::Replayed
        );
        assert_eq!(
            nonces.check_and_remember("other-key", "n1", 50, 150),
            NonceCheck::Fresh
        );
    }

    #[test]
    fn an_expired_nonce_is_forgotten() {
        let nonces = Nonces::new(10);
        assert_eq!(
            nonces.check_and_remember("k", "n1", 0, 100),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember("k", "n1", 100, 200),
            NonceCheck::Fresh
        );
    }

    #[test]
    fn the_table_never_grows_past_its_limit() {
        let nonces = Nonces::new(2);
        assert_eq!(
            nonces.check_and_remember("k", "a", 0, 100),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember("k", "b", 0, 100),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember("k", "c", 0, 100),
            NonceCheck::Full
        );
        assert_eq!(
            nonces.check_and_remember("k", "c", 100, 200),
            NonceCheck::Fresh,
            "room after expiry"
        );
    }
}
