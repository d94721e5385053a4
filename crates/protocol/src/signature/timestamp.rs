//! The `YYYY-MM-DDTHH:MM:SSZ` timestamps of `x-acs-date` and `Timestamp` (wire-protocol.md
//! §2.11, §3 step 7), converted without a date library: the format is fixed, UTC only, and the
//! conversion is a few lines of civil-calendar arithmetic.

use bpops_time::Timestamp;

use crate::calendar::{civil_from_days, parse_date_time};

const SECONDS_PER_DAY: i64 = 86_400;

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC, exactly that shape: no fraction, no offset, upper-case
/// `T` and `Z`) into an instant on a whole second; `None` when malformed or not a real date
/// and time.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 20 || b[19] != b'Z' {
        return None;
    }
    parse_date_time(&b[..19]).map(Timestamp::from_secs)
}

/// Formats an instant as `YYYY-MM-DDTHH:MM:SSZ`, rounded down to the second. Only years 0000
/// to 9999 give a string [`parse_timestamp`] reads back.
pub fn format_timestamp(at: Timestamp) -> String {
    let unix_secs = at.as_secs();
    let (days, secs) = (
        unix_secs.div_euclid(SECONDS_PER_DAY),
        unix_secs.rem_euclid(SECONDS_PER_DAY),
    );
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Values checked with `date -u -d <timestamp> +%s`.
    const KNOWN: [(&str, i64); 6] = [
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1),
        ("2000-02-29T23:59:59Z", 951_868_799),
        ("2024-05-06T07:08:09Z", 1_714_979_289),
        ("9999-12-31T23:59:59Z", 253_402_300_799),
        ("0000-01-01T00:00:00Z", -62_167_219_200),
    ];

    #[test]
    fn parses_and_formats_known_instants() {
        for (text, secs) in KNOWN {
            let at = Timestamp::from_secs(secs);
            assert_eq!(parse_timestamp(text), Some(at), "{text}");
            assert_eq!(format_timestamp(at), text, "{secs}");
        }
    }

    #[test]
    fn formats_an_instant_rounded_down_to_the_second() {
        let at = Timestamp::from_secs(1_714_979_289);
        assert_eq!(
            format_timestamp(at + Duration::from_millis(999)),
            "2024-05-06T07:08:09Z"
        );
        assert_eq!(
            format_timestamp(at - Duration::from_millis(1)),
            "2024-05-06T07:08:08Z"
        );
    }

    #[test]
    fn round_trips_every_day_across_leap_years() {
        let start = parse_timestamp("1899-12-31T12:34:56Z").unwrap();
        for day in 0..(365 * 210) {
            let at = start + Duration::from_secs(day * 86_400 + day % 86_399);
            let text = format_timestamp(at);
            assert_eq!(parse_timestamp(&text), Some(at), "{text}");
        }
    }

    #[test]
    fn refuses_malformed_timestamps() {
        for text in [
            "",
            "2024-05-06T07:08:09",
            "2024-05-06T07:08:09.000Z",
            "2024-05-06T07:08:09+00:00",
            "2024-05-06 07:08:09Z",
            "2024-05-06t07:08:09z",
            "2024-5-06T07:08:09Z ",
            "+024-05-06T07:08:09Z",
            "2024-05-06T07:08:0aZ",
            "2024-13-06T07:08:09Z",
            "2024-00-06T07:08:09Z",
            "2024-05-00T07:08:09Z",
            "2024-04-31T07:08:09Z",
            "2023-02-29T07:08:09Z",
            "1900-02-29T07:08:09Z",
            "2024-05-06T24:00:00Z",
            "2024-05-06T07:60:09Z",
            "2024-05-06T07:08:60Z",
            "２０２４-05-06T07:08:09Z",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text:?}");
        }
        assert!(parse_timestamp("2024-02-29T07:08:09Z").is_some());
        assert!(parse_timestamp("2000-02-29T07:08:09Z").is_some());
    }
}
