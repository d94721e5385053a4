//! Parsing a schema document into a [`Schema`], refusing anything this subset would not
//! enforce: unknown keywords, keywords that cannot apply to the declared type, contradictory
//! bounds and defaults that break their own schema.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::{Additional, Kind, Pattern, Schema, compare};
use crate::error::SchemaError;

const KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "properties",
    "required",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "items",
    "title",
    "description",
    "default",
];

pub(super) fn parse_at(document: &Value, path: &str) -> Result<Schema, SchemaError> {
    let invalid = |reason: String| SchemaError::Invalid {
        path: path.to_string(),
        reason,
    };
    let Value::Object(keywords) = document else {
        return Err(invalid("a schema must be a JSON object".to_string()));
    };
    if let Some(keyword) = keywords.keys().find(|k| !KEYWORDS.contains(&k.as_str())) {
        return Err(SchemaError::UnsupportedKeyword {
            path: path.to_string(),
            keyword: keyword.clone(),
            supported: KEYWORDS.join(", "),
        });
    }

    let kind = match keywords.get("type") {
        None => None,
        Some(Value::String(name)) => Some(Kind::parse(name).ok_or_else(|| {
            invalid(format!(
                "\"type\" must be one of string, integer, number, boolean, object, array, not \"{name}\""
            ))
        })?),
        Some(_) => {
            return Err(invalid(
                "\"type\" must be a single type name (type lists are not supported)".to_string(),
            ));
        }
    };
    let applies = |keyword: &str, kinds: &[Kind]| -> Result<bool, SchemaError> {
        if !keywords.contains_key(keyword) {
            return Ok(false);
        }
        match kind {
            Some(kind) if !kinds.contains(&kind) => Err(invalid(format!(
                "\"{keyword}\" does not apply to type {}",
                kind.name()
            ))),
            _ => Ok(true),
        }
    };

    let numeric = [Kind::Integer, Kind::Number];
    let number = |keyword: &str| -> Result<Option<Number>, SchemaError> {
        if !applies(keyword, &numeric)? {
            return Ok(None);
        }
        match &keywords[keyword] {
            Value::Number(n) => Ok(Some(n.clone())),
            _ => Err(invalid(format!("\"{keyword}\" must be a number"))),
        }
    };
    let count = |keyword: &str, kinds: &[Kind]| -> Result<Option<u64>, SchemaError> {
        if !applies(keyword, kinds)? {
            return Ok(None);
        }
        keywords[keyword]
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("\"{keyword}\" must be a non-negative integer")))
    };

    let allowed = match keywords.get("enum") {
        None => None,
        Some(Value::Array(values)) if !values.is_empty() => Some(values.clone()),
        Some(_) => return Err(invalid("\"enum\" must be a non-empty array".to_string())),
    };
    let minimum = number("minimum")?;
    let maximum = number("maximum")?;
    let min_length = count("minLength", &[Kind::String])?;
    let max_length = count("maxLength", &[Kind::String])?;
    let pattern = if applies("pattern", &[Kind::String])? {
        let Value::String(source) = &keywords["pattern"] else {
            return Err(invalid("\"pattern\" must be a string".to_string()));
        };
        Some(Pattern::compile(source).map_err(|error| {
            invalid(format!(
                "\"pattern\" \"{source}\" is not a valid regular expression: {error}"
            ))
        })?)
    } else {
        None
    };
    let min_properties = count("minProperties", &[Kind::Object])?;
    let max_properties = count("maxProperties", &[Kind::Object])?;

    let mut properties = BTreeMap::new();
    if applies("properties", &[Kind::Object])? {
        let Value::Object(declared) = &keywords["properties"] else {
            return Err(invalid("\"properties\" must be an object".to_string()));
        };
        for (name, schema) in declared {
            let child = parse_at(schema, &format!("{path}/properties/{name}"))?;
            properties.insert(name.clone(), child);
        }
    }
    let additional = if applies("additionalProperties", &[Kind::Object])? {
        match &keywords["additionalProperties"] {
            Value::Bool(true) => Additional::Allowed,
            Value::Bool(false) => Additional::Forbidden,
            schema => Additional::Checked(Box::new(parse_at(
                schema,
                &format!("{path}/additionalProperties"),
            )?)),
        }
    } else {
        Additional::Allowed
    };
    let mut required = Vec::new();
    if applies("required", &[Kind::Object])? {
        let Value::Array(names) = &keywords["required"] else {
            return Err(invalid(
                "\"required\" must be an array of names".to_string(),
            ));
        };
        for name in names {
            let Value::String(name) = name else {
                return Err(invalid(
                    "\"required\" must be an array of names".to_string(),
                ));
            };
            if additional == Additional::Forbidden && !properties.contains_key(name) {
                return Err(invalid(format!(
                    "\"{name}\" is required but not in \"properties\", and additionalProperties is false"
                )));
            }
            required.push(name.clone());
        }
    }
    let items = if applies("items", &[Kind::Array])? {
        Some(Box::new(parse_at(
            &keywords["items"],
            &format!("{path}/items"),
        )?))
    } else {
        None
    };

    if let (Some(min), Some(max)) = (&minimum, &maximum)
        && compare(min, max) == Ordering::Greater
    {
        return Err(invalid(
            "\"minimum\" is greater than \"maximum\"".to_string(),
        ));
    }
    for (low, high, name) in [
        (min_length, max_length, "Length"),
        (min_properties, max_properties, "Properties"),
    ] {
        if let (Some(low), Some(high)) = (low, high)
            && low > high
        {
            return Err(invalid(format!(
                "\"min{name}\" is greater than \"max{name}\""
            )));
        }
    }

    let schema = Schema {
        kind,
        allowed,
        minimum,
        maximum,
        min_length,
        max_length,
        pattern,
        properties,
        required,
        additional,
        min_properties,
        max_properties,
        items,
    };
    if let Some(default) = keywords.get("default")
        && let Err(error) = schema.validate(default)
    {
        return Err(invalid(format!(
            "\"default\" does not satisfy the schema ({error})"
        )));
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsupported_keyword_is_refused_by_name() {
        let err = Schema::parse(&json!({"type": "string", "format": "email"})).unwrap_err();
        match &err {
            SchemaError::UnsupportedKeyword { path, keyword, .. } => {
                assert_eq!(path, "#");
                assert_eq!(keyword, "format");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("unsupported keyword \"format\""));
    }

    #[test]
    fn invalid_pattern_is_refused_with_its_location_and_source() {
        let err = Schema::parse(&json!({
            "type": "object",
            "properties": {"version": {"type": "string", "pattern": "^v[0-9+$"}}
        }))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("#/properties/version: \"pattern\" \"^v[0-9+$\" is not a valid"),
            "{text}"
        );
    }

    #[test]
    fn pattern_must_be_a_string_on_a_string_schema() {
        assert_eq!(
            Schema::parse(&json!({"type": "string", "pattern": 5}))
                .unwrap_err()
                .to_string(),
            "#: \"pattern\" must be a string"
        );
        assert_eq!(
            Schema::parse(&json!({"type": "integer", "pattern": "^1"}))
                .unwrap_err()
                .to_string(),
            "#: \"pattern\" does not apply to type integer"
        );
    }

    #[test]
    fn unsupported_keyword_in_nested_schema_names_its_location() {
        let err = Schema::parse(&json!({
            "type": "object",
            "properties": {"tags": {"type": "object", "propertyNames": {}}}
        }))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("#/properties/tags: unsupported keyword"),
            "{err}"
        );
    }

    #[test]
    fn keyword_that_cannot_apply_to_the_type_is_refused() {
        let err = Schema::parse(&json!({"type": "string", "minimum": 1})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "#: \"minimum\" does not apply to type string"
        );
    }

    #[test]
    fn unknown_type_name_and_type_lists_are_refused() {
        assert!(Schema::parse(&json!({"type": "null"})).is_err());
        assert!(Schema::parse(&json!({"type": ["string", "integer"]})).is_err());
    }

    #[test]
    fn contradictory_bounds_are_refused() {
        assert!(Schema::parse(&json!({"type": "integer", "minimum": 5, "maximum": 1})).is_err());
        assert!(Schema::parse(&json!({"type": "string", "minLength": 5, "maxLength": 1})).is_err());
        assert!(Schema::parse(&json!({"minLength": -1})).is_err());
        assert!(Schema::parse(&json!({"enum": []})).is_err());
    }

    #[test]
    fn default_must_satisfy_its_schema() {
        assert!(Schema::parse(&json!({"type": "boolean", "default": false})).is_ok());
        let err = Schema::parse(&json!({"type": "boolean", "default": "no"})).unwrap_err();
        assert!(
            err.to_string().contains("\"default\" does not satisfy"),
            "{err}"
        );
    }

    #[test]
    fn required_name_missing_from_closed_properties_is_refused() {
        let err = Schema::parse(&json!({
            "type": "object", "properties": {}, "required": ["a"], "additionalProperties": false
        }))
        .unwrap_err();
        assert!(err.to_string().contains("\"a\" is required"), "{err}");
    }
}
