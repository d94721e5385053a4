//! `[[users]]`, `[[access_keys]]`, `[[policies]]` and `[[attachments]]`: who signs requests
//! and what they may do. A table refers only to tables checked before it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{anyhow, bail};
use bpops_iam::{AccessKey, ExposeSecret, Grant, Policy, Principal, Scope};

use super::raw::{RawAccessKey, RawAttachment, RawPolicy, RawUser};
use super::tenancy::{Accounts, PerAccount};

/// Policies by `(account, name)`.
pub(super) type Policies<'a> = HashMap<(&'a str, &'a str), Arc<Policy>>;

/// A grant to a user: `(account, user, grant)`.
pub(super) type UserGrant<'a> = (&'a str, &'a str, Grant);

/// `[[users]]`
pub(super) fn users<'a>(
    raw: &'a [RawUser],
    accounts: &Accounts<'_>,
) -> anyhow::Result<PerAccount<'a>> {
    let names = raw.iter().map(|u| (u.account.as_str(), u.name.as_str()));
    accounts.names("users", names)
}

/// `[[access_keys]]`
pub(super) fn access_keys(
    raw: &[RawAccessKey],
    accounts: &Accounts<'_>,
    users: &PerAccount<'_>,
) -> anyhow::Result<Vec<AccessKey>> {
    let mut keys = Vec::new();
    let mut ids = HashSet::new();
    for (n, k) in raw.iter().enumerate() {
        accounts.require("access_keys", n, &k.id, &k.account)?;
        let at = format!("[[access_keys]] entry {} ({})", n + 1, k.id);
        if k.id.is_empty() || !ids.insert(k.id.as_str()) {
            bail!("{at}: id is empty or declared twice");
        }
        if k.secret.expose_secret().is_empty() {
            bail!("{at}: secret is empty");
        }
        let principal = match &k.user {
            None => Principal::Root {
                account: k.account.clone(),
            },
            Some(user) if users.contains(&(k.account.as_str(), user.as_str())) => Principal::User {
                account: k.account.clone(),
                name: user.clone(),
            },
            Some(user) => bail!(
                "{at}: user {user:?} is not declared in [[users]] of account {}",
                k.account
            ),
        };
        keys.push(AccessKey {
            id: k.id.clone(),
            secret: k.secret.clone(),
            principal,
            active: k.active,
        });
    }
    Ok(keys)
}

/// `[[policies]]`
pub(super) fn policies<'a>(
    raw: &'a [RawPolicy],
    accounts: &Accounts<'_>,
) -> anyhow::Result<Policies<'a>> {
    let mut policies = Policies::new();
    for (n, p) in raw.iter().enumerate() {
        accounts.require("policies", n, &p.name, &p.account)?;
        let at = format!("[[policies]] entry {} ({})", n + 1, p.name);
        // N.B. a malformed document stops start-up: skipping it could drop a Deny.
        let policy = Policy::parse(&p.name, &p.document).map_err(|e| anyhow!("{at}: {e}"))?;
        let key = (p.account.as_str(), p.name.as_str());
        if policies.insert(key, Arc::new(policy)).is_some() {
            bail!("{at}: declared twice in account {}", p.account);
        }
    }
    Ok(policies)
}

/// `[[attachments]]`: each a grant of a policy to a user, over the account or one of its
/// resource groups.
pub(super) fn attachments<'a>(
    raw: &'a [RawAttachment],
    accounts: &Accounts<'_>,
    policies: &Policies<'_>,
    users: &PerAccount<'_>,
    groups: &PerAccount<'_>,
) -> anyhow::Result<Vec<UserGrant<'a>>> {
    let mut grants = Vec::new();
    for (n, a) in raw.iter().enumerate() {
        accounts.require("attachments", n, &a.policy, &a.account)?;
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
        let grant = Grant {
            policy: Arc::clone(policy),
            scope,
        };
        grants.push((a.account.as_str(), a.user.as_str(), grant));
    }
    Ok(grants)
}
