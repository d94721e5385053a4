//! `Condition` blocks: the operators, the condition keys bpops knows, and how a condition is
//! tested against a request.
//!
//! Values are checked and converted once, when the policy is parsed (an IP range, a date, a
//! number, a boolean), so evaluation never meets a malformed value. A request-context value
//! that cannot be read as the operator's type (an IP address for `NumericLessThan`) simply
//! does not match.

use std::net::IpAddr;

use bpops_protocol::signature::format_timestamp;
use bpops_time::Timestamp;
use serde_json::Value;

use crate::evaluate::RequestContext;
use crate::glob;
use crate::time::parse_iso8601;

/// The condition keys a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// `acs:SourceIp`: the address of the TCP peer.
    SourceIp,
    /// `acs:CurrentTime`: the server's clock.
    CurrentTime,
    /// `acs:SecureTransport`: whether the request came over TLS.
    SecureTransport,
    /// `bpstudio:ServiceType` of the Execute actions.
    ServiceType,
    /// `bpstudio:Operation` of the Execute actions.
    Operation,
}

impl Key {
    /// The supported keys; names are matched case-insensitively, as RAM does.
    const ALL: [(&'static str, Key); 5] = [
        ("acs:SourceIp", Key::SourceIp),
        ("acs:CurrentTime", Key::CurrentTime),
        ("acs:SecureTransport", Key::SecureTransport),
        ("bpstudio:ServiceType", Key::ServiceType),
        ("bpstudio:Operation", Key::Operation),
    ];

    pub(crate) fn parse(name: &str) -> Option<Key> {
        Key::ALL
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, key)| *key)
    }

    pub(crate) fn names() -> String {
        Key::ALL.map(|(name, _)| name).join(", ")
    }
}

/// What an operator compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    String { ignore_case: bool },
    Like,
    Numeric,
    Date,
    Bool,
    Ip,
}

/// How a request value is compared with a policy value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition operator: a family, a comparison, and whether the result is negated (`…Not…`
/// operators hold when the request value matches none of the listed values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Operator {
    family: Family,
    cmp: Cmp,
    negated: bool,
}

const fn op(family: Family, cmp: Cmp, negated: bool) -> Operator {
    Operator {
        family,
        cmp,
        negated,
    }
}

const EXACT: Family = Family::String { ignore_case: false };
const FOLDED: Family = Family::String { ignore_case: true };

/// The supported operators (RAM's documented set); names are case-sensitive.
const OPERATORS: [(&str, Operator); 21] = [
    ("StringEquals", op(EXACT, Cmp::Eq, false)),
    ("StringNotEquals", op(EXACT, Cmp::Eq, true)),
    ("StringEqualsIgnoreCase", op(FOLDED, Cmp::Eq, false)),
    ("StringNotEqualsIgnoreCase", op(FOLDED, Cmp::Eq, true)),
    ("StringLike", op(Family::Like, Cmp::Eq, false)),
    ("StringNotLike", op(Family::Like, Cmp::Eq, true)),
    ("NumericEquals", op(Family::Numeric, Cmp::Eq, false)),
    ("NumericNotEquals", op(Family::Numeric, Cmp::Eq, true)),
    ("NumericLessThan", op(Family::Numeric, Cmp::Lt, false)),
    ("NumericLessThanEquals", op(Family::Numeric, Cmp::Le, false)),
    ("NumericGreaterThan", op(Family::Numeric, Cmp::Gt, false)),
    (
        "NumericGreaterThanEquals",
        op(Family::Numeric, Cmp::Ge, false),
    ),
    ("DateEquals", op(Family::Date, Cmp::Eq, false)),
    ("DateNotEquals", op(Family::Date, Cmp::Eq, true)),
    ("DateLessThan", op(Family::Date, Cmp::Lt, false)),
    ("DateLessThanEquals", op(Family::Date, Cmp::Le, false)),
    ("DateGreaterThan", op(Family::Date, Cmp::Gt, false)),
    ("DateGreaterThanEquals", op(Family::Date, Cmp::Ge, false)),
    ("Bool", op(Family::Bool, Cmp::Eq, false)),
    ("IpAddress", op(Family::Ip, Cmp::Eq, false)),
    ("NotIpAddress", op(Family::Ip, Cmp::Eq, true)),
];

impl Operator {
    pub(crate) fn parse(name: &str) -> Option<Operator> {
        OPERATORS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, operator)| *operator)
    }
}

/// A policy value, converted for its operator.
#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Text(String),
    Number(f64),
    Time(Timestamp),
    Bool(bool),
    /// An address and a prefix length: a CIDR range (a bare address is a full-length prefix).
    Range(IpAddr, u8),
}

/// One `"Operator": {"key": values}` entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    operator: Operator,
    key: Key,
    values: Vec<Operand>,
}

impl Condition {
    /// Builds a condition from its parts; the error says what is wrong with the values.
    pub(crate) fn new(operator: Operator, key: Key, values: &Value) -> Result<Condition, String> {
        let list: Vec<&Value> = match values {
            Value::Array(items) if items.is_empty() => {
                return Err("the list of values is empty".to_owned());
            }
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let values = list
            .into_iter()
            .map(|value| operand(operator.family, value))
            .collect::<Result<_, _>>()?;
        Ok(Condition {
            operator,
            key,
            values,
        })
    }

    /// Whether the request satisfies this condition. A key the request does not carry makes
    /// a positive operator false and a negated one true, as in AWS IAM's evaluation
    /// ("…NotEquals… returns true if the key is absent"): a Deny guarded by `StringNotEquals`
    /// still applies to requests without the key.
    pub(crate) fn holds(&self, ctx: &RequestContext<'_>) -> bool {
        let Some(actual) = self.actual(ctx) else {
            return self.operator.negated;
        };
        let any = self
            .values
            .iter()
            .any(|expected| compare(self.operator, &actual, expected));
        any != self.operator.negated
    }

    /// The request's value of the key, converted for the operator; `None` when the request
    /// does not carry the key or its value is not of the operator's type.
    fn actual(&self, ctx: &RequestContext<'_>) -> Option<Operand> {
        let family = self.operator.family;
        match (self.key, family) {
            (Key::CurrentTime, Family::Date) => Some(Operand::Time(ctx.current_time)),
            // Numeric operators see the time as Unix seconds, as AWS's aws:EpochTime.
            (Key::CurrentTime, Family::Numeric) => {
                Some(Operand::Number(ctx.current_time.as_secs() as f64))
            }
            (Key::CurrentTime, _) => operand_from_text(family, &format_timestamp(ctx.current_time)),
            (Key::SecureTransport, Family::Bool) => Some(Operand::Bool(ctx.secure_transport)),
            (Key::SecureTransport, _) => operand_from_text(
                family,
                if ctx.secure_transport {
                    "true"
                } else {
                    "false"
                },
            ),
            (Key::SourceIp, Family::Ip) => ctx.source_ip.map(|ip| Operand::Range(ip, 0)),
            (Key::SourceIp, _) => operand_from_text(family, &ctx.source_ip?.to_string()),
            (Key::ServiceType, _) => operand_from_text(family, ctx.service_type?),
            (Key::Operation, _) => operand_from_text(family, ctx.operation?),
        }
    }
}

/// Reads a request value given as text for `family`.
fn operand_from_text(family: Family, text: &str) -> Option<Operand> {
    match family {
        Family::String { .. } | Family::Like => Some(Operand::Text(text.to_owned())),
        Family::Numeric => text.trim().parse().ok().map(Operand::Number),
        Family::Date => parse_iso8601(text).map(Operand::Time),
        Family::Bool => parse_bool(text).map(Operand::Bool),
        Family::Ip => text.parse().ok().map(|ip| Operand::Range(ip, 0)),
    }
}

/// Converts a policy value for `family`; strings, numbers and booleans are all accepted
/// where they make sense (`"true"` and `true` alike), as RAM documents values as strings.
fn operand(family: Family, value: &Value) -> Result<Operand, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => {
            return Err(format!(
                "a value must be a string, a number or a boolean, not {other}"
            ));
        }
    };
    let bad = |what: &str| format!("{text:?} is not {what}");
    match family {
        Family::String { .. } | Family::Like => Ok(Operand::Text(text)),
        Family::Numeric => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Operand::Number)
            .ok_or_else(|| bad("a number")),
        Family::Date => parse_iso8601(&text)
            .map(Operand::Time)
            .ok_or_else(|| bad("a date such as 2019-08-12T17:00:00+08:00")),
        Family::Bool => parse_bool(&text)
            .map(Operand::Bool)
            .ok_or_else(|| bad("true or false")),
        Family::Ip => parse_range(&text)
            .map(|(ip, prefix)| Operand::Range(ip, prefix))
            .ok_or_else(|| bad("an IP address or a CIDR range such as 192.168.0.0/16")),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `a.b.c.d`, `a.b.c.d/n`, or the IPv6 forms; the prefix must fit the address family.
fn parse_range(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let ip: IpAddr = address.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok().filter(|p| *p <= max)?
        }
        Some(_) => return None,
    };
    Some((ip, prefix))
}

fn compare(operator: Operator, actual: &Operand, expected: &Operand) -> bool {
    use std::cmp::Ordering;
    let ordered = |ordering: Option<Ordering>| match (operator.cmp, ordering) {
        (_, None) => false,
        (Cmp::Eq, Some(o)) => o == Ordering::Equal,
        (Cmp::Lt, Some(o)) => o == Ordering::Less,
        (Cmp::Le, Some(o)) => o != Ordering::Greater,
        (Cmp::Gt, Some(o)) => o == Ordering::Greater,
        (Cmp::Ge, Some(o)) => o != Ordering::Less,
    };
    match (operator.family, actual, expected) {
        (Family::String { ignore_case }, Operand::Text(a), Operand::Text(e)) => {
            if ignore_case {
                a.to_lowercase() == e.to_lowercase()
            } else {
                a == e
            }
        }
        (Family::Like, Operand::Text(a), Operand::Text(e)) => glob::matches(e, a, false),
        (Family::Numeric, Operand::Number(a), Operand::Number(e)) => ordered(a.partial_cmp(e)),
        (Family::Date, Operand::Time(a), Operand::Time(e)) => ordered(Some(a.cmp(e))),
        (Family::Bool, Operand::Bool(a), Operand::Bool(e)) => a == e,
        (Family::Ip, Operand::Range(a, _), Operand::Range(network, prefix)) => {
            in_range(*a, *network, *prefix)
        }
        _ => false,
    }
}

fn in_range(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    // An IPv4 client reached over an IPv6 socket shows as ::ffff:a.b.c.d; compare it as IPv4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges_match_by_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_range(ip("10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(!in_range(ip("11.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_range(ip("1.2.3.4"), ip("0.0.0.0"), 0));
        assert!(in_range(ip("::ffff:10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_range(ip("2001:db8::1"), ip("2001:db8::"), 32));
        assert!(!in_range(ip("2001:db9::1"), ip("2001:db8::"), 32));
        assert!(!in_range(ip("10.1.2.3"), ip("2001:db8::"), 0));
    }

    #[test]
    fn ranges_parse_with_a_prefix_that_fits() {
        assert!(parse_range("10.0.0.0/8").is_some());
        assert!(parse_range("10.0.0.1").is_some());
        assert!(parse_range("::1/128").is_some());
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "10.0.0", "x/8"] {
            assert!(parse_range(bad).is_none(), "{bad}");
        }
    }
}
