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

use bpops_protocol::Params;
use serde_json::{Map, Value};

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
pub(crate) fn parameters(params: &Params) -> String {
    let mut kept = Map::new();
    let mut bytes = 2;
    let mut left_out = 0;
    for (name, value) in params.iter() {
        let name = bounded(name, MAX_VALUE_CHARS);
        let value = if is_secret(&name) {
            Value::from(REDACTED)
        } else {
            value_of(value)
        };
        let size = name.len() + value.to_string().len() + 4;
        if bytes + size > MAX_PARAMETERS_BYTES {
            left_out += 1;
            continue;
        }
        bytes += size;
        kept.insert(name, value);
    }
    if left_out > 0 {
        kept.insert(
            "…".to_owned(),
            Value::from(format!("{left_out} more parameters left out")),
        );
    }
    Value::Object(kept).to_string()
}

/// Whether a parameter or JSON key of this name holds a secret.
pub(crate) fn is_secret(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    !NOT_SECRETS.contains(&folded.as_str()) && SECRET_MARKS.iter().any(|m| folded.contains(m))
}

/// `text` cut to `max` characters, marked with `…` when cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A parameter's value: a JSON object or array redacted inside (then cut as text when still
/// too long), anything else as a bounded string.
fn value_of(text: &str) -> Value {
    let looks_like_json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if looks_like_json && let Ok(mut json) = serde_json::from_str::<Value>(text) {
        redact(&mut json);
        let text = json.to_string();
        return if text.chars().count() > MAX_JSON_CHARS {
            Value::from(bounded(&text, MAX_JSON_CHARS))
        } else {
            json
        };
    }
    Value::from(bounded(text, MAX_VALUE_CHARS))
}

/// Replaces the value of every secret key, at any depth.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if is_secret(key) {
                    *inner = Value::from(REDACTED);
                } else {
                    redact(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
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
