//! The SQL of each store intent, one function per intent, each one transaction. Submits and
//! nonce spends, stored in groups, have theirs beside their group commit (`submits`,
//! `nonces`).

use bpops_store::{
    AccountId, ApplicationPlace, BootstrapKey, Budget, Cancelled, Claimed, Effect, Event, Finish,
    Lease, ListPage, ListQuery, LocatedResource, Notifications, Operation, OperationId, Pool,
    Progress, QueueDepth, Requester, Resource, ResourceKey, Result, Status, StoreError, UNREADABLE,
    Unreadable,
};
use bpops_time::Timestamp;
use deadpool_postgres::{GenericClient, Object, Transaction};
use futures_util::future::try_join_all;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use crate::{from_pg, history, outbox};

const OPERATION_COLUMNS: &str = "id, account, service, operation, application, resource, \
     attributes, status, message, arguments, attempt, created_at, finished_at, cancel_requested, \
     submitted_by, pool";
/// How many columns [`OPERATION_COLUMNS`] names: a query that selects more reads them after.
const OPERATION_COLUMN_COUNT: usize = 16;

/// Who hears of a committed change: the other nodes, on `channel`, and the webhooks that
/// want its history events.
#[derive(Clone, Copy)]
pub(crate) struct Listeners<'a> {
    /// The schema's notification channel.
    pub(crate) channel: &'a str,
    /// The configured webhooks' filters, when any.
    pub(crate) notifications: Option<&'a Notifications>,
}

/// Queues a notification, delivered to every listener when the transaction commits.
pub(crate) async fn notify(tx: &Transaction<'_>, channel: &str, payload: &str) -> Result<()> {
    let stmt = tx
        .prepare_cached("SELECT pg_notify($1, $2)")
        .await
        .map_err(from_pg)?;
    tx.execute(&stmt, &[&channel, &payload])
        .await
        .map_err(from_pg)?;
    Ok(())
}

pub(crate) async fn get(
    client: &Object,
    account: &AccountId,
    id: &OperationId,
) -> Result<Option<Operation>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {OPERATION_COLUMNS} FROM operations WHERE id = $1 AND account = $2"
        ))
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&id.as_str(), &account.as_str()])
        .await
        .map_err(from_pg)?;
    row.as_ref().map(operation_from_row).transpose()
}

pub(crate) async fn claim(
    client: &mut Object,
    notifications: Option<&Notifications>,
    node: &str,
    now: Timestamp,
    lease_until: Timestamp,
    budget: Budget,
) -> Result<Claimed> {
    // N.B. only the head of each resource's queue (no older unfinished operation on it) is
    // a candidate. Rows another node is claiming right now are skipped, not waited for;
    // a row claimed and committed since this statement's snapshot is locked in its new
    // version and re-checked, so it no longer qualifies. Since a resource's operations
    // commit in seq order (see `submits`), a head seen here stays the head until it ends.
    // Waiting operations and expired leases are read through an index each, so attempts
    // running under a valid lease are never walked; of the two, the oldest are taken (the
    // rows locked beyond them are let go at the commit).
    let columns = OPERATION_COLUMNS
        .split(", ")
        .map(|c| format!("operations.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    const HEAD: &str = "(o.resource IS NULL OR NOT EXISTS (
         SELECT 1 FROM operations p
         WHERE p.status IN ('INIT', 'RUNNING')
           AND p.account = o.account AND p.resource = o.resource AND p.seq < o.seq))";
    let tx = client.transaction().await.map_err(from_pg)?;
    let stmt = tx
        .prepare_cached(&format!(
            "WITH waiting AS (
                 SELECT o.seq FROM operations o
                 WHERE o.pool = $4 AND o.status = 'INIT' AND {HEAD}
                 ORDER BY o.seq LIMIT $3
                 FOR UPDATE OF o SKIP LOCKED),
             expired AS (
                 SELECT o.seq FROM operations o
                 WHERE o.pool = $4 AND o.status = 'RUNNING' AND o.lease_until <= $1 AND {HEAD}
                 ORDER BY o.seq LIMIT $3
                 FOR UPDATE OF o SKIP LOCKED),
             picked AS (
                 SELECT seq FROM waiting UNION ALL SELECT seq FROM expired
                 ORDER BY seq LIMIT $3)
             UPDATE operations
             SET status = 'RUNNING', attempt = operations.attempt + 1, lease_until = $2
             FROM picked WHERE operations.seq = picked.seq
             RETURNING operations.seq, {columns}"
        ))
        .await
        .map_err(from_pg)?;
    // N.B. one statement per pool with room, pipelined on the transaction's connection.
    let (now_ms, lease_ms) = (now.as_millis(), lease_until.as_millis());
    let (tx_ref, stmt_ref) = (&tx, &stmt);
    let per_pool = try_join_all(budget.nonzero().map(|(pool, limit)| {
        let (tx, stmt, limit) = (tx_ref, stmt_ref, limit as i64);
        async move {
            tx.query(stmt, &[&now_ms, &lease_ms, &limit, &pool.as_str()])
                .await
                .map_err(from_pg)
        }
    }))
    .await?;
    let rows: Vec<Row> = per_pool.into_iter().flatten().collect();
    let mut decoded = Vec::with_capacity(rows.len());
    let mut undecodable = Vec::new();
    for row in &rows {
        let seq: i64 = row.get(0);
        match operation_from_columns(row, 1) {
            Ok(op) => decoded.push((seq, op)),
            Err(StoreError::Corrupt(reason)) => undecodable.push((seq, reason)),
            Err(e) => return Err(e),
        }
    }
    decoded.sort_by_key(|(seq, _)| *seq);
    // N.B. sent together: they travel pipelined on the transaction's connection.
    let claims: Vec<Event> = decoded
        .iter()
        .map(|(_, op)| Event::Claimed {
            node: node.to_owned(),
            attempt: op.attempt,
        })
        .collect();
    try_join_all(decoded.iter().zip(&claims).map(|((_, op), claimed_by)| {
        history::append(&tx, notifications, op.id.as_str(), now, claimed_by)
    }))
    .await?;
    let mut claimed = Claimed {
        operations: decoded.into_iter().map(|(_, op)| op).collect(),
        unreadable: Vec::with_capacity(undecodable.len()),
    };
    if !undecodable.is_empty() {
        let set_aside = tx
            .prepare_cached(
                "UPDATE operations
                 SET status = 'FAILURE', message = $1, arguments = '{}', finished_at = $2,
                     lease_until = NULL
                 WHERE seq = $3 RETURNING id",
            )
            .await
            .map_err(from_pg)?;
        for (seq, reason) in undecodable {
            let row = tx
                .query_one(&set_aside, &[&UNREADABLE, &now.as_millis(), &seq])
                .await
                .map_err(from_pg)?;
            let id: String = row.get(0);
            let ended = Event::Finished {
                status: Status::Failure,
                message: UNREADABLE.to_owned(),
            };
            history::append(&tx, notifications, &id, now, &ended).await?;
            claimed.unreadable.push(Unreadable { id, reason });
        }
    }
    tx.commit().await.map_err(from_pg)?;
    Ok(claimed)
}

pub(crate) async fn release(
    client: &mut Object,
    heard: Listeners<'_>,
    id: &OperationId,
    attempt: u32,
    now: Timestamp,
) -> Result<bool> {
    let Listeners {
        channel,
        notifications,
    } = heard;
    let tx = client.transaction().await.map_err(from_pg)?;
    let stmt = tx
        .prepare_cached(
            "UPDATE operations SET lease_until = 0
             WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'",
        )
        .await
        .map_err(from_pg)?;
    let changed = tx
        .execute(&stmt, &[&id.as_str(), &i64::from(attempt)])
        .await
        .map_err(from_pg)?;
    if changed == 0 {
        return Ok(false);
    }
    history::append(
        &tx,
        notifications,
        id.as_str(),
        now,
        &Event::Released { attempt },
    )
    .await?;
    notify(&tx, channel, "submitted").await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(true)
}

/// Schedules the next attempt: see `Store::schedule_retry`.
pub(crate) async fn schedule_retry(
    client: &mut Object,
    notifications: Option<&Notifications>,
    id: &OperationId,
    attempt: u32,
    now: Timestamp,
    retry_at: Timestamp,
    reason: &str,
) -> Result<Lease> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let lease = renew_lease(&tx, id, attempt, retry_at).await?;
    if lease != Lease::Lost {
        let scheduled = Event::RetryScheduled {
            attempt,
            reason: reason.to_owned(),
            retry_at,
        };
        history::append(&tx, notifications, id.as_str(), now, &scheduled).await?;
        tx.commit().await.map_err(from_pg)?;
    }
    Ok(lease)
}

pub(crate) async fn renew_lease(
    client: &impl GenericClient,
    id: &OperationId,
    attempt: u32,
    lease_until: Timestamp,
) -> Result<Lease> {
    let stmt = client
        .prepare_cached(
            "UPDATE operations SET lease_until = $1
             WHERE id = $2 AND attempt = $3 AND status = 'RUNNING'
             RETURNING cancel_requested",
        )
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(
            &stmt,
            &[&lease_until.as_millis(), &id.as_str(), &i64::from(attempt)],
        )
        .await
        .map_err(from_pg)?;
    Ok(match row.map(|row| row.get::<_, bool>(0)) {
        None => Lease::Lost,
        Some(false) => Lease::Held,
        Some(true) => Lease::CancelRequested,
    })
}

pub(crate) async fn list(client: &Object, query: &ListQuery) -> Result<ListPage> {
    // N.B. one static statement whose absent filters are NULL, so it is prepared once.
    // Newest first by (created_at, seq): a total order in which the cursor is a strict
    // bound, so no item repeats or is skipped across pages.
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {OPERATION_COLUMNS}, seq FROM operations
             WHERE account = $1
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR service = $3)
               AND ($4::text IS NULL OR operation = $4)
               AND ($5::text[] IS NULL OR application = ANY($5))
               AND ($6::bigint IS NULL OR created_at >= $6)
               AND ($7::bigint IS NULL OR created_at < $7)
               AND (finished_at IS NULL OR finished_at >= $8)
               AND ($9::bigint IS NULL OR (created_at, seq) < ($9, $10::bigint))
             ORDER BY created_at DESC, seq DESC
             LIMIT $11"
        ))
        .await
        .map_err(from_pg)?;
    let (after_created, after_seq) = match query.after {
        Some(c) => (Some(c.created_at.as_millis()), Some(c.seq)),
        None => (None, None),
    };
    let rows = client
        .query(
            &stmt,
            &[
                &query.account.as_str(),
                &query.status.map(Status::as_str),
                &query.service,
                &query.operation,
                &query.applications,
                &query.created_from.map(Timestamp::as_millis),
                &query.created_before.map(Timestamp::as_millis),
                &query.expired_before.as_millis(),
                &after_created,
                &after_seq,
                &query.rows_to_fetch(),
            ],
        )
        .await
        .map_err(from_pg)?;
    let listed = rows
        .iter()
        .map(|row| {
            Ok((
                operation_from_row(row)?,
                row.try_get::<_, i64>(OPERATION_COLUMN_COUNT)
                    .map_err(corrupt)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ListPage::from_rows(query, listed))
}

pub(crate) async fn cancel(
    client: &mut Object,
    heard: Listeners<'_>,
    account: &AccountId,
    id: &OperationId,
    by: &Requester,
    message: &str,
    now: Timestamp,
) -> Result<Cancelled> {
    let Listeners {
        channel,
        notifications,
    } = heard;
    let tx = client.transaction().await.map_err(from_pg)?;
    // N.B. the row lock orders this with a claim of the same row: a claim in progress makes
    // the cancel wait and then see RUNNING; a cancel in progress makes claims skip the row.
    let select = format!(
        "SELECT {OPERATION_COLUMNS} FROM operations WHERE id = $1 AND account = $2 FOR UPDATE"
    );
    let row = tx
        .query_opt(&select, &[&id.as_str(), &account.as_str()])
        .await
        .map_err(from_pg)?;
    let Some(op) = row.as_ref().map(operation_from_row).transpose()? else {
        return Ok(Cancelled::NotFound);
    };
    let requested = Event::CancelRequested { by: by.clone() };
    let (cancelled, payload): (fn(Operation) -> Cancelled, String) = match op.status {
        Status::Success | Status::Failure => return Ok(Cancelled::AlreadyFinal(op)),
        Status::Init => {
            history::append(&tx, notifications, id.as_str(), now, &requested).await?;
            let ended = Event::Finished {
                status: Status::Failure,
                message: message.to_owned(),
            };
            history::append(&tx, notifications, id.as_str(), now, &ended).await?;
            tx.execute(
                "UPDATE operations
                 SET status = 'FAILURE', message = $1, finished_at = $2, lease_until = NULL
                 WHERE id = $3",
                &[&message, &now.as_millis(), &id.as_str()],
            )
            .await
            .map_err(from_pg)?;
            (Cancelled::Ended, format!("finished {id}"))
        }
        Status::Running => {
            if !op.cancel_requested {
                history::append(&tx, notifications, id.as_str(), now, &requested).await?;
            }
            tx.execute(
                "UPDATE operations SET cancel_requested = TRUE WHERE id = $1",
                &[&id.as_str()],
            )
            .await
            .map_err(from_pg)?;
            (Cancelled::Requested, format!("cancel {id}"))
        }
    };
    let select = format!("SELECT {OPERATION_COLUMNS} FROM operations WHERE id = $1");
    let row = tx
        .query_one(&select, &[&id.as_str()])
        .await
        .map_err(from_pg)?;
    let op = operation_from_row(&row)?;
    notify(&tx, channel, &payload).await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(cancelled(op))
}

pub(crate) async fn finish(
    client: &mut Object,
    heard: Listeners<'_>,
    id: &OperationId,
    attempt: u32,
    finish: &Finish,
) -> Result<bool> {
    let Listeners {
        channel,
        notifications,
    } = heard;
    let tx = client.transaction().await.map_err(from_pg)?;
    let stmt = tx
        .prepare_cached(
            "UPDATE operations
             SET status = $1, message = $2, arguments = $3, finished_at = $4, lease_until = NULL
             WHERE id = $5 AND attempt = $6 AND status = 'RUNNING'",
        )
        .await
        .map_err(from_pg)?;
    let changed = tx
        .execute(
            &stmt,
            &[
                &finish.status.as_str(),
                &finish.message,
                &finish.arguments,
                &finish.finished_at.as_millis(),
                &id.as_str(),
                &i64::from(attempt),
            ],
        )
        .await
        .map_err(from_pg)?;
    if changed == 0 {
        // A newer attempt owns the operation, or it is already final: apply nothing.
        return Ok(false);
    }
    if let Some(effect) = &finish.effect {
        apply_effect(&tx, effect).await?;
    }
    let (ended, payload) = (finish.event(), format!("finished {id}"));
    tokio::try_join!(
        history::append(&tx, notifications, id.as_str(), finish.finished_at, &ended),
        notify(&tx, channel, &payload),
    )?;
    tx.commit().await.map_err(from_pg)?;
    Ok(true)
}

/// Writes one step of a running attempt: see `Store::progress`.
pub(crate) async fn progress(
    client: &mut Object,
    id: &OperationId,
    attempt: u32,
    progress: &Progress,
) -> Result<bool> {
    let tx = client.transaction().await.map_err(from_pg)?;
    // N.B. FOR UPDATE: a claim that supersedes the attempt waits until this commits, so no
    // write of a lost attempt lands after its successor started.
    let current = tx
        .query_opt(
            "SELECT 1 FROM operations
             WHERE id = $1 AND attempt = $2 AND status = 'RUNNING' FOR UPDATE",
            &[&id.as_str(), &i64::from(attempt)],
        )
        .await
        .map_err(from_pg)?;
    if current.is_none() {
        return Ok(false);
    }
    apply_effect(&tx, &progress.effect).await?;
    tx.execute(
        "UPDATE applications SET deploy_percent = $1 WHERE account = $2 AND id = $3",
        &[
            &progress.deploy_percent,
            &progress.effect.account().as_str(),
            &progress.application,
        ],
    )
    .await
    .map_err(from_pg)?;
    tx.commit().await.map_err(from_pg)?;
    Ok(true)
}

/// Applies a result's change to the inventory, in the caller's transaction.
pub(crate) async fn apply_effect(client: &impl GenericClient, effect: &Effect) -> Result<()> {
    match effect {
        Effect::Update { key, properties } => {
            let stmt = client
                .prepare_cached(
                    "UPDATE resources SET properties = $1
                     WHERE account = $2 AND service = $3 AND id = $4 AND NOT deleted",
                )
                .await
                .map_err(from_pg)?;
            let properties = Value::Object(properties.clone()).to_string();
            client
                .execute(
                    &stmt,
                    &[&properties, &key.account.as_str(), &key.service, &key.id],
                )
                .await
                .map_err(from_pg)?;
        }
        Effect::Create { resource } => add_resource(client, resource).await?,
        Effect::Delete { key } => {
            let stmt = client
                .prepare_cached(
                    "UPDATE resources SET deleted = TRUE
                     WHERE account = $1 AND service = $2 AND id = $3",
                )
                .await
                .map_err(from_pg)?;
            client
                .execute(&stmt, &[&key.account.as_str(), &key.service, &key.id])
                .await
                .map_err(from_pg)?;
        }
        Effect::Application(outcome) => {
            let stmt = client
                .prepare_cached(
                    "UPDATE applications SET status = $1, error = $2,
                         checklist = COALESCE($3, checklist),
                         price_list = COALESCE($4, price_list),
                         deploy_percent = COALESCE($8, deploy_percent), updated_at = $5
                     WHERE account = $6 AND id = $7 AND NOT deleted",
                )
                .await
                .map_err(from_pg)?;
            let list = |items: &Option<Vec<Value>>| {
                items
                    .as_ref()
                    .map(|items| Value::Array(items.clone()).to_string())
            };
            client
                .execute(
                    &stmt,
                    &[
                        &outcome.status.as_str(),
                        &outcome.error,
                        &list(&outcome.checklist),
                        &list(&outcome.price_list),
                        &outcome.updated_at.as_millis(),
                        &outcome.account.as_str(),
                        &outcome.id,
                        &outcome.deploy_percent,
                    ],
                )
                .await
                .map_err(from_pg)?;
        }
    }
    Ok(())
}

/// Rewrites one row as it is: a write that needs room on the disk, and changes nothing.
pub(crate) async fn probe_write(client: &Object) -> Result<()> {
    client
        .execute(
            "UPDATE schema_migrations SET applied_at = applied_at WHERE version = 1",
            &[],
        )
        .await
        .map_err(from_pg)?;
    Ok(())
}

pub(crate) async fn queue_depth(client: &Object) -> Result<QueueDepth> {
    // N.B. one count per status: each reads its own partial index alone.
    let stmt = client
        .prepare_cached(
            "SELECT (SELECT count(*) FROM operations WHERE status = 'INIT'),
                    (SELECT count(*) FROM operations WHERE status = 'RUNNING')",
        )
        .await
        .map_err(from_pg)?;
    let row = client.query_one(&stmt, &[]).await.map_err(from_pg)?;
    Ok(QueueDepth {
        init: row.get::<_, i64>(0).max(0) as u64,
        running: row.get::<_, i64>(1).max(0) as u64,
    })
}

pub(crate) async fn sweep(
    client: &Object,
    expired_before: Timestamp,
    limit: usize,
) -> Result<usize> {
    // SKIP LOCKED: sweepers on several nodes take disjoint batches instead of queueing.
    // Oldest first, by the index on finished_at: a scan that stops at the first operation
    // still retained, however many there are. Their histories go in the same statement.
    let stmt = client
        .prepare_cached(
            "WITH swept AS (
                 DELETE FROM operations WHERE seq IN (
                     SELECT seq FROM operations
                     WHERE finished_at IS NOT NULL AND finished_at < $1
                     ORDER BY finished_at
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 RETURNING seq),
             events AS (
                 DELETE FROM operation_events WHERE operation_seq IN (SELECT seq FROM swept))
             SELECT count(*) FROM swept",
        )
        .await
        .map_err(from_pg)?;
    let row = client
        .query_one(&stmt, &[&expired_before.as_millis(), &(limit as i64)])
        .await
        .map_err(from_pg)?;
    let deleted: i64 = row.try_get(0).map_err(from_pg)?;
    outbox::sweep(client, expired_before, limit).await?;
    Ok(deleted.max(0) as usize)
}

/// Binary `COPY` in one transaction: the fastest way into PostgreSQL, one round trip per
/// buffer of rows rather than per row.
pub(crate) async fn load(client: &mut Object, ops: &[Operation]) -> Result<()> {
    let tx = client.transaction().await.map_err(from_pg)?;
    // N.B. the columns a submit and then a finish would have written; the fingerprint is
    // only ever compared through a client token, and a loaded operation has none.
    let sink = tx
        .copy_in(
            "COPY operations (id, account, service, operation, application, resource,
                 attributes, fingerprint, status, message, arguments, attempt, created_at,
                 finished_at, cancel_requested, submitted_by, pool)
             FROM STDIN BINARY",
        )
        .await
        .map_err(from_pg)?;
    // The eleven text columns, then attempt, created_at, finished_at, cancel_requested,
    // submitted_by and pool.
    let mut types = vec![Type::TEXT; 11];
    types.extend([
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::BOOL,
        Type::TEXT,
        Type::TEXT,
    ]);
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    for op in ops {
        writer
            .as_mut()
            .write(&[
                &op.id.as_str(),
                &op.account.as_str(),
                &op.service,
                &op.operation,
                &op.application,
                &op.resource.as_ref().map(resource_column),
                &op.attributes,
                &"",
                &op.status.as_str(),
                &op.message,
                &op.arguments,
                &i64::from(op.attempt),
                &op.created_at.as_millis(),
                &op.finished_at.map(Timestamp::as_millis),
                &op.cancel_requested,
                &op.submitted_by.as_ref().map(Requester::encode),
                &op.pool.as_str(),
            ])
            .await
            .map_err(from_pg)?;
    }
    writer.finish().await.map_err(from_pg)?;
    tx.commit().await.map_err(from_pg)
}

pub(crate) async fn resource(
    client: &impl GenericClient,
    key: &ResourceKey,
) -> Result<Option<Resource>> {
    let stmt = client
        .prepare_cached(
            "SELECT application, properties FROM resources
             WHERE account = $1 AND service = $2 AND id = $3 AND NOT deleted",
        )
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&key.account.as_str(), &key.service, &key.id])
        .await
        .map_err(from_pg)?;
    row.map(|row| {
        Ok(Resource {
            key: key.clone(),
            application: row.try_get(0).map_err(from_pg)?,
            properties: parse_properties(row.try_get(1).map_err(from_pg)?)?,
        })
    })
    .transpose()
}

pub(crate) async fn located_resource(
    client: &impl GenericClient,
    key: &ResourceKey,
) -> Result<Option<LocatedResource>> {
    let stmt = client
        .prepare_cached(
            "SELECT r.application, r.properties, a.id IS NOT NULL, a.resource_group
             FROM resources r
             LEFT JOIN applications a
                 ON a.account = r.account AND a.id = r.application AND NOT a.deleted
             WHERE r.account = $1 AND r.service = $2 AND r.id = $3 AND NOT r.deleted",
        )
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&key.account.as_str(), &key.service, &key.id])
        .await
        .map_err(from_pg)?;
    row.map(|row| {
        let exists: bool = row.try_get(2).map_err(from_pg)?;
        Ok(LocatedResource {
            resource: Resource {
                key: key.clone(),
                application: row.try_get(0).map_err(from_pg)?,
                properties: parse_properties(row.try_get(1).map_err(from_pg)?)?,
            },
            application: if exists {
                Some(ApplicationPlace {
                    resource_group: row.try_get(3).map_err(from_pg)?,
                })
            } else {
                None
            },
        })
    })
    .transpose()
}

pub(crate) async fn seed_resources(client: &mut Object, resources: &[Resource]) -> Result<()> {
    let tx = client.transaction().await.map_err(from_pg)?;
    for resource in resources {
        add_resource(&tx, resource).await?;
    }
    tx.commit().await.map_err(from_pg)
}

/// Adds a resource the inventory has never held; one it holds (or held) keeps its state.
async fn add_resource(client: &impl GenericClient, r: &Resource) -> Result<()> {
    let insert = client
        .prepare_cached(
            "INSERT INTO resources (account, service, id, application, properties)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(from_pg)?;
    client
        .execute(
            &insert,
            &[
                &r.key.account.as_str(),
                &r.key.service,
                &r.key.id,
                &r.application,
                &Value::Object(r.properties.clone()).to_string(),
            ],
        )
        .await
        .map_err(from_pg)?;
    Ok(())
}

pub(crate) async fn bootstrap_key(
    client: &mut Object,
    candidate: &BootstrapKey,
) -> Result<(BootstrapKey, bool)> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let created = tx
        .execute(
            "INSERT INTO bootstrap_key (singleton, account, access_key_id, secret)
             VALUES (1, $1, $2, $3) ON CONFLICT DO NOTHING",
            &[
                &candidate.account.as_str(),
                &candidate.access_key_id,
                &candidate.secret.expose_secret(),
            ],
        )
        .await
        .map_err(from_pg)?
        == 1;
    let row = tx
        .query_one(
            "SELECT account, access_key_id, secret FROM bootstrap_key WHERE singleton = 1",
            &[],
        )
        .await
        .map_err(from_pg)?;
    let key = BootstrapKey {
        account: AccountId::new(row.get::<_, String>(0)),
        access_key_id: row.get(1),
        secret: SecretString::from(row.get::<_, String>(2)),
    };
    tx.commit().await.map_err(from_pg)?;
    Ok((key, created))
}

pub(crate) fn resource_column(key: &ResourceKey) -> String {
    format!("{}/{}", key.service, key.id)
}

fn operation_from_row(row: &Row) -> Result<Operation> {
    operation_from_columns(row, 0)
}

/// Reads [`OPERATION_COLUMNS`] starting at column `first`.
fn operation_from_columns(row: &Row, first: usize) -> Result<Operation> {
    let text = |i: usize| -> Result<String> { row.try_get(first + i).map_err(corrupt) };
    let optional = |i: usize| -> Result<Option<String>> { row.try_get(first + i).map_err(corrupt) };
    let number = |i: usize| -> Result<i64> { row.try_get(first + i).map_err(corrupt) };
    let account = AccountId::new(text(1)?);
    let resource = optional(5)?.map(|column| {
        let (service, id) = column.split_once('/').unwrap_or((column.as_str(), ""));
        ResourceKey {
            account: account.clone(),
            service: service.to_owned(),
            id: id.to_owned(),
        }
    });
    let status = text(7)?;
    let attempt = number(10)?;
    Ok(Operation {
        id: parse_id(text(0)?)?,
        account,
        service: text(2)?,
        operation: text(3)?,
        application: optional(4)?,
        resource,
        attributes: text(6)?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status:?}")))?,
        message: text(8)?,
        arguments: text(9)?,
        attempt: u32::try_from(attempt)
            .map_err(|_| StoreError::Corrupt(format!("attempt {attempt} is out of range")))?,
        created_at: Timestamp::from_millis(number(11)?),
        finished_at: row
            .try_get::<_, Option<i64>>(first + 12)
            .map_err(corrupt)?
            .map(Timestamp::from_millis),
        cancel_requested: row.try_get(first + 13).map_err(corrupt)?,
        submitted_by: optional(14)?
            .map(|text| Requester::decode(&text).map_err(StoreError::Corrupt))
            .transpose()?,
        pool: {
            let pool = text(15)?;
            Pool::parse(&pool)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown pool {pool:?}")))?
        },
    })
}

pub(crate) fn corrupt(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub(crate) fn parse_id(id: String) -> Result<OperationId> {
    id.parse()
        .map_err(|e| StoreError::Corrupt(format!("{e}: {id:?}")))
}

pub(crate) fn parse_properties(text: String) -> Result<Map<String, Value>> {
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "resource properties are not a JSON object".into(),
        )),
    }
}
