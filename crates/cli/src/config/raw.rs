//! The TOML file as written: structs that mirror it key for key. Durations are read as
//! durations here; a key left out takes the default of the settings type it feeds, so no
//! default is repeated in the configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use bpops_catalog::{Declared, Template};
use bpops_engine::Emulation;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The TOML file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Where data lives.
    #[serde(default)]
    pub storage: RawStorage,
    /// This node.
    #[serde(default)]
    pub node: RawNode,
    /// Operation timing.
    #[serde(default)]
    pub operations: RawOperations,
    /// Prices per hour for `ValuateApplication`, over the built-in ones.
    #[serde(default)]
    pub pricing: RawPricing,
    /// The audit trail of API requests.
    #[serde(default)]
    pub audit: RawAudit,
    /// Tenants.
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    /// Resource groups of accounts.
    #[serde(default)]
    pub resource_groups: Vec<RawResourceGroup>,
    /// Applications of accounts.
    #[serde(default)]
    pub applications: Vec<RawApplication>,
    /// Resources that seed the emulated inventory.
    #[serde(default)]
    pub resources: Vec<RawResource>,
    /// Application templates, beside the built-in ones.
    #[serde(default)]
    pub templates: Vec<Template>,
    /// RAM users.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// AccessKey pairs.
    #[serde(default)]
    pub access_keys: Vec<RawAccessKey>,
    /// RAM policies.
    #[serde(default)]
    pub policies: Vec<RawPolicy>,
    /// Policy attachments.
    #[serde(default)]
    pub attachments: Vec<RawAttachment>,
    /// Webhooks that events are delivered to.
    #[serde(default)]
    pub notifications: Vec<RawNotification>,
    /// What only a test server does.
    #[serde(default)]
    pub testing: RawTesting,
    /// Where this server's own spans are exported.
    #[serde(default)]
    pub telemetry: RawTelemetry,
}

/// `[storage]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`; default
    /// `sqlite://<data dir>/bpops.db`.
    pub url: Option<String>,
}

/// `[node]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// The name this node's claims record in operation histories, up to 64 printable
    /// characters; default `<hostname>:<pid>`.
    pub name: Option<String>,
}

/// `[operations]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOperations {
    /// How long results stay readable after an operation finishes (humantime, default 1h).
    #[serde(default = "default_retention", deserialize_with = "duration")]
    pub retention: Duration,
    /// The longest ExecuteOperationSync waits (humantime, default 2s): the answer must reach
    /// the caller before its SDK gives up (the Node.js cores after 3 s by default, the Python
    /// SDKs after 10 s), else it gets no OperationId while the operation runs.
    #[serde(default = "default_sync_wait", deserialize_with = "duration")]
    pub sync_wait: Duration,
    /// How long a node's claim on a running operation holds unless renewed (humantime,
    /// default 30s); another node takes the operation over after it.
    #[serde(default = "default_lease", deserialize_with = "duration")]
    pub lease: Duration,
    /// On SIGTERM or Ctrl-C, how long running operations may go on to finish before their
    /// leases are released for another node or a restart (humantime, default 10s, at most
    /// 10m).
    #[serde(default = "default_shutdown_grace", deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// Emulated latency and failure injection per operation.
    #[serde(default)]
    pub emulation: Vec<RawEmulation>,
    /// Operations users declare and bind to their own programs or HTTP endpoints.
    #[serde(default)]
    pub declared: Vec<Declared>,
    /// How many attempts of each pool run at once on this node.
    #[serde(default)]
    pub concurrency: RawConcurrency,
}

/// `[operations.concurrency]`: per pool, how many attempts run at once on this node; a pool
/// left out keeps its default (`bpops_engine::default_concurrency`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConcurrency {
    /// Emulated operations (they wait on a timer).
    pub emulated: Option<usize>,
    /// Declared operations of the HTTP executor (a socket each).
    pub http: Option<usize>,
    /// Declared operations of the command executor (a process each).
    pub command: Option<usize>,
    /// Application lifecycle steps.
    pub step: Option<usize>,
}

/// No `[operations]` table: every key left out.
impl Default for RawOperations {
    fn default() -> Self {
        RawOperations {
            retention: default_retention(),
            sync_wait: default_sync_wait(),
            lease: default_lease(),
            shutdown_grace: default_shutdown_grace(),
            emulation: Vec::new(),
            declared: Vec::new(),
            concurrency: RawConcurrency::default(),
        }
    }
}

fn default_retention() -> Duration {
    bpops_engine::Settings::default().retention
}

fn default_sync_wait() -> Duration {
    bpops_api::Settings::default().sync_wait
}

fn default_lease() -> Duration {
    bpops_engine::Settings::default().lease
}

fn default_shutdown_grace() -> Duration {
    bpops_engine::Settings::default().shutdown_grace
}

/// `[telemetry]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// The base URL of an OTLP/HTTP collector, such as `http://127.0.0.1:4318`; spans go to
    /// its `/v1/traces`. None: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the spans are exported under (default `bpops`).
    pub service_name: Option<String>,
}

/// `[[notifications]]`: a webhook. The filters narrow which events it gets; an empty (or
/// absent) list means every value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotification {
    /// Its unique name, kept in each delivery.
    pub name: String,
    /// Where deliveries are POSTed: an `http://` URL.
    pub url: String,
    /// The key deliveries are signed with. Its `Debug` never shows the value.
    pub secret: SecretString,
    /// Event kinds: an operation's submitted, claimed, retry_scheduled, released,
    /// cancel_requested, finished; an application's application_created,
    /// application_deleted, resource_group_changed, application_reconfigured.
    #[serde(default)]
    pub events: Vec<String>,
    /// Operation statuses after the event: INIT, RUNNING, SUCCESS, FAILURE.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Operation names.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Accounts (declared in `[[accounts]]`).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Application ids.
    #[serde(default)]
    pub applications: Vec<String>,
    /// How long a delivery is retried before it expires (humantime, default 24h).
    #[serde(default = "default_max_age", deserialize_with = "duration")]
    pub max_age: Duration,
    /// How long one attempt waits for an answer (humantime, default 10s).
    #[serde(default = "default_webhook_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// The wait before the second attempt, doubled for each after (humantime, default 1s).
    #[serde(default = "default_backoff", deserialize_with = "duration")]
    pub backoff: Duration,
}

fn default_max_age() -> Duration {
    bpops_engine::Webhook::DEFAULT_MAX_AGE
}

fn default_webhook_timeout() -> Duration {
    bpops_engine::Webhook::DEFAULT_TIMEOUT
}

fn default_backoff() -> Duration {
    bpops_engine::Webhook::DEFAULT_BACKOFF
}

/// `[testing]`: settings for a server that runs a client's tests, never a production one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTesting {
    /// `"system"` (the default) or `"manual"`: the system's time, which `AdvanceClock` moves
    /// forward.
    #[serde(default)]
    pub clock: ClockKind,
}

/// `[testing] clock`
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockKind {
    /// The system's clock.
    #[default]
    System,
    /// The test clock: the system's time plus what `AdvanceClock` added.
    Manual,
}

/// `[audit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Whether every API request is recorded (default true).
    #[serde(default = "default_audit_enabled")]
    pub enabled: bool,
    /// How long a record is kept (humantime, default 7d).
    #[serde(default = "default_audit_retention", deserialize_with = "duration")]
    pub retention: Duration,
}

/// No `[audit]` table: every key left out.
impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            enabled: default_audit_enabled(),
            retention: default_audit_retention(),
        }
    }
}

fn default_audit_enabled() -> bool {
    bpops_api::AuditSettings::default().enabled
}

fn default_audit_retention() -> Duration {
    bpops_engine::Settings::default().audit_retention
}

/// `[pricing]`: prices per hour, by specification.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPricing {
    /// By instance type, e.g. `"ecs.g7.large" = 0.69`.
    #[serde(default)]
    pub ecs: BTreeMap<String, f64>,
    /// By load balancer specification, e.g. `"slb.s1.small" = 0.07`.
    #[serde(default)]
    pub slb: BTreeMap<String, f64>,
}

/// `[[operations.emulation]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmulation {
    /// Service type.
    pub service: String,
    /// Operation name.
    pub operation: String,
    /// How long each run takes (humantime, default 0s).
    #[serde(default = "default_latency", deserialize_with = "duration")]
    pub latency: Duration,
    /// Share of runs that fail, 0.0 to 1.0 (default 0).
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f64,
}

fn default_latency() -> Duration {
    Emulation::default().latency
}

fn default_failure_rate() -> f64 {
    Emulation::default().failure_rate
}

/// A humantime duration such as `"90s"` or `"1h"`; TOML's error around it shows the line and
/// the key.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration such as \"90s\" or \"1h\": {e}"
        ))
    })
}

/// `[[accounts]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// Account id.
    pub id: String,
}

/// `[[resource_groups]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResourceGroup {
    /// Owning account.
    pub account: String,
    /// Resource group id.
    pub id: String,
}

/// `[[applications]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApplication {
    /// Owning account.
    pub account: String,
    /// Application id.
    pub id: String,
    /// The resource group it is in.
    pub resource_group: Option<String>,
}

/// `[[resources]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResource {
    /// The owning account; needed only when two accounts have an application of this id.
    pub account: Option<String>,
    /// The application it belongs to.
    pub application: String,
    /// Service type (`ecs`, `slb`).
    pub service: String,
    /// Resource id.
    pub id: String,
    /// Initial state.
    #[serde(default)]
    pub properties: Map<String, Value>,
}

/// `[[users]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// Owning account.
    pub account: String,
    /// User name.
    pub name: String,
}

/// `[[access_keys]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessKey {
    /// AccessKeyId.
    pub id: String,
    /// AccessKeySecret. Its `Debug` never shows the value.
    pub secret: SecretString,
    /// Owning account.
    pub account: String,
    /// The RAM user it signs for; none for a root key.
    pub user: Option<String>,
    /// An inactive key is refused.
    #[serde(default = "default_active")]
    pub active: bool,
}

fn default_active() -> bool {
    true
}

/// `[[policies]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Owning account.
    pub account: String,
    /// Policy name.
    pub name: String,
    /// The RAM policy document (JSON).
    pub document: String,
}

/// `[[attachments]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttachment {
    /// Owning account.
    pub account: String,
    /// Policy name.
    pub policy: String,
    /// User name.
    pub user: String,
    /// `account`, or a resource group id.
    pub scope: String,
}
