//! The ISO 8601 date-times of policy conditions (`DateLessThan`, `acs:CurrentTime`), converted
//! with the calendar arithmetic that the wire's timestamps use (`bpops_protocol::calendar`).

use bpops_protocol::calendar::{civil_from_days, days_from_civil, days_in_month};

const MS_PER_DAY: i64 = 86_400_000;

/// Parses `YYYY-MM-DDThh:mm:ss[.fff…](Z|±hh:mm)` into Unix milliseconds (the shape RAM's
/// documentation uses, e.g. `2019-08-12T17:00:00+08:00`); `None` when malformed or not a real
/// date and time. A fraction beyond milliseconds is dropped.
pub(crate) fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |from: usize, to: usize| number(b.get(from..to)?);
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let kept = &fraction[..len.min(3)];
        millis = number(kept)? * 10_i64.pow(3 - kept.len() as u32);
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (hours, minutes) = (number(&[*h1, *h2])?, number(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 60 + minutes;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let local = days_from_civil(year, month, day) * MS_PER_DAY
        + (hour * 3600 + minute * 60 + second) * 1000
        + millis;
    Some(local - offset_minutes * 60_000)
}

/// Formats Unix milliseconds as `YYYY-MM-DDThh:mm:ssZ`, the string form of `acs:CurrentTime`
/// for the string operators.
pub(crate) fn format_iso8601(unix_ms: i64) -> String {
    let (days, ms) = (
        unix_ms.div_euclid(MS_PER_DAY),
        unix_ms.rem_euclid(MS_PER_DAY),
    );
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0, |acc, &digit| {
        digit
            .is_ascii_digit()
            .then(|| acc * 10 + i64::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(parse_iso8601("1969-12-31T23:30:00-00:30"), Some(0));
        assert_eq!(parse_iso8601("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_iso8601("1970-01-01T00:00:01.123456Z"), Some(1123));
        assert_eq!(
            parse_iso8601("2019-08-12T17:00:00+08:00"),
            parse_iso8601("2019-08-12T09:00:00Z")
        );
    }

    #[test]
    fn refuses_malformed_or_impossible_dates() {
        for bad in [
            "",
            "2019-08-12",
            "2019-08-12T17:00:00",
            "2019-02-30T00:00:00Z",
            "2019-08-12T24:00:00Z",
            "2019-08-12T17:00:00+8:00",
            "2019-08-12T17:00:00.Z",
            "2019-08-12 17:00:00Z",
            "+019-08-12T17:00:00Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_what_it_parses() {
        for text in ["2024-02-29T23:59:59Z", "1999-12-31T00:00:00Z"] {
            let ms = parse_iso8601(text).unwrap();
            assert_eq!(format_iso8601(ms), text);
        }
    }
}
