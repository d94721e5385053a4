//! `[operations]` and `[[templates]]`: the catalog with the declared operations and
//! templates, the timing of operations and their emulation, as the engine's and the api's
//! settings.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bpops_catalog::lifecycle::Prices;
use bpops_catalog::{Catalog, Declared, Template};
use bpops_engine::{Emulation, STEP_SERVICE, Step};

use bpops_store::{Budget, Pool};

use super::raw::{RawConcurrency, RawEmulation, RawOperations, RawPricing};

/// `[[operations.declared]]`: the built-in operations and the declared ones.
pub(super) fn catalog(declared: Vec<Declared>) -> anyhow::Result<Catalog> {
    Catalog::builtin()
        .with_declared(declared, &bpops_executors::resolve_program)
        .context("[[operations.declared]]")
}

/// `[[templates]]`: the catalog with the declared templates beside the built-in ones.
pub(super) fn templates(mut catalog: Catalog, templates: Vec<Template>) -> anyhow::Result<Catalog> {
    for (n, template) in templates.into_iter().enumerate() {
        let id = template.id.clone();
        catalog = catalog.with_template(template).map_err(|e| {
            anyhow!(
                "[[templates]] entry {} ({id}): {}: {}",
                n + 1,
                e.field,
                e.reason
            )
        })?;
    }
    Ok(catalog)
}

/// `[operations]`: its durations checked against their bounds, then its emulations; and
/// `[pricing]`.
pub(super) fn settings(
    raw: &RawOperations,
    pricing: &RawPricing,
    catalog: &Catalog,
) -> anyhow::Result<(bpops_engine::Settings, bpops_api::Settings)> {
    if raw.shutdown_grace > Duration::from_secs(600) {
        bail!("[operations] shutdown_grace must be at most 10m");
    }
    if raw.lease < Duration::from_millis(100) {
        bail!("[operations] lease must be at least 100ms");
    }
    if raw.retention.is_zero() {
        bail!("[operations] retention must be longer than zero");
    }
    if raw.sync_wait >= Duration::from_secs(10) {
        bail!(
            "[operations] sync_wait must be shorter than 10s, the Python SDKs' default read \
             timeout (the Node.js SDK cores stop reading after 3s)"
        );
    }
    let engine = bpops_engine::Settings {
        retention: raw.retention,
        lease: raw.lease,
        shutdown_grace: raw.shutdown_grace,
        concurrency: concurrency(&raw.concurrency)?,
        emulation: emulations(&raw.emulation, catalog)?,
        prices: prices(pricing)?,
        ..bpops_engine::Settings::default()
    };
    let api = bpops_api::Settings {
        sync_wait: raw.sync_wait,
        ..bpops_api::Settings::default()
    };
    Ok((engine, api))
}

/// The most attempts of one pool a node may be told to run at once.
const MAX_CONCURRENCY: usize = 100_000;

/// `[operations.concurrency]`: each pool's limit, or its default. Zero is allowed: a node
/// that runs none of a pool's operations leaves them to the other nodes.
fn concurrency(raw: &RawConcurrency) -> anyhow::Result<Budget> {
    let mut limits = bpops_engine::default_concurrency();
    for (pool, limit) in [
        (Pool::Emulated, raw.emulated),
        (Pool::Http, raw.http),
        (Pool::Command, raw.command),
        (Pool::Step, raw.step),
    ] {
        if let Some(limit) = limit {
            if limit > MAX_CONCURRENCY {
                bail!("[operations.concurrency] {pool} must be at most {MAX_CONCURRENCY}");
            }
            limits[pool] = limit;
        }
    }
    Ok(limits)
}

/// `[pricing]`: finite prices of zero or more, over the built-in ones.
fn prices(raw: &RawPricing) -> anyhow::Result<Prices> {
    let mut prices = Prices::default();
    for (service, table) in [("ecs", &raw.ecs), ("slb", &raw.slb)] {
        for (specification, per_hour) in table {
            if specification.is_empty() {
                bail!("[pricing.{service}]: a specification must not be empty");
            }
            if !per_hour.is_finite() || *per_hour < 0.0 {
                bail!(
                    "[pricing.{service}] {specification:?}: the price must be a number of \
                     zero or more"
                );
            }
            prices.set(service, specification, *per_hour);
        }
    }
    Ok(prices)
}

/// `[[operations.emulation]]`: one per catalogued operation, or per application step that
/// creates or deletes resources (`bpstudio:deployApplication`, `bpstudio:releaseApplication`).
fn emulations(
    raw: &[RawEmulation],
    catalog: &Catalog,
) -> anyhow::Result<HashMap<(String, String), Emulation>> {
    let mut emulation = HashMap::new();
    for (n, e) in raw.iter().enumerate() {
        let at = format!(
            "[[operations.emulation]] entry {} ({}:{})",
            n + 1,
            e.service,
            e.operation
        );
        let step = Some(e.service.as_str())
            .filter(|service| *service == STEP_SERVICE)
            .and_then(|_| Step::from_operation(&e.operation));
        if !step.is_some_and(Step::emulated) {
            catalog
                .entry(&e.service, &e.operation)
                .with_context(|| at.clone())?;
        }
        if !(0.0..=1.0).contains(&e.failure_rate) {
            bail!("{at}: failure_rate must be between 0.0 and 1.0");
        }
        let key = (e.service.clone(), e.operation.clone());
        let value = Emulation {
            latency: e.latency,
            failure_rate: e.failure_rate,
        };
        if emulation.insert(key, value).is_some() {
            bail!("{at}: declared twice");
        }
    }
    Ok(emulation)
}
