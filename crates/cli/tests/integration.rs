//! End-to-end tests of the `bpops` binary: each test starts the real server on an ephemeral
//! port with its own SQLite file in a temporary directory, and talks to it over HTTP with
//! requests signed by `bpops_protocol`, the code the server verifies with.
//!
//! Tests run in parallel; nothing is shared between them but the binary. Waiting is always
//! polling against a deadline, never a fixed sleep.

/// `bpops app`: an application's lifecycle through the CLI, its refusals and exit statuses.
#[path = "integration/app.rs"]
mod app;
/// The audit trail: `bpops audit`, unsigned requests, its metrics, and SIGTERM flushing it.
#[path = "integration/audit.rs"]
mod audit;

/// `bpops bench`: the scale scenario's phases, and its refusal of `--endpoint`.
#[path = "integration/bench.rs"]
mod bench;

/// The client subcommands: exit statuses, human and JSON output.
#[path = "integration/cli.rs"]
mod cli;

/// The harness: starting and killing servers, the test configuration, signed requests.
#[path = "integration/common.rs"]
mod common;

/// The web console's sessions across nodes, their audit records and sign-in throttling.
#[path = "integration/console.rs"]
mod console;

/// Configuration loading and the first-start bootstrap, seen from the command line.
#[path = "integration/config.rs"]
mod config;

/// A deploy whose node is killed with SIGKILL resumes and creates each resource once, on
/// SQLite after a restart and on PostgreSQL on another node.
#[path = "integration/deploys.rs"]
mod deploys;

/// Declared operations bound to real scripts and a real HTTP receiver.
#[path = "integration/declared.rs"]
mod declared;

/// ListExecuteOperations and CancelExecuteOperation, and `bpops list` / `bpops cancel`.
#[path = "integration/extensions.rs"]
mod extensions;

/// Each operation's history, `bpops history`, and its agreement with the operation after
/// `kill -9`.
#[path = "integration/history.rs"]
mod history;

/// A full disk: writes refused as unavailable, reads served, recovery without a restart.
#[path = "integration/disk_full.rs"]
mod disk_full;

/// Acknowledged operations survive `kill -9` and their effects apply exactly once.
#[path = "integration/durability.rs"]
mod durability;

/// Several nodes on one PostgreSQL database: any node answers, a killed node's operations
/// are finished by the others exactly once, a database outage is survived.
#[path = "integration/nodes.rs"]
mod nodes;

/// Submitting operations and reading their results: ids, statuses, retention, idempotency.
#[path = "integration/operations.rs"]
mod operations;

/// The wire contract: envelopes, signatures, clock, nonces, limits and error codes.
#[path = "integration/protocol.rs"]
mod protocol;

/// The test clock: AdvanceClock moves retention, latency, backoff and leases, not signatures.
#[path = "integration/test_clock.rs"]
mod test_clock;

/// SIGTERM and Ctrl-C: waiters answered at once, running operations finished within the
/// grace or released for a restart.
#[path = "integration/shutdown.rs"]
mod shutdown;

/// OTLP span export to a collector started by the test: the spans of a request, its
/// operation's queue wait and attempts; no export without an endpoint; a dead collector.
#[path = "integration/spans.rs"]
mod spans;

/// W3C trace context: from the submitting request to each attempt of a declared command.
#[path = "integration/traces.rs"]
mod traces;

/// Webhooks: signed deliveries of every event through receiver failures, timeouts and
/// `kill -9` (on SQLite after a restart, on PostgreSQL by another node), in order per
/// operation; expiry on the test clock; ListNotificationDeliveries and its tenant rules.
#[path = "integration/webhooks.rs"]
mod webhooks;

/// Waiting for results without polling, and the operator endpoints: probes and metrics.
#[path = "integration/waiting.rs"]
mod waiting;
