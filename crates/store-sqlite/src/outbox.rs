//! The SQL of the notification outbox: writing the deliveries of history events (and of
//! applications' changes) in the caller's transaction, claiming due ones, settling an attempt, reading and sweeping them.

use bpops_store::{
    AccountId, ApplicationEvent, Attempted, Delivery, DeliveryPage, DeliveryQuery, DeliveryState,
    Event, NewDelivery, Notifications, Requester, Settlement, Status, Subject, append_attempt,
    decode_attempts,
};
use bpops_time::Timestamp;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::queries::{corrupt, is_undecodable};

/// Which row of `operations` a subject is read from.
pub(crate) enum Key<'a> {
    /// By id.
    Id(&'a str),
    /// By `seq`.
    Seq(i64),
}

/// Writes the deliveries `events` of an operation make, in the caller's transaction, after
/// the operation's row; nothing (and nothing read) when no notification is configured.
pub(crate) fn enqueue(
    conn: &Connection,
    notifications: Option<&Notifications>,
    key: Key<'_>,
    events: &[(Timestamp, &Event)],
) -> rusqlite::Result<()> {
    let Some(notifications) = notifications.filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    let (column, value): (&str, &dyn ToSql) = match &key {
        Key::Id(id) => ("id", id),
        Key::Seq(seq) => ("seq", seq),
    };
    let read = conn
        .prepare_cached(&format!(
            "SELECT id, account, service, operation, application, status, submitted_by
             FROM operations WHERE {column} = ?1"
        ))?
        .query_row([value], subject)
        .optional();
    let subject = match read {
        Ok(Some(subject)) => subject,
        Ok(None) => return Ok(()),
        // N.B. a row the claim sets aside as unreadable still ends; no notification can
        // describe it, and failing here would stop the others.
        Err(e) if is_undecodable(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for (at, event) in events {
        insert(conn, &notifications.deliveries(&subject, *at, event))?;
    }
    Ok(())
}

/// Writes the deliveries `event` of application `application` of `account` makes, at `at`,
/// in the caller's transaction; nothing when no notification is configured.
pub(crate) fn enqueue_application(
    conn: &Connection,
    notifications: Option<&Notifications>,
    account: &AccountId,
    application: &str,
    at: Timestamp,
    event: &ApplicationEvent,
) -> rusqlite::Result<()> {
    match notifications.filter(|n| !n.is_empty()) {
        Some(n) => insert(
            conn,
            &n.application_deliveries(account, application, at, event),
        ),
        None => Ok(()),
    }
}

/// Writes `deliveries`, in order.
fn insert(conn: &Connection, deliveries: &[NewDelivery]) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO notification_deliveries (notification, account, subject, operation_id,
             application, event, payload, traceparent, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    )?;
    for d in deliveries {
        insert.execute(params![
            d.notification,
            d.account.as_str(),
            d.subject,
            d.operation_id,
            d.application,
            d.event,
            d.payload,
            d.traceparent,
            d.created_at.as_millis()
        ])?;
    }
    Ok(())
}

fn subject(row: &Row<'_>) -> rusqlite::Result<Subject> {
    let status: String = row.get(5)?;
    let submitted_by: Option<String> = row.get(6)?;
    Ok(Subject {
        id: row.get(0)?,
        account: AccountId::new(row.get::<_, String>(1)?),
        service: row.get(2)?,
        operation: row.get(3)?,
        application: row.get(4)?,
        status: Status::parse(&status)
            .ok_or_else(|| corrupt(5, format!("unknown status {status:?}")))?,
        submitted_by: submitted_by
            .map(|text| Requester::decode(&text).map_err(|why| corrupt(6, why)))
            .transpose()?,
    })
}

const COLUMNS: &str = "id, notification, account, operation_id, application, event, payload, \
     traceparent, created_at, state, attempts, next_at, done_at, log";

/// Claims due deliveries: see `Store::claim_deliveries`.
pub(crate) fn claim(
    conn: &mut Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> rusqlite::Result<Vec<Delivery>> {
    let tx = conn.savepoint()?;
    let mut claimed = tx
        .prepare_cached(&format!(
            "UPDATE notification_deliveries
             SET attempts = attempts + 1, lease_until = ?2
             WHERE id IN (
                 SELECT d.id FROM notification_deliveries d
                 WHERE d.state = 'pending' AND d.next_at <= ?1 AND d.lease_until <= ?1
                   AND NOT EXISTS (
                       SELECT 1 FROM notification_deliveries e
                       WHERE e.state = 'pending' AND e.notification = d.notification
                         AND e.subject = d.subject AND e.id < d.id)
                 ORDER BY d.id LIMIT ?3)
             RETURNING {COLUMNS}"
        ))?
        .query_map(
            params![now.as_millis(), lease_until.as_millis(), limit as i64],
            delivery,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    // RETURNING follows no ORDER BY.
    claimed.sort_by_key(|d| d.id);
    Ok(claimed)
}

/// Settles an attempt: see `Store::settle_delivery`.
pub(crate) fn settle(conn: &mut Connection, attempted: &Attempted) -> rusqlite::Result<bool> {
    let tx = conn.savepoint()?;
    let log: Option<String> = tx
        .prepare_cached(
            "SELECT log FROM notification_deliveries
             WHERE id = ?1 AND attempts = ?2 AND state = 'pending'",
        )?
        .query_row(params![attempted.id as i64, attempted.attempt], |row| {
            row.get(0)
        })
        .optional()?;
    let Some(mut log) = log else {
        return Ok(false);
    };
    if let Some(record) = &attempted.record {
        log = append_attempt(&log, record);
    }
    let now = attempted.now.as_millis();
    let (state, next_at, done_at) = match attempted.settlement {
        Settlement::Delivered => (DeliveryState::Delivered, now, Some(now)),
        Settlement::RetryAt(at) => (DeliveryState::Pending, at.as_millis(), None),
        Settlement::Expired => (DeliveryState::Expired, now, Some(now)),
    };
    tx.prepare_cached(
        "UPDATE notification_deliveries
         SET state = ?2, next_at = ?3, done_at = ?4, lease_until = 0, log = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        attempted.id as i64,
        state.as_str(),
        next_at,
        done_at,
        log
    ])?;
    tx.commit()?;
    Ok(true)
}

pub(crate) fn page(conn: &Connection, query: &DeliveryQuery) -> rusqlite::Result<DeliveryPage> {
    let deliveries = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM notification_deliveries
             WHERE id > ?1
               AND (?2 IS NULL OR account = ?2)
               AND (?3 IS NULL OR operation_id = ?3)
               AND (?4 IS NULL OR application = ?4)
               AND (?5 IS NULL OR notification = ?5)
               AND (?6 IS NULL OR state = ?6)
             ORDER BY id LIMIT ?7"
        ))?
        .query_map(
            params![
                query.after as i64,
                query.account.as_ref().map(AccountId::as_str),
                query.operation_id,
                query.application,
                query.notification,
                query.state.map(DeliveryState::as_str),
                query.rows_to_fetch()
            ],
            delivery,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(DeliveryPage::from_rows(query, deliveries))
}

pub(crate) fn backlog(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM notification_deliveries WHERE state = 'pending'")?
        .query_row([], |row| row.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// Deletes at most `limit` deliveries settled before `before`, in the sweep's transaction.
pub(crate) fn sweep(conn: &Connection, before: Timestamp, limit: usize) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM notification_deliveries WHERE id IN (
             SELECT id FROM notification_deliveries
             WHERE state <> 'pending' AND done_at < ?1
             ORDER BY done_at LIMIT ?2)",
    )?
    .execute(params![before.as_millis(), limit as i64])?;
    Ok(())
}

fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = row.get(9)?;
    let log: String = row.get(13)?;
    Ok(Delivery {
        id: row.get::<_, i64>(0)? as u64,
        notification: row.get(1)?,
        account: AccountId::new(row.get::<_, String>(2)?),
        operation_id: row.get(3)?,
        application: row.get(4)?,
        event: row.get(5)?,
        payload: row.get(6)?,
        traceparent: row.get(7)?,
        created_at: Timestamp::from_millis(row.get(8)?),
        state: DeliveryState::parse(&state)
            .ok_or_else(|| corrupt(9, format!("unknown delivery state {state:?}")))?,
        attempts: row.get(10)?,
        next_at: Timestamp::from_millis(row.get(11)?),
        done_at: row.get::<_, Option<i64>>(12)?.map(Timestamp::from_millis),
        log: decode_attempts(&log).map_err(|why| corrupt(13, why))?,
    })
}
