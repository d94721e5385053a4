//! Submits stored in groups (see `group_commit`), and the SQL that stores a group: four
//! round trips however many submits it holds. Two submits that take the same lock (client
//! token or resource) never share a group: the later one, which must see the earlier one's
//! row, waits for the next.

use std::sync::{Arc, OnceLock};

use bpops_store::{
    Decide, Finish, NewDelivery, NewOperation, NewStep, Notifications, Requester, Resource, Result,
    Status, StepStarted, StoreError, StoreEvent, Submitted,
};
use bpops_time::Timestamp;
use deadpool_postgres::{GenericClient, Pool, Transaction};
use futures_util::future::try_join_all;
use tokio::sync::broadcast;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use crate::applications::parse_status;
use crate::group_commit::{GroupCommit, Member, each_alone};
use crate::queries::{apply_effect, notify, parse_id, parse_properties, resource_column};
use crate::{from_pg, get};
use crate::{history, outbox};

/// The most submits stored together; bounds how long one transaction holds its locks.
const MAX_GROUP: usize = 256;

/// Groups being stored at once, each on its own connection: while they wait for their
/// commits, the next group gathers.
const IN_FLIGHT: usize = 2;

/// Submits waiting for their group.
pub(crate) struct Submits {
    group_commit: GroupCommit<Pending, Submitted>,
}

/// Where a group's submits are stored and whom they concern.
struct Target {
    pool: Pool,
    channel: String,
    events: broadcast::Sender<StoreEvent>,
    notifications: Arc<OnceLock<Arc<Notifications>>>,
}

/// A submit to store, with others, in one transaction.
struct Pending {
    op: NewOperation,
    expired_before: Timestamp,
    /// With it, the operation is stored already final when it can run at once (see
    /// `Store::submit_decided`).
    decide: Option<Decide>,
}

impl Pending {
    /// The advisory locks storing it takes.
    fn locks(&self) -> impl Iterator<Item = Lock> {
        locks(&self.op)
    }
}

/// The advisory locks storing `op` takes.
fn locks(op: &NewOperation) -> impl Iterator<Item = Lock> + use<'_> {
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

/// A transaction-scoped advisory lock (its name hashed to 64 bits). Ordered as a transaction
/// takes them: every client token before any resource, each kind by name, so transactions
/// that take several never deadlock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Lock {
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

impl Member for Pending {
    type Key = Lock;

    fn keys(&self) -> impl Iterator<Item = Lock> {
        self.locks()
    }
}

impl Submits {
    /// Starts gathering submits into groups; that ends when this is dropped.
    pub(crate) fn start(
        pool: Pool,
        channel: String,
        events: broadcast::Sender<StoreEvent>,
        notifications: Arc<OnceLock<Arc<Notifications>>>,
    ) -> Submits {
        let target = Arc::new(Target {
            pool,
            channel,
            events,
            notifications,
        });
        let group_commit = GroupCommit::start(MAX_GROUP, IN_FLIGHT, move |group| {
            let target = Arc::clone(&target);
            async move { store(&target, group).await }
        });
        Submits { group_commit }
    }

    /// Stores `op` in the next group (decided by `decide` when it can run at once, see
    /// `Store::submit_decided`) and answers once that group is committed.
    pub(crate) async fn submit(
        &self,
        op: &NewOperation,
        expired_before: Timestamp,
        decide: Option<Decide>,
    ) -> Result<Submitted> {
        let pending = Pending {
            op: op.clone(),
            expired_before,
            decide,
        };
        self.group_commit.join(pending).await
    }
}

/// Stores a group and answers its submits, in order.
async fn store(target: &Target, mut group: Vec<Pending>) -> Vec<Result<Submitted>> {
    let outcomes =
        match commit(target, &mut group).await {
            Ok(submitted) => submitted.into_iter().map(Ok).collect(),
            // One submit may be at fault (a statement failed, nothing is stored): each is stored
            // again alone, so it fails alone.
            Err(Failure::Statement(_)) if group.len() > 1 => each_alone(
                group,
                |mut one| async move { commit(target, &mut one).await },
            )
            .await
            .into_iter()
            .map(|outcome| outcome.map_err(StoreError::from))
            .collect(),
            Err(failure) => vec![Err(StoreError::from(failure)); group.len()],
        };
    if outcomes
        .iter()
        .any(|outcome| matches!(outcome, Ok(Submitted::Created)))
    {
        // An error only means nobody subscribes.
        let _ = target.events.send(StoreEvent::Submitted);
    }
    outcomes
}

/// Why a group's transaction did not commit.
enum Failure {
    /// A statement failed: nothing is stored.
    Statement(StoreError),
    /// No connection, or the commit failed: storing the submits again may not help, or
    /// may store them twice.
    Other(StoreError),
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> StoreError {
        match failure {
            Failure::Statement(e) | Failure::Other(e) => e,
        }
    }
}

/// Stores `group` in one transaction.
async fn commit(
    target: &Target,
    group: &mut [Pending],
) -> std::result::Result<Vec<Submitted>, Failure> {
    let mut client = get(&target.pool).await.map_err(Failure::Other)?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| Failure::Other(from_pg(e)))?;
    let notifications = target.notifications.get().map(|n| n.as_ref());
    let submitted = submit_group(&tx, notifications, &target.channel, group)
        .await
        .map_err(Failure::Statement)?;
    tx.commit().await.map_err(|e| Failure::Other(from_pg(e)))?;
    Ok(submitted)
}

/// The statements of a group of submits, prepared before any is sent: a step's statements
/// then travel together (pipelined), and PostgreSQL runs them in the order they were sent.
struct SubmitStatements {
    lock: Statement,
    holder: Statement,
    turn: Statement,
    free_token: Statement,
    insert: Statement,
    /// The first events of the operations' histories.
    start_history: Statement,
}

impl SubmitStatements {
    async fn prepare(client: &impl GenericClient) -> Result<SubmitStatements> {
        let prepare = |sql| async move { client.prepare_cached(sql).await.map_err(from_pg) };
        let (lock, holder, turn, free_token, insert, start_history) = tokio::try_join!(
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
                     created_at, finished_at, submitted_by, pool)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17)"
            ),
            history::prepare_start(client),
        )?;
        Ok(SubmitStatements {
            lock,
            holder,
            turn,
            free_token,
            insert,
            start_history,
        })
    }
}

/// Stores `group` in `tx` and answers each submit, in order. No two of them take the same
/// lock. On an error the caller rolls the transaction back.
async fn submit_group(
    tx: &Transaction<'_>,
    notifications: Option<&Notifications>,
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
    let histories = stored().map(|(op, finish)| (op.id.as_str(), op.first_events(finish)));
    let deliveries = first_deliveries(notifications, stored());
    let queued = answers.contains(&Submitted::Created);
    tokio::try_join!(
        try_join_all(
            freed
                .iter()
                .map(|id| async { tx.execute(&sql.free_token, &[id]).await.map_err(from_pg) })
        ),
        try_join_all(stored().map(|(op, finish)| insert(tx, &sql, op, finish))),
        try_join_all(effects.map(|effect| apply_effect(tx, effect))),
        history::start(tx, &sql.start_history, histories),
        outbox::insert(tx, &deliveries),
        async {
            if queued {
                notify(tx, channel, "submitted").await?;
            }
            Ok(())
        },
    )?;
    Ok(answers)
}

/// Starts a lifecycle step (see `Store::start_step`) in a transaction of its own, under the
/// locks a submit of its operation takes, so it is ordered with the submits and steps of
/// the same token and resource.
pub(crate) async fn start_step(
    pool: &Pool,
    notifications: Option<&Notifications>,
    channel: &str,
    step: &NewStep,
    expired_before: Timestamp,
) -> Result<StepStarted> {
    let op = &step.operation;
    let mut client = get(pool).await?;
    let tx = client.transaction().await.map_err(from_pg)?;
    let sql = SubmitStatements::prepare(&tx).await?;
    let mut taken: Vec<Lock> = locks(op).collect();
    taken.sort();
    let names: Vec<&str> = taken.iter().map(Lock::name).collect();
    if !names.is_empty() {
        tx.execute(&sql.lock, &[&names]).await.map_err(from_pg)?;
    }
    if let Some(holder) = holder(&tx, &sql, op).await? {
        if holder.finished_at.is_some_and(|at| at < expired_before) {
            // The holder has expired but is not swept yet: the token is free again.
            tx.execute(&sql.free_token, &[&holder.id])
                .await
                .map_err(from_pg)?;
        } else {
            return Ok(StepStarted::Existing {
                id: parse_id(holder.id)?,
                same_parameters: holder.fingerprint == op.fingerprint,
            });
        }
    }
    let application = op.application.as_deref().unwrap_or_default();
    let row = tx
        .query_opt(
            "SELECT status FROM applications
             WHERE account = $1 AND id = $2 AND NOT deleted FOR UPDATE",
            &[&op.account.as_str(), &application],
        )
        .await
        .map_err(from_pg)?;
    let Some(row) = row else {
        return Ok(StepStarted::NotFound);
    };
    let status = parse_status(row.try_get(0).map_err(from_pg)?)?;
    if !step.allowed.contains(&status) {
        return Ok(StepStarted::Refused(status));
    }
    tx.execute(
        "UPDATE applications SET status = $1, error = '', updated_at = $2
         WHERE account = $3 AND id = $4",
        &[
            &step.status.as_str(),
            &op.created_at.as_millis(),
            &op.account.as_str(),
            &application,
        ],
    )
    .await
    .map_err(from_pg)?;
    insert(&tx, &sql, op, None).await?;
    let first = std::iter::once((op.id.as_str(), op.first_events(None)));
    history::start(&tx, &sql.start_history, first).await?;
    outbox::insert(&tx, &first_deliveries(notifications, [(op, None)])).await?;
    notify(&tx, channel, "submitted").await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(StepStarted::Started)
}

/// The deliveries the first events of stored operations make (none without notifications).
fn first_deliveries<'a>(
    notifications: Option<&Notifications>,
    stored: impl IntoIterator<Item = (&'a NewOperation, Option<&'a Finish>)>,
) -> Vec<NewDelivery> {
    let Some(notifications) = notifications.filter(|n| !n.is_empty()) else {
        return Vec::new();
    };
    stored
        .into_iter()
        .flat_map(|(op, finish)| {
            let subject = op.subject(finish);
            op.first_events(finish)
                .into_iter()
                .flat_map(move |(at, event)| notifications.deliveries(&subject, at, &event))
                .collect::<Vec<_>>()
        })
        .collect()
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
    let submitted_by = op.submitted_by.as_ref().map(Requester::encode);
    let pool = op.pool.as_str();
    let params: [&(dyn ToSql + Sync); 17] = [
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
        &submitted_by,
        &pool,
    ];
    tx.execute(&sql.insert, &params).await.map_err(from_pg)?;
    Ok(())
}
