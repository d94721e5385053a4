//! The BPStudio `2021-09-31` wire protocol as bpops speaks it: pure functions and types, no I/O,
//! no clock.
//!
//! A request goes through this crate in the order the API pipeline uses it:
//!
//! 1. [`Params::parse`] merges the decoded query with the decoded form body
//!    (wire-protocol.md §1.1).
//! 2. [`signature::inspect`] reads who claims to have signed the request, before the secret is
//!    known; the caller looks the secret up, checks the clock and the nonce, then
//!    [`signature::verify`] recomputes the signature (§2 for ACS3-HMAC-SHA256, §3 for RPC
//!    HMAC-SHA1).
//! 3. [`Action::from_wire`] names the action from the *signed* location, and the `wire` module's
//!    `from_params` constructors build the typed request.
//! 4. Answers are [`Envelope`]s or, on failure, an [`ErrorBody`] carrying an [`ErrorCode`].
//!
//! The key decision is that everything the signature covers is derived from the request exactly
//! as it arrived ([`signature::RawRequest`]): ACS3 hashes the raw body bytes and RPC signs the
//! decoded parameters, and both are checked against the vectors in
//! `tests/signature-vectors.json` by `tests/vectors.rs`. The same code signs requests for
//! the CLI and the tests ([`signature::sign_acs3`]), so client and server cannot drift apart.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod application_changes;
pub mod applications;
pub mod audit;
pub mod calendar;
pub mod deliveries;
pub mod error;
pub mod extensions;
pub mod history;
pub mod params;
pub mod request;
pub mod signature;
pub mod test_clock;
pub mod wire;

pub use action::Action;
pub use error::ErrorCode;
pub use params::{ParamSource, Params, ParamsError, percent_encode};
pub use signature::{Claim, RawRequest, Scheme, SignatureError};
pub use wire::{
    Envelope, ErrorBody, ExecuteOperationRequest, GetExecuteOperationResultRequest,
    GetOperationParamsRequest, ListOperationsRequest, OperationParams, OperationResult,
    OperationSummary, RequestError,
};

/// The only API version bpops serves; every SDK mode sends it (wire-protocol.md §1.1).
pub const API_VERSION: &str = "2021-09-31";
