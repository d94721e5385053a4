//! The wire error codes and their HTTP statuses (product.md "Errors", wire-protocol.md §4.2).
//!
//! Which error type to use where: [`crate::ParamsError`] when a request's parameters cannot be
//! read, [`crate::SignatureError`] when its signature is refused, [`crate::RequestError`] when a
//! typed request cannot be built. [`ErrorCode`] is only the list of codes a client sees; the API
//! crate is the one place that maps errors to it, so this crate offers no such conversion.

use std::fmt;

/// The wire error codes: product.md "Errors", plus `RequestEntityTooLarge` for an over-long
/// body, `RequestTimeout` for one sent too slowly, the application family's, and the web console's. A code is never reused for another meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A required parameter is absent or empty.
    MissingParameter,
    /// A parameter is present but malformed or out of range.
    InvalidParameter,
    /// The action is not one bpops serves.
    InvalidActionNotFound,
    /// The version is not `2021-09-31`.
    InvalidVersion,
    /// The signature is absent, malformed, unsupported or does not cover what it must.
    IncompleteSignature,
    /// The signature does not match; the message carries the server's string to sign after a
    /// `:` (§4.2, or the classic SDK crashes).
    SignatureDoesNotMatch,
    /// The timestamp is malformed or outside the accepted clock skew.
    InvalidTimeStampExpired,
    /// The signature nonce was already used within the replay window.
    SignatureNonceUsed,
    /// No AccessKey has this id.
    InvalidAccessKeyIdNotFound,
    /// The AccessKey exists but is disabled.
    InvalidAccessKeyIdInactive,
    /// The policies do not allow the request; the body carries `AccessDeniedDetail`.
    NoPermission,
    /// The catalog has no such service type.
    InvalidServiceTypeNotFound,
    /// The service type has no such operation.
    InvalidOperationNotFound,
    /// The application does not exist in the caller's account.
    InvalidApplicationIdNotFound,
    /// The operation does not exist in the caller's account, or has expired
    /// (CancelExecuteOperation).
    InvalidOperationIdNotFound,
    /// A `ClientToken` was reused with different parameters.
    IdempotentParameterMismatch,
    /// The operation is already final and cannot be cancelled.
    IncorrectOperationStatus,
    /// The template does not exist.
    InvalidTemplateIdNotFound,
    /// Another application of the account has this name.
    InvalidApplicationNameDuplicate,
    /// The application's status does not allow the step (e.g. deleting a deployed one).
    IncorrectApplicationStatus,
    /// The resource group an application is to be moved to is not in the caller's account.
    InvalidResourceGroupIdNotFound,
    /// `AdvanceClock` on a server that runs on the system's clock.
    TestClockDisabled,
    /// A web console request without a live session (none, expired or signed out).
    InvalidSession,
    /// A web console sign-in with an AccessKey pair that is not one.
    SignInFailed,
    /// A web console change without its session's CSRF token.
    InvalidCsrfToken,
    /// The body is longer than the server accepts.
    RequestEntityTooLarge,
    /// The body did not arrive within the server's read timeout.
    RequestTimeout,
    /// Too many requests; retry later.
    Throttling,
    /// An unexpected server failure; the message never says more.
    InternalError,
    /// The server cannot serve now (for example, its database is unreachable).
    ServiceUnavailable,
}

impl ErrorCode {
    /// Every code, in the order of product.md (with `RequestEntityTooLarge` and `RequestTimeout` before
    /// `Throttling`).
    pub const ALL: [ErrorCode; 30] = [
        ErrorCode::MissingParameter,
        ErrorCode::InvalidParameter,
        ErrorCode::InvalidActionNotFound,
        ErrorCode::InvalidVersion,
        ErrorCode::IncompleteSignature,
        ErrorCode::SignatureDoesNotMatch,
        ErrorCode::InvalidTimeStampExpired,
        ErrorCode::SignatureNonceUsed,
        ErrorCode::InvalidAccessKeyIdNotFound,
        ErrorCode::InvalidAccessKeyIdInactive,
        ErrorCode::NoPermission,
        ErrorCode::InvalidServiceTypeNotFound,
        ErrorCode::InvalidOperationNotFound,
        ErrorCode::InvalidApplicationIdNotFound,
        ErrorCode::InvalidOperationIdNotFound,
        ErrorCode::IdempotentParameterMismatch,
        ErrorCode::IncorrectOperationStatus,
        ErrorCode::InvalidTemplateIdNotFound,
        ErrorCode::InvalidApplicationNameDuplicate,
        ErrorCode::IncorrectApplicationStatus,
        ErrorCode::InvalidResourceGroupIdNotFound,
        ErrorCode::TestClockDisabled,
        ErrorCode::InvalidSession,
        ErrorCode::SignInFailed,
        ErrorCode::InvalidCsrfToken,
        ErrorCode::RequestEntityTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::Throttling,
        ErrorCode::InternalError,
        ErrorCode::ServiceUnavailable,
    ];

    /// The `Code` string of the error body, e.g. `InvalidAction.NotFound`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::InvalidParameter => "InvalidParameter",
            ErrorCode::InvalidActionNotFound => "InvalidAction.NotFound",
            ErrorCode::InvalidVersion => "InvalidVersion",
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::InvalidTimeStampExpired => "InvalidTimeStamp.Expired",
            ErrorCode::SignatureNonceUsed => "SignatureNonceUsed",
            ErrorCode::InvalidAccessKeyIdNotFound => "InvalidAccessKeyId.NotFound",
            ErrorCode::InvalidAccessKeyIdInactive => "InvalidAccessKeyId.Inactive",
            ErrorCode::NoPermission => "NoPermission",
            ErrorCode::InvalidServiceTypeNotFound => "InvalidServiceType.NotFound",
            ErrorCode::InvalidOperationNotFound => "InvalidOperation.NotFound",
            ErrorCode::InvalidApplicationIdNotFound => "InvalidApplicationId.NotFound",
            ErrorCode::InvalidOperationIdNotFound => "InvalidOperationId.NotFound",
            ErrorCode::IdempotentParameterMismatch => "IdempotentParameterMismatch",
            ErrorCode::IncorrectOperationStatus => "IncorrectOperationStatus",
            ErrorCode::InvalidTemplateIdNotFound => "InvalidTemplateId.NotFound",
            ErrorCode::InvalidApplicationNameDuplicate => "InvalidApplicationName.Duplicate",
            ErrorCode::IncorrectApplicationStatus => "IncorrectApplicationStatus",
            ErrorCode::InvalidResourceGroupIdNotFound => "InvalidResourceGroupId.NotFound",
            ErrorCode::TestClockDisabled => "TestClock.Disabled",
            ErrorCode::InvalidSession => "InvalidSession",
            ErrorCode::SignInFailed => "SignInFailed",
            ErrorCode::InvalidCsrfToken => "InvalidCsrfToken",
            ErrorCode::RequestEntityTooLarge => "RequestEntityTooLarge",
            ErrorCode::RequestTimeout => "RequestTimeout",
            ErrorCode::Throttling => "Throttling",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The HTTP status to answer with; always 400 or above, since every SDK treats a 2xx or
    /// 3xx as success whatever the `Code` (§4.2).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::MissingParameter
            | ErrorCode::InvalidParameter
            | ErrorCode::InvalidVersion
            | ErrorCode::IncompleteSignature
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::InvalidTimeStampExpired
            | ErrorCode::SignatureNonceUsed
            | ErrorCode::IdempotentParameterMismatch => 400,
            ErrorCode::InvalidAccessKeyIdInactive
            | ErrorCode::NoPermission
            | ErrorCode::TestClockDisabled
            | ErrorCode::InvalidCsrfToken => 403,
            ErrorCode::InvalidSession | ErrorCode::SignInFailed => 401,
            ErrorCode::InvalidActionNotFound
            | ErrorCode::InvalidAccessKeyIdNotFound
            | ErrorCode::InvalidServiceTypeNotFound
            | ErrorCode::InvalidOperationNotFound
            | ErrorCode::InvalidApplicationIdNotFound
            | ErrorCode::InvalidOperationIdNotFound
            | ErrorCode::InvalidTemplateIdNotFound
            | ErrorCode::InvalidResourceGroupIdNotFound => 404,
            ErrorCode::IncorrectOperationStatus
            | ErrorCode::InvalidApplicationNameDuplicate
            | ErrorCode::IncorrectApplicationStatus => 409,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::RequestEntityTooLarge => 413,
            ErrorCode::Throttling => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn strings_and_statuses_are_the_documented_ones() {
        let table = [
            (ErrorCode::MissingParameter, "MissingParameter", 400),
            (ErrorCode::InvalidParameter, "InvalidParameter", 400),
            (
                ErrorCode::InvalidActionNotFound,
                "InvalidAction.NotFound",
                404,
            ),
            (ErrorCode::InvalidVersion, "InvalidVersion", 400),
            (ErrorCode::IncompleteSignature, "IncompleteSignature", 400),
            (
                ErrorCode::SignatureDoesNotMatch,
                "SignatureDoesNotMatch",
                400,
            ),
            (
                ErrorCode::InvalidTimeStampExpired,
                "InvalidTimeStamp.Expired",
                400,
            ),
            (ErrorCode::SignatureNonceUsed, "SignatureNonceUsed", 400),
            (
                ErrorCode::InvalidAccessKeyIdNotFound,
                "InvalidAccessKeyId.NotFound",
                404,
            ),
            (
                ErrorCode::InvalidAccessKeyIdInactive,
                "InvalidAccessKeyId.Inactive",
                403,
            ),
            (ErrorCode::NoPermission, "NoPermission", 403),
            (
                ErrorCode::InvalidServiceTypeNotFound,
                "InvalidServiceType.NotFound",
                404,
            ),
            (
                ErrorCode::InvalidOperationNotFound,
                "InvalidOperation.NotFound",
                404,
            ),
            (
                ErrorCode::InvalidApplicationIdNotFound,
                "InvalidApplicationId.NotFound",
                404,
            ),
            (
                ErrorCode::InvalidOperationIdNotFound,
                "InvalidOperationId.NotFound",
                404,
            ),
            (
                ErrorCode::IdempotentParameterMismatch,
                "IdempotentParameterMismatch",
                400,
            ),
            (
                ErrorCode::IncorrectOperationStatus,
                "IncorrectOperationStatus",
                409,
            ),
            (
                ErrorCode::InvalidTemplateIdNotFound,
                "InvalidTemplateId.NotFound",
                404,
            ),
            (
                ErrorCode::InvalidApplicationNameDuplicate,
                "InvalidApplicationName.Duplicate",
                409,
            ),
            (
                ErrorCode::IncorrectApplicationStatus,
                "IncorrectApplicationStatus",
                409,
            ),
            (
                ErrorCode::InvalidResourceGroupIdNotFound,
                "InvalidResourceGroupId.NotFound",
                404,
            ),
            (ErrorCode::TestClockDisabled, "TestClock.Disabled", 403),
            (ErrorCode::InvalidSession, "InvalidSession", 401),
            (ErrorCode::SignInFailed, "SignInFailed", 401),
            (ErrorCode::InvalidCsrfToken, "InvalidCsrfToken", 403),
            (
                ErrorCode::RequestEntityTooLarge,
                "RequestEntityTooLarge",
                413,
            ),
            (ErrorCode::RequestTimeout, "RequestTimeout", 408),
            (ErrorCode::Throttling, "Throttling", 429),
            (ErrorCode::InternalError, "InternalError", 500),
            (ErrorCode::ServiceUnavailable, "ServiceUnavailable", 503),
        ];
        assert_eq!(table.map(|(code, _, _)| code), ErrorCode::ALL);
        for (code, text, status) in table {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
            assert_eq!(code.http_status(), status, "{text}");
        }
    }

    #[test]
    fn every_code_is_distinct_and_an_error_status() {
        let strings: HashSet<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(strings.len(), ErrorCode::ALL.len());
        assert!(ErrorCode::ALL.iter().all(|code| code.http_status() >= 400));
    }
}
