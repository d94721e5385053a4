//! The ISO 8601 date-times of policy conditions (`DateLessThan`, `acs:CurrentTime`): the
//! wire's date and time (`bpops_protocol::calendar`), with a fraction and a UTC offset.

use bpops_protocol::calendar::parse_date_time;
use bpops_time::Timestamp;

/// Parses `YYYY-MM-DDThh:mm:ss[.fff…](Z|±hh:mm)` into an instant (the shape RAM's
/// documentation uses, e.g. `2019-08-12T17:00:00+08:00`); `None` when malformed or not a real
/// date and time. A fraction beyond milliseconds is dropped.
pub(crate) fn parse_iso8601(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let seconds = parse_date_time(&b[..19])?;
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
    Some(Timestamp::from_millis(
        seconds * 1000 + millis - offset_minutes * 60_000,
    ))
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
    use bpops_protocol::signature::format_timestamp;

    use super::*;

    #[test]
    fn parses_utc_offsets_and_fractions() {
        let at = Timestamp::from_millis;
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(at(0)));
        assert_eq!(parse_iso8601("1970-01-01T08:00:00+08:00"), Some(at(0)));
        assert_eq!(parse_iso8601("1969-12-31T23:30:00-00:30"), Some(at(0)));
        assert_eq!(parse_iso8601("1970-01-01T00:00:01.5Z"), Some(at(1500)));
        assert_eq!(parse_iso8601("1970-01-01T00:00:01.123456Z"), Some(at(1123)));
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
            let at = parse_iso8601(text).unwrap();
            assert_eq!(format_timestamp(at), text);
        }
    }
}
