//! The `pattern` keyword: a compiled regular expression kept with its source, so error
//! messages and schema comparisons use what the author wrote.
//!
//! `regex-lite` matches in time linear in the input and has no look-around or
//! back-references, so a caller's value cannot make a pattern run for long; it is also small
//! and quick to build, which matters more here than `regex`'s speed on large inputs.

use std::fmt;

/// A compiled `pattern`.
#[derive(Clone)]
pub(super) struct Pattern {
    source: String,
    regex: regex_lite::Regex,
}

impl Pattern {
    /// Compiles `source`; the error says why it is not a valid expression.
    pub(super) fn compile(source: &str) -> Result<Pattern, regex_lite::Error> {
        Ok(Pattern {
            source: source.to_string(),
            regex: regex_lite::Regex::new(source)?,
        })
    }

    /// The expression as written.
    pub(super) fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression matches anywhere in `text` (JSON Schema patterns are not
    /// implicitly anchored).
    pub(super) fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::error::InvalidAttribute;
    use crate::schema::Schema;

    fn parse(document: Value) -> Schema {
        Schema::parse(&document).expect("test schema parses")
    }

    fn refused(schema: &Schema, value: Value) -> InvalidAttribute {
        schema
            .validate(&value)
            .expect_err("value should be refused")
    }

    #[test]
    fn pattern_is_searched_unless_anchored() {
        let anchored = parse(json!({"type": "string", "pattern": "^v[0-9]+$"}));
        assert!(anchored.validate(&json!("v12")).is_ok());
        assert_eq!(
            refused(&anchored, json!("v12-beta")).reason,
            "must match the pattern \"^v[0-9]+$\""
        );
        let unanchored = parse(json!({"type": "string", "pattern": "[0-9]"}));
        assert!(unanchored.validate(&json!("release 7 of 9")).is_ok());
        assert!(unanchored.validate(&json!("seven")).is_err());
    }

    #[test]
    fn pattern_error_names_the_nested_field() {
        let s = parse(json!({
            "type": "object",
            "properties": {"release": {"type": "object", "properties": {
                "version": {"type": "string", "pattern": "^v[0-9]+$"}
            }}}
        }));
        let err = refused(&s, json!({"release": {"version": "1.0"}}));
        assert_eq!(
            err.to_string(),
            "release.version: must match the pattern \"^v[0-9]+$\""
        );
    }

    #[test]
    fn pattern_applies_only_to_strings_when_no_type_is_given() {
        let s = parse(json!({"pattern": "^a"}));
        assert!(s.validate(&json!(1)).is_ok());
        assert!(s.validate(&json!("abc")).is_ok());
        assert!(s.validate(&json!("cba")).is_err());
    }
}
