//! `[[notifications]]`: the webhooks, checked entry by entry into the engine's settings.
//! Each error names the entry and the problem; a secret is never shown.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::bail;
use bpops_catalog::{Catalog, http_url_problem};
use bpops_engine::{STEP_SERVICE, Step, Webhook};
use bpops_store::{AccountId, ApplicationEvent, Event, EventFilter, Status};
use secrecy::ExposeSecret;

use super::raw::RawNotification;
use super::tenancy::Accounts;

/// The longest name accepted, in characters.
const MAX_NAME_CHARS: usize = 64;
/// The most values one filter lists.
const MAX_FILTER_VALUES: usize = 100;
/// The longest an attempt may wait: a deliverer's batch waits for its slowest attempt.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a delivery may be retried.
const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

pub(super) fn webhooks(
    raw: &[RawNotification],
    accounts: &Accounts<'_>,
    catalog: &Catalog,
) -> anyhow::Result<Vec<Webhook>> {
    let mut names = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(n, hook)| {
            let entry = format!("[[notifications]] entry {} ({:?})", n + 1, hook.name);
            if hook.name.is_empty()
                || hook.name.chars().count() > MAX_NAME_CHARS
                || hook.name.chars().any(char::is_control)
            {
                bail!("{entry}: name must be 1 to {MAX_NAME_CHARS} characters, none a control character");
            }
            if !names.insert(hook.name.as_str()) {
                bail!("{entry}: name is used by an earlier entry; names must be unique");
            }
            webhook(hook, accounts, catalog).map_err(|why| anyhow::anyhow!("{entry}: {why}"))
        })
        .collect()
}

fn webhook(
    raw: &RawNotification,
    accounts: &Accounts<'_>,
    catalog: &Catalog,
) -> Result<Webhook, String> {
    if let Some(why) = http_url_problem(&raw.url) {
        return Err(format!("url {why}"));
    }
    if raw.secret.expose_secret().is_empty() {
        return Err("secret must not be empty".to_owned());
    }
    for (key, values) in [
        ("events", &raw.events),
        ("statuses", &raw.statuses),
        ("services", &raw.services),
        ("operations", &raw.operations),
        ("accounts", &raw.accounts),
        ("applications", &raw.applications),
    ] {
        if values.len() > MAX_FILTER_VALUES {
            return Err(format!("{key} lists more than {MAX_FILTER_VALUES} values"));
        }
        if values.iter().any(String::is_empty) {
            return Err(format!("{key} lists an empty value"));
        }
    }
    let kinds: Vec<&str> = Event::KINDS
        .into_iter()
        .chain(ApplicationEvent::KINDS)
        .collect();
    if let Some(kind) = raw.events.iter().find(|e| !kinds.contains(&e.as_str())) {
        return Err(format!(
            "events: {kind:?} is not an event kind; the kinds are {}",
            kinds.join(", ")
        ));
    }
    let statuses = raw
        .statuses
        .iter()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                format!("statuses: {s:?} is not a status; the statuses are INIT, RUNNING, SUCCESS, FAILURE")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Application lifecycle steps are operations of a service of their own.
    let mut services = catalog.services();
    services.push(STEP_SERVICE);
    if let Some(service) = raw
        .services
        .iter()
        .find(|s| !services.contains(&s.as_str()))
    {
        return Err(format!(
            "services: {service:?} is not a service of the catalog ({})",
            services.join(", ")
        ));
    }
    let known_operation = |op: &str| {
        Step::from_operation(op).is_some()
            || services.iter().any(|service| {
                catalog
                    .operations(service)
                    .is_some_and(|entries| entries.iter().any(|e| e.operation() == op))
            })
    };
    if let Some(op) = raw.operations.iter().find(|op| !known_operation(op)) {
        return Err(format!("operations: {op:?} is no operation of the catalog"));
    }
    if let Some(account) = raw.accounts.iter().find(|a| !accounts.contains(a)) {
        return Err(format!(
            "accounts: {account:?} is not declared in [[accounts]]"
        ));
    }
    if raw.max_age.is_zero() || raw.max_age > MAX_AGE {
        return Err(format!(
            "max_age must be longer than zero and at most {MAX_AGE:?}"
        ));
    }
    if raw.timeout.is_zero() || raw.timeout > MAX_TIMEOUT {
        return Err(format!(
            "timeout must be longer than zero and at most {MAX_TIMEOUT:?}"
        ));
    }
    if raw.backoff.is_zero() || raw.backoff > raw.max_age {
        return Err("backoff must be longer than zero and at most max_age".to_owned());
    }
    Ok(Webhook {
        name: raw.name.clone(),
        url: raw.url.clone(),
        secret: raw.secret.clone(),
        filter: EventFilter {
            events: raw.events.clone(),
            statuses,
            services: raw.services.clone(),
            operations: raw.operations.clone(),
            accounts: raw.accounts.iter().map(AccountId::new).collect(),
            applications: raw.applications.clone(),
        },
        max_age: raw.max_age,
        timeout: raw.timeout,
        backoff: raw.backoff,
    })
}
