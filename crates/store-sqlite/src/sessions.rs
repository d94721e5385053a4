//! Console sessions in SQL: created (forgetting the expired ones) in one savepoint of the
//! writer's group, read by their token's hash, ended by deleting them.

use bpops_store::{NewSession, Session};
use bpops_time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn create(conn: &mut Connection, session: &NewSession) -> rusqlite::Result<()> {
    let tx = conn.savepoint()?;
    tx.prepare_cached("DELETE FROM console_sessions WHERE expires_at <= ?1")?
        .execute([session.created_at.as_millis()])?;
    tx.prepare_cached(
        "INSERT INTO console_sessions (token_hash, access_key_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        session.token_hash,
        session.access_key_id,
        session.created_at.as_millis(),
        session.expires_at.as_millis(),
    ])?;
    tx.commit()
}

pub(crate) fn find(
    conn: &Connection,
    token_hash: &str,
    now: Timestamp,
) -> rusqlite::Result<Option<Session>> {
    conn.prepare_cached(
        "SELECT access_key_id, expires_at FROM console_sessions
         WHERE token_hash = ?1 AND expires_at > ?2",
    )?
    .query_row(params![token_hash, now.as_millis()], |row| {
        Ok(Session {
            access_key_id: row.get(0)?,
            expires_at: Timestamp::from_millis(row.get(1)?),
        })
    })
    .optional()
}

pub(crate) fn end(conn: &mut Connection, token_hash: &str) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM console_sessions WHERE token_hash = ?1")?
        .execute([token_hash])?;
    Ok(deleted == 1)
}
