//! `bpops-executors`: running declared operations, the I/O half of the catalog's
//! [`Executor`](bpops_catalog::Executor) kinds.
//!
//! The catalog describes a declared operation ([`CommandSpec`](bpops_catalog::CommandSpec),
//! [`HttpSpec`](bpops_catalog::HttpSpec), a timeout, a
//! [`RetryPolicy`](bpops_catalog::RetryPolicy)); this crate runs **one attempt** of it:
//! [`run_command`] or [`run_http`], given a [`Job`] (what the operation is), the attempt's
//! timeout and a cancellation token. An attempt ends as a [`Success`] or a [`Failure`] whose
//! [`FailureKind`] classifies it at the source; whether to try again is the engine's
//! decision, through the entry's retry policy. The engine matches on `Executor` in one place
//! and calls the function for the kind; there is deliberately no second dispatcher here.
//!
//! # What an executor receives
//!
//! The job as a JSON object, on the program's stdin or as the POST body:
//!
//! ```json
//! {"OperationId": "op_…", "ServiceType": "deploy", "Operation": "rollout",
//!  "Attributes": {"version": "v12"}, "ApplicationId": "APP-WEB", "Attempt": 1}
//! ```
//!
//! `ApplicationId` is `null` when the request named none; `Attempt` counts from 1. The
//! OperationId is the idempotency key: every attempt of one operation carries the same one,
//! so an executor can recognise a retry of work it already did.
//!
//! # What an executor answers
//!
//! A JSON object (a program's stdout, the 2xx response body): `Arguments`, any JSON, becomes
//! the operation's `Arguments` (`{}` when absent or null); `Message`, a string if present,
//! becomes its `Message` (empty when absent). Other keys are ignored. Answers are bounded
//! ([`OUTPUT_LIMIT`]), and so are `Arguments` (as JSON text) and `Message`, each
//! ([`RESULT_LIMIT`]): over either, the attempt fails with `ExecutorBadOutput`.
//!
//! # Commands
//!
//! The program runs without a shell, in `/`, with a **cleared environment** holding only
//! `BPOPS_OPERATION_ID` and `TRACEPARENT` (the attempt's W3C trace context, when it has one),
//! in a process group of its own. A non-zero exit is a failure whose
//! message carries the tail of stderr. On timeout or cancellation, and once the program
//! exits, **every process it started** is killed (`SIGKILL`), in its group or out of it
//! (`setsid`), and reaped: an operation's processes never outlive its attempt (how, in
//! `tree`). After the program's exit only what its pipes already hold is read, so a process
//! that escaped the kill cannot hold the attempt open.
//!
//! # HTTP: the request and how a receiver verifies it
//!
//! `POST <url>` with the job as the body and these headers:
//!
//! - `Content-Type: application/json`
//! - `Idempotency-Key: <OperationId>`
//! - `X-Bpops-Timestamp: <unix seconds when the request was signed>`
//! - `X-Bpops-Signature: sha256=<lower-case hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`
//!
//! To verify, a receiver takes the raw body bytes exactly as received, builds
//! `timestamp + "." + body`, computes HMAC-SHA256 with the shared secret, compares it with
//! the header's hex **in constant time**, and refuses timestamps too far from its own clock
//! (five minutes is usual) so a captured request cannot be replayed later. [`verify_signature`]
//! does the first three steps. 2xx with a JSON object is a success; 5xx, 4xx, an unreachable
//! endpoint, a timeout and a non-JSON 2xx are failures of distinct kinds. Only `http://` is
//! spoken: put a TLS-terminating proxy in front of a remote receiver.
//!
//! # Webhooks
//!
//! [`post_webhook`] sends one webhook delivery with the same signature and headers
//! (`Idempotency-Key` is then the delivery's id) and reports the answer's status, whatever it
//! is: what a status means for a delivery is the engine's decision.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod command;
mod http;
mod job;
mod tree;

pub use bpops_catalog::FailureKind;
pub use command::{resolve_program, resolve_program_in, run_command};
pub use http::{WebhookAnswer, post_webhook, run_http, signature, verify_signature};
pub use job::{Failure, Job, OUTPUT_LIMIT, RESULT_LIMIT, STDERR_TAIL, Success};
