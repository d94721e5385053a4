//! The bpops engine: accepts operations, runs them, and answers for them by id.
//!
//! Every operation goes through [`Engine`]: submitted, read, waited on, listed and cancelled
//! there; the store itself is reached directly only for what is not an operation (readiness,
//! queue depth, signature nonces). `submit` validates against the catalog, applies
//! `ClientToken` idempotency and stores the operation durably before returning its id.
//! Background tasks started by [`Engine::start`] claim runnable operations from the store as
//! soon as they are submitted (woken by events, with a slow fallback poll), execute them,
//! and sweep expired results. Readers either look once (`get`) or wait for a final status
//! (`wait`), woken the moment the operation finishes. Applications are created from the
//! catalog's templates, read, listed and deleted through it too (`applications`), and
//! moved between resource groups or reconfigured (`application_changes`). When spans are
//! exported ([`Settings::spans`]), an operation's wait for its first attempt and each
//! attempt are spans in the trace of the request that submitted it.
//!
//! Key decisions:
//! - Retention is enforced twice: reads hide an operation the moment it expires, and the
//!   sweeper deletes it later in bounded batches.
//! - An emulated operation's effect and final status commit together in the store, fenced
//!   by the attempt, so a crash or a lost lease never applies an effect twice.
//! - Cancellation is a mark in the store: an `INIT` operation ends at once; a `RUNNING` one
//!   is stopped by the node running it, told by the store's event, or at the latest by its
//!   next lease renewal; one whose node is gone ends when it is next claimed.
//! - Webhooks are an outbox: the store writes each delivery with the change it announces,
//!   and a deliverer on every node claims due ones and POSTs them, signed, retrying with
//!   backoff until they are delivered or too old (`deliverer`).
//! - Shutdown drains: waiters are answered at once, running operations get a grace to
//!   finish, and the leases of the rest are released so that they resume at once elsewhere.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod application_changes;
mod applications;
mod deliverer;
mod emulated;
mod engine;
mod error;
mod events;
mod final_cache;
mod metrics;
mod running;
mod settings;
mod shutdown;
mod steps;
mod sweeper;
mod waiters;
mod worker;

pub use applications::ApplicationRequest;
pub use engine::{CANCELLED_BEFORE_START, CANCELLED_WHILE_RUNNING, Engine, Resolved, Submission};
pub use error::{EngineError, Result};
pub use metrics::EngineMetrics;
pub use settings::{Emulation, MAX_BACKOFF, Settings, Webhook, default_concurrency};
pub use steps::{STEP_SERVICE, Step};
