//! Reading attribute and property values the way the schemas accept them.
//!
//! Both readers assume the value was validated (or tolerate it not being so by returning
//! `None`); they exist so every caller reads `80.0` as the integer `80`, as the schema does.

use serde_json::{Map, Value};

/// A string attribute, if present.
pub(crate) fn text<'a>(attributes: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    attributes.get(name).and_then(Value::as_str)
}

/// A whole-number JSON value as `i64`; schemas accept `80.0` as an integer, so plain
/// `as_i64` is not enough.
pub(crate) fn as_integer(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    if let Some(n) = number.as_i64() {
        return Some(n);
    }
    let float = number.as_f64()?;
    // `i64::MAX as f64` rounds up to 2^63, which is out of range, hence `<`.
    let fits = float.fract() == 0.0 && float >= i64::MIN as f64 && float < i64::MAX as f64;
    fits.then_some(float as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_floats_read_as_integers() {
        assert_eq!(as_integer(&json!(80)), Some(80));
        assert_eq!(as_integer(&json!(80.0)), Some(80));
        assert_eq!(as_integer(&json!(-1.0)), Some(-1));
        assert_eq!(as_integer(&json!(80.5)), None);
        assert_eq!(as_integer(&json!(1e300)), None);
        assert_eq!(as_integer(&json!("80")), None);
    }

    #[test]
    fn text_reads_only_strings() {
        let attributes = json!({"a": "x", "b": 1});
        let attributes = attributes.as_object().unwrap();
        assert_eq!(text(attributes, "a"), Some("x"));
        assert_eq!(text(attributes, "b"), None);
        assert_eq!(text(attributes, "c"), None);
    }
}
