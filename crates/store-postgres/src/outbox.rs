//! The SQL of the notification outbox: writing the deliveries of history events (and of
//! applications' changes) in the caller's transaction, claiming due ones (any node, `SKIP LOCKED`), settling an attempt,
//! reading and sweeping them.

use bpops_store::{
    AccountId, ApplicationEvent, Attempted, Delivery, DeliveryPage, DeliveryQuery, DeliveryState,
    Event, NewDelivery, Notifications, Requester, Result, Settlement, Status, StoreError, Subject,
    append_attempt, decode_attempts,
};
use bpops_time::Timestamp;
use deadpool_postgres::{GenericClient, Object};
use tokio_postgres::Row;

use crate::from_pg;

/// Writes the deliveries `event` of operation `id` makes, in the caller's transaction,
/// after the operation's row; nothing (and nothing read) when no notification is
/// configured.
pub(crate) async fn enqueue(
    client: &impl GenericClient,
    notifications: Option<&Notifications>,
    id: &str,
    at: Timestamp,
    event: &Event,
) -> Result<()> {
    let Some(notifications) = notifications.filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    let stmt = client
        .prepare_cached(
            "SELECT id, account, service, operation, application, status, submitted_by
             FROM operations WHERE id = $1",
        )
        .await
        .map_err(from_pg)?;
    let Some(row) = client.query_opt(&stmt, &[&id]).await.map_err(from_pg)? else {
        return Ok(());
    };
    let subject = match subject(&row) {
        Ok(subject) => subject,
        // N.B. a row the claim sets aside as unreadable still ends; no notification can
        // describe it, and failing here would stop the others.
        Err(StoreError::Corrupt(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    insert(client, &notifications.deliveries(&subject, at, event)).await
}

/// Writes the deliveries `event` of application `application` of `account` makes, at `at`,
/// in the caller's transaction; nothing when no notification is configured.
pub(crate) async fn enqueue_application(
    client: &impl GenericClient,
    notifications: Option<&Notifications>,
    account: &AccountId,
    application: &str,
    at: Timestamp,
    event: &ApplicationEvent,
) -> Result<()> {
    match notifications.filter(|n| !n.is_empty()) {
        Some(n) => {
            let deliveries = n.application_deliveries(account, application, at, event);
            insert(client, &deliveries).await
        }
        None => Ok(()),
    }
}

/// Writes `deliveries` in one statement, in order.
pub(crate) async fn insert(client: &impl GenericClient, deliveries: &[NewDelivery]) -> Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let stmt = client
        .prepare_cached(
            "INSERT INTO notification_deliveries (notification, account, subject,
                 operation_id, application, event, payload, traceparent, created_at, next_at)
             SELECT n.notification, n.account, n.subject, n.operation_id, n.application,
                 n.event, n.payload, n.traceparent, n.created_at, n.created_at
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::bigint[])
                 WITH ORDINALITY
                 AS n (notification, account, subject, operation_id, application, event,
                       payload, traceparent, created_at, position)
             ORDER BY n.position",
        )
        .await
        .map_err(from_pg)?;
    let column = |f: fn(&NewDelivery) -> Option<&str>| -> Vec<Option<&str>> {
        deliveries.iter().map(f).collect()
    };
    let created: Vec<i64> = deliveries
        .iter()
        .map(|d| d.created_at.as_millis())
        .collect();
    client
        .execute(
            &stmt,
            &[
                &column(|d| Some(&d.notification)),
                &column(|d| Some(d.account.as_str())),
                &column(|d| Some(&d.subject)),
                &column(|d| d.operation_id.as_deref()),
                &column(|d| d.application.as_deref()),
                &column(|d| Some(d.event)),
                &column(|d| Some(&d.payload)),
                &column(|d| d.traceparent.as_deref()),
                &created,
            ],
        )
        .await
        .map_err(from_pg)?;
    Ok(())
}

fn subject(row: &Row) -> Result<Subject> {
    let status: String = row.try_get(5).map_err(from_pg)?;
    let submitted_by: Option<String> = row.try_get(6).map_err(from_pg)?;
    Ok(Subject {
        id: row.try_get(0).map_err(from_pg)?,
        account: AccountId::new(row.try_get::<_, String>(1).map_err(from_pg)?),
        service: row.try_get(2).map_err(from_pg)?,
        operation: row.try_get(3).map_err(from_pg)?,
        application: row.try_get(4).map_err(from_pg)?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status:?}")))?,
        submitted_by: submitted_by
            .map(|text| Requester::decode(&text).map_err(StoreError::Corrupt))
            .transpose()?,
    })
}

const COLUMNS: &str = "id, notification, account, operation_id, application, event, payload, \
     traceparent, created_at, state, attempts, next_at, done_at, log";

/// Claims due deliveries: see `Store::claim_deliveries`.
pub(crate) async fn claim(
    client: &Object,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<Delivery>> {
    // N.B. a row another node is claiming right now is skipped, not waited for; one claimed
    // and committed since this statement's snapshot is re-checked in its new version, and
    // its lease excludes it. The rows after it stay behind it while it is pending.
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("n.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let stmt = client
        .prepare_cached(&format!(
            "WITH due AS (
                 SELECT d.id FROM notification_deliveries d
                 WHERE d.state = 'pending' AND d.next_at <= $1 AND d.lease_until <= $1
                   AND NOT EXISTS (
                       SELECT 1 FROM notification_deliveries e
                       WHERE e.state = 'pending' AND e.notification = d.notification
                         AND e.subject = d.subject AND e.id < d.id)
                 ORDER BY d.id
                 LIMIT $3
                 FOR UPDATE OF d SKIP LOCKED)
             UPDATE notification_deliveries n
             SET attempts = n.attempts + 1, lease_until = $2
             FROM due WHERE n.id = due.id
             RETURNING {columns}"
        ))
        .await
        .map_err(from_pg)?;
    let rows = client
        .query(
            &stmt,
            &[&now.as_millis(), &lease_until.as_millis(), &(limit as i64)],
        )
        .await
        .map_err(from_pg)?;
    let mut claimed = rows.iter().map(delivery).collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|d| d.id);
    Ok(claimed)
}

/// Settles an attempt: see `Store::settle_delivery`.
pub(crate) async fn settle(client: &mut Object, attempted: &Attempted) -> Result<bool> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let row = tx
        .query_opt(
            "SELECT log FROM notification_deliveries
             WHERE id = $1 AND attempts = $2 AND state = 'pending' FOR UPDATE",
            &[&(attempted.id as i64), &i64::from(attempted.attempt)],
        )
        .await
        .map_err(from_pg)?;
    let Some(row) = row else {
        return Ok(false);
    };
    let mut log: String = row.try_get(0).map_err(from_pg)?;
    if let Some(record) = &attempted.record {
        log = append_attempt(&log, record);
    }
    let now = attempted.now.as_millis();
    let (state, next_at, done_at) = match attempted.settlement {
        Settlement::Delivered => (DeliveryState::Delivered, now, Some(now)),
        Settlement::RetryAt(at) => (DeliveryState::Pending, at.as_millis(), None),
        Settlement::Expired => (DeliveryState::Expired, now, Some(now)),
    };
    tx.execute(
        "UPDATE notification_deliveries
         SET state = $2, next_at = $3, done_at = $4, lease_until = 0, log = $5
         WHERE id = $1",
        &[
            &(attempted.id as i64),
            &state.as_str(),
            &next_at,
            &done_at,
            &log,
        ],
    )
    .await
    .map_err(from_pg)?;
    tx.commit().await.map_err(from_pg)?;
    Ok(true)
}

pub(crate) async fn page(client: &Object, query: &DeliveryQuery) -> Result<DeliveryPage> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM notification_deliveries
             WHERE id > $1
               AND ($2::text IS NULL OR account = $2)
               AND ($3::text IS NULL OR operation_id = $3)
               AND ($4::text IS NULL OR application = $4)
               AND ($5::text IS NULL OR notification = $5)
               AND ($6::text IS NULL OR state = $6)
             ORDER BY id LIMIT $7"
        ))
        .await
        .map_err(from_pg)?;
    let after = i64::try_from(query.after).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &stmt,
            &[
                &after,
                &query.account.as_ref().map(AccountId::as_str),
                &query.operation_id,
                &query.application,
                &query.notification,
                &query.state.map(DeliveryState::as_str),
                &query.rows_to_fetch(),
            ],
        )
        .await
        .map_err(from_pg)?;
    let deliveries = rows.iter().map(delivery).collect::<Result<Vec<_>>>()?;
    Ok(DeliveryPage::from_rows(query, deliveries))
}

pub(crate) async fn backlog(client: &Object) -> Result<u64> {
    let row = client
        .query_one(
            "SELECT count(*) FROM notification_deliveries WHERE state = 'pending'",
            &[],
        )
        .await
        .map_err(from_pg)?;
    let n: i64 = row.try_get(0).map_err(from_pg)?;
    Ok(n.max(0) as u64)
}

/// Deletes at most `limit` deliveries settled before `before`.
pub(crate) async fn sweep(client: &Object, before: Timestamp, limit: usize) -> Result<()> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM notification_deliveries WHERE id IN (
                 SELECT id FROM notification_deliveries
                 WHERE state <> 'pending' AND done_at < $1
                 ORDER BY done_at LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .await
        .map_err(from_pg)?;
    client
        .execute(&stmt, &[&before.as_millis(), &(limit as i64)])
        .await
        .map_err(from_pg)?;
    Ok(())
}

fn delivery(row: &Row) -> Result<Delivery> {
    let get_i64 = |i| row.try_get::<_, i64>(i).map_err(from_pg);
    let state: String = row.try_get(9).map_err(from_pg)?;
    let log: String = row.try_get(13).map_err(from_pg)?;
    Ok(Delivery {
        id: get_i64(0)? as u64,
        notification: row.try_get(1).map_err(from_pg)?,
        account: AccountId::new(row.try_get::<_, String>(2).map_err(from_pg)?),
        operation_id: row.try_get(3).map_err(from_pg)?,
        application: row.try_get(4).map_err(from_pg)?,
        event: row.try_get(5).map_err(from_pg)?,
        payload: row.try_get(6).map_err(from_pg)?,
        traceparent: row.try_get(7).map_err(from_pg)?,
        created_at: Timestamp::from_millis(get_i64(8)?),
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state {state:?}")))?,
        attempts: u32::try_from(get_i64(10)?).unwrap_or(u32::MAX),
        next_at: Timestamp::from_millis(get_i64(11)?),
        done_at: row
            .try_get::<_, Option<i64>>(12)
            .map_err(from_pg)?
            .map(Timestamp::from_millis),
        log: decode_attempts(&log).map_err(StoreError::Corrupt)?,
    })
}
