//! The PostgreSQL backend of the bpops store: [`PgStore`], for several nodes sharing one
//! database.
//!
//! Every intent is one transaction on a connection from a pool (deadpool-postgres), except
//! that concurrent submits share one, and so do concurrent nonce spends (group commit, see
//! `group_commit`). Nodes coordinate only through the database:
//! - Claims lock rows with `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other's
//!   claims, and only the head of each resource's queue is a candidate. Submits on one
//!   resource take a transaction-scoped advisory lock, so a resource's operations commit in
//!   the order of their `seq`: a claim that sees an operation as the head of its queue can
//!   never meet an older one later.
//! - Leases are never released at open (other nodes may be alive and running them); an
//!   operation whose node died is claimed again once its lease has expired; one whose node
//!   stopped cleanly was released by it and is claimed at once.
//! - Commits of submits, releases and finishes `NOTIFY` a channel named after the schema; one
//!   dedicated connection per store `LISTEN`s to it and reconnects by itself, publishing
//!   [`StoreEvent::Missed`] after a gap. The store also publishes its own commits locally,
//!   so a node's waiters never depend on that connection.
//!
//! Connection failures become [`StoreError::Unavailable`]; the pool replaces broken
//! connections, so the store recovers by itself when the database comes back.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod applications;
mod audit;
mod group_commit;
mod history;
mod listener;
mod migrate;
mod nonces;
mod queries;
mod sessions;
mod submits;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;
use bpops_store::nonces::NonceSpend;
use bpops_store::{
    AccountId, Application, ApplicationCreated, ApplicationDeleted, ApplicationPage,
    ApplicationQuery, AuditPage, AuditQuery, AuditRecord, BootstrapKey, Budget, Cancelled, Claimed, Decide,
    EVENT_BUFFER, Finish, GroupChange, GroupChanged, HistoryPage, HistoryQuery, Lease, ListPage,
    ListQuery, LocatedResource, NewApplication, NewOperation, NewSession, NewStep, Operation,
    OperationId, Progress, QueueDepth, Reconfiguration, Reconfigured, Requester, Resource,
    ResourceKey, Result, Session, StepStarted, Store, StoreError, StoreEvent, Submitted,
};
use bpops_time::Timestamp;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio::sync::broadcast;
use tokio_postgres::NoTls;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::nonces::{Nonces, Spend};
use crate::submits::Submits;

/// Connections per node when the configuration does not say: enough for two cores, where
/// each store call holds a connection for one short transaction.
pub const DEFAULT_POOL_SIZE: usize = 10;

/// The longest a call waits to connect or for a free connection before it reports the
/// database unavailable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in one PostgreSQL schema (the connection's `search_path`), shared by any
/// number of nodes.
pub struct PgStore {
    pool: Pool,
    /// Signature nonces, spent on connections of their own whose commits do not wait for
    /// the disk.
    nonces: Nonces,
    /// Those connections, for the test that checks their setting.
    #[cfg(test)]
    unsynced: Pool,
    submits: Submits,
    channel: String,
    events: broadcast::Sender<StoreEvent>,
    /// Stops the listening connection when the store is dropped.
    _listener: DropGuard,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), applies pending migrations and
    /// starts listening for other nodes' events.
    pub async fn open(url: &str, pool_size: usize) -> Result<PgStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        PgStore::connect(config, pool_size).await
    }

    /// Like [`PgStore::open`], from a parsed configuration.
    pub async fn connect(mut config: tokio_postgres::Config, pool_size: usize) -> Result<PgStore> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(TIMEOUT);
        }
        let pool = new_pool(config.clone(), pool_size)?;
        // N.B. nonce spends commit without waiting for the disk, so they get connections of
        // their own with that setting: one statement each, and no other write can inherit it.
        let mut unsynced = config.clone();
        let options = match config.get_options() {
            Some(options) => format!("{options} -c synchronous_commit=off"),
            None => "-c synchronous_commit=off".to_owned(),
        };
        unsynced.options(&options);
        let unsynced = new_pool(unsynced, pool_size.div_ceil(2))?;

        let mut client = get(&pool).await?;
        migrate::migrate(&mut client).await?;
        let schema: String = client
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(from_pg)?
            .get(0);
        drop(client);

        let channel = channel_name(&schema);
        let events = broadcast::channel(EVENT_BUFFER).0;
        let stop = CancellationToken::new();
        listener::start(config, channel.clone(), events.clone(), stop.clone()).await?;
        Ok(PgStore {
            submits: Submits::start(pool.clone(), channel.clone(), events.clone()),
            nonces: Nonces::start(unsynced.clone()),
            #[cfg(test)]
            unsynced,
            pool,
            channel,
            events,
            _listener: stop.drop_guard(),
        })
    }

    async fn client(&self) -> Result<Object> {
        get(&self.pool).await
    }

    fn publish(&self, event: StoreEvent) {
        // An error only means nobody subscribes.
        let _ = self.events.send(event);
    }
}

/// The notification channel of one schema, so deployments in other schemas of the same
/// database do not wake each other. At most 63 bytes, PostgreSQL's identifier length.
fn channel_name(schema: &str) -> String {
    let mut channel = format!("bpops.{schema}");
    while channel.len() > 63 {
        channel.pop();
    }
    channel
}

fn new_pool(config: tokio_postgres::Config, size: usize) -> Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection the server closed is noticed here and replaced.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(TIMEOUT))
        .create_timeout(Some(TIMEOUT))
        .recycle_timeout(Some(TIMEOUT))
        .build()
        .map_err(|e| StoreError::Other(format!("building the connection pool: {e}")))
}

pub(crate) async fn get(pool: &Pool) -> Result<Object> {
    pool.get().await.map_err(|e| match e {
        // Failing to create or recycle a connection means the database is out of reach.
        PoolError::Backend(e) => StoreError::Unavailable(describe(&e)),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(e.to_string()),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            StoreError::Other(e.to_string())
        }
    })
}

/// A full disk is [`StoreError::Full`]; lost connections, a server shutting down or refusing
/// connections, other exhausted resources and transaction conflicts are worth retrying later;
/// anything else is a failure.
pub(crate) fn from_pg(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    if e.code() == Some(&SqlState::DISK_FULL) {
        return StoreError::Full(describe(&e));
    }
    let retryable = match e.code() {
        Some(code) => {
            matches!(&code.code()[..2], "08" | "53" | "57")
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                // "database is not currently accepting connections"
                || *code == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
        }
        None => e.is_closed() || is_connection_failure(&e),
    };
    let text = describe(&e);
    if retryable {
        StoreError::Unavailable(text)
    } else {
        StoreError::Other(text)
    }
}

/// The error with its causes: tokio-postgres prints only "db error" or "error connecting to
/// server" by itself, and the logs need the reason.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Errors without a SQLSTATE that come from the connection rather than from our data.
fn is_connection_failure(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    let text = e.to_string();
    text.starts_with("error connecting") || text.starts_with("timeout")
}

#[async_trait]
impl Store for PgStore {
    async fn submit(&self, op: &NewOperation, expired_before: Timestamp) -> Result<Submitted> {
        self.submits.submit(op, expired_before, None).await
    }

    async fn submit_decided(
        &self,
        op: &NewOperation,
        expired_before: Timestamp,
        decide: Decide,
    ) -> Result<Submitted> {
        self.submits.submit(op, expired_before, Some(decide)).await
    }

    async fn get(&self, account: &AccountId, id: &OperationId) -> Result<Option<Operation>> {
        queries::get(&self.client().await?, account, id).await
    }

    async fn ready(&self) -> Result<()> {
        queries::probe_write(&self.client().await?).await
    }

    async fn queue_depth(&self) -> Result<QueueDepth> {
        queries::queue_depth(&self.client().await?).await
    }

    async fn claim(
        &self,
        node: &str,
        now: Timestamp,
        lease: Duration,
        budget: Budget,
    ) -> Result<Claimed> {
        let lease_until = now + lease;
        queries::claim(&mut self.client().await?, node, now, lease_until, budget).await
    }

    async fn schedule_retry(
        &self,
        id: &OperationId,
        attempt: u32,
        now: Timestamp,
        retry_at: Timestamp,
        reason: &str,
    ) -> Result<Lease> {
        let mut client = self.client().await?;
        queries::schedule_retry(&mut client, id, attempt, now, retry_at, reason).await
    }

    async fn renew_lease(
        &self,
        id: &OperationId,
        attempt: u32,
        lease_until: Timestamp,
    ) -> Result<Lease> {
        queries::renew_lease(&self.client().await?, id, attempt, lease_until).await
    }

    async fn release(&self, id: &OperationId, attempt: u32, now: Timestamp) -> Result<bool> {
        let mut client = self.client().await?;
        let released = queries::release(&mut client, &self.channel, id, attempt, now).await?;
        if released {
            self.publish(StoreEvent::Submitted);
        }
        Ok(released)
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        queries::list(&self.client().await?, query).await
    }

    async fn cancel(
        &self,
        account: &AccountId,
        id: &OperationId,
        by: &Requester,
        message: &str,
        now: Timestamp,
    ) -> Result<Cancelled> {
        let mut client = self.client().await?;
        let channel = &self.channel;
        let cancelled =
            queries::cancel(&mut client, channel, account, id, by, message, now).await?;
        if let Some(event) = cancelled.event() {
            self.publish(event);
        }
        Ok(cancelled)
    }

    async fn finish(&self, id: &OperationId, attempt: u32, finish: &Finish) -> Result<bool> {
        let mut client = self.client().await?;
        let finished = queries::finish(&mut client, &self.channel, id, attempt, finish).await?;
        if finished {
            self.publish(StoreEvent::Finished(id.clone()));
        }
        Ok(finished)
    }

    async fn progress(&self, id: &OperationId, attempt: u32, progress: &Progress) -> Result<bool> {
        queries::progress(&mut self.client().await?, id, attempt, progress).await
    }

    async fn sweep(&self, expired_before: Timestamp, limit: usize) -> Result<usize> {
        queries::sweep(&self.client().await?, expired_before, limit).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        history::page(&self.client().await?, query).await
    }

    async fn load(&self, ops: &[Operation]) -> Result<()> {
        ops.iter().try_for_each(Operation::check_loadable)?;
        queries::load(&mut self.client().await?, ops).await
    }

    async fn resource(&self, key: &ResourceKey) -> Result<Option<Resource>> {
        queries::resource(&self.client().await?, key).await
    }

    async fn located_resource(&self, key: &ResourceKey) -> Result<Option<LocatedResource>> {
        queries::located_resource(&self.client().await?, key).await
    }

    async fn seed_resources(&self, resources: &[Resource]) -> Result<()> {
        queries::seed_resources(&mut self.client().await?, resources).await
    }

    async fn create_application(&self, new: &NewApplication) -> Result<ApplicationCreated> {
        applications::create(&mut self.client().await?, new).await
    }

    async fn application(&self, account: &AccountId, id: &str) -> Result<Option<Application>> {
        applications::get(&self.client().await?, account, id).await
    }

    async fn list_applications(&self, query: &ApplicationQuery) -> Result<ApplicationPage> {
        applications::list(&mut self.client().await?, query).await
    }

    async fn delete_application(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<ApplicationDeleted> {
        applications::delete(&mut self.client().await?, account, id).await
    }

    async fn start_step(&self, step: &NewStep, expired_before: Timestamp) -> Result<StepStarted> {
        let started = submits::start_step(&self.pool, &self.channel, step, expired_before).await?;
        if started == StepStarted::Started {
            self.publish(StoreEvent::Submitted);
        }
        Ok(started)
    }

    async fn change_resource_group(&self, change: &GroupChange) -> Result<GroupChanged> {
        applications::change_group(&mut self.client().await?, change).await
    }

    async fn reconfigure_application(&self, change: &Reconfiguration) -> Result<Reconfigured> {
        applications::reconfigure(&mut self.client().await?, change).await
    }

    async fn seed_applications(&self, seeds: &[Application]) -> Result<()> {
        applications::seed(&mut self.client().await?, seeds).await
    }

    async fn application_resources(
        &self,
        account: &AccountId,
        application: &str,
    ) -> Result<Vec<Resource>> {
        applications::resources(&self.client().await?, account, application).await
    }

    async fn bootstrap_key(&self, candidate: &BootstrapKey) -> Result<(BootstrapKey, bool)> {
        queries::bootstrap_key(&mut self.client().await?, candidate).await
    }

    async fn spend_nonce(&self, spend: &NonceSpend<'_>, now: Timestamp) -> Result<bool> {
        let spend = Spend {
            access_key_id: spend.access_key_id.to_owned(),
            nonce: spend.nonce.to_owned(),
            now,
            expires_at: spend.expires_at,
        };
        self.nonces.spend(spend).await
    }

    async fn record_audit(&self, records: &[AuditRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        audit::record(&self.client().await?, records).await
    }

    async fn lookup_audit(&self, query: &AuditQuery) -> Result<AuditPage> {
        audit::lookup(&self.client().await?, query).await
    }

    async fn sweep_audit(&self, before: Timestamp, limit: usize) -> Result<usize> {
        audit::sweep(&self.client().await?, before, limit).await
    }

    async fn create_session(&self, session: &NewSession) -> Result<()> {
        sessions::create(&mut self.client().await?, session).await
    }

    async fn session(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        sessions::find(&self.client().await?, token_hash, now).await
    }

    async fn end_session(&self, token_hash: &str) -> Result<bool> {
        sessions::end(&self.client().await?, token_hash).await
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests;
