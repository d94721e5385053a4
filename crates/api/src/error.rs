//! The only place where errors become wire codes.
//!
//! Handlers and the pipeline return [`ApiError`]; lower layers' errors convert through the
//! exhaustive `From` impls below. A 5xx answer says `InternalError` or `ServiceUnavailable`
//! only: its cause is logged with the RequestId, never sent.

use bpops_engine::EngineError;
use bpops_protocol::ErrorCode;
use bpops_protocol::signature::SignatureError;
use bpops_protocol::wire::RequestError;
use bpops_store::StoreError;
use serde_json::Value;

/// An error answer: its code, a message for the caller, and for denials the detail.
#[derive(Debug)]
pub struct ApiError {
    /// The wire code, which also decides the HTTP status.
    pub code: ErrorCode,
    /// What the caller is told.
    pub message: String,
    /// `AccessDeniedDetail` of a `NoPermission` answer.
    pub access_denied_detail: Option<Value>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            access_denied_detail: None,
        }
    }

    /// `MissingParameter` naming the parameter.
    pub fn missing(name: &str) -> Self {
        Self::new(
            ErrorCode::MissingParameter,
            format!(
                "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    /// `InvalidParameter` naming the parameter and the problem.
    pub fn invalid(name: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidParameter,
            format!("The parameter \"{name}\" is invalid: {reason}"),
        )
    }

    /// An internal failure: logged here with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(
            ErrorCode::InternalError,
            "The request processing has failed due to some unknown error.",
        )
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Missing(name) => ApiError::missing(name),
            RequestError::Invalid { name, reason } => ApiError::invalid(name, reason),
        }
    }
}

impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Mismatch { string_to_sign } => ApiError::new(
                ErrorCode::SignatureDoesNotMatch,
                // N.B. the classic SDK splits this message on ':' and compares the part after
                // it with its own string to sign (wire-protocol.md 4.2): keep exactly one ':'.
                format!(
                    "Specified signature does not match our calculation. server string to sign is:{string_to_sign}"
                ),
            ),
            other => ApiError::new(
                ErrorCode::IncompleteSignature,
                format!("The request signature does not conform to the specification: {other}"),
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "store unavailable");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "The request has failed due to a temporary failure of the server.",
                )
            }
            StoreError::Full(cause) => {
                tracing::error!(cause = %cause, "the store's storage is full");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "The request has failed because the server's storage is full; retry later.",
                )
            }
            StoreError::Corrupt(_) | StoreError::Other(_) => ApiError::internal(e),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownService(service) => ApiError::new(
                ErrorCode::InvalidServiceTypeNotFound,
                format!("The specified service type \"{service}\" does not exist."),
            ),
            EngineError::UnknownOperation { service, operation } => ApiError::new(
                ErrorCode::InvalidOperationNotFound,
                format!(
                    "The specified operation \"{operation}\" does not exist in service \"{service}\"."
                ),
            ),
            EngineError::InvalidAttribute(invalid) => {
                ApiError::invalid(&format!("Attributes.{}", invalid.field), &invalid.reason)
            }
            EngineError::ApplicationMismatch { named, actual } => ApiError::invalid(
                "ApplicationId",
                format!("the target belongs to application \"{actual}\", not \"{named}\""),
            ),
            EngineError::UnknownTemplate(template) => ApiError::new(
                ErrorCode::InvalidTemplateIdNotFound,
                format!("The specified template \"{template}\" does not exist."),
            ),
            EngineError::InvalidVariable(invalid) => {
                ApiError::invalid(&invalid.field, &invalid.reason)
            }
            EngineError::ApplicationNameInUse(name) => ApiError::new(
                ErrorCode::InvalidApplicationNameDuplicate,
                format!("An application named \"{name}\" already exists."),
            ),
            EngineError::IdempotentParameterMismatch => ApiError::new(
                ErrorCode::IdempotentParameterMismatch,
                "The ClientToken was already used with different request parameters.",
            ),
            EngineError::UnknownApplication(id) => crate::applications::unknown_application(&id),
            EngineError::IncorrectApplicationStatus(status) => ApiError::new(
                ErrorCode::IncorrectApplicationStatus,
                format!(
                    "The application is {}, which does not allow this step.",
                    status.as_str()
                ),
            ),
            EngineError::ReservedService(service) => ApiError::invalid(
                "ServiceType",
                format!("\"{service}\" is reserved for the application lifecycle actions"),
            ),
            EngineError::Store(e) => e.into(),
        }
    }
}
