//! The audit trail in SQL: a batch appended by one statement, a page read by one, and the
//! retention sweep.

use bpops_store::{AccountId, AuditPage, AuditQuery, AuditRecord, Result, StoreError};
use bpops_time::Timestamp;
use deadpool_postgres::Object;
use tokio_postgres::Row;

use crate::from_pg;
use crate::queries::corrupt;

/// The columns [`from_row`] reads, in its order.
const COLUMNS: &str = "occurred_at, request_id, account, user_name, access_key_id, verified, \
    source_ip, action, code, http_status, application, operation_id, resource, parameters";

/// The whole batch in one statement (so one transaction and one round trip): each column
/// travels as an array, and `UNNEST` turns the arrays back into rows, in order.
pub(crate) async fn record(client: &Object, records: &[AuditRecord]) -> Result<()> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO audit_events ({COLUMNS})
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[],
                 $5::text[], $6::boolean[], $7::text[], $8::text[], $9::text[],
                 $10::integer[], $11::text[], $12::text[], $13::text[], $14::text[])"
        ))
        .await
        .map_err(from_pg)?;
    let column = |f: fn(&AuditRecord) -> Option<&str>| records.iter().map(f).collect::<Vec<_>>();
    let times: Vec<i64> = records.iter().map(|r| r.time.as_millis()).collect();
    let verified: Vec<bool> = records.iter().map(|r| r.verified).collect();
    let statuses: Vec<i32> = records.iter().map(|r| i32::from(r.http_status)).collect();
    client
        .execute(
            &stmt,
            &[
                &times,
                &column(|r| Some(r.request_id.as_str())),
                &column(|r| r.account.as_ref().map(AccountId::as_str)),
                &column(|r| r.user.as_deref()),
                &column(|r| r.access_key_id.as_deref()),
                &verified,
                &column(|r| Some(r.source_ip.as_str())),
                &column(|r| Some(r.action.as_str())),
                &column(|r| Some(r.code.as_str())),
                &statuses,
                &column(|r| r.application.as_deref()),
                &column(|r| r.operation_id.as_deref()),
                &column(|r| r.resource.as_deref()),
                &column(|r| Some(r.parameters.as_str())),
            ],
        )
        .await
        .map_err(from_pg)?;
    Ok(())
}

pub(crate) async fn lookup(client: &Object, query: &AuditQuery) -> Result<AuditPage> {
    // N.B. one static statement whose absent filters are NULL, so it is prepared once; the
    // cursor is a strict bound in the (time, seq) order, as for the operations' listing.
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, seq FROM audit_events
             WHERE account = $1
               AND ($2::bigint IS NULL OR occurred_at >= $2)
               AND ($3::bigint IS NULL OR occurred_at < $3)
               AND ($4::text IS NULL OR action = $4)
               AND ($5::text IS NULL OR user_name = $5)
               AND ($6::text IS NULL OR access_key_id = $6)
               AND ($7::text IS NULL OR resource = $7 OR application = $7 OR operation_id = $7)
               AND ($8::text IS NULL OR code = $8)
               AND ($9::bigint IS NULL OR (occurred_at, seq) < ($9, $10::bigint))
             ORDER BY occurred_at DESC, seq DESC
             LIMIT $11"
        ))
        .await
        .map_err(from_pg)?;
    let (after_time, after_seq) = match query.after {
        Some(c) => (Some(c.created_at.as_millis()), Some(c.seq)),
        None => (None, None),
    };
    let rows = client
        .query(
            &stmt,
            &[
                &query.account.as_str(),
                &query.from.map(Timestamp::as_millis),
                &query.before.map(Timestamp::as_millis),
                &query.action,
                &query.user,
                &query.access_key_id,
                &query.resource,
                &query.code,
                &after_time,
                &after_seq,
                &query.rows_to_fetch(),
            ],
        )
        .await
        .map_err(from_pg)?;
    let rows = rows
        .iter()
        .map(|row| Ok((from_row(row)?, row.try_get::<_, i64>(14).map_err(corrupt)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(AuditPage::from_rows(query, rows))
}

pub(crate) async fn sweep(client: &Object, before: Timestamp, limit: usize) -> Result<usize> {
    // N.B. the oldest `limit` records by `seq`, of those the ones past the cutoff: records are
    // appended in time order, give or take a batch (and the clocks of the nodes), so this
    // reads no more than it deletes and needs no index on time. SKIP LOCKED: sweepers on
    // several nodes take disjoint batches instead of queueing.
    let stmt = client
        .prepare_cached(
            "DELETE FROM audit_events WHERE occurred_at < $1 AND seq IN (
                 SELECT seq FROM audit_events
                 ORDER BY seq
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .await
        .map_err(from_pg)?;
    let deleted = client
        .execute(&stmt, &[&before.as_millis(), &(limit as i64)])
        .await
        .map_err(from_pg)?;
    Ok(deleted as usize)
}

fn from_row(row: &Row) -> Result<AuditRecord> {
    let status: i32 = row.try_get(9).map_err(corrupt)?;
    Ok(AuditRecord {
        time: Timestamp::from_millis(row.try_get(0).map_err(corrupt)?),
        request_id: row.try_get(1).map_err(corrupt)?,
        account: row
            .try_get::<_, Option<String>>(2)
            .map_err(corrupt)?
            .map(AccountId::new),
        user: row.try_get(3).map_err(corrupt)?,
        access_key_id: row.try_get(4).map_err(corrupt)?,
        verified: row.try_get(5).map_err(corrupt)?,
        source_ip: row.try_get(6).map_err(corrupt)?,
        action: row.try_get(7).map_err(corrupt)?,
        code: row.try_get(8).map_err(corrupt)?,
        http_status: u16::try_from(status)
            .map_err(|_| StoreError::Corrupt(format!("HTTP status {status} out of range")))?,
        application: row.try_get(10).map_err(corrupt)?,
        operation_id: row.try_get(11).map_err(corrupt)?,
        resource: row.try_get(12).map_err(corrupt)?,
        parameters: row.try_get(13).map_err(corrupt)?,
    })
}
