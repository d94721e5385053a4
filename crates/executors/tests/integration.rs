//! Running real executors: real programs from shell scripts written to temporary
//! directories, and real HTTP receivers on loopback. No mocks.
//!
//! Tests run in parallel; each writes its own files and binds its own port. Waiting for a
//! process to die is polling against a deadline, never a fixed sleep.

/// Shared helpers: jobs, scripts, checking that a process is dead.
#[path = "integration/common.rs"]
mod common;

/// The `command` executor: stdin/stdout convention, clean environment, exit statuses,
/// timeouts and cancellation killing the whole process group.
#[path = "integration/command.rs"]
mod command;

/// The `http` executor: signed requests verified by a local receiver, status classes,
/// timeouts, cancellation and unreachable endpoints.
#[path = "integration/http.rs"]
mod http;
