//! A small JSON Schema subset: enough to describe and enforce operation attributes.
//!
//! Supported keywords: `type` (one of `string`, `integer`, `number`, `boolean`, `object`,
//! `array`), `enum`, `minimum`, `maximum`, `minLength`, `maxLength` (counted in characters),
//! `pattern` (a regular expression searched for anywhere in a string, as JSON Schema says; anchor
//! it with `^…$` to match the whole value), `properties`, `required`, `additionalProperties` (`true`, `false` or a schema applied to
//! every extra key), `minProperties`, `maxProperties`, `items`, and the annotations `title`,
//! `description` and `default`. Any other keyword is refused at parse time, because ignoring
//! it would silently accept values its author meant to refuse. The same reasoning makes parse
//! refuse a keyword that cannot apply to the declared `type` (`minimum` on a string) and a
//! `default` that breaks its own schema.
//!
//! Values are strict, since the SDKs send real JSON: a boolean is `true`/`false`, never
//! `"true"` or `1`. The one leniency is that an `integer` may be written as a number with a
//! zero fraction (`80.0`), which some JSON encoders produce for whole floats.
//!
//! `pattern` uses the `regex-lite` syntax (Perl-style classes, no look-around or
//! back-references), which covers what attribute patterns need and guarantees matching in
//! time linear in the input, so a caller's value cannot make a pattern run for long.
//!
//! This module validates; turning a document into a [`Schema`] (and refusing what the subset
//! cannot enforce) is in `parse`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use crate::error::{InvalidAttribute, SchemaError};

mod parse;
mod pattern;

use pattern::Pattern;

/// The field an error names when the value as a whole is wrong: the API parameter that
/// carries the attributes.
const ROOT_FIELD: &str = "Attributes";

/// A parsed schema, ready to validate values.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    kind: Option<Kind>,
    allowed: Option<Vec<Value>>,
    minimum: Option<Number>,
    maximum: Option<Number>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<Pattern>,
    properties: BTreeMap<String, Schema>,
    required: Vec<String>,
    additional: Additional,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    items: Option<Box<Schema>>,
}

/// The JSON types a schema can demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "number" => Kind::Number,
            "boolean" => Kind::Boolean,
            "object" => Kind::Object,
            "array" => Kind::Array,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Object => "object",
            Kind::Array => "array",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            Kind::String => value.is_string(),
            Kind::Integer => value.as_number().is_some_and(is_integral),
            Kind::Number => value.is_number(),
            Kind::Boolean => value.is_boolean(),
            Kind::Object => value.is_object(),
            Kind::Array => value.is_array(),
        }
    }
}

/// What `additionalProperties` says about keys not listed in `properties`.
#[derive(Debug, Clone, PartialEq)]
enum Additional {
    Allowed,
    Forbidden,
    Checked(Box<Schema>),
}

impl Schema {
    /// Parses a schema document, refusing keywords outside the supported subset.
    pub fn parse(document: &Value) -> Result<Schema, SchemaError> {
        parse::parse_at(document, "#")
    }

    /// Checks `value` against the schema. The error names the offending field by dotted
    /// path (`tags.env`, `list[2]`), or `Attributes` when the value as a whole is wrong.
    pub fn validate(&self, value: &Value) -> Result<(), InvalidAttribute> {
        self.check(value, "")
    }

    /// Like [`Schema::validate`] for a value already known to be an object; saves the caller
    /// wrapping the map in a `Value`.
    pub fn validate_object(&self, object: &Map<String, Value>) -> Result<(), InvalidAttribute> {
        if let Some(kind) = self.kind
            && kind != Kind::Object
        {
            return Err(InvalidAttribute::new(
                ROOT_FIELD,
                format!("must be {}", article(kind)),
            ));
        }
        self.check_object(object, "")
    }

    fn check(&self, value: &Value, path: &str) -> Result<(), InvalidAttribute> {
        let fail = |reason: String| Err(InvalidAttribute::new(field_name(path), reason));
        if let Some(kind) = self.kind
            && !kind.matches(value)
        {
            return fail(format!("must be {}", article(kind)));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.iter().any(|candidate| same_value(candidate, value))
        {
            return fail(format!("must be one of {}", list_values(allowed)));
        }
        match value {
            Value::Number(number) => {
                if let Some(minimum) = &self.minimum
                    && compare(number, minimum) == Ordering::Less
                {
                    return fail(format!("must be at least {minimum}"));
                }
                if let Some(maximum) = &self.maximum
                    && compare(number, maximum) == Ordering::Greater
                {
                    return fail(format!("must be at most {maximum}"));
                }
            }
            Value::String(text) => {
                let length = text.chars().count() as u64;
                if let Some(min) = self.min_length
                    && length < min
                {
                    return fail(format!(
                        "must be at least {min} {}",
                        plural(min, "character")
                    ));
                }
                if let Some(max) = self.max_length
                    && length > max
                {
                    return fail(format!(
                        "must be at most {max} {}",
                        plural(max, "character")
                    ));
                }
                if let Some(pattern) = &self.pattern
                    && !pattern.is_match(text)
                {
                    return fail(format!("must match the pattern \"{}\"", pattern.source()));
                }
            }
            Value::Object(object) => self.check_object(object, path)?,
            Value::Array(elements) => {
                if let Some(items) = &self.items {
                    for (index, element) in elements.iter().enumerate() {
                        items.check(element, &format!("{}[{index}]", field_name(path)))?;
                    }
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
        Ok(())
    }

    fn check_object(
        &self,
        object: &Map<String, Value>,
        path: &str,
    ) -> Result<(), InvalidAttribute> {
        // N.B. unknown names are reported before missing ones: a misspelt required name
        // ("instanceID") is then reported as the typo it is.
        if self.additional == Additional::Forbidden
            && let Some(unknown) = object
                .keys()
                .find(|key| !self.properties.contains_key(*key))
        {
            let known: Vec<&str> = self.properties.keys().map(String::as_str).collect();
            return Err(InvalidAttribute::new(
                join(path, unknown),
                format!(
                    "is not a known attribute (expected one of: {})",
                    known.join(", ")
                ),
            ));
        }
        if let Some(missing) = self
            .required
            .iter()
            .find(|name| !object.contains_key(*name))
        {
            return Err(InvalidAttribute::new(join(path, missing), "is required"));
        }
        let count = object.len() as u64;
        if let Some(min) = self.min_properties
            && count < min
        {
            return Err(InvalidAttribute::new(
                field_name(path),
                format!("must have at least {min} {}", plural(min, "entry")),
            ));
        }
        if let Some(max) = self.max_properties
            && count > max
        {
            return Err(InvalidAttribute::new(
                field_name(path),
                format!("must have at most {max} {}", plural(max, "entry")),
            ));
        }
        for (key, value) in object {
            let child = join(path, key);
            let schema = match (self.properties.get(key), &self.additional) {
                (Some(schema), _) => schema,
                (None, Additional::Checked(schema)) => schema.as_ref(),
                (None, Additional::Allowed | Additional::Forbidden) => continue,
            };
            schema.check(value, &child)?;
        }
        Ok(())
    }
}

/// Whether a JSON number is a whole number: an integer, or a float with zero fraction.
pub(crate) fn is_integral(number: &Number) -> bool {
    number.is_i64()
        || number.is_u64()
        || number
            .as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// Compares two JSON numbers exactly when both are whole, by `f64` otherwise.
fn compare(a: &Number, b: &Number) -> Ordering {
    match (as_whole(a), as_whole(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
    }
}

fn as_whole(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

/// Equality for `enum`, where `80` and `80.0` are the same number.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => compare(a, b) == Ordering::Equal,
        _ => a == b,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn field_name(path: &str) -> String {
    if path.is_empty() {
        ROOT_FIELD.to_string()
    } else {
        path.to_string()
    }
}

fn article(kind: Kind) -> String {
    match kind {
        Kind::Integer | Kind::Object | Kind::Array => format!("an {}", kind.name()),
        _ => format!("a {}", kind.name()),
    }
}

fn plural(n: u64, noun: &str) -> String {
    match (n, noun) {
        (1, _) => noun.to_string(),
        (_, "entry") => "entries".to_string(),
        _ => format!("{noun}s"),
    }
}

fn list_values(values: &[Value]) -> String {
    let shown: Vec<String> = values.iter().map(Value::to_string).collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(document: Value) -> Schema {
        Schema::parse(&document).expect("test schema parses")
    }

    fn error(schema: &Schema, value: Value) -> InvalidAttribute {
        schema
            .validate(&value)
            .expect_err("value should be refused")
    }

    #[test]
    fn string_type_refuses_other_types() {
        let s = schema(json!({"type": "string"}));
        assert!(s.validate(&json!("x")).is_ok());
        assert_eq!(error(&s, json!(1)).reason, "must be a string");
    }

    #[test]
    fn integer_accepts_whole_numbers_including_zero_fraction_floats() {
        let s = schema(json!({"type": "integer"}));
        assert!(s.validate(&json!(3)).is_ok());
        assert!(s.validate(&json!(-3)).is_ok());
        assert!(s.validate(&json!(u64::MAX)).is_ok());
        assert!(s.validate(&json!(3.0)).is_ok());
        assert_eq!(error(&s, json!(3.5)).reason, "must be an integer");
        assert_eq!(error(&s, json!("3")).reason, "must be an integer");
    }

    #[test]
    fn number_accepts_any_json_number() {
        let s = schema(json!({"type": "number"}));
        assert!(s.validate(&json!(3)).is_ok());
        assert!(s.validate(&json!(3.5)).is_ok());
        assert_eq!(error(&s, json!("3.5")).reason, "must be a number");
    }

    #[test]
    fn boolean_accepts_only_json_true_and_false() {
        let s = schema(json!({"type": "boolean"}));
        assert!(s.validate(&json!(true)).is_ok());
        assert!(s.validate(&json!(false)).is_ok());
        assert_eq!(error(&s, json!("true")).reason, "must be a boolean");
        assert_eq!(error(&s, json!(1)).reason, "must be a boolean");
    }

    #[test]
    fn object_and_array_types_are_checked() {
        let object = schema(json!({"type": "object"}));
        assert!(object.validate(&json!({})).is_ok());
        assert_eq!(error(&object, json!([])).reason, "must be an object");
        let array = schema(json!({"type": "array"}));
        assert!(array.validate(&json!([1, "a"])).is_ok());
        assert_eq!(error(&array, json!({})).reason, "must be an array");
    }

    #[test]
    fn value_as_a_whole_is_named_attributes() {
        let s = schema(json!({"type": "object"}));
        assert_eq!(error(&s, json!("x")).field, "Attributes");
    }

    #[test]
    fn enum_lists_the_allowed_values() {
        let s = schema(json!({"type": "string", "enum": ["PrePaid", "PostPaid"]}));
        assert!(s.validate(&json!("PrePaid")).is_ok());
        assert_eq!(
            error(&s, json!("Free")).reason,
            "must be one of \"PrePaid\", \"PostPaid\""
        );
    }

    #[test]
    fn enum_compares_numbers_by_value() {
        let s = schema(json!({"type": "integer", "enum": [80, 443]}));
        assert!(s.validate(&json!(80.0)).is_ok());
        assert!(s.validate(&json!(81)).is_err());
    }

    #[test]
    fn minimum_and_maximum_are_inclusive() {
        let s = schema(json!({"type": "integer", "minimum": 1, "maximum": 65535}));
        assert!(s.validate(&json!(1)).is_ok());
        assert!(s.validate(&json!(65535)).is_ok());
        assert_eq!(error(&s, json!(0)).reason, "must be at least 1");
        assert_eq!(error(&s, json!(65536)).reason, "must be at most 65535");
        assert_eq!(error(&s, json!(0.0)).reason, "must be at least 1");
    }

    #[test]
    fn bounds_compare_large_integers_exactly() {
        let s = schema(json!({"type": "integer", "maximum": 9_007_199_254_740_993_u64}));
        assert!(s.validate(&json!(9_007_199_254_740_993_u64)).is_ok());
        assert!(s.validate(&json!(9_007_199_254_740_994_u64)).is_err());
        let negative = schema(json!({"type": "integer", "minimum": -1}));
        assert!(negative.validate(&json!(u64::MAX)).is_ok());
        assert!(negative.validate(&json!(-2)).is_err());
    }

    #[test]
    fn string_lengths_count_characters_not_bytes() {
        let s = schema(json!({"type": "string", "minLength": 2, "maxLength": 3}));
        assert!(s.validate(&json!("日本語")).is_ok());
        assert_eq!(
            error(&s, json!("日")).reason,
            "must be at least 2 characters"
        );
        assert_eq!(
            error(&s, json!("abcd")).reason,
            "must be at most 3 characters"
        );
    }

    #[test]
    fn property_counts_are_bounded() {
        let s = schema(json!({
            "type": "object", "minProperties": 1, "maxProperties": 2,
            "additionalProperties": {"type": "string"}
        }));
        assert!(s.validate(&json!({"a": "1"})).is_ok());
        assert_eq!(error(&s, json!({})).reason, "must have at least 1 entry");
        assert_eq!(
            error(&s, json!({"a": "1", "b": "2", "c": "3"})).reason,
            "must have at most 2 entries"
        );
    }

    #[test]
    fn missing_required_property_is_named() {
        let s = schema(json!({
            "type": "object",
            "properties": {"instanceId": {"type": "string"}},
            "required": ["instanceId"]
        }));
        let err = error(&s, json!({}));
        assert_eq!(
            (err.field.as_str(), err.reason.as_str()),
            ("instanceId", "is required")
        );
    }

    #[test]
    fn unknown_property_is_named_when_additional_properties_is_false() {
        let s = schema(json!({
            "type": "object",
            "properties": {"instanceId": {"type": "string"}},
            "required": ["instanceId"],
            "additionalProperties": false
        }));
        // The typo is reported, not the missing name it stands for.
        let err = error(&s, json!({"instanceID": "i-1"}));
        assert_eq!(err.field, "instanceID");
        assert!(err.reason.starts_with("is not a known attribute"), "{err}");
        assert!(err.reason.contains("instanceId"), "{err}");
    }

    #[test]
    fn extra_properties_are_allowed_without_additional_properties() {
        let s = schema(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
        assert!(s.validate(&json!({"a": "x", "b": 1})).is_ok());
    }

    #[test]
    fn additional_properties_schema_applies_to_every_extra_key() {
        let s = schema(json!({
            "type": "object",
            "properties": {"tags": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 3}
            }}
        }));
        assert!(
            s.validate(&json!({"tags": {"env": "dev", "team": ""}}))
                .is_ok()
        );
        let err = error(&s, json!({"tags": {"env": "prod"}}));
        assert_eq!(err.field, "tags.env");
        assert_eq!(err.reason, "must be at most 3 characters");
        assert_eq!(error(&s, json!({"tags": {"n": 1}})).field, "tags.n");
    }

    #[test]
    fn nested_errors_name_the_dotted_path() {
        let s = schema(json!({
            "type": "object",
            "properties": {"a": {
                "type": "object",
                "properties": {"b": {"type": "object", "properties": {"c": {"type": "integer"}}}}
            }}
        }));
        let err = error(&s, json!({"a": {"b": {"c": "x"}}}));
        assert_eq!(err.to_string(), "a.b.c: must be an integer");
    }

    #[test]
    fn items_schema_applies_to_each_element_by_index() {
        let s = schema(json!({
            "type": "object",
            "properties": {"ids": {"type": "array", "items": {"type": "string"}}}
        }));
        assert!(s.validate(&json!({"ids": ["a", "b"]})).is_ok());
        assert_eq!(error(&s, json!({"ids": ["a", 2]})).field, "ids[1]");
    }

    #[test]
    fn keywords_without_a_type_apply_only_to_matching_values() {
        let s = schema(json!({"minLength": 2, "minimum": 5}));
        assert!(s.validate(&json!(true)).is_ok());
        assert!(s.validate(&json!("a")).is_err());
        assert!(s.validate(&json!(4)).is_err());
    }

    #[test]
    fn validate_object_matches_validate_on_the_wrapped_map() {
        let s = schema(json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": false
        }));
        let bad = json!({"b": 1});
        assert_eq!(
            s.validate_object(bad.as_object().unwrap()).unwrap_err(),
            s.validate(&bad).unwrap_err()
        );
        let array = schema(json!({"type": "array"}));
        assert_eq!(
            array.validate_object(&Map::new()).unwrap_err().field,
            "Attributes"
        );
    }
}
