//! Spent signature nonces, in a database file of their own (`<database>.nonces`) with a
//! writer thread of its own, so that spends, one per signed request, never queue behind
//! operations nor hold the operations' write lock. Spends that arrive together share one
//! transaction (group commit, see `writer`).
//!
//! Durability: `synchronous = NORMAL` in WAL mode. A commit is in the WAL file, in the
//! operating system's page cache, before its spend is answered, so spent nonces survive the
//! process dying (even `kill -9`), but the commit does not wait for the disk: a power loss or
//! an OS crash may lose the last spends, and a request captured just before it could then be
//! replayed once within its window (the clock check still bounds that). That keeps a disk
//! sync off every signed request; operations keep `synchronous = FULL`. PostgreSQL's nonces
//! make the same trade (`synchronous_commit = off`).

use std::path::Path;

use bpops_store::Result;
use rusqlite::{Connection, OptionalExtension};

use crate::from_sqlite;

/// How many expired nonces each spend forgets at most: more than one, so the table shrinks
/// back to about one window of spends, and few, so no spend pays for a long backlog (after a
/// long stop, say).
const FORGET_PER_SPEND: i64 = 8;

/// Opens (creating if needed) the nonce file beside the database at `database`, for a
/// writer of its own.
pub(crate) fn open(database: &Path) -> Result<Connection> {
    let mut path = database.as_os_str().to_owned();
    path.push(".nonces");
    let conn = Connection::open(path).map_err(from_sqlite)?;
    configure(&conn).map_err(from_sqlite)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A file of its own, versioned by itself: it holds nothing older than one window.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS signature_nonces (
             access_key_id TEXT    NOT NULL,
             nonce         TEXT    NOT NULL,
             expires_at    INTEGER NOT NULL,
             PRIMARY KEY (access_key_id, nonce)
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS signature_nonces_expires_at
             ON signature_nonces (expires_at);",
    )
}

/// Forgets a few expired nonces, then spends this one (see `Store::spend_nonce`): whether it
/// was new. A spend of an expired nonce that is still stored counts as new.
pub(crate) fn spend(
    conn: &mut Connection,
    access_key_id: &str,
    nonce: &str,
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<bool> {
    // `expires_at < now`: `bpops_store::nonce_expired`.
    conn.prepare_cached(
        "DELETE FROM signature_nonces WHERE (access_key_id, nonce) IN (
             SELECT access_key_id, nonce FROM signature_nonces
             WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)",
    )?
    .execute((now, FORGET_PER_SPEND))?;
    let spent_until: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO signature_nonces (access_key_id, nonce, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO UPDATE SET expires_at = excluded.expires_at
                 WHERE signature_nonces.expires_at < ?4
             RETURNING expires_at",
        )?
        .query_row((access_key_id, nonce, expires_at, now), |row| row.get(0))
        .optional()?;
    Ok(spent_until.is_some())
}
