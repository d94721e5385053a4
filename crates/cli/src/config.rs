//! The configuration file: raw structs that mirror the TOML exactly, then [`RawConfig::validate`]
//! into typed settings. Every error names the table, the entry and the problem.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bpops_catalog::{Catalog, Declared};
use bpops_engine::Emulation;
use bpops_iam::{AccessKey, Application, Directory, Grant, Policy, Principal, Scope, Secret};
use bpops_store::{AccountId, Resource, ResourceKey};
use serde::Deserialize;
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
    /// Operation timing.
    #[serde(default)]
    pub operations: RawOperations,
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
}

/// `[storage]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`; default
    /// `sqlite://<data dir>/bpops.db`.
    pub url: Option<String>,
}

/// `[operations]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOperations {
    /// How long results stay readable after an operation finishes (humantime, default 1h).
    pub retention: Option<String>,
    /// The longest ExecuteOperationSync waits (humantime, default 2s): the answer must reach
    /// the caller before its SDK gives up (the Node.js cores after 3 s by default, the Python
    /// SDKs after 10 s), else it gets no OperationId while the operation runs.
    pub sync_wait: Option<String>,
    /// How long a node's claim on a running operation holds unless renewed (humantime,
    /// default 30s); another node takes the operation over after it.
    pub lease: Option<String>,
    /// On SIGTERM or Ctrl-C, how long running operations may go on to finish before their
    /// leases are released for another node or a restart (humantime, default 10s, at most
    /// 10m).
    pub shutdown_grace: Option<String>,
    /// Emulated latency and failure injection per operation.
    #[serde(default)]
    pub emulation: Vec<RawEmulation>,
    /// Operations users declare and bind to their own programs or HTTP endpoints.
    #[serde(default)]
    pub declared: Vec<Declared>,
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
    pub latency: Option<String>,
    /// Share of runs that fail, 0.0 to 1.0 (default 0).
    #[serde(default)]
    pub failure_rate: f64,
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessKey {
    /// AccessKeyId.
    pub id: String,
    /// AccessKeySecret.
    pub secret: String,
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

impl std::fmt::Debug for RawAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("account", &self.account)
            .field("user", &self.user)
            .field("active", &self.active)
            .finish()
    }
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

/// Where operations are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by several nodes, as a `postgres://` URL.
    Postgres(String),
}

/// The URL's password, if any, is a secret: shown as `<redacted>`.
impl std::fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StorageUrl::Postgres(url) => {
                // postgres://user:secret@host/db → postgres://user:<redacted>@host/db
                let userinfo = url.find("://").map(|i| i + 3).zip(url.rfind('@'));
                let password = userinfo
                    .filter(|(start, at)| start < at)
                    .and_then(|(start, at)| url[start..at].find(':').map(|c| (start + c, at)));
                match password {
                    Some((colon, at)) => write!(f, "{}:<redacted>{}", &url[..colon], &url[at..]),
                    None => f.write_str(url),
                }
            }
        }
    }
}

impl std::fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            StorageUrl::Sqlite(_) => "Sqlite",
            StorageUrl::Postgres(_) => "Postgres",
        };
        f.debug_tuple(kind).field(&self.to_string()).finish()
    }
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Address to listen on, if the file says.
    pub listen: Option<SocketAddr>,
    /// Where operations are stored, if the file says.
    pub storage: Option<StorageUrl>,
    /// Engine settings.
    pub engine: bpops_engine::Settings,
    /// Request-path settings.
    pub api: bpops_api::Settings,
    /// Who exists.
    pub directory: Directory,
    /// Resources to seed the inventory with.
    pub resources: Vec<Resource>,
    /// The operations: built-in and declared.
    pub catalog: Catalog,
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("invalid configuration {}", path.display()))
}

/// Parses and validates configuration text.
pub fn parse(text: &str) -> anyhow::Result<Config> {
    let raw: RawConfig = toml::from_str(text)?;
    raw.validate()
}

/// Parses a `sqlite://PATH` or `postgres://USER@HOST:PORT/DB` (also `postgresql://`) URL;
/// the backend is chosen from the scheme, once.
pub fn parse_storage_url(url: &str) -> anyhow::Result<StorageUrl> {
    const VALID: &str = "use sqlite://PATH or postgres://USER@HOST:PORT/DB";
    match url.split_once("://") {
        Some(("sqlite", path)) if !path.is_empty() => Ok(StorageUrl::Sqlite(PathBuf::from(path))),
        Some(("sqlite", _)) => bail!("{url:?} names no file: use sqlite://PATH"),
        Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => {
            Ok(StorageUrl::Postgres(url.to_owned()))
        }
        Some(("postgres" | "postgresql", _)) => bail!("{url:?} names no server: {VALID}"),
        _ => bail!("{url:?} is not a supported storage URL: {VALID}"),
    }
}

fn duration(
    table: &str,
    key: &str,
    value: Option<&str>,
    default: Duration,
) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text).with_context(|| {
            format!("[{table}] {key} = {text:?} is not a duration such as \"90s\" or \"1h\"")
        }),
    }
}

impl RawConfig {
    /// Checks every value and reference, and builds the typed configuration.
    pub fn validate(mut self) -> anyhow::Result<Config> {
        let declared = std::mem::take(&mut self.operations.declared);
        let catalog = Catalog::builtin()
            .with_declared(declared, &bpops_executors::resolve_program)
            .context("[[operations.declared]]")?;
        let listen = match &self.listen {
            None => None,
            Some(text) => Some(text.parse().with_context(|| {
                format!("listen = {text:?} is not an address such as \"127.0.0.1:8080\"")
            })?),
        };
        let storage = match &self.storage.url {
            None => None,
            Some(url) => Some(parse_storage_url(url).context("[storage] url")?),
        };

        let mut engine = bpops_engine::Settings {
            retention: duration(
                "operations",
                "retention",
                self.operations.retention.as_deref(),
                Duration::from_secs(3600),
            )?,
            lease: duration(
                "operations",
                "lease",
                self.operations.lease.as_deref(),
                Duration::from_secs(30),
            )?,
            shutdown_grace: duration(
                "operations",
                "shutdown_grace",
                self.operations.shutdown_grace.as_deref(),
                Duration::from_secs(10),
            )?,
            ..bpops_engine::Settings::default()
        };
        if engine.shutdown_grace > Duration::from_secs(600) {
            bail!("[operations] shutdown_grace must be at most 10m");
        }
        if engine.lease < Duration::from_millis(100) {
            bail!("[operations] lease must be at least 100ms");
        }
        if engine.retention.is_zero() {
            bail!("[operations] retention must be longer than zero");
        }
        let defaults = bpops_api::Settings::default();
        let api = bpops_api::Settings {
            sync_wait: duration(
                "operations",
                "sync_wait",
                self.operations.sync_wait.as_deref(),
                defaults.sync_wait,
            )?,
            ..defaults
        };
        if api.sync_wait >= Duration::from_secs(10) {
            bail!(
                "[operations] sync_wait must be shorter than 10s, the Python SDKs' default read \
                 timeout (the Node.js SDK cores stop reading after 3s)"
            );
        }
        for (n, e) in self.operations.emulation.iter().enumerate() {
            let at = format!(
                "[[operations.emulation]] entry {} ({}:{})",
                n + 1,
                e.service,
                e.operation
            );
            catalog
                .entry(&e.service, &e.operation)
                .with_context(|| at.clone())?;
            if !(0.0..=1.0).contains(&e.failure_rate) {
                bail!("{at}: failure_rate must be between 0.0 and 1.0");
            }
            let latency = duration(
                "operations.emulation",
                "latency",
                e.latency.as_deref(),
                Duration::ZERO,
            )
            .with_context(|| at.clone())?;
            let key = (e.service.clone(), e.operation.clone());
            if engine
                .emulation
                .insert(
                    key,
                    Emulation {
                        latency,
                        failure_rate: e.failure_rate,
                    },
                )
                .is_some()
            {
                bail!("{at}: declared twice");
            }
        }

        let mut accounts = HashSet::new();
        for (n, a) in self.accounts.iter().enumerate() {
            if a.id.is_empty() || !accounts.insert(a.id.as_str()) {
                bail!(
                    "[[accounts]] entry {}: id {:?} is empty or declared twice",
                    n + 1,
                    a.id
                );
            }
        }
        let account_exists = |table: &str, n: usize, what: &str, account: &str| {
            if accounts.contains(account) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "[[{table}]] entry {} ({what}): account {account:?} is not declared in [[accounts]]",
                    n + 1
                ))
            }
        };

        let mut directory = Directory::builder();
        let mut groups = HashSet::new();
        for (n, g) in self.resource_groups.iter().enumerate() {
            account_exists("resource_groups", n, &g.id, &g.account)?;
            if !groups.insert((g.account.as_str(), g.id.as_str())) {
                bail!(
                    "[[resource_groups]] entry {} ({}): declared twice in account {}",
                    n + 1,
                    g.id,
                    g.account
                );
            }
            directory = directory.resource_group(&g.account, &g.id);
        }

        let mut applications: HashMap<&str, Vec<&str>> = HashMap::new();
        for (n, a) in self.applications.iter().enumerate() {
            account_exists("applications", n, &a.id, &a.account)?;
            if let Some(group) = &a.resource_group
                && !groups.contains(&(a.account.as_str(), group.as_str()))
            {
                bail!(
                    "[[applications]] entry {} ({}): resource group {group:?} does not exist in account {}",
                    n + 1,
                    a.id,
                    a.account
                );
            }
            let owners = applications.entry(a.id.as_str()).or_default();
            if owners.contains(&a.account.as_str()) {
                bail!(
                    "[[applications]] entry {} ({}): declared twice in account {}",
                    n + 1,
                    a.id,
                    a.account
                );
            }
            owners.push(a.account.as_str());
            directory = directory.application(
                &a.account,
                &a.id,
                Application {
                    resource_group: a.resource_group.clone(),
                },
            );
        }

        let mut resources = Vec::new();
        let mut seen_resources = HashSet::new();
        for (n, r) in self.resources.iter().enumerate() {
            let at = format!("[[resources]] entry {} ({})", n + 1, r.id);
            let owners = applications
                .get(r.application.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let account = match (&r.account, owners) {
                (_, []) => bail!(
                    "{at}: application {:?} is not declared in [[applications]]",
                    r.application
                ),
                (Some(account), owners) if owners.contains(&account.as_str()) => account.clone(),
                (Some(account), _) => bail!(
                    "{at}: application {:?} does not exist in account {account}",
                    r.application
                ),
                (None, [only]) => (*only).to_owned(),
                (None, _) => bail!(
                    "{at}: application {:?} exists in several accounts; add `account`",
                    r.application
                ),
            };
            if catalog.operations(&r.service).is_none() {
                bail!(
                    "{at}: service {:?} is not one of {:?}",
                    r.service,
                    catalog.services()
                );
            }
            if r.id.is_empty()
                || !seen_resources.insert((account.clone(), r.service.clone(), r.id.clone()))
            {
                bail!("{at}: id is empty or declared twice");
            }
            resources.push(Resource {
                key: ResourceKey {
                    account: AccountId::new(account),
                    service: r.service.clone(),
                    id: r.id.clone(),
                },
                application: r.application.clone(),
                properties: r.properties.clone(),
            });
        }

        let mut users = HashSet::new();
        for (n, u) in self.users.iter().enumerate() {
            account_exists("users", n, &u.name, &u.account)?;
            if !users.insert((u.account.as_str(), u.name.as_str())) {
                bail!(
                    "[[users]] entry {} ({}): declared twice in account {}",
                    n + 1,
                    u.name,
                    u.account
                );
            }
        }

        let mut key_ids = HashSet::new();
        for (n, k) in self.access_keys.iter().enumerate() {
            account_exists("access_keys", n, &k.id, &k.account)?;
            let at = format!("[[access_keys]] entry {} ({})", n + 1, k.id);
            if k.id.is_empty() || !key_ids.insert(k.id.as_str()) {
                bail!("{at}: id is empty or declared twice");
            }
            if k.secret.is_empty() {
                bail!("{at}: secret is empty");
            }
            let principal = match &k.user {
                None => Principal::Root {
                    account: k.account.clone(),
                },
                Some(user) if users.contains(&(k.account.as_str(), user.as_str())) => {
                    Principal::User {
                        account: k.account.clone(),
                        name: user.clone(),
                    }
                }
                Some(user) => bail!(
                    "{at}: user {user:?} is not declared in [[users]] of account {}",
                    k.account
                ),
            };
            directory = directory.key(AccessKey {
                id: k.id.clone(),
                secret: Secret::new(k.secret.clone()),
                principal,
                active: k.active,
            });
        }

        let mut policies = HashMap::new();
        for (n, p) in self.policies.iter().enumerate() {
            account_exists("policies", n, &p.name, &p.account)?;
            let at = format!("[[policies]] entry {} ({})", n + 1, p.name);
            // N.B. a malformed document stops start-up: skipping it could drop a Deny.
            let policy = Policy::parse(&p.name, &p.document).map_err(|e| anyhow!("{at}: {e}"))?;
            let key = (p.account.as_str(), p.name.as_str());
            if policies.insert(key, Arc::new(policy)).is_some() {
                bail!("{at}: declared twice in account {}", p.account);
            }
        }

        for (n, a) in self.attachments.iter().enumerate() {
            account_exists("attachments", n, &a.policy, &a.account)?;
            let at = format!(
                "[[attachments]] entry {} ({} → {})",
                n + 1,
                a.policy,
                a.user
            );
            let Some(policy) = policies.get(&(a.account.as_str(), a.policy.as_str())) else {
                bail!(
                    "{at}: policy {:?} is not declared in [[policies]] of account {}",
                    a.policy,
                    a.account
                );
            };
            if !users.contains(&(a.account.as_str(), a.user.as_str())) {
                bail!(
                    "{at}: user {:?} is not declared in [[users]] of account {}",
                    a.user,
                    a.account
                );
            }
            let scope = if a.scope == "account" {
                Scope::Account
            } else if groups.contains(&(a.account.as_str(), a.scope.as_str())) {
                Scope::ResourceGroup(a.scope.clone())
            } else {
                bail!(
                    "{at}: scope {:?} is neither \"account\" nor a resource group of account {}",
                    a.scope,
                    a.account
                );
            };
            directory = directory.grant(
                &a.account,
                &a.user,
                Grant {
                    policy: Arc::clone(policy),
                    scope,
                },
            );
        }

        Ok(Config {
            listen,
            storage,
            engine,
            api,
            directory: directory.build(),
            resources,
            catalog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> anyhow::Result<Config> {
        parse(text)
    }

    fn error(text: &str) -> String {
        format!("{:#}", check(text).expect_err("must be refused"))
    }

    const ALLOW_ALL: &str =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

    const BASE: &str = r#"
        [[accounts]]
        id = "1001"
        [[resource_groups]]
        account = "1001"
        id = "rg-prod"
        [[applications]]
        account = "1001"
        id = "APP"
        resource_group = "rg-prod"
        [[users]]
        account = "1001"
        name = "reader"
    "#;

    #[test]
    fn the_example_configuration_is_valid() {
        let text = include_str!("../../../bpops.example.toml");
        let config = check(text).expect("the example validates");
        assert!(config.directory.key("LTAI5tExampleRoot000001").is_some());
        assert!(!config.resources.is_empty());
    }

    #[test]
    fn an_empty_file_gives_defaults() {
        let config = check("").unwrap();
        assert_eq!(config.engine.retention, Duration::from_secs(3600));
        assert_eq!(config.api.sync_wait, Duration::from_secs(2));
        assert_eq!(config.engine.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.listen, None);
        assert_eq!(config.storage, None);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        assert!(
            error("[operations]\nretention = \"1h\"\nretnetion = \"2h\"").contains("retnetion")
        );
        assert!(error("[[accounts]]\nid = \"1\"\ncolour = \"red\"").contains("colour"));
    }

    #[test]
    fn dangling_references_name_table_entry_and_problem() {
        let e = error(&format!(
            "{BASE}[[access_keys]]\nid = \"K\"\nsecret = \"s\"\naccount = \"1001\"\nuser = \"ghost\""
        ));
        assert!(
            e.contains("[[access_keys]] entry 1 (K)") && e.contains("\"ghost\""),
            "{e}"
        );
        let e = error(&format!(
            "{BASE}[[applications]]\naccount = \"1001\"\nid = \"APP2\"\nresource_group = \"rg-nope\""
        ));
        assert!(
            e.contains("[[applications]] entry 2 (APP2)") && e.contains("rg-nope"),
            "{e}"
        );
        let e = error("[[users]]\naccount = \"404\"\nname = \"u\"");
        assert!(
            e.contains("[[users]] entry 1 (u)") && e.contains("\"404\""),
            "{e}"
        );
        let e = error(&format!(
            "{BASE}[[resources]]\napplication = \"NOAPP\"\nservice = \"ecs\"\nid = \"i-1\""
        ));
        assert!(
            e.contains("[[resources]] entry 1 (i-1)") && e.contains("NOAPP"),
            "{e}"
        );
        let e = error(&format!(
            "{BASE}[[policies]]\naccount = \"1001\"\nname = \"P\"\ndocument = '{ALLOW_ALL}'\n[[attachments]]\naccount = \"1001\"\npolicy = \"P\"\nuser = \"reader\"\nscope = \"rg-other\""
        ));
        assert!(
            e.contains("[[attachments]] entry 1") && e.contains("rg-other"),
            "{e}"
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        assert!(error("[operations]\nretention = \"soon\"").contains("retention"));
        assert!(error("[operations]\nretention = \"0s\"").contains("retention"));
        assert!(error("[operations]\nsync_wait = \"30s\"").contains("sync_wait"));
        assert!(error("[operations]\nshutdown_grace = \"later\"").contains("shutdown_grace"));
        assert!(error("[operations]\nshutdown_grace = \"1h\"").contains("shutdown_grace"));
        assert!(error("listen = \"nowhere\"").contains("listen"));
        assert!(error("[storage]\nurl = \"mysql://x\"").contains("sqlite://"));
        let e = error(
            "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nfailure_rate = 2.0",
        );
        assert!(e.contains("failure_rate"), "{e}");
        let e = error("[[operations.emulation]]\nservice = \"ecs\"\noperation = \"nope\"");
        assert!(
            e.contains("[[operations.emulation]] entry 1 (ecs:nope)"),
            "{e}"
        );
        let e = error(&format!(
            "{BASE}[[resources]]\napplication = \"APP\"\nservice = \"rds\"\nid = \"x\""
        ));
        assert!(e.contains("rds"), "{e}");
        let e = error(&format!(
            "{BASE}[[policies]]\naccount = \"1001\"\nname = \"P\"\ndocument = 'not json'"
        ));
        assert!(e.contains("[[policies]] entry 1 (P)"), "{e}");
    }

    #[test]
    fn a_malformed_policy_stops_start_up_naming_policy_statement_and_problem() {
        let e = error(&format!(
            "{BASE}[[policies]]\naccount = \"1001\"\nname = \"NoDeletes\"\ndocument = '{{\"Version\":\"1\",\"Statement\":[{{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{{\"StringEquals\":{{\"bpstudio:Opration\":\"ecsDelete\"}}}}}}]}}'"
        ));
        assert!(
            e.contains("[[policies]] entry 1 (NoDeletes)")
                && e.contains("Statement 1")
                && e.contains("bpstudio:Opration"),
            "{e}"
        );
    }

    #[test]
    fn attachments_become_grants_of_their_user_with_their_scope() {
        let config = check(&format!(
            "{BASE}[[policies]]\naccount = \"1001\"\nname = \"P\"\ndocument = '{ALLOW_ALL}'\n\
             [[attachments]]\naccount = \"1001\"\npolicy = \"P\"\nuser = \"reader\"\nscope = \"account\"\n\
             [[attachments]]\naccount = \"1001\"\npolicy = \"P\"\nuser = \"reader\"\nscope = \"rg-prod\""
        ))
        .unwrap();
        let reader = Principal::User {
            account: "1001".into(),
            name: "reader".into(),
        };
        let scopes: Vec<_> = config
            .directory
            .grants(&reader)
            .iter()
            .map(|g| (g.policy.name().to_owned(), g.scope.clone()))
            .collect();
        assert_eq!(
            scopes,
            [
                ("P".to_owned(), Scope::Account),
                ("P".to_owned(), Scope::ResourceGroup("rg-prod".into()))
            ]
        );
    }

    #[test]
    fn an_inactive_key_is_kept_inactive() {
        let config = check(&format!(
            "{BASE}[[access_keys]]\nid = \"K\"\nsecret = \"s\"\naccount = \"1001\"\nactive = false"
        ))
        .unwrap();
        assert!(!config.directory.key("K").unwrap().active);
    }

    #[test]
    fn errors_about_access_keys_never_show_the_secret() {
        let e = error(&format!(
            "{BASE}[[access_keys]]\nid = \"K\"\nsecret = \"hunter2\"\naccount = \"1001\"\nuser = \"ghost\"\n\
             [[access_keys]]\nid = \"K\"\nsecret = \"hunter3\"\naccount = \"1001\""
        ));
        assert!(!e.contains("hunter"), "{e}");
    }

    #[test]
    fn emulation_is_read_per_operation() {
        let config = check("[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"250ms\"\nfailure_rate = 0.5").unwrap();
        let e = config.engine.emulation("ecs", "rename");
        assert_eq!(e.latency, Duration::from_millis(250));
        assert_eq!(e.failure_rate, 0.5);
        assert_eq!(
            config.engine.emulation("ecs", "addTags").latency,
            Duration::ZERO
        );
    }

    #[test]
    fn access_key_secrets_never_show_in_debug_output() {
        let raw: RawConfig =
            toml::from_str("[[access_keys]]\nid = \"K\"\nsecret = \"hunter2\"\naccount = \"1\"")
                .unwrap();
        assert!(!format!("{raw:?}").contains("hunter2"));
    }
}
