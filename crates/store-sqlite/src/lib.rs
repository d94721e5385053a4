//! The embedded SQLite backend of the bpops store: [`SqliteStore`].
//!
//! One writer thread owns the write connection (SQLite allows one writer at a time anyway)
//! and commits writes in groups: writes that queue up while a commit reaches the disk share
//! the next transaction, each in its own savepoint (see `writer`). A few reader connections
//! serve reads concurrently thanks to WAL mode: a read by id on the calling thread when one is
//! free at once, other reads on tokio's blocking pool.
//!
//! Durability: `synchronous = FULL` makes every commit reach the disk before any write of its
//! group is answered, so an acknowledged operation survives a process crash and a power loss.
//!
//! Spent signature nonces are decided in memory and logged to a file of their own with a
//! writer of their own, committed without waiting for the disk (see `nonces`).
//!
//! Wake-ups are in-process: one process owns the database, so the events of a commit are
//! published on a broadcast channel right after it.
//!
//! One process owns the database: [`SqliteStore::open`] takes an exclusive lock on
//! `<file>.lock`, so every lease found at open belongs to a process that is gone, and is
//! released at once instead of making interrupted operations wait for it to expire.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod applications;
mod audit;
mod history;
mod migrate;
mod nonces;
mod queries;
mod sessions;
mod writer;

use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
use rusqlite::{Connection, OpenFlags};

use crate::nonces::SpentNonces;
use crate::writer::Writer;
use tokio::sync::{Semaphore, broadcast};

const READERS: usize = 4;

/// A [`Store`] in one SQLite database file.
pub struct SqliteStore {
    writer: Writer,
    nonces: SpentNonces,
    readers: Arc<Vec<Mutex<Connection>>>,
    /// One permit per reader connection.
    free_readers: Semaphore,
    next_reader: AtomicUsize,
    events: broadcast::Sender<StoreEvent>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies pending migrations and
    /// releases the leases of the process that used it before. Fails when another process
    /// has it open.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let owner = lock_owner(path)?;
        // Each writer holds the process lock until its connection is closed.
        let shared_owner = owner.try_clone().map_err(|e| {
            StoreError::Other(format!("sharing the lock of {}: {e}", path.display()))
        })?;
        let nonces = SpentNonces::open(path, shared_owner)?;
        let mut writer = Connection::open(path).map_err(from_sqlite)?;
        configure(&writer).map_err(from_sqlite)?;
        migrate::migrate(&mut writer).map_err(from_sqlite)?;
        queries::release_leases(&writer).map_err(from_sqlite)?;
        let readers = (0..READERS)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(path, flags)?;
                configure(&conn)?;
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(from_sqlite)?;
        Ok(SqliteStore {
            writer: Writer::start(writer, owner),
            nonces,
            readers: Arc::new(readers),
            free_readers: Semaphore::new(READERS),
            next_reader: AtomicUsize::new(0),
            events: broadcast::channel(EVENT_BUFFER).0,
        })
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.run(f).await
    }

    async fn store(
        &self,
        op: &NewOperation,
        expired_before: Timestamp,
        decide: Option<Decide>,
    ) -> Result<Submitted> {
        let op = op.clone();
        let submitted = self
            .write(move |conn| queries::submit(conn, op, expired_before, decide))
            .await?;
        if submitted == Submitted::Created {
            // An error only means nobody subscribes.
            let _ = self.events.send(StoreEvent::Submitted);
        }
        Ok(submitted)
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        // N.B. readers queue here, asleep in the runtime, rather than as blocking threads
        // parked on a connection's lock: no more reads reach the blocking pool than there
        // are connections, so each finds one free.
        let _permit = self
            .free_readers
            .acquire()
            .await
            .map_err(|_| StoreError::Other("the SQLite readers are closed".to_owned()))?;
        let readers = Arc::clone(&self.readers);
        let first = self.next_reader.fetch_add(1, Ordering::Relaxed);
        run_blocking(move || f(&free_reader(&readers, first))).await
    }

    /// Runs a lookup by a unique index, on the calling thread when a reader is free at once,
    /// otherwise queued like any read.
    ///
    /// N.B. such a lookup takes microseconds (an hour of operations stays in the OS's page
    /// cache): less than handing it to a blocking thread and back. It also keeps SQLite's
    /// allocations on the runtime's few threads: the submit path's target reads, sent to
    /// blocking threads, raised the server's peak memory under the memory scenario of
    /// `bpops bench` from 64 to 92 MB.
    async fn lookup<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        if let Ok(_permit) = self.free_readers.try_acquire() {
            let first = self.next_reader.fetch_add(1, Ordering::Relaxed);
            let conn = free_reader(&self.readers, first);
            return f(&conn).map_err(from_sqlite);
        }
        self.read(f).await
    }
}

/// The first free reader from the `first`th on; with a permit of `free_readers` one is free,
/// unless a permit's holder has not locked its connection yet (then this waits for it).
fn free_reader(readers: &[Mutex<Connection>], first: usize) -> MutexGuard<'_, Connection> {
    let n = readers.len();
    (0..n)
        .find_map(|i| readers[(first + i) % n].try_lock().ok())
        .unwrap_or_else(|| readers[first % n].lock().expect("reader lock poisoned"))
}

fn lock_owner(path: &Path) -> Result<File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            StoreError::Other(format!("opening {}: {e}", Path::new(&lock_path).display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "{} is in use by another bpops process",
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(StoreError::Other(format!(
            "locking {}: {e}",
            path.display()
        ))),
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

async fn run_blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> rusqlite::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
        .map_err(from_sqlite)
}

fn from_sqlite(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, DiskFull};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Unavailable(e.to_string()),
        Some(DiskFull) => StoreError::Full(e.to_string()),
        _ if queries::is_undecodable(&e) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn submit(&self, op: &NewOperation, expired_before: Timestamp) -> Result<Submitted> {
        self.store(op, expired_before, None).await
    }

    async fn submit_decided(
        &self,
        op: &NewOperation,
        expired_before: Timestamp,
        decide: Decide,
    ) -> Result<Submitted> {
        self.store(op, expired_before, Some(decide)).await
    }

    async fn get(&self, account: &AccountId, id: &OperationId) -> Result<Option<Operation>> {
        let (account, id) = (account.clone(), id.clone());
        self.lookup(move |conn| queries::get(conn, &account, &id))
            .await
    }

    async fn ready(&self) -> Result<()> {
        self.write(|conn| queries::probe_write(conn)).await
    }

    async fn queue_depth(&self) -> Result<QueueDepth> {
        self.read(queries::queue_depth).await
    }

    async fn claim(
        &self,
        node: &str,
        now: Timestamp,
        lease: Duration,
        budget: Budget,
    ) -> Result<Claimed> {
        let (node, lease_until) = (node.to_owned(), now + lease);
        self.write(move |conn| queries::claim(conn, &node, now, lease_until, budget))
            .await
    }

    async fn renew_lease(
        &self,
        id: &OperationId,
        attempt: u32,
        lease_until: Timestamp,
    ) -> Result<Lease> {
        let id = id.clone();
        self.write(move |conn| queries::renew_lease(conn, &id, attempt, lease_until))
            .await
    }

    async fn schedule_retry(
        &self,
        id: &OperationId,
        attempt: u32,
        now: Timestamp,
        retry_at: Timestamp,
        reason: &str,
    ) -> Result<Lease> {
        let (id, reason) = (id.clone(), reason.to_owned());
        self.write(move |conn| queries::schedule_retry(conn, &id, attempt, now, retry_at, &reason))
            .await
    }

    async fn release(&self, id: &OperationId, attempt: u32, now: Timestamp) -> Result<bool> {
        let owned_id = id.clone();
        let released = self
            .write(move |conn| queries::release(conn, &owned_id, attempt, now))
            .await?;
        if released {
            let _ = self.events.send(StoreEvent::Submitted);
        }
        Ok(released)
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        let query = query.clone();
        self.read(move |conn| queries::list(conn, &query)).await
    }

    async fn cancel(
        &self,
        account: &AccountId,
        id: &OperationId,
        by: &Requester,
        message: &str,
        now: Timestamp,
    ) -> Result<Cancelled> {
        let (account, owned_id, message) = (account.clone(), id.clone(), message.to_owned());
        let by = by.clone();
        let cancelled = self
            .write(move |conn| queries::cancel(conn, &account, &owned_id, &by, &message, now))
            .await?;
        if let Some(event) = cancelled.event() {
            let _ = self.events.send(event);
        }
        Ok(cancelled)
    }

    async fn finish(&self, id: &OperationId, attempt: u32, finish: &Finish) -> Result<bool> {
        let (owned_id, finish) = (id.clone(), finish.clone());
        let finished = self
            .write(move |conn| queries::finish(conn, &owned_id, attempt, &finish))
            .await?;
        if finished {
            let _ = self.events.send(StoreEvent::Finished(id.clone()));
        }
        Ok(finished)
    }

    async fn progress(&self, id: &OperationId, attempt: u32, progress: &Progress) -> Result<bool> {
        let (id, progress) = (id.clone(), progress.clone());
        self.write(move |conn| queries::progress(conn, &id, attempt, &progress))
            .await
    }

    async fn sweep(&self, expired_before: Timestamp, limit: usize) -> Result<usize> {
        self.write(move |conn| queries::sweep(conn, expired_before, limit))
            .await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        let query = query.clone();
        self.read(move |conn| history::page(conn, &query)).await
    }

    async fn load(&self, ops: &[Operation]) -> Result<()> {
        ops.iter().try_for_each(Operation::check_loadable)?;
        let ops = ops.to_vec();
        self.write(move |conn| queries::load(conn, &ops)).await
    }

    async fn resource(&self, key: &ResourceKey) -> Result<Option<Resource>> {
        let key = key.clone();
        self.lookup(move |conn| queries::resource(conn, &key)).await
    }

    async fn located_resource(&self, key: &ResourceKey) -> Result<Option<LocatedResource>> {
        let key = key.clone();
        self.lookup(move |conn| queries::located_resource(conn, &key))
            .await
    }

    async fn seed_resources(&self, resources: &[Resource]) -> Result<()> {
        let resources = resources.to_vec();
        self.write(move |conn| queries::seed_resources(conn, &resources))
            .await
    }

    async fn create_application(&self, new: &NewApplication) -> Result<ApplicationCreated> {
        let new = new.clone();
        self.write(move |conn| applications::create(conn, &new))
            .await
    }

    async fn application(&self, account: &AccountId, id: &str) -> Result<Option<Application>> {
        let (account, id) = (account.clone(), id.to_owned());
        self.lookup(move |conn| applications::get(conn, &account, &id))
            .await
    }

    async fn list_applications(&self, query: &ApplicationQuery) -> Result<ApplicationPage> {
        let query = query.clone();
        self.read(move |conn| applications::list(conn, &query))
            .await
    }

    async fn delete_application(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<ApplicationDeleted> {
        let (account, id) = (account.clone(), id.to_owned());
        self.write(move |conn| applications::delete(conn, &account, &id))
            .await
    }

    async fn start_step(&self, step: &NewStep, expired_before: Timestamp) -> Result<StepStarted> {
        let step = step.clone();
        let started = self
            .write(move |conn| queries::start_step(conn, &step, expired_before))
            .await?;
        if started == StepStarted::Started {
            let _ = self.events.send(StoreEvent::Submitted);
        }
        Ok(started)
    }

    async fn change_resource_group(&self, change: &GroupChange) -> Result<GroupChanged> {
        let change = change.clone();
        self.write(move |conn| applications::change_group(conn, &change))
            .await
    }

    async fn reconfigure_application(&self, change: &Reconfiguration) -> Result<Reconfigured> {
        let change = change.clone();
        self.write(move |conn| applications::reconfigure(conn, &change))
            .await
    }

    async fn seed_applications(&self, seeds: &[Application]) -> Result<()> {
        let seeds = seeds.to_vec();
        self.write(move |conn| applications::seed(conn, &seeds))
            .await
    }

    async fn application_resources(
        &self,
        account: &AccountId,
        application: &str,
    ) -> Result<Vec<Resource>> {
        let (account, application) = (account.clone(), application.to_owned());
        self.read(move |conn| applications::resources(conn, &account, &application))
            .await
    }

    async fn bootstrap_key(&self, candidate: &BootstrapKey) -> Result<(BootstrapKey, bool)> {
        let candidate = candidate.clone();
        self.write(move |conn| queries::bootstrap_key(conn, &candidate))
            .await
    }

    async fn spend_nonce(&self, spend: &NonceSpend<'_>, now: Timestamp) -> Result<bool> {
        self.nonces.spend(spend, now).await
    }

    async fn record_audit(&self, records: &[AuditRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let records = records.to_vec();
        self.write(move |conn| audit::record(conn, &records)).await
    }

    async fn lookup_audit(&self, query: &AuditQuery) -> Result<AuditPage> {
        let query = query.clone();
        self.read(move |conn| audit::lookup(conn, &query)).await
    }

    async fn sweep_audit(&self, before: Timestamp, limit: usize) -> Result<usize> {
        self.write(move |conn| audit::sweep(conn, before, limit))
            .await
    }

    async fn create_session(&self, session: &NewSession) -> Result<()> {
        let session = session.clone();
        self.write(move |conn| sessions::create(conn, &session))
            .await
    }

    async fn session(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| sessions::find(conn, &token_hash, now))
            .await
    }

    async fn end_session(&self, token_hash: &str) -> Result<bool> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| sessions::end(conn, &token_hash))
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bpops_store::nonces::NonceSpend;
    use bpops_store::{Budget, Store};
    use bpops_time::Timestamp;

    use super::SqliteStore;

    async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("bpops.db")).unwrap();
        (Arc::new(store), dir)
    }

    bpops_store::store_conformance!(fresh());

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[tokio::test]
    async fn reopening_releases_the_leases_of_the_previous_process() {
        use bpops_store::AccountId;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bpops.db");
        let op = bpops_store::testing::new_op(&AccountId::new("1"), None, at(0));
        {
            let store = SqliteStore::open(&path).unwrap();
            store.submit(&op, at(0)).await.unwrap();
            assert_eq!(
                store
                    .claim(
                        "test-node",
                        at(0),
                        Duration::from_millis(60_000),
                        Budget::uniform(10)
                    )
                    .await
                    .unwrap()
                    .operations
                    .len(),
                1
            );
        }
        let store = SqliteStore::open(&path).unwrap();
        let again = store
            .claim(
                "test-node",
                at(1),
                Duration::from_millis(59_999),
                Budget::uniform(10),
            )
            .await
            .unwrap()
            .operations;
        assert_eq!(again.len(), 1, "claimable long before the old lease ends");
        assert_eq!(again[0].attempt, 2, "the old attempt is fenced out");
    }

    /// Each way a row can be unreadable on SQLite: an id that is not one, a value of the
    /// wrong type (SQLite stores what it is given), and an attempt out of range.
    #[tokio::test]
    async fn an_unreadable_row_is_set_aside_and_the_others_run() {
        for corruption in [
            "id = 'not an id'",
            "created_at = 'yesterday'",
            "attempt = -2",
            "cancel_requested = x'00'",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("bpops.db");
            let store = SqliteStore::open(&path).unwrap();
            let corrupt = async |id: &bpops_store::OperationId| {
                let sql = format!("UPDATE operations SET {corruption} WHERE id = '{id}'");
                rusqlite::Connection::open(&path)
                    .unwrap()
                    .execute(&sql, [])
                    .unwrap();
            };
            bpops_store::testing::claims::an_unreadable_row_is_set_aside_and_the_others_run(
                &store, corrupt,
            )
            .await;
        }
    }

    #[test]
    fn a_second_process_cannot_open_a_database_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bpops.db");
        let _first = SqliteStore::open(&path).unwrap();
        match SqliteStore::open(&path) {
            Err(bpops_store::StoreError::Unavailable(message)) => {
                assert!(message.contains("in use"), "{message}")
            }
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("a second store opened the same database"),
        }
    }

    #[tokio::test]
    async fn spent_nonces_outlive_reopening_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bpops.db");
        let store = SqliteStore::open(&path).unwrap();
        assert!(
            store
                .spend_nonce(&NonceSpend::new("key", "n1", at(1_000)), at(0))
                .await
                .unwrap()
        );
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert!(
            !store
                .spend_nonce(&NonceSpend::new("key", "n1", at(2_000)), at(1_000))
                .await
                .unwrap()
        );
        assert!(
            store
                .spend_nonce(&NonceSpend::new("key", "n1", at(2_001)), at(1_001))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn expired_nonces_are_deleted_as_others_are_spent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bpops.db");
        let store = SqliteStore::open(&path).unwrap();
        for n in 0..100 {
            let nonce = format!("old{n}");
            assert!(
                store
                    .spend_nonce(&NonceSpend::new("key", &nonce, at(1_000)), at(0))
                    .await
                    .unwrap()
            );
        }
        for n in 0..20 {
            let nonce = format!("new{n}");
            assert!(
                store
                    .spend_nonce(&NonceSpend::new("key", &nonce, at(2_001)), at(1_001))
                    .await
                    .unwrap()
            );
        }
        drop(store);
        let mut nonces = path.into_os_string();
        nonces.push(".nonces");
        let kept: i64 = rusqlite::Connection::open(nonces)
            .unwrap()
            .query_row("SELECT count(*) FROM spent_nonces", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 20, "only the unexpired nonces are kept");
    }

    #[test]
    fn reopening_applies_no_migration_twice_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bpops.db");
        drop(SqliteStore::open(&path).unwrap());
        let _store = SqliteStore::open(&path).unwrap();
        let versions: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        let expected = crate::migrate::MIGRATIONS.len() as i64;
        assert_eq!(versions, expected, "each migration applied once");
    }
}
