//! Versioned schema migrations, embedded in the binary and applied at open.
//!
//! The numbered names match the PostgreSQL backend's, so a version means the same schema on
//! both. Each migration runs in its own transaction with its bookkeeping row.

use rusqlite::{Connection, TransactionBehavior};

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

/// Brings the database to the newest schema.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (unixepoch())
         )",
    )?;
    for &(version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |row| row.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                (version, name),
            )?;
            tracing::info!(version, name, "applied migration");
        }
        tx.commit()?;
    }
    Ok(())
}
