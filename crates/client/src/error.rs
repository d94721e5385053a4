//! The one error type of the client, [`Error`]: every call returns it, and callers branch on
//! [`Error::Refused`] (the server's own answer) versus the rest (no usable answer). Each
//! message names its cause itself, in one line, so no variant chains a source (printed with
//! `{:#}` it would be said twice).

/// Why a call did not return its data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not `http://HOST:PORT` (HTTPS and paths are not supported).
    #[error("the endpoint {0:?} is not http://HOST:PORT")]
    Endpoint(String),
    /// The request could not be built (a header value the HTTP library refuses).
    #[error("building the request: {0}")]
    Build(hyper::http::Error),
    /// The server could not be reached.
    #[error("cannot reach {host}: {cause}")]
    Connect {
        /// `host:port`.
        host: String,
        /// What the connection reported.
        cause: hyper_util::client::legacy::Error,
    },
    /// The answer broke off while it was read.
    #[error("reading the answer: {0}")]
    Read(hyper::Error),
    /// The server answered something that is not the API: a body that is not JSON, or not the
    /// shape of the action's answer.
    #[error("{0}")]
    Unexpected(String),
    /// The server refused the request, with an error body (wire-protocol.md §4.2).
    #[error("{code}: {message} (HTTP {status}, RequestId {request_id})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code, e.g. `InvalidParameter`.
        code: String,
        /// The server's message.
        message: String,
        /// The request id, to find the server's log line.
        request_id: String,
    },
}

impl Error {
    /// Whether the server refused with this error `Code`.
    pub fn is_code(&self, wanted: &str) -> bool {
        matches!(self, Error::Refused { code, .. } if code == wanted)
    }
}

/// The client's result.
pub type Result<T = ()> = std::result::Result<T, Error>;
