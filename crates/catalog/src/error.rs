//! The catalog's error types, one per question a caller asks.
//!
//! - [`LookupError`]: "is there such an operation?" (`Catalog::entry`). The API maps it to
//!   `InvalidServiceType.NotFound` / `InvalidOperation.NotFound`.
//! - [`InvalidAttribute`]: "are these attributes acceptable?" (`Entry::validate`,
//!   `Schema::validate`). The API maps it to `InvalidParameter`, naming the field.
//! - [`SchemaError`]: "is this schema one we can enforce?" (`Schema::parse`). Only the
//!   configuration loader meets it, when an operator declares an operation.
//! - [`DeclaredError`]: "can this declared operation join the catalog?"
//!   (`Catalog::with_declared`). The configuration loader reports it and refuses to start.
//!
//! Run-time problems (missing resource, wrong state) are not errors here: they are part of an
//! operation's [`Decision`](crate::Decision), because they end the operation as `FAILURE`.
//!
//! There is no crate-wide `Result` alias: the four types answer different questions and no
//! function returns more than one of them.

use thiserror::Error;

/// A `(service, operation)` pair the catalog does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LookupError {
    /// No operation of this service type exists (the service name is carried).
    #[error("unknown service type \"{0}\"")]
    UnknownService(String),
    /// The service exists but has no operation of this name.
    #[error("unknown operation \"{operation}\" for service type \"{service}\"")]
    UnknownOperation {
        /// The service type, which exists.
        service: String,
        /// The operation name that was not found.
        operation: String,
    },
}

/// One attribute that breaks an operation's schema or rules.
///
/// `field` is the attribute name, a dotted path for nested values (`tags.aliyun:x`), or
/// `Attributes` when the problem is the value as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct InvalidAttribute {
    /// Where the problem is: an attribute name or dotted path.
    pub field: String,
    /// What is wrong, as a sentence fragment that reads after the field name.
    pub reason: String,
}

impl InvalidAttribute {
    /// An error about `field`, for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        InvalidAttribute {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A schema document this validator cannot enforce.
///
/// `path` is a JSON-pointer-like location inside the schema (`#/properties/tags`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    /// A keyword outside the supported subset; silently ignoring it would accept values the
    /// author meant to refuse.
    #[error("{path}: unsupported keyword \"{keyword}\" (supported: {supported})")]
    UnsupportedKeyword {
        /// Where the keyword appears.
        path: String,
        /// The keyword as written.
        keyword: String,
        /// The supported keywords, comma-separated, to help the author fix it.
        supported: String,
    },
    /// A keyword's value is malformed, does not apply to the declared type, or contradicts
    /// another keyword.
    #[error("{path}: {reason}")]
    Invalid {
        /// Where the problem is.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A declared operation (`[[operations.declared]]`) that cannot join the catalog.
///
/// Displays as `operations.declared[2] (deploy/rollout): retry.backoff: invalid duration …`:
/// which table, which entry, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("operations.declared[{index}] ({name}): {field}: {problem}")]
pub struct DeclaredError {
    /// The entry's position among the declared tables, from 0.
    pub index: usize,
    /// The entry's `service/operation`, as declared.
    pub name: String,
    /// The field at fault, dotted for nested tables (`retry.on`, `executor.argv`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_attribute_displays_field_then_reason() {
        let error = InvalidAttribute::new("tags.aliyun:x", "must not start with \"aliyun\"");
        assert_eq!(
            error.to_string(),
            "tags.aliyun:x: must not start with \"aliyun\""
        );
    }

    #[test]
    fn lookup_errors_name_what_was_missing() {
        assert_eq!(
            LookupError::UnknownService("rds".into()).to_string(),
            "unknown service type \"rds\""
        );
        let error = LookupError::UnknownOperation {
            service: "ecs".into(),
            operation: "reboot".into(),
        };
        assert_eq!(
            error.to_string(),
            "unknown operation \"reboot\" for service type \"ecs\""
        );
    }
}
