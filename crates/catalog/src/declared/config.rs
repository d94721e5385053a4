//! The raw shape of one `[[operations.declared]]` table, exactly as the TOML says it: serde
//! structs with `deny_unknown_fields`, every field documented, defaults as named functions.
//! Nothing here is checked beyond types; [`convert`](super::convert) validates.
//!
//! ```toml
//! [[operations.declared]]
//! service = "deploy"
//! operation = "rollout"
//! display_name = "Roll out a release"
//! attributes = { type = "object", properties = { version = { type = "string", pattern = "^v[0-9]+$" } }, required = ["version"] }
//! target = "app"
//! timeout = "30s"
//! retry = { attempts = 3, backoff = "200ms", max_backoff = "5s", on = ["timeout", "exit", "http_5xx", "connect"] }
//! executor = { kind = "command", argv = ["/usr/local/bin/rollout", "--json"] }
//! # or: executor = { kind = "http", url = "http://127.0.0.1:9000/hooks/rollout", secret = "…" }
//! ```

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

/// One declared operation: a `[[operations.declared]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    /// The service type (ServiceType), e.g. `deploy`. Not a built-in service (`ecs`, `slb`);
    /// 1–64 characters of letters, digits, `_`, `-` and `.`.
    pub service: String,
    /// The operation name, e.g. `rollout`; same characters as `service`.
    pub operation: String,
    /// The name ListOperations shows.
    pub display_name: String,
    /// A sentence or two on what the operation does, shown in GetOperationParams
    /// `Properties`.
    #[serde(default)]
    pub description: String,
    /// The attribute schema in the supported JSON Schema subset, written as a TOML table; its
    /// root must be `type = "object"`. Default: no attributes at all.
    #[serde(default = "default_attributes")]
    pub attributes: Value,
    /// The fields of `Arguments` on success, described as GetOperationParams `Outputs` shows
    /// them. Default: `{}`.
    #[serde(default = "default_outputs")]
    pub outputs: Value,
    /// The attribute naming the resource the operation acts on; operations on one resource
    /// run one at a time, in submission order. It must be a `string` property of
    /// `attributes`. Default: none (no ordering).
    #[serde(default)]
    pub target: Option<String>,
    /// The limit on one attempt, as a humantime duration (`30s`, `2m`). Default: `30s`.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// When a failed attempt is tried again. Default: a single attempt.
    #[serde(default)]
    pub retry: DeclaredRetry,
    /// What runs the operation.
    pub executor: DeclaredExecutor,
}

/// A declared operation's `retry` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredRetry {
    /// Attempts in all, the first included; at least 1. Default: 1 (no retry).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The longest wait before the second attempt; it doubles for each later one (full
    /// jitter: the real wait is a random fraction of it). Default: `1s`.
    #[serde(default = "default_backoff")]
    pub backoff: String,
    /// The cap on the doubled backoff; not below `backoff`. Default: `30s`.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: String,
    /// The failure kinds that are retried: `timeout`, `exit`, `http_5xx`, `http_4xx`,
    /// `connect`, `bad_output` (`cancelled` never is). Default: `timeout`, `http_5xx`,
    /// `connect`.
    #[serde(default = "default_retry_on")]
    pub on: Vec<String>,
}

impl Default for DeclaredRetry {
    fn default() -> DeclaredRetry {
        DeclaredRetry {
            attempts: default_attempts(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
            on: default_retry_on(),
        }
    }
}

/// A declared operation's `executor` table, selected by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DeclaredExecutor {
    /// `kind = "command"`: run a program, without a shell.
    Command {
        /// The program and its arguments. `argv[0]` is an absolute path or a program name
        /// looked up on `PATH` when the configuration is loaded.
        argv: Vec<String>,
    },
    /// `kind = "http"`: POST the operation to a URL.
    Http {
        /// The endpoint, an `http://` URL (terminate TLS in front of the receiver).
        url: String,
        /// The key of the `X-Bpops-Signature` HMAC; the receiver holds the same one.
        secret: SecretString,
    },
}

/// No attributes: an empty, closed object.
fn default_attributes() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

/// No outputs described.
fn default_outputs() -> Value {
    json!({})
}

/// Thirty seconds per attempt.
fn default_timeout() -> String {
    "30s".to_string()
}

/// One attempt: no retry unless asked for.
fn default_attempts() -> u32 {
    1
}

/// One second before the first retry.
fn default_backoff() -> String {
    "1s".to_string()
}

/// Waits grow to thirty seconds at most.
fn default_max_backoff() -> String {
    "30s".to_string()
}

/// The transient failures: timeouts, 5xx answers, unreachable endpoints.
fn default_retry_on() -> Vec<String> {
    ["timeout", "http_5xx", "connect"]
        .map(String::from)
        .to_vec()
}
