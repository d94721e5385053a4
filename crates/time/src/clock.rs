//! Where "now" comes from: the system's clock in production, a manual one in tests (the
//! engine's own tests, and a server started with the test clock).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::Timestamp;

/// A future that ends when a clock reaches an instant (see [`Clock::sleep_until`]).
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A source of the current time, and of waits measured on it.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;

    /// The time outside the service, against which request signatures are fresh or stale:
    /// `now` for every clock but a [`ManualClock`] that follows the system's, whose advances
    /// move the service's own time and never which signatures it accepts.
    fn real_now(&self) -> Timestamp {
        self.now()
    }

    /// Ends once this clock shows `deadline` or later.
    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        Box::pin(tokio::time::sleep(deadline.duration_since(self.now())))
    }

    /// Ends once `span` has passed on this clock.
    fn sleep(&self, span: Duration) -> Sleep {
        self.sleep_until(self.now() + span)
    }

    /// This clock as a [`ManualClock`], the one kind that can be moved; `None` for the others.
    fn as_manual(&self) -> Option<&ManualClock> {
        None
    }
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::EPOCH + since_epoch
    }
}

/// A clock that tests move forward: either frozen at an instant ([`ManualClock::new`]) or the
/// system's time shifted by everything it was advanced ([`ManualClock::following_system`]).
/// A wait on it ends after its length in real time, or as soon as an advance carries the
/// clock past its deadline, whichever comes first (so on a frozen clock, work with a latency
/// still finishes while the test holds "now" still).
#[derive(Debug)]
pub struct ManualClock {
    /// The instant it is frozen at; `None` to follow the system's clock.
    frozen_at: Option<Timestamp>,
    /// How far it was advanced; a change wakes the waits.
    advanced: watch::Sender<Duration>,
}

impl ManualClock {
    /// A clock showing `now` until it is advanced.
    pub fn new(now: Timestamp) -> Self {
        Self::starting(Some(now))
    }

    /// A clock that runs with the system's and is ahead of it by what it was advanced.
    pub fn following_system() -> Self {
        Self::starting(None)
    }

    fn starting(frozen_at: Option<Timestamp>) -> Self {
        Self {
            frozen_at,
            advanced: watch::Sender::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward by `by`; answers the new time.
    pub fn advance(&self, by: Duration) -> Timestamp {
        self.advanced
            .send_modify(|advanced| *advanced = advanced.saturating_add(by));
        self.now()
    }

    /// How far it was advanced in all.
    pub fn advanced(&self) -> Duration {
        *self.advanced.borrow()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.frozen_at.unwrap_or_else(|| SystemClock.now()) + self.advanced()
    }

    fn real_now(&self) -> Timestamp {
        match self.frozen_at {
            // Frozen, it is all the time there is (tests of the signature window move it).
            Some(_) => self.now(),
            None => SystemClock.now(),
        }
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut advanced = self.advanced.subscribe();
        let advanced_at_start = *advanced.borrow_and_update();
        let length = deadline.duration_since(self.now());
        let started = tokio::time::Instant::now();
        Box::pin(async move {
            // Ends once the real time passed and the advances made since it began add up to
            // its length.
            let mut advanced_since = Duration::ZERO;
            while let Some(left) = length.checked_sub(advanced_since) {
                let passing = tokio::time::sleep(left.saturating_sub(started.elapsed()));
                tokio::select! {
                    () = passing => return,
                    moved = advanced.changed() => match moved {
                        Ok(()) => {
                            advanced_since = advanced.borrow_and_update().saturating_sub(advanced_at_start);
                        }
                        // The clock is gone and never moves again: only real time is left.
                        Err(_) => {
                            return tokio::time::sleep(left.saturating_sub(started.elapsed())).await;
                        }
                    }
                }
            }
        })
    }

    fn as_manual(&self) -> Option<&ManualClock> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_secs(100));
        assert_eq!(clock.now(), Timestamp::from_secs(100));
        assert_eq!(
            clock.advance(Duration::from_millis(250)),
            Timestamp::from_millis(100_250)
        );
        assert_eq!(clock.now(), Timestamp::from_millis(100_250));
        assert_eq!(clock.real_now(), clock.now());
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now() > Timestamp::from_secs(1_577_836_800));
        assert!(SystemClock.as_manual().is_none());
    }

    #[test]
    fn a_clock_following_the_system_is_ahead_by_its_advances_and_real_time_is_not() {
        let clock = ManualClock::following_system();
        let hour = Duration::from_secs(3600);
        clock.advance(hour);
        let (real, shifted) = (SystemClock.now(), clock.now());
        assert!(shifted >= real + hour && shifted < real + hour + Duration::from_secs(5));
        assert!(clock.real_now() < real + Duration::from_secs(5));
        assert_eq!(clock.advanced(), hour);
    }

    #[tokio::test]
    async fn an_advance_ends_a_long_sleep_at_once() {
        let clock = std::sync::Arc::new(ManualClock::following_system());
        let sleeping = tokio::spawn(clock.sleep(Duration::from_secs(3600)));
        tokio::task::yield_now().await;
        assert!(!sleeping.is_finished());
        clock.advance(Duration::from_secs(1800));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeping.is_finished(), "half way is not there yet");
        clock.advance(Duration::from_secs(1800));
        tokio::time::timeout(Duration::from_secs(5), sleeping)
            .await
            .expect("woken by the advance")
            .unwrap();
    }

    #[tokio::test]
    async fn on_a_frozen_clock_a_wait_ends_after_its_length_or_an_advance_past_it() {
        let clock = ManualClock::new(Timestamp::from_secs(100));
        let started = std::time::Instant::now();
        clock.sleep(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(clock.now(), Timestamp::from_secs(100), "still frozen");

        let sleeping = tokio::spawn(clock.sleep(Duration::from_secs(3600)));
        clock.advance(Duration::from_secs(3599));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeping.is_finished(), "a second short");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeping)
            .await
            .expect("woken by the advance")
            .unwrap();
    }

    #[tokio::test]
    async fn the_system_clock_sleeps_real_time() {
        let started = std::time::Instant::now();
        SystemClock.sleep(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
