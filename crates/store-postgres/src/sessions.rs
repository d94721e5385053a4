//! Console sessions in SQL: created (forgetting the expired ones) in one transaction, read
//! by their token's hash, ended by deleting them.

use bpops_store::{NewSession, Result, Session};
use bpops_time::Timestamp;
use deadpool_postgres::Object;

use crate::from_pg;

pub(crate) async fn create(client: &mut Object, session: &NewSession) -> Result<()> {
    let tx = client.transaction().await.map_err(from_pg)?;
    tx.execute(
        "DELETE FROM console_sessions WHERE expires_at <= $1",
        &[&session.created_at.as_millis()],
    )
    .await
    .map_err(from_pg)?;
    tx.execute(
        "INSERT INTO console_sessions (token_hash, access_key_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
        &[
            &session.token_hash,
            &session.access_key_id,
            &session.created_at.as_millis(),
            &session.expires_at.as_millis(),
        ],
    )
    .await
    .map_err(from_pg)?;
    tx.commit().await.map_err(from_pg)
}

pub(crate) async fn find(
    client: &Object,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<Session>> {
    let row = client
        .query_opt(
            "SELECT access_key_id, expires_at FROM console_sessions
             WHERE token_hash = $1 AND expires_at > $2",
            &[&token_hash, &now.as_millis()],
        )
        .await
        .map_err(from_pg)?;
    Ok(row.map(|row| Session {
        access_key_id: row.get(0),
        expires_at: Timestamp::from_millis(row.get(1)),
    }))
}

pub(crate) async fn end(client: &Object, token_hash: &str) -> Result<bool> {
    let deleted = client
        .execute(
            "DELETE FROM console_sessions WHERE token_hash = $1",
            &[&token_hash],
        )
        .await
        .map_err(from_pg)?;
    Ok(deleted == 1)
}
