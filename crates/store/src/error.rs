//! The one error type of the store interface. Callers branch only on what they can act on:
//! a busy or unreachable database (`Unavailable`), a full disk (`Full`), and everything else.

/// Errors of a [`crate::Store`] backend.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; the request may be retried later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database's storage is full: writes fail until space is freed, reads still work.
    #[error("storage full: {0}")]
    Full(String),
    /// Stored data violates an invariant (for example a row that does not parse).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("store failure: {0}")]
    Other(String),
}

/// Result of store operations.
pub type Result<T = ()> = std::result::Result<T, StoreError>;
