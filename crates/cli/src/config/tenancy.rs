//! `[[accounts]]`, `[[resource_groups]]`, `[[applications]]` and `[[resources]]`: the tenants
//! and what they own. A table refers only to tables checked before it.

use std::collections::{HashMap, HashSet};

use anyhow::{anyhow, bail};
use bpops_catalog::Catalog;
use bpops_store::{AccountId, Resource, ResourceKey};

use super::raw::{RawAccount, RawApplication, RawResource, RawResourceGroup};

/// The declared accounts.
pub(super) struct Accounts<'a>(HashSet<&'a str>);

impl Accounts<'_> {
    /// Whether `account` is declared.
    pub(super) fn contains(&self, account: &str) -> bool {
        self.0.contains(account)
    }

    /// Refuses entry `n` (from 0) of `table`, `what`, if its account is not declared.
    pub(super) fn require(
        &self,
        table: &str,
        n: usize,
        what: &str,
        account: &str,
    ) -> anyhow::Result<()> {
        if self.0.contains(account) {
            Ok(())
        } else {
            Err(anyhow!(
                "[[{table}]] entry {} ({what}): account {account:?} is not declared in [[accounts]]",
                n + 1
            ))
        }
    }

    /// The `(account, name)` of each entry of `table`, refused if its account is not
    /// declared or the name is declared twice in it.
    pub(super) fn names<'a>(
        &self,
        table: &str,
        entries: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<PerAccount<'a>> {
        let mut names = HashSet::new();
        for (n, (account, name)) in entries.enumerate() {
            self.require(table, n, name, account)?;
            if !names.insert((account, name)) {
                bail!(
                    "[[{table}]] entry {} ({name}): declared twice in account {account}",
                    n + 1
                );
            }
        }
        Ok(names)
    }
}

/// Names declared per account, as `(account, name)`.
pub(super) type PerAccount<'a> = HashSet<(&'a str, &'a str)>;

/// Application id → the accounts that have an application of that id.
pub(super) type ApplicationOwners<'a> = HashMap<&'a str, Vec<&'a str>>;

/// `[[accounts]]`
pub(super) fn accounts(raw: &[RawAccount]) -> anyhow::Result<Accounts<'_>> {
    let mut accounts = HashSet::new();
    for (n, a) in raw.iter().enumerate() {
        if a.id.is_empty() || !accounts.insert(a.id.as_str()) {
            bail!(
                "[[accounts]] entry {}: id {:?} is empty or declared twice",
                n + 1,
                a.id
            );
        }
    }
    Ok(Accounts(accounts))
}

/// `[[resource_groups]]`
pub(super) fn resource_groups<'a>(
    raw: &'a [RawResourceGroup],
    accounts: &Accounts<'_>,
) -> anyhow::Result<PerAccount<'a>> {
    let names = raw.iter().map(|g| (g.account.as_str(), g.id.as_str()));
    accounts.names("resource_groups", names)
}

/// `[[applications]]`
pub(super) fn applications<'a>(
    raw: &'a [RawApplication],
    accounts: &Accounts<'_>,
    groups: &PerAccount<'_>,
) -> anyhow::Result<ApplicationOwners<'a>> {
    let mut applications = ApplicationOwners::new();
    for (n, a) in raw.iter().enumerate() {
        accounts.require("applications", n, &a.id, &a.account)?;
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
    }
    Ok(applications)
}

/// `[[resources]]`: the resources to seed the inventory with.
pub(super) fn resources(
    raw: &[RawResource],
    applications: &ApplicationOwners<'_>,
    catalog: &Catalog,
) -> anyhow::Result<Vec<Resource>> {
    let mut resources = Vec::new();
    let mut seen = HashSet::new();
    for (n, r) in raw.iter().enumerate() {
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
        if r.id.is_empty() || !seen.insert((account.clone(), r.service.clone(), r.id.clone())) {
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
    Ok(resources)
}
