//! What of a request's parameters the trail keeps: secrets removed, every value bounded, the
//! whole bounded.
//!
//! The redaction rule (README, "Audit trail"): a parameter, or a key anywhere inside a
//! parameter that holds JSON (`Attributes`, `Variables`, …), is secret when its name,
//! lower-cased without `_` and `-`, contains `password`, `passwd`, `secret`, `signature`,
//! `token`, `credential` or `privatekey`; `ClientToken` and `NextToken` are not secrets
//! (they identify, they do not authorize). A secret's value is replaced by [`REDACTED`], so
//! the record still shows that it was sent. Headers are never recorded, so neither is the
//! ACS3 `Authorization` header nor a security-token header.

use std::borrow::Cow;

use bpops_protocol::Params;
use serde_json::Value;

/// What a secret's value becomes.
pub(crate) const REDACTED: &str = "******";

/// The longest value kept, in characters; longer ones are cut and marked.
const MAX_VALUE_CHARS: usize = 256;

/// The longest JSON value kept (after redaction), in characters.
const MAX_JSON_CHARS: usize = 1024;

/// The most bytes the parameters take in a record; the parameters past it are left out and
/// counted.
const MAX_PARAMETERS_BYTES: usize = 4096;

/// Name fragments that mark a secret.
const SECRET_MARKS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "signature",
    "token",
    "credential",
    "privatekey",
];

/// Names with a secret's mark that are not secrets.
const NOT_SECRETS: [&str; 2] = ["clienttoken", "nexttoken"];

/// The parameters as the trail keeps them: a JSON object of at most
/// [`MAX_PARAMETERS_BYTES`] (plus the marker of what was left out).
///
/// N.B. written straight to JSON text, on the request path of every request: only a value
/// that holds JSON is parsed (to redact inside it).
pub(crate) fn parameters(params: &Params) -> String {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    let mut entry = Vec::new();
    let mut left_out = 0;
    for (name, value) in params.iter() {
        entry.clear();
        let name = cut(name, MAX_VALUE_CHARS);
        push_str(&mut entry, &name);
        entry.push(b':');
        if is_secret(&name) {
            push_str(&mut entry, REDACTED);
        } else {
            push_value(&mut entry, value);
        }
        // One byte for the comma, one for the closing brace.
        if out.len() + entry.len() + 2 > MAX_PARAMETERS_BYTES {
            left_out += 1;
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(&entry);
    }
    if left_out > 0 {
        if out.len() > 1 {
            out.push(b',');
        }
        push_str(&mut out, "…");
        out.push(b':');
        push_str(&mut out, &format!("{left_out} more parameters left out"));
    }
    out.push(b'}');
    String::from_utf8(out).expect("JSON written from strings is UTF-8")
}

/// Whether a parameter or JSON key of this name holds a secret.
pub(crate) fn is_secret(name: &str) -> bool {
    // N.B. without allocating for the usual short ASCII name; any other is folded by Unicode
    // rules (a non-ASCII letter may lower-case to an ASCII one).
    let mut folded = [0u8; 64];
    let mut len = 0;
    for byte in name.bytes() {
        if byte == b'_' || byte == b'-' {
            continue;
        }
        if len == folded.len() || !byte.is_ascii() {
            return is_secret_folded(&fold(name));
        }
        folded[len] = byte.to_ascii_lowercase();
        len += 1;
    }
    let folded = &folded[..len];
    // N.B. a plain scan: names are short, and a searcher's set-up would cost more.
    let contains = |mark: &str| {
        let mark = mark.as_bytes();
        (0..folded.len().saturating_sub(mark.len() - 1))
            .any(|i| folded[i] == mark[0] && folded[i..].starts_with(mark))
    };
    !NOT_SECRETS.iter().any(|n| folded == n.as_bytes()) && SECRET_MARKS.iter().any(|m| contains(m))
}

/// `name` lower-cased without `_` and `-`.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_secret_folded(folded: &str) -> bool {
    !NOT_SECRETS.contains(&folded) && SECRET_MARKS.iter().any(|m| folded.contains(m))
}

/// `text` cut to `max` characters, marked with `…` when cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    cut(text, max).into_owned()
}

/// `text` cut to `max` characters, marked with `…` when cut; borrowed when not.
fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// `text` as a JSON string.
fn push_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("writing to memory never fails");
}

/// A parameter's value: a JSON object or array redacted inside (then cut, as a string, when
/// still too long), anything else as a bounded string.
fn push_value(out: &mut Vec<u8>, text: &str) {
    let looks_like_json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if looks_like_json && let Ok(mut json) = serde_json::from_str::<Value>(text) {
        // Written again only when something was redacted: otherwise the text is valid JSON
        // as it came.
        let written = if redact(&mut json) {
            Cow::Owned(serde_json::to_string(&json).expect("a JSON value serializes"))
        } else {
            Cow::Borrowed(text)
        };
        if written.len() <= MAX_JSON_CHARS || written.chars().count() <= MAX_JSON_CHARS {
            out.extend_from_slice(written.as_bytes());
        } else {
            push_str(out, &cut(&written, MAX_JSON_CHARS));
        }
        return;
    }
    push_str(out, &cut(text, MAX_VALUE_CHARS));
}

/// Replaces the value of every secret key, at any depth; tells whether there was one.
fn redact(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut redacted = false;
            for (key, inner) in map.iter_mut() {
                if is_secret(key) {
                    *inner = Value::from(REDACTED);
                    redacted = true;
                } else {
                    redacted |= redact(inner);
                }
            }
            redacted
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, item| redact(item) | any),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kept(pairs: &[(&str, &str)]) -> Value {
        let body = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    bpops_protocol::percent_encode(k),
                    bpops_protocol::percent_encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let params = Params::parse(
            "",
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        )
        .unwrap();
        serde_json::from_str(&parameters(&params)).unwrap()
    }

    #[test]
    fn secrets_are_replaced_wherever_they_are() {
        let value = kept(&[
            ("Signature", "c2lnbmF0dXJl"),
            ("SecurityToken", "sts-token"),
            ("ClientToken", "ct-1"),
            ("Action", "ExecuteOperationASync"),
            (
                "Attributes",
                r#"{"instanceId":"i-1","password":"hunter2","nested":[{"db_Pass-Word":"x","Access_Key_Secret":"y","apiToken":"z"}]}"#,
            ),
        ]);
        assert_eq!(
            value,
            json!({
                "Signature": REDACTED,
                "SecurityToken": REDACTED,
                "ClientToken": "ct-1",
                "Action": "ExecuteOperationASync",
                "Attributes": {"instanceId": "i-1", "password": REDACTED,
                    "nested": [{"db_Pass-Word": REDACTED, "Access_Key_Secret": REDACTED, "apiToken": REDACTED}]},
            })
        );
        let text = value.to_string();
        for secret in ["c2lnbmF0dXJl", "sts-token", "hunter2"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn values_and_the_whole_are_bounded() {
        let long = "x".repeat(10_000);
        let value = kept(&[("Name", &long)]);
        let name = value["Name"].as_str().unwrap();
        assert_eq!(name.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(name.ends_with('…'));

        let json_text = format!(r#"{{"a":"{long}"}}"#);
        let value = kept(&[("Attributes", &json_text)]);
        assert_eq!(
            value["Attributes"].as_str().unwrap().chars().count(),
            MAX_JSON_CHARS + 1
        );

        let many: Vec<(String, String)> = (0..100)
            .map(|i| (format!("P{i:03}"), "v".repeat(200)))
            .collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let value = kept(&pairs);
        assert!(value.to_string().len() <= MAX_PARAMETERS_BYTES + 64);
        assert!(
            value["…"]
                .as_str()
                .unwrap()
                .ends_with("more parameters left out"),
            "{value}"
        );
    }

    #[test]
    fn identifying_tokens_are_not_secrets() {
        for name in ["ClientToken", "NextToken", "AccessKeyId", "OperationId"] {
            assert!(!is_secret(name), "{name}");
        }
        for name in [
            "Password",
            "BearerToken",
            "x-acs-security-token",
            "PrivateKey",
        ] {
            assert!(is_secret(name), "{name}");
        }
    }
}
