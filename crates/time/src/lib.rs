//! Time as bpops keeps it: [`Timestamp`], an instant in Unix milliseconds with arithmetic
//! against [`Duration`], and the [`Clock`] that reads it, injectable so tests can move it.
//!
//! Every time that crosses a function is a `Timestamp` and every span a `Duration`, so two
//! adjacent times cannot be swapped nor a span passed for an instant without the compiler
//! noticing. The store keeps the milliseconds ([`Timestamp::as_millis`]) and makes one back
//! with [`Timestamp::from_millis`].

mod clock;

pub use clock::{Clock, ManualClock, Sleep, SystemClock};

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// An instant: milliseconds since 1970-01-01T00:00:00Z (negative before it).
///
/// Arithmetic saturates: an instant pushed past the range stays at its end, which every
/// comparison bpops makes (expiry, lease, window) reads correctly as "never" or "always".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The earliest instant: before everything.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest instant: after everything.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    /// The instant `seconds` seconds after the epoch (saturating).
    pub const fn from_secs(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(1000))
    }

    /// Milliseconds since the epoch, as stored.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// How long after `earlier` this is: zero when it is not after it, at most `i64::MAX` ms.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        u64::try_from(self.0.saturating_sub(earlier.0))
            .map_or(Duration::ZERO, Duration::from_millis)
    }
}

/// Milliseconds of `span`, saturating at `i64::MAX` (about 292 million years).
fn millis(span: Duration) -> i64 {
    i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, span: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(millis(span)))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, span: Duration) {
        *self = *self + span;
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, span: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(millis(span)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_subtracts_spans_in_milliseconds() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!((t + Duration::from_millis(1_500)).as_millis(), 2_500);
        assert_eq!((t - Duration::from_secs(2)).as_millis(), -1_000);
        let mut u = t;
        u += Duration::from_secs(1);
        assert_eq!(u, Timestamp::from_secs(2));
    }

    #[test]
    fn arithmetic_saturates_at_the_ends() {
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!(Timestamp::MIN - Duration::from_secs(1), Timestamp::MIN);
        assert_eq!(Timestamp::EPOCH + Duration::MAX, Timestamp::MAX);
    }

    #[test]
    fn duration_since_is_never_negative() {
        let (a, b) = (Timestamp::from_millis(10), Timestamp::from_millis(250));
        assert_eq!(b.duration_since(a), Duration::from_millis(240));
        assert_eq!(a.duration_since(b), Duration::ZERO);
        let longest = Duration::from_millis(i64::MAX.unsigned_abs());
        assert_eq!(Timestamp::MAX.duration_since(Timestamp::MIN), longest);
    }

    #[test]
    fn seconds_round_down_before_the_epoch_too() {
        assert_eq!(Timestamp::from_millis(1_999).as_secs(), 1);
        assert_eq!(Timestamp::from_millis(-1).as_secs(), -1);
    }
}
