//! The bound on failed console sign-ins: a source address that failed
//! [`MAX_FAILURES`] times within [`WINDOW`] is refused (`Throttling`) until the window
//! ends, so guessing secrets through the console is slower than through the API, where
//! each guess costs a signed request. Per node, in memory, of bounded size.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed to one address within [`WINDOW`].
const MAX_FAILURES: u32 = 10;

/// How long failures are counted.
const WINDOW: Duration = Duration::from_secs(60);

/// The most addresses tracked; past it, expired ones are forgotten and, if none has expired,
/// new addresses are refused until one does (a flood from many addresses slows everyone's
/// sign-ins, never the API, and never grows memory).
const MAX_ADDRESSES: usize = 10_000;

/// Failed sign-ins by source address.
#[derive(Default)]
pub(crate) struct SignInThrottle {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl SignInThrottle {
    /// Whether `peer` may try to sign in at `now`.
    pub(crate) fn allows(&self, peer: IpAddr, now: Instant) -> bool {
        let failures = self
            .failures
            .lock()
            .expect("the throttle's lock is never poisoned");
        match failures.get(&peer) {
            Some(&(since, count)) => now.duration_since(since) >= WINDOW || count < MAX_FAILURES,
            None => failures.len() < MAX_ADDRESSES,
        }
    }

    /// Counts a failed sign-in from `peer` at `now`.
    pub(crate) fn failed(&self, peer: IpAddr, now: Instant) {
        let mut failures = self
            .failures
            .lock()
            .expect("the throttle's lock is never poisoned");
        if failures.len() >= MAX_ADDRESSES {
            failures.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
        }
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&peer) {
            return;
        }
        let entry = failures.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_ends() {
        let throttle = SignInThrottle::default();
        let (peer, other) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.allows(peer, t0));
            throttle.failed(peer, t0);
        }
        assert!(!throttle.allows(peer, t0 + WINDOW / 2));
        assert!(throttle.allows(other, t0), "other addresses are not slowed");
        assert!(throttle.allows(peer, t0 + WINDOW));
        throttle.failed(peer, t0 + WINDOW);
        assert!(
            throttle.allows(peer, t0 + WINDOW),
            "a new window counts anew"
        );
    }
}
