//! The configuration file: raw structs that mirror the TOML exactly ([`raw`]), then
//! [`RawConfig::validate`] into typed settings, table by table. Every error names the table,
//! the entry and the problem.

mod audit;
mod iam;
mod node;
mod notifications;
mod operations;
mod raw;
mod storage;
mod telemetry;
mod tenancy;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use bpops_catalog::Catalog;
use bpops_iam::Directory;
use bpops_store::{AccountId, Resource};

pub use raw::{ClockKind, RawConfig};
pub use storage::{StorageUrl, parse_storage_url};

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
    /// Applications to seed the store with, as deployed.
    pub applications: Vec<DeclaredApplication>,
    /// Resources to seed the inventory with.
    pub resources: Vec<Resource>,
    /// The operations and the templates: built-in and declared.
    pub catalog: Catalog,
    /// `[testing] clock`.
    pub clock: ClockKind,
    /// `[telemetry]`: where spans are exported, when they are.
    pub telemetry: Option<bpops_telemetry::Settings>,
}

/// An application `[[applications]]` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredApplication {
    /// Its account.
    pub account: AccountId,
    /// Its id, also its name.
    pub id: String,
    /// Its resource group, if any.
    pub resource_group: Option<String>,
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

/// `listen`
fn listen(text: Option<&str>) -> anyhow::Result<Option<SocketAddr>> {
    text.map(|text| {
        text.parse().with_context(|| {
            format!("listen = {text:?} is not an address such as \"127.0.0.1:8080\"")
        })
    })
    .transpose()
}

impl RawConfig {
    /// Checks every value and reference, and builds the typed configuration.
    pub fn validate(mut self) -> anyhow::Result<Config> {
        // N.B. the tables are checked in this order, each against those before it, so a
        // file with several mistakes is always refused for the same one.
        let catalog = operations::catalog(std::mem::take(&mut self.operations.declared))?;
        let catalog = operations::templates(catalog, std::mem::take(&mut self.templates))?;
        let listen = listen(self.listen.as_deref())?;
        let storage = storage::storage(&self.storage)?;
        let (engine, api) = operations::settings(&self.operations, &self.pricing, &catalog)?;
        let (mut engine, api) = audit::settings(&self.audit, engine, api)?;
        engine.node = node::name(&self.node)?;
        let telemetry = telemetry::settings(&self.telemetry)?;
        let accounts = tenancy::accounts(&self.accounts)?;
        engine.notifications = notifications::webhooks(&self.notifications, &accounts, &catalog)?;
        let groups = tenancy::resource_groups(&self.resource_groups, &accounts)?;
        let applications = tenancy::applications(&self.applications, &accounts, &groups)?;
        let resources = tenancy::resources(&self.resources, &applications, &catalog)?;
        let users = iam::users(&self.users, &accounts)?;
        let keys = iam::access_keys(&self.access_keys, &accounts, &users)?;
        let policies = iam::policies(&self.policies, &accounts)?;
        let grants = iam::attachments(&self.attachments, &accounts, &policies, &users, &groups)?;

        let mut directory = Directory::builder();
        for g in &self.resource_groups {
            directory = directory.resource_group(&g.account, &g.id);
        }
        for key in keys {
            directory = directory.key(key);
        }
        for (account, user, grant) in grants {
            directory = directory.grant(account, user, grant);
        }
        Ok(Config {
            listen,
            storage,
            engine,
            api,
            directory: directory.build(),
            applications: self
                .applications
                .into_iter()
                .map(|a| DeclaredApplication {
                    account: AccountId::new(a.account),
                    id: a.id,
                    resource_group: a.resource_group,
                })
                .collect(),
            resources,
            catalog,
            clock: self.testing.clock,
            telemetry,
        })
    }
}
