//! The SQL of each store intent, one function per intent, each one transaction (submits and
//! nonce spends: one per group).

use std::collections::HashSet;

use bpops_store::{
    AccountId, BootstrapKey, Cancelled, Claimed, Decide, Effect, Finish, Lease, ListCursor,
    ListPage, ListQuery, NewOperation, Operation, OperationId, QueueDepth, Resource, ResourceKey,
    Result, Status, StoreError, Submitted, UNREADABLE, Unreadable,
};
use bpops_time::Timestamp;
use deadpool_postgres::{GenericClient, Object, Transaction};
use futures_util::future::try_join_all;
use serde_json::{Map, Value};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement};

use crate::from_pg;
use crate::nonces::Spend;

const OPERATION_COLUMNS: &str = "id, account, service, operation, application, resource, \
     attributes, status, message, arguments, attempt, created_at, finished_at, cancel_requested";

/// A submit to store, with others, in one transaction (see `crate::submits`).
pub(crate) struct Pending {
    pub(crate) op: NewOperation,
    pub(crate) expired_before: Timestamp,
    /// With it, the operation is stored already final when it can run at once (see
    /// `Store::submit_decided`).
    pub(crate) decide: Option<Decide>,
}

impl Pending {
    /// The advisory locks storing it takes.
    pub(crate) fn locks(&self) -> impl Iterator<Item = Lock> {
        let op = &self.op;
        let token = op
            .client_token
            .as_ref()
            .map(|token| Lock::Token(format!("token/{}/{token}", op.account)));
        let resource = op
            .resource
            .as_ref()
            .map(|resource| Lock::Resource(format!("resource/{resource}")));
        token.into_iter().chain(resource)
    }
}

/// A transaction-scoped advisory lock (its name hashed to 64 bits). Ordered as a transaction
/// takes them: every client token before any resource, each kind by name, so transactions
/// that take several never deadlock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Lock {
    /// Submits racing with one token, on any node, queue here; the later ones then find the
    /// first one's operation.
    Token(String),
    /// One resource's operations get their seq and commit one at a time, so seq order is
    /// commit order: a claim never sees a later operation without the earlier ones.
    Resource(String),
}

impl Lock {
    fn name(&self) -> &str {
        match self {
            Lock::Token(name) | Lock::Resource(name) => name,
        }
    }
}

/// The statements of a group of submits, prepared before any is sent: a step's statements
/// then travel together (pipelined), and PostgreSQL runs them in the order they were sent.
struct SubmitStatements {
    lock: Statement,
    holder: Statement,
    turn: Statement,
    free_token: Statement,
    insert: Statement,
}

impl SubmitStatements {
    async fn prepare(client: &impl GenericClient) -> Result<SubmitStatements> {
        let prepare = |sql| async move { client.prepare_cached(sql).await.map_err(from_pg) };
        let (lock, holder, turn, free_token, insert) = tokio::try_join!(
            prepare(
                "SELECT count(pg_advisory_xact_lock(hashtextextended(name, 0)))
                 FROM unnest($1::text[]) AS name"
            ),
            prepare(
                "SELECT id, fingerprint, finished_at FROM operations
                 WHERE account = $1 AND client_token = $2"
            ),
            // Whether an unfinished operation holds the resource, and the resource's state.
            prepare(
                "SELECT EXISTS (SELECT 1 FROM operations
                         WHERE account = $1 AND resource = $2 AND status IN ('INIT', 'RUNNING')),
                     r.application, r.properties
                 FROM (SELECT 1) AS one
                 LEFT JOIN resources r
                   ON r.account = $1 AND r.service = $3 AND r.id = $4 AND NOT r.deleted"
            ),
            prepare("UPDATE operations SET client_token = NULL WHERE id = $1"),
            prepare(
                "INSERT INTO operations (id, account, service, operation, application, resource,
                     attributes, client_token, fingerprint, status, message, arguments, attempt,
                     created_at, finished_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
        )?;
        Ok(SubmitStatements {
            lock,
            holder,
            turn,
            free_token,
            insert,
        })
    }
}

/// Stores `group` in `tx` and answers each submit, in order. No two of them take the same
/// lock. On an error the caller rolls the transaction back.
pub(crate) async fn submit_group(
    tx: &Transaction<'_>,
    channel: &str,
    group: &mut [Pending],
) -> Result<Vec<Submitted>> {
    let sql = SubmitStatements::prepare(tx).await?;
    let mut locks: Vec<Lock> = group.iter().flat_map(Pending::locks).collect();
    locks.sort();
    let names: Vec<&str> = locks.iter().map(Lock::name).collect();
    // One round trip: the locks first, then what they guard, read after them.
    let (_, holders, turns) = tokio::try_join!(
        async {
            if !names.is_empty() {
                tx.execute(&sql.lock, &[&names]).await.map_err(from_pg)?;
            }
            Ok(())
        },
        try_join_all(group.iter().map(|p| holder(tx, &sql, &p.op))),
        try_join_all(
            group
                .iter()
                .map(|p| turn(tx, &sql, &p.op, p.decide.is_some()))
        ),
    )?;

    let mut freed = Vec::new();
    let mut answers = Vec::with_capacity(group.len());
    for ((pending, holder), turn) in group.iter_mut().zip(holders).zip(turns) {
        if let Some(holder) = holder {
            if holder
                .finished_at
                .is_some_and(|at| at < pending.expired_before)
            {
                // The holder has expired but is not swept yet: the token is free again.
                freed.push(holder.id);
            } else {
                answers.push(Submitted::Existing {
                    id: parse_id(holder.id)?,
                    same_parameters: holder.fingerprint == pending.op.fingerprint,
                });
                continue;
            }
        }
        answers.push(match (&mut pending.decide, turn) {
            (Some(decide), Some(resource)) => Submitted::Decided(decide(resource)),
            _ => Submitted::Created,
        });
    }

    // One more round trip: freed tokens before the rows that take them again.
    // N.B. operations only, not whole submits: their decisions need not be `Sync`.
    let ops: Vec<&NewOperation> = group.iter().map(|pending| &pending.op).collect();
    let stored = || {
        ops.iter()
            .zip(&answers)
            .filter_map(|(op, answer)| match answer {
                Submitted::Created => Some((*op, None)),
                Submitted::Decided(finish) => Some((*op, Some(finish))),
                Submitted::Existing { .. } => None,
            })
    };
    let effects = stored().filter_map(|(_, finish)| finish?.effect.as_ref());
    let queued = answers.contains(&Submitted::Created);
    tokio::try_join!(
        try_join_all(
            freed
                .iter()
                .map(|id| async { tx.execute(&sql.free_token, &[id]).await.map_err(from_pg) })
        ),
        try_join_all(stored().map(|(op, finish)| insert(tx, &sql, op, finish))),
        try_join_all(effects.map(|effect| apply_effect(tx, effect))),
        async {
            if queued {
                notify(tx, channel, "submitted").await?;
            }
            Ok(())
        },
    )?;
    Ok(answers)
}

/// The operation already holding `op`'s client token.
struct Holder {
    id: String,
    fingerprint: String,
    finished_at: Option<Timestamp>,
}

async fn holder(
    tx: &Transaction<'_>,
    sql: &SubmitStatements,
    op: &NewOperation,
) -> Result<Option<Holder>> {
    let Some(token) = &op.client_token else {
        return Ok(None);
    };
    let row = tx
        .query_opt(&sql.holder, &[&op.account.as_str(), token])
        .await
        .map_err(from_pg)?;
    Ok(row.map(|row| Holder {
        id: row.get(0),
        fingerprint: row.get(1),
        finished_at: row.get::<_, Option<i64>>(2).map(Timestamp::from_millis),
    }))
}

/// For a submit to decide: whether `op` may run as soon as it is stored, with its resource's
/// state (`None` when it names none, or the resource is absent). Asked under the resource's
/// lock, so no submit of the same resource races with the answer.
async fn turn(
    tx: &Transaction<'_>,
    sql: &SubmitStatements,
    op: &NewOperation,
    to_decide: bool,
) -> Result<Option<Option<Resource>>> {
    if !to_decide {
        return Ok(None);
    }
    let Some(key) = &op.resource else {
        return Ok(Some(None));
    };
    let row = tx
        .query_one(
            &sql.turn,
            &[
                &key.account.as_str(),
                &resource_column(key),
                &key.service,
                &key.id,
            ],
        )
        .await
        .map_err(from_pg)?;
    if row.try_get::<_, bool>(0).map_err(from_pg)? {
        return Ok(None);
    }
    let application: Option<String> = row.try_get(1).map_err(from_pg)?;
    let resource = match application {
        Some(application) => Some(Resource {
            key: key.clone(),
            application,
            properties: parse_properties(row.try_get(2).map_err(from_pg)?)?,
        }),
        None => None,
    };
    Ok(Some(resource))
}

/// Inserts `op`, in `INIT`, or final with `finish`.
async fn insert(
    tx: &Transaction<'_>,
    sql: &SubmitStatements,
    op: &NewOperation,
    finish: Option<&Finish>,
) -> Result<()> {
    let (status, message, arguments, finished_at, attempt) = match finish {
        Some(f) => (
            f.status,
            f.message.as_str(),
            f.arguments.as_str(),
            Some(f.finished_at.as_millis()),
            1i64,
        ),
        None => (Status::Init, "", "{}", None, 0),
    };
    let (id, account, resource) = (
        op.id.as_str(),
        op.account.as_str(),
        op.resource.as_ref().map(resource_column),
    );
    let (status, created_at) = (status.as_str(), op.created_at.as_millis());
    let params: [&(dyn ToSql + Sync); 15] = [
        &id,
        &account,
        &op.service,
        &op.operation,
        &op.application,
        &resource,
        &op.attributes,
        &op.client_token,
        &op.fingerprint,
        &status,
        &message,
        &arguments,
        &attempt,
        &created_at,
        &finished_at,
    ];
    tx.execute(&sql.insert, &params).await.map_err(from_pg)?;
    Ok(())
}

/// Queues a notification, delivered to every listener when the transaction commits.
async fn notify(tx: &Transaction<'_>, channel: &str, payload: &str) -> Result<()> {
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
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Claimed> {
    // N.B. only the head of each resource's queue (no older unfinished operation on it) is
    // a candidate. Rows another node is claiming right now are skipped, not waited for;
    // a row claimed and committed since this statement's snapshot is locked in its new
    // version and re-checked, so it no longer qualifies. Since a resource's operations
    // commit in seq order (see `submit`), a head seen here stays the head until it ends.
    let columns = OPERATION_COLUMNS
        .split(", ")
        .map(|c| format!("operations.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let tx = client.transaction().await.map_err(from_pg)?;
    let stmt = tx
        .prepare_cached(&format!(
            "WITH picked AS (
                 SELECT o.seq FROM operations o
                 WHERE o.status IN ('INIT', 'RUNNING')
                   AND (o.status = 'INIT' OR o.lease_until <= $1)
                   AND (o.resource IS NULL OR NOT EXISTS (
                         SELECT 1 FROM operations p
                         WHERE p.status IN ('INIT', 'RUNNING')
                           AND p.account = o.account AND p.resource = o.resource
                           AND p.seq < o.seq))
                 ORDER BY o.seq
                 LIMIT $3
                 FOR UPDATE OF o SKIP LOCKED)
             UPDATE operations
             SET status = 'RUNNING', attempt = operations.attempt + 1, lease_until = $2
             FROM picked WHERE operations.seq = picked.seq
             RETURNING operations.seq, {columns}"
        ))
        .await
        .map_err(from_pg)?;
    let rows = tx
        .query(
            &stmt,
            &[&now.as_millis(), &lease_until.as_millis(), &(limit as i64)],
        )
        .await
        .map_err(from_pg)?;
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
            let id = row.get(0);
            claimed.unreadable.push(Unreadable { id, reason });
        }
    }
    tx.commit().await.map_err(from_pg)?;
    Ok(claimed)
}

pub(crate) async fn release(
    client: &mut Object,
    channel: &str,
    id: &OperationId,
    attempt: u32,
) -> Result<bool> {
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
    notify(&tx, channel, "submitted").await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(true)
}

pub(crate) async fn renew_lease(
    client: &Object,
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
                &(query.limit as i64 + 1),
            ],
        )
        .await
        .map_err(from_pg)?;
    let mut listed = rows
        .iter()
        .map(|row| {
            Ok((
                operation_from_row(row)?,
                row.try_get::<_, i64>(14).map_err(corrupt)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    // One row more than asked says whether there is a next page.
    let next = if listed.len() > query.limit {
        listed.truncate(query.limit);
        listed.last().map(|(op, seq)| ListCursor {
            created_at: op.created_at,
            seq: *seq,
        })
    } else {
        None
    };
    Ok(ListPage {
        operations: listed.into_iter().map(|(op, _)| op).collect(),
        next,
    })
}

pub(crate) async fn cancel(
    client: &mut Object,
    channel: &str,
    account: &AccountId,
    id: &OperationId,
    applications: Option<&[String]>,
    message: &str,
    now: Timestamp,
) -> Result<Cancelled> {
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
    if let Some(applications) = applications
        && !op
            .application
            .as_ref()
            .is_some_and(|app| applications.contains(app))
    {
        return Ok(Cancelled::NotFound);
    }
    let (cancelled, payload): (fn(Operation) -> Cancelled, String) = match op.status {
        Status::Success | Status::Failure => return Ok(Cancelled::AlreadyFinal(op)),
        Status::Init => {
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
    channel: &str,
    id: &OperationId,
    attempt: u32,
    finish: &Finish,
) -> Result<bool> {
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
    notify(&tx, channel, &format!("finished {id}")).await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(true)
}

/// Applies a result's change to the inventory, in the caller's transaction.
async fn apply_effect(client: &impl GenericClient, effect: &Effect) -> Result<()> {
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
    let stmt = client
        .prepare_cached(
            "SELECT status, count(*) FROM operations
             WHERE status IN ('INIT', 'RUNNING') GROUP BY status",
        )
        .await
        .map_err(from_pg)?;
    let mut depth = QueueDepth::default();
    for row in client.query(&stmt, &[]).await.map_err(from_pg)? {
        let n = row.get::<_, i64>(1).max(0) as u64;
        match row.get::<_, &str>(0) {
            "INIT" => depth.init = n,
            _ => depth.running = n,
        }
    }
    Ok(depth)
}

pub(crate) async fn sweep(
    client: &Object,
    expired_before: Timestamp,
    limit: usize,
) -> Result<usize> {
    // SKIP LOCKED: sweepers on several nodes take disjoint batches instead of queueing.
    // Oldest first, by the index on finished_at: a scan that stops at the first operation
    // still retained, however many there are.
    let stmt = client
        .prepare_cached(
            "DELETE FROM operations WHERE seq IN (
                 SELECT seq FROM operations
                 WHERE finished_at IS NOT NULL AND finished_at < $1
                 ORDER BY finished_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .await
        .map_err(from_pg)?;
    let deleted = client
        .execute(&stmt, &[&expired_before.as_millis(), &(limit as i64)])
        .await
        .map_err(from_pg)?;
    Ok(deleted as usize)
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
                 finished_at, cancel_requested)
             FROM STDIN BINARY",
        )
        .await
        .map_err(from_pg)?;
    // The eleven text columns, then attempt, created_at, finished_at and cancel_requested.
    let mut types = vec![Type::TEXT; 11];
    types.extend([Type::INT8, Type::INT8, Type::INT8, Type::BOOL]);
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
            ])
            .await
            .map_err(from_pg)?;
    }
    writer.finish().await.map_err(from_pg)?;
    tx.commit().await.map_err(from_pg)
}

/// Spends a nonce, on a connection whose commits do not wait for the disk: every
/// authenticated request spends one, and a spend lost with a database crash only reopens a
/// replay window that the clock check still bounds. Conflicts with other nodes' spends are
/// decided all the same.
/// Spends `spends` in one statement: whether each was new. No two of them name the same
/// nonce of the same key.
pub(crate) async fn spend_nonces(client: &Object, spends: &[Spend]) -> Result<Vec<bool>> {
    // Each spend also forgets a few expired nonces (`expires_at < now`, as
    // `bpops_store::nonce_expired` says), so the table holds about one window of traffic
    // without a janitor; SKIP LOCKED keeps concurrent spends from queueing on them. Not those
    // of this statement: a nonce spent again once expired takes its row over instead
    // (`DO UPDATE … WHERE`), since its row may still be there.
    // N.B. the ORDER BY makes it an index scan that stops at the first unexpired nonce:
    // without it the planner may scan the whole table on every spend.
    let stmt = client
        .prepare_cached(
            "WITH spends AS (
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                     AS s (access_key_id, nonce, expires_at)),
             forgotten AS (
                 DELETE FROM signature_nonces WHERE (access_key_id, nonce) IN (
                     SELECT access_key_id, nonce FROM signature_nonces
                     WHERE expires_at < $4
                       AND (access_key_id, nonce) NOT IN (SELECT access_key_id, nonce FROM spends)
                     ORDER BY expires_at LIMIT $5
                     FOR UPDATE SKIP LOCKED))
             INSERT INTO signature_nonces (access_key_id, nonce, expires_at)
             SELECT * FROM spends
             ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
                 WHERE signature_nonces.expires_at < $4
             RETURNING access_key_id, nonce",
        )
        .await
        .map_err(from_pg)?;
    let keys: Vec<&str> = spends.iter().map(|s| s.access_key_id.as_str()).collect();
    let nonces: Vec<&str> = spends.iter().map(|s| s.nonce.as_str()).collect();
    let expiries: Vec<i64> = spends.iter().map(|s| s.expires_at.as_millis()).collect();
    // The group's earliest clock: no spend of it finds a nonce expired before its own clock
    // says so.
    let now = spends.iter().map(|s| s.now).min().unwrap_or_default();
    let forget = 8 * spends.len() as i64;
    let rows = client
        .query(
            &stmt,
            &[&keys, &nonces, &expiries, &now.as_millis(), &forget],
        )
        .await
        .map_err(from_pg)?;
    let spent: HashSet<(&str, &str)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    Ok(spends
        .iter()
        .map(|s| spent.contains(&(s.access_key_id.as_str(), s.nonce.as_str())))
        .collect())
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

pub(crate) async fn seed_resources(client: &mut Object, resources: &[Resource]) -> Result<()> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO resources (account, service, id, application, properties)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(from_pg)?;
    for r in resources {
        tx.execute(
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
    }
    tx.commit().await.map_err(from_pg)
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
                &candidate.secret,
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
        secret: row.get(2),
    };
    tx.commit().await.map_err(from_pg)?;
    Ok((key, created))
}

fn resource_column(key: &ResourceKey) -> String {
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
    })
}

fn corrupt(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn parse_id(id: String) -> Result<OperationId> {
    id.parse()
        .map_err(|e| StoreError::Corrupt(format!("{e}: {id:?}")))
}

fn parse_properties(text: String) -> Result<Map<String, Value>> {
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "resource properties are not a JSON object".into(),
        )),
    }
}
