//! `bpops-catalog`: the operations bpops knows, their attribute schemas, and the built-in
//! emulated executors for `ecs` and `slb`.
//!
//! The main type is [`Catalog`], which maps `(service, operation)` to an [`Entry`]. An entry
//! validates a request's attributes before anything is stored ([`Entry::validate`]), names
//! the resource the operation acts on ([`Entry::target`]) and says how it runs
//! ([`Entry::executor`]). Built-in operations run through [`run_emulated`]; operations the
//! configuration declares ([`Declared`], added by [`Catalog::with_declared`]) run a program
//! or call an HTTP endpoint ([`Executor::Command`], [`Executor::Http`]) with a timeout and a
//! [`RetryPolicy`], through the `bpops-executors` crate. The catalog also holds the
//! application [`Template`]s, built-in and declared, that applications are created from.
//!
//! The key decision: this crate is **pure**. No I/O, no clock, no randomness. An emulated run
//! is a function of the attributes and the resource's current state that returns its
//! [`Decision`], including the change to make as data ([`Effect`]); the engine commits that
//! effect together with the final status, and owns latency and failure injection. Problems
//! that depend on the resource's state (missing, wrong status) are therefore decided when the
//! operation runs and end as `FAILURE`; only a malformed request is refused at submit.
//! Likewise for declared operations, this crate holds their description and their retry
//! policy (a pure function of the attempt and a jitter draw the caller supplies), never the
//! processes or connections that run them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod catalog;
mod declared;
mod ecs;
mod emulated;
mod error;
mod executor;
pub mod lifecycle;
mod retry;
mod schema;
mod slb;
mod templates;
mod value;

pub use catalog::{Catalog, Entry, Target};
pub use declared::{Declared, DeclaredExecutor, DeclaredRetry, http_url_problem};
pub use emulated::{Decision, Effect, Resource, Run, run_emulated};
pub use error::{DeclaredError, InvalidAttribute, LookupError, SchemaError};
pub use executor::{CommandSpec, Executor, HttpSpec};
pub use retry::{FailureKind, RetryPolicy};
pub use schema::Schema;
pub use templates::{Node, Template, Variable, VariableType};
