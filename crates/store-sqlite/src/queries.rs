//! The SQL of each store intent, one function per intent, each one transaction.

use bpops_store::{
    AccountId, ApplicationPlace, BootstrapKey, Budget, Cancelled, Claimed, Decide, Effect, Event,
    Finish, Lease, ListPage, ListQuery, LocatedResource, NewOperation, NewStep, Notifications,
    Operation, OperationId, Pool, Progress, QueueDepth, Requester, Resource, ResourceKey, Status,
    StepStarted, Submitted, UNREADABLE, Unreadable,
};
use bpops_time::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::{applications, history, outbox};

const OPERATION_COLUMNS: &str = "id, account, service, operation, application, resource, \
     attributes, status, message, arguments, attempt, created_at, finished_at, cancel_requested, \
     submitted_by, pool";
/// How many columns [`OPERATION_COLUMNS`] names: a query that selects more reads them after.
const OPERATION_COLUMN_COUNT: usize = 16;

/// Stores `op`; with `decide`, already final when it could run at once (see
/// `Store::submit_decided`).
pub(crate) fn submit(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    mut op: NewOperation,
    expired_before: Timestamp,
    decide: Option<Decide>,
) -> rusqlite::Result<Submitted> {
    let tx = conn.savepoint()?;
    if let Some(existing) = token_holder(&tx, &op, expired_before)? {
        return Ok(existing);
    }
    let decided = match decide {
        Some(mut decide) if runnable_now(&tx, &op)? => {
            let resource = match &op.resource {
                Some(key) => resource(&tx, key)?,
                None => None,
            };
            Some(decide(resource))
        }
        _ => None,
    };
    let events = op.first_events(decided.as_ref());
    let (client_token, fingerprint) = (op.client_token.take(), std::mem::take(&mut op.fingerprint));
    insert(
        &mut tx.prepare_cached(INSERT)?,
        &op.stored(decided.as_ref()),
        client_token.as_deref(),
        &fingerprint,
    )?;
    history::start(&tx, notifications, tx.last_insert_rowid(), &events)?;
    let submitted = match decided {
        Some(finish) => {
            apply_effect(&tx, finish.effect.as_ref())?;
            Submitted::Decided(finish)
        }
        None => Submitted::Created,
    };
    tx.commit()?;
    Ok(submitted)
}

/// The operation already holding `op`'s client token, as [`Submitted::Existing`]; an
/// expired holder that is not swept yet gives its token up.
fn token_holder(
    tx: &Connection,
    op: &NewOperation,
    expired_before: Timestamp,
) -> rusqlite::Result<Option<Submitted>> {
    let Some(token) = &op.client_token else {
        return Ok(None);
    };
    let existing = tx
        .query_row(
            "SELECT id, fingerprint, finished_at FROM operations
             WHERE account = ?1 AND client_token = ?2",
            params![op.account.as_str(), token],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i64>>(2)?.map(Timestamp::from_millis),
                ))
            },
        )
        .optional()?;
    let Some((id, fingerprint, finished_at)) = existing else {
        return Ok(None);
    };
    if finished_at.is_some_and(|at| at < expired_before) {
        // The holder has expired but is not swept yet: the token is free again.
        tx.execute(
            "UPDATE operations SET client_token = NULL WHERE id = ?1",
            [&id],
        )?;
        return Ok(None);
    }
    Ok(Some(Submitted::Existing {
        id: parse_id(id)?,
        same_parameters: fingerprint == op.fingerprint,
    }))
}

/// Starts a lifecycle step: see `Store::start_step`.
pub(crate) fn start_step(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    step: &NewStep,
    expired_before: Timestamp,
) -> rusqlite::Result<StepStarted> {
    let tx = conn.savepoint()?;
    let op = &step.operation;
    if let Some(Submitted::Existing {
        id,
        same_parameters,
    }) = token_holder(&tx, op, expired_before)?
    {
        return Ok(StepStarted::Existing {
            id,
            same_parameters,
        });
    }
    let application = op.application.as_deref().unwrap_or_default();
    let status: Option<String> = tx
        .prepare_cached(
            "SELECT status FROM applications WHERE account = ?1 AND id = ?2 AND deleted = 0",
        )?
        .query_row(params![op.account.as_str(), application], |row| row.get(0))
        .optional()?;
    let Some(status) = status else {
        return Ok(StepStarted::NotFound);
    };
    let status = applications::parse_status(0, &status)?;
    if !step.allowed.contains(&status) {
        return Ok(StepStarted::Refused(status));
    }
    tx.execute(
        "UPDATE applications SET status = ?1, error = '', updated_at = ?2
         WHERE account = ?3 AND id = ?4",
        params![
            step.status.as_str(),
            op.created_at.as_millis(),
            op.account.as_str(),
            application
        ],
    )?;
    insert(
        &mut tx.prepare_cached(INSERT)?,
        &op.clone().stored(None),
        op.client_token.as_deref(),
        &op.fingerprint,
    )?;
    history::start(
        &tx,
        notifications,
        tx.last_insert_rowid(),
        &op.first_events(None),
    )?;
    tx.commit()?;
    Ok(StepStarted::Started)
}

/// Whether `op` could run at once: no unfinished operation holds its resource.
fn runnable_now(conn: &Connection, op: &NewOperation) -> rusqlite::Result<bool> {
    let Some(key) = &op.resource else {
        return Ok(true);
    };
    let held = conn
        .prepare_cached(
            "SELECT 1 FROM operations
             WHERE account = ?1 AND resource = ?2 AND status IN ('INIT', 'RUNNING') LIMIT 1",
        )?
        .exists(params![op.account.as_str(), resource_column(key)])?;
    Ok(!held)
}

pub(crate) fn get(
    conn: &Connection,
    account: &AccountId,
    id: &OperationId,
) -> rusqlite::Result<Option<Operation>> {
    conn.prepare_cached(&format!(
        "SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ?1 AND account = ?2"
    ))?
    .query_row(params![id.as_str(), account.as_str()], operation_from_row)
    .optional()
}

/// Sets the header's `user_version` to its own value: a write that needs room on the disk
/// and changes nothing. N.B. rewriting a row as it is would not do: SQLite skips a write that
/// leaves a row's bytes unchanged, but always rewrites the header page.
pub(crate) fn probe_write(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    conn.pragma_update(None, "user_version", version)
}

pub(crate) fn queue_depth(conn: &Connection) -> rusqlite::Result<QueueDepth> {
    // N.B. one count per status: each reads its own partial index alone.
    conn.prepare_cached(
        "SELECT (SELECT count(*) FROM operations WHERE status = 'INIT'),
                (SELECT count(*) FROM operations WHERE status = 'RUNNING')",
    )?
    .query_row([], |row| {
        Ok(QueueDepth {
            init: row.get::<_, i64>(0)?.max(0) as u64,
            running: row.get::<_, i64>(1)?.max(0) as u64,
        })
    })
}

pub(crate) fn claim(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    node: &str,
    now: Timestamp,
    lease_until: Timestamp,
    budget: Budget,
) -> rusqlite::Result<Claimed> {
    let tx = conn.savepoint()?;
    // N.B. an operation is runnable only when no older unfinished operation holds its
    // resource: that is what keeps one resource's operations in submission order. Waiting
    // operations and expired leases are each read from an index of their own, so the
    // attempts running under a valid lease (thousands, when they wait on timers) are never
    // walked.
    const HEAD: &str = "(o.resource IS NULL OR NOT EXISTS (
         SELECT 1 FROM operations p
         WHERE p.status IN ('INIT', 'RUNNING')
           AND p.account = o.account AND p.resource = o.resource AND p.seq < o.seq))";
    let mut waiting = tx.prepare_cached(&format!(
        "SELECT o.seq FROM operations o
         WHERE o.pool = ?1 AND o.status = 'INIT' AND {HEAD}
         ORDER BY o.seq LIMIT ?2"
    ))?;
    let mut expired = tx.prepare_cached(&format!(
        "SELECT o.seq FROM operations o
         WHERE o.pool = ?1 AND o.status = 'RUNNING' AND o.lease_until <= ?2 AND {HEAD}
         ORDER BY o.seq LIMIT ?3"
    ))?;
    let mut seqs = Vec::new();
    for (pool, limit) in budget.nonzero() {
        let (pool_name, limit) = (pool.as_str(), limit as i64);
        let mut candidates: Vec<i64> = expired
            .query_map(params![pool_name, now.as_millis(), limit], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for seq in waiting.query_map(params![pool_name, limit], |row| row.get(0))? {
            candidates.push(seq?);
        }
        // The pool's oldest, whichever way they became runnable.
        candidates.sort_unstable();
        candidates.truncate(limit as usize);
        seqs.extend(candidates);
    }
    drop((waiting, expired));
    seqs.sort_unstable();
    let mut claimed = Claimed::default();
    {
        let mut update = tx.prepare_cached(&format!(
            "UPDATE operations SET status = 'RUNNING', attempt = attempt + 1, lease_until = ?1
             WHERE seq = ?2 RETURNING {OPERATION_COLUMNS}"
        ))?;
        let mut set_aside = tx.prepare_cached(
            "UPDATE operations
             SET status = 'FAILURE', message = ?1, arguments = '{}', finished_at = ?2,
                 lease_until = NULL
             WHERE seq = ?3 RETURNING id",
        )?;
        for seq in seqs {
            match update.query_row(params![lease_until.as_millis(), seq], operation_from_row) {
                Ok(op) => {
                    let claimed_by = Event::Claimed {
                        node: node.to_owned(),
                        attempt: op.attempt,
                    };
                    history::append(&tx, notifications, op.id.as_str(), now, &claimed_by)?;
                    claimed.operations.push(op);
                }
                Err(e) if is_undecodable(&e) => {
                    let id = set_aside
                        .query_row(params![UNREADABLE, now.as_millis(), seq], |row| {
                            Ok(as_text(row.get_ref(0)?))
                        })?;
                    let ended = Event::Finished {
                        status: Status::Failure,
                        message: UNREADABLE.to_owned(),
                    };
                    history::append(&tx, notifications, &id, now, &ended)?;
                    let reason = e.to_string();
                    claimed.unreadable.push(Unreadable { id, reason });
                }
                Err(e) => return Err(e),
            }
        }
    }
    tx.commit()?;
    Ok(claimed)
}

/// Whether `e` says a stored value could not be decoded (rather than that SQLite failed).
pub(crate) fn is_undecodable(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

/// Any stored value, as text for a log line.
fn as_text(value: rusqlite::types::ValueRef) -> String {
    match value {
        rusqlite::types::ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Makes every running operation claimable again: called at open, when no worker can be alive.
pub(crate) fn release_leases(conn: &Connection) -> rusqlite::Result<usize> {
    // The attempts of webhook deliveries that process was making are over too: each is
    // attempted again at once (its receiver deduplicates by Idempotency-Key).
    conn.execute(
        "UPDATE notification_deliveries SET lease_until = 0 WHERE state = 'pending'",
        [],
    )?;
    conn.execute(
        "UPDATE operations SET lease_until = 0 WHERE status = 'RUNNING'",
        [],
    )
}

pub(crate) fn release(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    id: &OperationId,
    attempt: u32,
    now: Timestamp,
) -> rusqlite::Result<bool> {
    let tx = conn.savepoint()?;
    let changed = tx
        .prepare_cached(
            "UPDATE operations SET lease_until = 0
             WHERE id = ?1 AND attempt = ?2 AND status = 'RUNNING'",
        )?
        .execute(params![id.as_str(), attempt])?;
    if changed == 0 {
        return Ok(false);
    }
    history::append(
        &tx,
        notifications,
        id.as_str(),
        now,
        &Event::Released { attempt },
    )?;
    tx.commit()?;
    Ok(true)
}

/// Schedules the next attempt: see `Store::schedule_retry`.
pub(crate) fn schedule_retry(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    id: &OperationId,
    attempt: u32,
    now: Timestamp,
    retry_at: Timestamp,
    reason: &str,
) -> rusqlite::Result<Lease> {
    let tx = conn.savepoint()?;
    let lease = renew_lease(&tx, id, attempt, retry_at)?;
    if lease != Lease::Lost {
        let scheduled = Event::RetryScheduled {
            attempt,
            reason: reason.to_owned(),
            retry_at,
        };
        history::append(&tx, notifications, id.as_str(), now, &scheduled)?;
        tx.commit()?;
    }
    Ok(lease)
}

pub(crate) fn renew_lease(
    conn: &Connection,
    id: &OperationId,
    attempt: u32,
    lease_until: Timestamp,
) -> rusqlite::Result<Lease> {
    let cancel_requested: Option<bool> = conn
        .prepare_cached(
            "UPDATE operations SET lease_until = ?1
             WHERE id = ?2 AND attempt = ?3 AND status = 'RUNNING'
             RETURNING cancel_requested",
        )?
        .query_row(
            params![lease_until.as_millis(), id.as_str(), attempt],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match cancel_requested {
        None => Lease::Lost,
        Some(false) => Lease::Held,
        Some(true) => Lease::CancelRequested,
    })
}

pub(crate) fn list(conn: &Connection, query: &ListQuery) -> rusqlite::Result<ListPage> {
    // N.B. one static statement whose absent filters are NULL, so it is prepared once; the
    // applications travel as a JSON array. Newest first by (created_at, seq): a total order
    // in which the cursor is a strict bound, so no item repeats or is skipped across pages.
    let applications = query
        .applications
        .as_ref()
        .map(|apps| Value::from(apps.clone()).to_string());
    let (after_created, after_seq) = match query.after {
        Some(c) => (Some(c.created_at.as_millis()), Some(c.seq)),
        None => (None, None),
    };
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {OPERATION_COLUMNS}, seq FROM operations
             WHERE account = ?1
               AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR service = ?3)
               AND (?4 IS NULL OR operation = ?4)
               AND (?5 IS NULL OR application IN (SELECT value FROM json_each(?5)))
               AND (?6 IS NULL OR created_at >= ?6)
               AND (?7 IS NULL OR created_at < ?7)
               AND (finished_at IS NULL OR finished_at >= ?8)
               AND (?9 IS NULL OR (created_at, seq) < (?9, ?10))
             ORDER BY created_at DESC, seq DESC
             LIMIT ?11"
        ))?
        .query_map(
            params![
                query.account.as_str(),
                query.status.map(Status::as_str),
                query.service,
                query.operation,
                applications,
                query.created_from.map(Timestamp::as_millis),
                query.created_before.map(Timestamp::as_millis),
                query.expired_before.as_millis(),
                after_created,
                after_seq,
                query.rows_to_fetch(),
            ],
            |row| {
                let op = operation_from_row(row)?;
                let seq: i64 = row.get(OPERATION_COLUMN_COUNT)?;
                Ok((op, seq))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ListPage::from_rows(query, rows))
}

pub(crate) fn cancel(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    account: &AccountId,
    id: &OperationId,
    by: &Requester,
    message: &str,
    now: Timestamp,
) -> rusqlite::Result<Cancelled> {
    let tx = conn.savepoint()?;
    let select =
        format!("SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ?1 AND account = ?2");
    let Some(op) = tx
        .prepare_cached(&select)?
        .query_row(params![id.as_str(), account.as_str()], operation_from_row)
        .optional()?
    else {
        return Ok(Cancelled::NotFound);
    };
    let requested = Event::CancelRequested { by: by.clone() };
    let cancelled = match op.status {
        Status::Success | Status::Failure => return Ok(Cancelled::AlreadyFinal(op)),
        Status::Init => {
            history::append(&tx, notifications, id.as_str(), now, &requested)?;
            let ended = Event::Finished {
                status: Status::Failure,
                message: message.to_owned(),
            };
            history::append(&tx, notifications, id.as_str(), now, &ended)?;
            tx.prepare_cached(
                "UPDATE operations
                 SET status = 'FAILURE', message = ?1, finished_at = ?2, lease_until = NULL
                 WHERE id = ?3",
            )?
            .execute(params![message, now.as_millis(), id.as_str()])?;
            Cancelled::Ended
        }
        Status::Running => {
            if !op.cancel_requested {
                history::append(&tx, notifications, id.as_str(), now, &requested)?;
            }
            tx.prepare_cached("UPDATE operations SET cancel_requested = 1 WHERE id = ?1")?
                .execute(params![id.as_str()])?;
            Cancelled::Requested
        }
    };
    let op = tx
        .prepare_cached(&select)?
        .query_row(params![id.as_str(), account.as_str()], operation_from_row)?;
    tx.commit()?;
    Ok(cancelled(op))
}

pub(crate) fn finish(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    id: &OperationId,
    attempt: u32,
    finish: &Finish,
) -> rusqlite::Result<bool> {
    let tx = conn.savepoint()?;
    let changed = tx
        .prepare_cached(
            "UPDATE operations
             SET status = ?1, message = ?2, arguments = ?3, finished_at = ?4, lease_until = NULL
             WHERE id = ?5 AND attempt = ?6 AND status = 'RUNNING'",
        )?
        .execute(params![
            finish.status.as_str(),
            finish.message,
            finish.arguments,
            finish.finished_at.as_millis(),
            id.as_str(),
            attempt
        ])?;
    if changed == 0 {
        // A newer attempt owns the operation, or it is already final: apply nothing.
        return Ok(false);
    }
    apply_effect(&tx, finish.effect.as_ref())?;
    history::append(
        &tx,
        notifications,
        id.as_str(),
        finish.finished_at,
        &finish.event(),
    )?;
    tx.commit()?;
    Ok(true)
}

/// Writes one step of a running attempt: see `Store::progress`.
pub(crate) fn progress(
    conn: &mut Connection,
    id: &OperationId,
    attempt: u32,
    progress: &Progress,
) -> rusqlite::Result<bool> {
    let tx = conn.savepoint()?;
    let current = tx
        .prepare_cached(
            "SELECT 1 FROM operations WHERE id = ?1 AND attempt = ?2 AND status = 'RUNNING'",
        )?
        .exists(params![id.as_str(), attempt])?;
    if !current {
        return Ok(false);
    }
    apply_effect(&tx, Some(&progress.effect))?;
    tx.prepare_cached(
        "UPDATE applications SET deploy_percent = ?1 WHERE account = ?2 AND id = ?3",
    )?
    .execute(params![
        progress.deploy_percent,
        progress.effect.account().as_str(),
        progress.application
    ])?;
    tx.commit()?;
    Ok(true)
}

/// Applies a result's change to the inventory, in the caller's transaction.
fn apply_effect(conn: &Connection, effect: Option<&Effect>) -> rusqlite::Result<()> {
    match effect {
        None => {}
        Some(Effect::Update { key, properties }) => {
            conn.prepare_cached(
                "UPDATE resources SET properties = ?1
                 WHERE account = ?2 AND service = ?3 AND id = ?4 AND deleted = 0",
            )?
            .execute(params![
                Value::Object(properties.clone()).to_string(),
                key.account.as_str(),
                key.service,
                key.id
            ])?;
        }
        Some(Effect::Create { resource }) => add_resource(conn, resource)?,
        Some(Effect::Delete { key }) => {
            conn.prepare_cached(
                "UPDATE resources SET deleted = 1 WHERE account = ?1 AND service = ?2 AND id = ?3",
            )?
            .execute(params![key.account.as_str(), key.service, key.id])?;
        }
        Some(Effect::Application(outcome)) => {
            // N.B. `DeployPercent` kept when the outcome does not say.
            let list = |items: &Option<Vec<Value>>| {
                items
                    .as_ref()
                    .map(|items| Value::Array(items.clone()).to_string())
            };
            conn.prepare_cached(
                "UPDATE applications SET status = ?1, error = ?2,
                     checklist = COALESCE(?3, checklist), price_list = COALESCE(?4, price_list),
                     deploy_percent = COALESCE(?8, deploy_percent), updated_at = ?5
                 WHERE account = ?6 AND id = ?7 AND deleted = 0",
            )?
            .execute(params![
                outcome.status.as_str(),
                outcome.error,
                list(&outcome.checklist),
                list(&outcome.price_list),
                outcome.updated_at.as_millis(),
                outcome.account.as_str(),
                outcome.id,
                outcome.deploy_percent
            ])?;
        }
    }
    Ok(())
}

pub(crate) fn sweep(
    conn: &mut Connection,
    expired_before: Timestamp,
    limit: usize,
) -> rusqlite::Result<usize> {
    let tx = conn.savepoint()?;
    let swept: Vec<i64> = tx
        .prepare_cached(
            "DELETE FROM operations WHERE seq IN (
                 SELECT seq FROM operations
                 WHERE finished_at IS NOT NULL AND finished_at < ?1
                 ORDER BY finished_at
                 LIMIT ?2)
             RETURNING seq",
        )?
        .query_map(params![expired_before.as_millis(), limit as i64], |row| {
            row.get(0)
        })?
        .collect::<rusqlite::Result<_>>()?;
    history::delete(&tx, &swept)?;
    outbox::sweep(&tx, expired_before, limit)?;
    tx.commit()?;
    Ok(swept.len())
}

/// Page cache of a load, in KiB: enough for the id index of a few million operations.
const LOAD_CACHE_KIB: i64 = 128 * 1024;

/// One prepared statement for every row, in the caller's savepoint: the rows reach the disk
/// with the group's one commit.
pub(crate) fn load(conn: &mut Connection, ops: &[Operation]) -> rusqlite::Result<()> {
    // N.B. ids are random, so a load touches leaf pages all over the id index. With the
    // default 2 MB cache each page is spilled to the WAL and read back many times per
    // transaction (a million rows took about a minute); a cache that holds them for the
    // transaction writes each once. The usual size comes back afterwards, freeing the memory.
    let usual: i64 = conn.pragma_query_value(None, "cache_size", |row| row.get(0))?;
    conn.pragma_update(None, "cache_size", -LOAD_CACHE_KIB)?;
    let loaded = insert_all(conn, ops);
    conn.pragma_update(None, "cache_size", usual)?;
    loaded
}

fn insert_all(conn: &mut Connection, ops: &[Operation]) -> rusqlite::Result<()> {
    let tx = conn.savepoint()?;
    {
        let mut statement = tx.prepare_cached(INSERT)?;
        for op in ops {
            // N.B. the columns a submit and then a finish would have written; the fingerprint
            // is only ever compared through a client token, and a loaded operation has none.
            insert(&mut statement, op, None, "")?;
        }
    }
    tx.commit()
}

/// The statement of [`insert`].
const INSERT: &str = "INSERT INTO operations (id, account, service, operation, application,
         resource, attributes, client_token, fingerprint, status, message, arguments, attempt,
         created_at, finished_at, cancel_requested, submitted_by, pool)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

/// Inserts `op`, with the client token and fingerprint it was submitted with, through
/// `statement`, prepared from [`INSERT`].
fn insert(
    statement: &mut rusqlite::CachedStatement<'_>,
    op: &Operation,
    client_token: Option<&str>,
    fingerprint: &str,
) -> rusqlite::Result<()> {
    statement.execute(params![
        op.id.as_str(),
        op.account.as_str(),
        op.service,
        op.operation,
        op.application,
        op.resource.as_ref().map(resource_column),
        op.attributes,
        client_token,
        fingerprint,
        op.status.as_str(),
        op.message,
        op.arguments,
        op.attempt,
        op.created_at.as_millis(),
        op.finished_at.map(Timestamp::as_millis),
        op.cancel_requested,
        op.submitted_by.as_ref().map(Requester::encode),
        op.pool.as_str(),
    ])?;
    Ok(())
}

pub(crate) fn resource(conn: &Connection, key: &ResourceKey) -> rusqlite::Result<Option<Resource>> {
    conn.prepare_cached(
        "SELECT application, properties FROM resources
         WHERE account = ?1 AND service = ?2 AND id = ?3 AND deleted = 0",
    )?
    .query_row(params![key.account.as_str(), key.service, key.id], |row| {
        Ok(Resource {
            key: key.clone(),
            application: row.get(0)?,
            properties: parse_properties(1, row.get(1)?)?,
        })
    })
    .optional()
}

/// N.B. two statements, not a join: SQLite prepared the join again at every call (a bound
/// parameter its planner used expired the statement at each binding), about 180,000
/// instructions, where a second lookup on the same connection costs a few thousand.
pub(crate) fn located_resource(
    conn: &Connection,
    key: &ResourceKey,
) -> rusqlite::Result<Option<LocatedResource>> {
    let Some(resource) = resource(conn, key)? else {
        return Ok(None);
    };
    let application = conn
        .prepare_cached(
            "SELECT resource_group FROM applications
             WHERE account = ?1 AND id = ?2 AND deleted = 0",
        )?
        .query_row(params![key.account.as_str(), resource.application], |row| {
            Ok(ApplicationPlace {
                resource_group: row.get(0)?,
            })
        })
        .optional()?;
    Ok(Some(LocatedResource {
        resource,
        application,
    }))
}

pub(crate) fn seed_resources(
    conn: &mut Connection,
    resources: &[Resource],
) -> rusqlite::Result<()> {
    let tx = conn.savepoint()?;
    for resource in resources {
        add_resource(&tx, resource)?;
    }
    tx.commit()
}

/// Adds a resource the inventory has never held; one it holds (or held) keeps its state.
fn add_resource(conn: &Connection, r: &Resource) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO resources (account, service, id, application, properties)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        r.key.account.as_str(),
        r.key.service,
        r.key.id,
        r.application,
        Value::Object(r.properties.clone()).to_string()
    ])?;
    Ok(())
}

pub(crate) fn bootstrap_key(
    conn: &mut Connection,
    candidate: &BootstrapKey,
) -> rusqlite::Result<(BootstrapKey, bool)> {
    let tx = conn.savepoint()?;
    let created = tx.execute(
        "INSERT INTO bootstrap_key (singleton, account, access_key_id, secret)
         VALUES (1, ?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![
            candidate.account.as_str(),
            candidate.access_key_id,
            candidate.secret.expose_secret()
        ],
    )? == 1;
    let key = tx.query_row(
        "SELECT account, access_key_id, secret FROM bootstrap_key WHERE singleton = 1",
        [],
        |row| {
            Ok(BootstrapKey {
                account: AccountId::new(row.get::<_, String>(0)?),
                access_key_id: row.get(1)?,
                secret: SecretString::from(row.get::<_, String>(2)?),
            })
        },
    )?;
    tx.commit()?;
    Ok((key, created))
}

fn resource_column(key: &ResourceKey) -> String {
    format!("{}/{}", key.service, key.id)
}

fn operation_from_row(row: &Row) -> rusqlite::Result<Operation> {
    let account = AccountId::new(row.get::<_, String>(1)?);
    let resource = row.get::<_, Option<String>>(5)?.map(|column| {
        let (service, id) = column.split_once('/').unwrap_or((column.as_str(), ""));
        ResourceKey {
            account: account.clone(),
            service: service.to_owned(),
            id: id.to_owned(),
        }
    });
    let status: String = row.get(7)?;
    Ok(Operation {
        id: parse_id(row.get(0)?)?,
        account,
        service: row.get(2)?,
        operation: row.get(3)?,
        application: row.get(4)?,
        resource,
        attributes: row.get(6)?,
        status: Status::parse(&status)
            .ok_or_else(|| corrupt(7, format!("unknown status {status:?}")))?,
        message: row.get(8)?,
        arguments: row.get(9)?,
        // N.B. an attempt out of `u32`'s range fails to decode, as a corrupt row.
        attempt: row.get(10)?,
        created_at: Timestamp::from_millis(row.get(11)?),
        finished_at: row.get::<_, Option<i64>>(12)?.map(Timestamp::from_millis),
        cancel_requested: row.get(13)?,
        submitted_by: row
            .get::<_, Option<String>>(14)?
            .map(|text| Requester::decode(&text).map_err(|why| corrupt(14, why)))
            .transpose()?,
        pool: {
            let pool: String = row.get(15)?;
            Pool::parse(&pool).ok_or_else(|| corrupt(15, format!("unknown pool {pool:?}")))?
        },
    })
}

fn parse_id(id: String) -> rusqlite::Result<OperationId> {
    id.parse().map_err(|e| corrupt(0, format!("{e}: {id:?}")))
}

pub(crate) fn parse_properties(
    column: usize,
    text: String,
) -> rusqlite::Result<Map<String, Value>> {
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(corrupt(
            column,
            "resource properties are not a JSON object".into(),
        )),
    }
}

pub(crate) fn corrupt(column: usize, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, why.into())
}
