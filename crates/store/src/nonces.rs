//! Signature nonces seen recently, in memory, to refuse replays.
//!
//! A nonce only needs remembering while its request's timestamp is acceptable, so each entry
//! expires when that timestamp leaves the clock-skew window ([`nonce_expired`], the boundary
//! the stores keep too). Entries are evicted in expiry order. The request path keeps one to
//! answer replays and the per-key bound at memory speed before the store spends the nonce for
//! good (so that other nodes and a restarted process refuse it too); the SQLite store keeps
//! one as its record of what its process spent, beside a log on disk.
//!
//! Memory is bounded twice: each AccessKey may hold at most `limit` unexpired nonces (past
//! it, that key alone gets `Throttling`, so a flood from one key never locks out another),
//! and each entry is a fixed-size digest of the nonce (the first 128 bits of its
//! SHA-256: collisions are out of reach, and an entry costs about 45 bytes, so a key at its
//! default limit of a million holds about 45 MB). Only verified requests reach this table, so
//! the number of keys is that of the configuration.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use bpops_time::Timestamp;
use sha2::{Digest, Sha256};

use crate::nonce_expired;

/// A signature nonce to spend: whose, which, and until when (the last instant its request's
/// timestamp is accepted, [`nonce_expired`]). A struct, so that its expiry can never be
/// swapped with the `now` passed beside it.
#[derive(Clone, Copy, Debug)]
pub struct NonceSpend<'a> {
    /// The AccessKeyId that signed the request.
    pub access_key_id: &'a str,
    /// The request's signature nonce.
    pub nonce: &'a str,
    /// When it may be forgotten.
    pub expires_at: Timestamp,
}

impl<'a> NonceSpend<'a> {
    /// `nonce` of `access_key_id`, kept until `expires_at`.
    pub fn new(access_key_id: &'a str, nonce: &'a str, expires_at: Timestamp) -> Self {
        NonceSpend {
            access_key_id,
            nonce,
            expires_at,
        }
    }
}

/// What [`Nonces::check_and_remember`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// First use: remembered.
    Fresh,
    /// Seen before within the window.
    Replayed,
    /// This key's table is full of unexpired nonces.
    Full,
}

type Digest16 = [u8; 16];

/// Spent nonces per AccessKey, each until its expiry.
pub struct Nonces {
    limit_per_key: usize,
    inner: Mutex<HashMap<String, KeyNonces>>,
}

#[derive(Default)]
struct KeyNonces {
    seen: HashSet<Digest16>,
    by_expiry: VecDeque<(Timestamp, Digest16)>,
}

impl KeyNonces {
    fn forget_expired(&mut self, now: Timestamp) {
        while self
            .by_expiry
            .front()
            .is_some_and(|(at, _)| nonce_expired(*at, now))
        {
            if let Some((_, old)) = self.by_expiry.pop_front() {
                self.seen.remove(&old);
            }
        }
    }
}

impl Nonces {
    /// A table holding at most `limit_per_key` unexpired nonces per AccessKey.
    pub fn new(limit_per_key: usize) -> Self {
        Nonces {
            limit_per_key,
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers `spend` until it expires, unless already seen; `now` forgets expired ones.
    pub fn check_and_remember(&self, spend: &NonceSpend<'_>, now: Timestamp) -> NonceCheck {
        let NonceSpend {
            access_key_id,
            nonce,
            expires_at,
        } = *spend;
        let full = Sha256::digest(nonce.as_bytes());
        let mut digest: Digest16 = [0; 16];
        digest.copy_from_slice(&full[..16]);
        let mut inner = self.inner.lock().expect("nonce lock poisoned");
        let key = match inner.get_mut(access_key_id) {
            Some(key) => key,
            None => inner.entry(access_key_id.to_owned()).or_default(),
        };
        key.forget_expired(now);
        if key.seen.contains(&digest) {
            return NonceCheck::Replayed;
        }
        if key.seen.len() >= self.limit_per_key {
            return NonceCheck::Full;
        }
        key.seen.insert(digest);
        // Expiries are nearly monotonic (timestamp + constant); keep the queue sorted anyway.
        let at = key.by_expiry.partition_point(|(t, _)| *t <= expires_at);
        key.by_expiry.insert(at, (expires_at, digest));
        NonceCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn a_nonce_is_refused_the_second_time_within_its_window() {
        let nonces = Nonces::new(10);
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", "n1", at(100)), at(0)),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", "n1", at(150)), at(50)),
            NonceCheck::Replayed
        );
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("other-key", "n1", at(150)), at(50)),
            NonceCheck::Fresh
        );
    }

    #[test]
    fn a_nonce_is_remembered_through_its_last_millisecond_then_forgotten() {
        let nonces = Nonces::new(10);
        for offset in -2..=2 {
            let nonce = format!("n{offset}");
            assert_eq!(
                nonces.check_and_remember(&NonceSpend::new("k", &nonce, at(100)), at(0)),
                NonceCheck::Fresh
            );
            let again = nonces.check_and_remember(
                &NonceSpend::new("k", &nonce, at(200 + offset)),
                at(100 + offset),
            );
            let expected = match offset {
                ..=0 => NonceCheck::Replayed,
                _ => NonceCheck::Fresh,
            };
            assert_eq!(again, expected, "{offset} ms past the end of the window");
        }
    }

    #[test]
    fn a_key_never_holds_more_than_its_limit() {
        let nonces = Nonces::new(2);
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", "a", at(100)), at(0)),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", "b", at(100)), at(0)),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", "c", at(100)), at(0)),
            NonceCheck::Full
        );
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", "a", at(100)), at(0)),
            NonceCheck::Replayed,
            "a full table still refuses replays"
        );
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", "c", at(200)), at(101)),
            NonceCheck::Fresh,
            "room after expiry"
        );
    }

    #[test]
    fn a_flood_from_one_key_does_not_throttle_another() {
        let nonces = Nonces::new(1000);
        let flood = (0..5000)
            .map(|n| {
                nonces.check_and_remember(
                    &NonceSpend::new("flooder", &format!("n{n}"), at(100)),
                    at(0),
                )
            })
            .filter(|check| *check == NonceCheck::Full)
            .count();
        assert_eq!(flood, 4000);
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("innocent", "n1", at(100)), at(0)),
            NonceCheck::Fresh
        );
        let inner = nonces.inner.lock().unwrap();
        assert_eq!(inner["flooder"].seen.len(), 1000);
        assert_eq!(inner["flooder"].by_expiry.len(), 1000);
    }

    #[test]
    fn entries_are_the_same_size_whatever_the_nonce() {
        let nonces = Nonces::new(10);
        let long = "x".repeat(100_000);
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", &long, at(100)), at(0)),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.check_and_remember(&NonceSpend::new("k", &long, at(100)), at(0)),
            NonceCheck::Replayed
        );
    }
}
