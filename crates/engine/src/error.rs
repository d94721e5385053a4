//! Errors of the engine: the refusals a client can act on, and store failures.

use bpops_catalog::{InvalidAttribute, LookupError};
use bpops_store::{ApplicationStatus, StoreError};

/// Why the engine refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The catalog has no such service type.
    #[error("the service type {0:?} does not exist")]
    UnknownService(String),
    /// The service has no such operation.
    #[error("the operation {operation:?} does not exist in service {service:?}")]
    UnknownOperation {
        /// The service type asked for.
        service: String,
        /// The operation asked for.
        operation: String,
    },
    /// The attributes break the operation's schema.
    #[error("invalid attribute {0}")]
    InvalidAttribute(InvalidAttribute),
    /// The request names another application than the one its target is in.
    #[error("the target is in application {actual:?}, not {named:?}")]
    ApplicationMismatch {
        /// The `ApplicationId` the request names.
        named: String,
        /// The application the target is in.
        actual: String,
    },
    /// The catalog has no such template.
    #[error("the template {0:?} does not exist")]
    UnknownTemplate(String),
    /// An application's variables break its template's (the field is `Variables.<name>`).
    #[error("invalid variable {0}")]
    InvalidVariable(InvalidAttribute),
    /// Another application of the account has this name.
    #[error("an application named {0:?} exists already")]
    ApplicationNameInUse(String),
    /// The client token was used before with other parameters.
    #[error("the client token was already used with different parameters")]
    IdempotentParameterMismatch,
    /// The application does not exist in the account (or was deleted).
    #[error("the application {0:?} does not exist")]
    UnknownApplication(String),
    /// The application's status does not allow the step.
    #[error("the application is {}", .0.as_str())]
    IncorrectApplicationStatus(ApplicationStatus),
    /// `ServiceType` names the lifecycle steps' service, which only the application
    /// actions submit.
    #[error("the service type {0:?} is reserved for the application lifecycle")]
    ReservedService(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LookupError> for EngineError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::UnknownService(service) => EngineError::UnknownService(service),
            LookupError::UnknownOperation { service, operation } => {
                EngineError::UnknownOperation { service, operation }
            }
        }
    }
}

/// Result of engine calls.
pub type Result<T = ()> = std::result::Result<T, EngineError>;
