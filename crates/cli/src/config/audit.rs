//! `[audit]`: whether API requests are recorded, as the api's settings, and how long records
//! are kept, as the engine's (its sweeper deletes them).

use anyhow::bail;

use super::raw::RawAudit;

/// `[audit]` into the engine's and the api's settings.
pub(super) fn settings(
    raw: &RawAudit,
    engine: bpops_engine::Settings,
    api: bpops_api::Settings,
) -> anyhow::Result<(bpops_engine::Settings, bpops_api::Settings)> {
    if raw.retention.is_zero() {
        bail!("[audit] retention must be longer than zero");
    }
    let engine = bpops_engine::Settings {
        audit_retention: raw.retention,
        ..engine
    };
    let api = bpops_api::Settings {
        audit: bpops_api::AuditSettings {
            enabled: raw.enabled,
            ..api.audit
        },
        ..api
    };
    Ok((engine, api))
}
