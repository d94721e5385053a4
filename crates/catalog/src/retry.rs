//! Retry policies: how many attempts an operation gets, how long to wait between them, and
//! which kinds of failure ([`FailureKind`]) deserve another attempt.
//!
//! The split of duties (house style): an executor classifies each failure at the source by
//! its [`FailureKind`]; the engine alone decides whether to try again, by asking the entry's
//! [`RetryPolicy`]. The policy is pure: the caller supplies the attempt number and the jitter
//! draw, so every decision is a plain function call in tests.

use std::time::Duration;

/// Why an attempt of an I/O executor failed. The names ([`FailureKind::as_str`]) are those
/// a declared operation lists in `retry.on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// The attempt did not finish within the operation's timeout (`timeout`).
    Timeout,
    /// The program exited with a non-zero status, was killed by a signal, or could not be
    /// started (`exit`).
    Exit,
    /// The endpoint answered with a 5xx status (`http_5xx`).
    Http5xx,
    /// The endpoint answered with a 4xx status (`http_4xx`).
    Http4xx,
    /// The endpoint could not be reached, or the connection broke (`connect`).
    Connect,
    /// The executor finished but its answer is not the expected JSON object, or is too large
    /// (`bad_output`).
    BadOutput,
    /// The operation was cancelled while the attempt ran (`cancelled`). Never retried.
    Cancelled,
}

impl FailureKind {
    /// Every kind, in declaration order.
    pub const ALL: [FailureKind; 7] = [
        FailureKind::Timeout,
        FailureKind::Exit,
        FailureKind::Http5xx,
        FailureKind::Http4xx,
        FailureKind::Connect,
        FailureKind::BadOutput,
        FailureKind::Cancelled,
    ];

    /// The name used in `retry.on`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Exit => "exit",
            FailureKind::Http5xx => "http_5xx",
            FailureKind::Http4xx => "http_4xx",
            FailureKind::Connect => "connect",
            FailureKind::BadOutput => "bad_output",
            FailureKind::Cancelled => "cancelled",
        }
    }

    /// The kind named `name` (as [`FailureKind::as_str`] spells it).
    pub fn parse(name: &str) -> Option<FailureKind> {
        FailureKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// How often and when a failed operation is tried again.
///
/// Backoff is exponential with full jitter: before attempt `n + 1` the engine waits a uniform
/// random fraction of `min(backoff × 2^(n-1), max_backoff)`. Full jitter spreads the retries
/// of many operations that failed together (an endpoint restarting) instead of sending them
/// back in waves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    backoff: Duration,
    max_backoff: Duration,
    on: Vec<FailureKind>,
}

impl RetryPolicy {
    /// A single attempt, never retried: the policy of built-in operations.
    pub fn once() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            on: Vec::new(),
        }
    }

    /// A policy of `attempts` attempts in all (at least 1; 0 is read as 1), retrying the
    /// kinds in `on` (never [`FailureKind::Cancelled`]), with delays from `backoff` doubling
    /// up to `max_backoff` (raised to `backoff` if smaller).
    pub fn new(
        attempts: u32,
        backoff: Duration,
        max_backoff: Duration,
        on: impl IntoIterator<Item = FailureKind>,
    ) -> RetryPolicy {
        let mut on: Vec<FailureKind> = on
            .into_iter()
            .filter(|kind| *kind != FailureKind::Cancelled)
            .collect();
        on.sort();
        on.dedup();
        RetryPolicy {
            attempts: attempts.max(1),
            backoff,
            max_backoff: max_backoff.max(backoff),
            on,
        }
    }

    /// The number of attempts in all, retries included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The kinds that are retried, sorted.
    pub fn retried_kinds(&self) -> &[FailureKind] {
        &self.on
    }

    /// Whether a failure of this kind may be retried (attempts permitting).
    pub fn retries(&self, kind: FailureKind) -> bool {
        self.on.contains(&kind)
    }

    /// How long to wait after attempt `attempt` (1-based; 0 is read as 1) failed before
    /// starting the next one, or `None` when it was the last. `jitter` is a uniform draw in
    /// `0..=1` supplied by the caller (values outside are clamped, NaN counts as 0).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Option<Duration> {
        let attempt = attempt.max(1);
        if attempt >= self.attempts {
            return None;
        }
        let ceiling = 2u32
            .checked_pow(attempt - 1)
            .and_then(|factor| self.backoff.checked_mul(factor))
            .map_or(self.max_backoff, |grown| grown.min(self.max_backoff));
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        Some(ceiling.mul_f64(jitter))
    }

    /// The engine's whole decision after attempt `attempt` failed with `kind`: the wait
    /// before trying again, or `None` when the operation ends as `FAILURE`.
    pub fn after_failure(&self, kind: FailureKind, attempt: u32, jitter: f64) -> Option<Duration> {
        if !self.retries(kind) {
            return None;
        }
        self.delay(attempt, jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(attempts: u32) -> RetryPolicy {
        RetryPolicy::new(
            attempts,
            ms(200),
            ms(1_000),
            [FailureKind::Timeout, FailureKind::Http5xx],
        )
    }

    #[test]
    fn delays_double_then_stop_growing_at_max_backoff() {
        let p = policy(10);
        let delays: Vec<Duration> = (1..=5).map(|n| p.delay(n, 1.0).unwrap()).collect();
        assert_eq!(
            delays,
            vec![ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]
        );
    }

    #[test]
    fn no_delay_after_the_last_attempt() {
        let p = policy(3);
        assert!(p.delay(1, 1.0).is_some());
        assert!(p.delay(2, 1.0).is_some());
        assert_eq!(p.delay(3, 1.0), None);
        assert_eq!(p.delay(4, 1.0), None);
        assert_eq!(RetryPolicy::once().delay(1, 1.0), None);
    }

    #[test]
    fn full_jitter_scales_the_ceiling_by_the_draw() {
        let p = policy(10);
        assert_eq!(p.delay(3, 0.0), Some(Duration::ZERO));
        assert_eq!(p.delay(3, 0.5), Some(ms(400)));
        assert_eq!(p.delay(3, 7.0), Some(ms(800)));
        assert_eq!(p.delay(3, -1.0), Some(Duration::ZERO));
        assert_eq!(p.delay(3, f64::NAN), Some(Duration::ZERO));
    }

    #[test]
    fn huge_attempt_numbers_stay_at_the_cap() {
        let p = RetryPolicy::new(u32::MAX, ms(200), ms(5_000), [FailureKind::Timeout]);
        assert_eq!(p.delay(64, 1.0), Some(ms(5_000)));
        assert_eq!(p.delay(u32::MAX - 1, 1.0), Some(ms(5_000)));
    }

    #[test]
    fn attempt_zero_reads_as_the_first() {
        assert_eq!(policy(3).delay(0, 1.0), policy(3).delay(1, 1.0));
        assert_eq!(RetryPolicy::new(0, ms(1), ms(1), []).attempts(), 1);
    }

    #[test]
    fn only_listed_kinds_retry() {
        let p = policy(3);
        assert!(p.retries(FailureKind::Timeout));
        assert!(p.retries(FailureKind::Http5xx));
        assert!(!p.retries(FailureKind::Exit));
        assert_eq!(p.after_failure(FailureKind::Exit, 1, 1.0), None);
        assert_eq!(p.after_failure(FailureKind::Timeout, 1, 1.0), Some(ms(200)));
        assert_eq!(p.after_failure(FailureKind::Timeout, 3, 1.0), None);
    }

    #[test]
    fn cancelled_never_retries_even_when_listed() {
        let p = RetryPolicy::new(5, ms(1), ms(1), FailureKind::ALL);
        assert!(!p.retries(FailureKind::Cancelled));
        assert_eq!(p.retried_kinds().len(), FailureKind::ALL.len() - 1);
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FailureKind::parse("http_5XX"), None);
    }
}
