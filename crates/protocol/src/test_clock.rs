//! `AdvanceClock`, the action of a server started with the test clock: moves the server's
//! time forward, so a client's test of an expiry, a backoff or a latency takes milliseconds.
//! An extension with no SDK model: the shapes are ours (documented in the README).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::params::Params;
use crate::wire::{MAX_PARAM_CHARS, RequestError, required};

/// The longest advance one request may ask for: ten years (365-day years).
pub const MAX_ADVANCE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `AdvanceClock`: move the server's clock forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceClockRequest {
    /// `Duration`, e.g. `1h`, `90s`, `250ms`: more than zero, at most [`MAX_ADVANCE`].
    pub by: Duration,
}

impl AdvanceClockRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without a `Duration`; [`RequestError::Invalid`] when it is
    /// not a duration, is zero or is longer than [`MAX_ADVANCE`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let text = required(p, "Duration", MAX_PARAM_CHARS)?;
        let by = humantime::parse_duration(&text)
            .ok()
            .filter(|by| !by.is_zero() && *by <= MAX_ADVANCE)
            .ok_or_else(|| RequestError::Invalid {
                name: "Duration",
                reason: "must be a duration such as 90s, 1h or 250ms, more than zero and at most 10 years"
                    .to_owned(),
            })?;
        Ok(Self { by })
    }
}

/// `Data` of AdvanceClock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClockReading {
    /// `Now`: the server's time after the advance, ISO 8601 UTC to the second.
    pub now: String,
    /// `Advanced`: how far the clock is ahead of the real time in all, e.g. `1h 30m`.
    pub advanced: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::form;

    fn parse(duration: &str) -> Result<AdvanceClockRequest, RequestError> {
        AdvanceClockRequest::from_params(&form(&[("Duration", duration)]))
    }

    #[test]
    fn durations_read_as_the_configuration_writes_them() {
        assert_eq!(parse("1h").unwrap().by, Duration::from_secs(3600));
        assert_eq!(parse("250ms").unwrap().by, Duration::from_millis(250));
        assert_eq!(parse("3650days").unwrap().by, MAX_ADVANCE);
    }

    #[test]
    fn nothing_zero_negative_huge_or_unreadable_is_accepted() {
        for bad in [
            "0s",
            "-1h",
            "3651days",
            "soon",
            "1",
            "99999999999999999999y",
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Err(RequestError::Invalid {
                        name: "Duration",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        let empty = Params::parse("", None, b"").unwrap();
        assert!(matches!(
            AdvanceClockRequest::from_params(&empty),
            Err(RequestError::Missing("Duration"))
        ));
    }
}
