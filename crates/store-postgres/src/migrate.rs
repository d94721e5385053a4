//! Versioned schema migrations, embedded in the binary and applied at open.
//!
//! The numbered names match the SQLite backend's, so a version means the same schema on
//! both. Everything runs in one transaction holding an advisory lock, so nodes starting at
//! once apply each migration exactly once: the others wait, then find it applied.

use bpops_store::Result;
use tokio_postgres::Client;

use crate::from_pg;

/// `(version, name, sql)`, in order; never edit one that has shipped, add a new one.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "signature_nonces",
        include_str!("../migrations/0002_signature_nonces.sql"),
    ),
    (
        3,
        "list_and_cancel",
        include_str!("../migrations/0003_list_and_cancel.sql"),
    ),
    (
        4,
        "applications",
        include_str!("../migrations/0004_applications.sql"),
    ),
    (
        5,
        "operation_events",
        include_str!("../migrations/0005_operation_events.sql"),
    ),
    (
        6,
        "audit_trail",
        include_str!("../migrations/0006_audit_trail.sql"),
    ),
    (
        7,
        "submitted_by",
        include_str!("../migrations/0007_submitted_by.sql"),
    ),
    (
        8,
        "notification_deliveries",
        include_str!("../migrations/0008_notification_deliveries.sql"),
    ),
    (
        9,
        "console_sessions",
        include_str!("../migrations/0009_console_sessions.sql"),
    ),
    (10, "pools", include_str!("../migrations/0010_pools.sql")),
];

/// The advisory lock key of migrations (any constant that nothing else uses).
const MIGRATION_LOCK: i64 = 0x6270_6f70_735f_6d67; // "bpops_mg"

/// Brings the schema to the newest version.
pub(crate) async fn migrate(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await.map_err(from_pg)?;
    // N.B. the lock comes first: even CREATE TABLE IF NOT EXISTS races between sessions.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(from_pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             name       TEXT   NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(from_pg)?;
    for &(version, name, sql) in MIGRATIONS {
        let applied = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await
            .map_err(from_pg)?
            .is_some();
        if !applied {
            tx.batch_execute(sql).await.map_err(from_pg)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, &name],
            )
            .await
            .map_err(from_pg)?;
            tracing::info!(version, name, "applied migration");
        }
    }
    tx.commit().await.map_err(from_pg)
}
