//! The audit trail in SQL: a batch appended in one savepoint of the writer's group, a page
//! read in one snapshot, and the retention sweep.

use bpops_store::{AccountId, AuditPage, AuditQuery, AuditRecord};
use bpops_time::Timestamp;
use rusqlite::{Connection, Row, params};

use crate::queries::corrupt;

/// The columns [`from_row`] reads, in its order.
const COLUMNS: &str = "occurred_at, request_id, account, user_name, access_key_id, verified, \
    source_ip, action, code, http_status, application, operation_id, resource, parameters";

/// One prepared statement for every row, in one savepoint: the batch reaches the disk with
/// its group's one commit, all of it or none.
pub(crate) fn record(conn: &mut Connection, records: &[AuditRecord]) -> rusqlite::Result<()> {
    let tx = conn.savepoint()?;
    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO audit_events ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ))?;
        for r in records {
            insert.execute(params![
                r.time.as_millis(),
                r.request_id,
                r.account.as_ref().map(AccountId::as_str),
                r.user,
                r.access_key_id,
                r.verified,
                r.source_ip,
                r.action,
                r.code,
                r.http_status,
                r.application,
                r.operation_id,
                r.resource,
                r.parameters,
            ])?;
        }
    }
    tx.commit()
}

pub(crate) fn lookup(conn: &Connection, query: &AuditQuery) -> rusqlite::Result<AuditPage> {
    // N.B. one static statement whose absent filters are NULL, so it is prepared once; the
    // cursor is a strict bound in the (time, seq) order, as for the operations' listing.
    let (after_time, after_seq) = match query.after {
        Some(c) => (Some(c.created_at.as_millis()), Some(c.seq)),
        None => (None, None),
    };
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, seq FROM audit_events
             WHERE account = ?1
               AND (?2 IS NULL OR occurred_at >= ?2)
               AND (?3 IS NULL OR occurred_at < ?3)
               AND (?4 IS NULL OR action = ?4)
               AND (?5 IS NULL OR user_name = ?5)
               AND (?6 IS NULL OR access_key_id = ?6)
               AND (?7 IS NULL OR resource = ?7 OR application = ?7 OR operation_id = ?7)
               AND (?8 IS NULL OR code = ?8)
               AND (?9 IS NULL OR (occurred_at, seq) < (?9, ?10))
             ORDER BY occurred_at DESC, seq DESC
             LIMIT ?11"
        ))?
        .query_map(
            params![
                query.account.as_str(),
                query.from.map(Timestamp::as_millis),
                query.before.map(Timestamp::as_millis),
                query.action,
                query.user,
                query.access_key_id,
                query.resource,
                query.code,
                after_time,
                after_seq,
                query.rows_to_fetch(),
            ],
            |row| Ok((from_row(row)?, row.get::<_, i64>(14)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(AuditPage::from_rows(query, rows))
}

pub(crate) fn sweep(
    conn: &mut Connection,
    before: Timestamp,
    limit: usize,
) -> rusqlite::Result<usize> {
    // N.B. the oldest `limit` records by `seq`, of those the ones past the cutoff: records are
    // appended in time order, give or take a batch, so this reads no more than it deletes and
    // needs no index on time; a record a little younger among them only stops this batch short.
    conn.prepare_cached(
        "DELETE FROM audit_events WHERE occurred_at < ?1 AND seq IN (
             SELECT seq FROM audit_events ORDER BY seq LIMIT ?2)",
    )?
    .execute(params![before.as_millis(), limit as i64])
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let status: i64 = row.get(9)?;
    Ok(AuditRecord {
        time: Timestamp::from_millis(row.get(0)?),
        request_id: row.get(1)?,
        account: row.get::<_, Option<String>>(2)?.map(AccountId::new),
        user: row.get(3)?,
        access_key_id: row.get(4)?,
        verified: row.get(5)?,
        source_ip: row.get(6)?,
        action: row.get(7)?,
        code: row.get(8)?,
        http_status: u16::try_from(status)
            .map_err(|_| corrupt(9, format!("HTTP status {status} out of range")))?,
        application: row.get(10)?,
        operation_id: row.get(11)?,
        resource: row.get(12)?,
        parameters: row.get(13)?,
    })
}
