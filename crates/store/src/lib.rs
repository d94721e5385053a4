//! The storage interface of bpops.
//!
//! [`Store`] is a trait of *intents* (submit, claim, renew a lease, finish, sweep), each one
//! transaction, so the engine never sees SQL, connections or transactions. Backends live in
//! their own crates (`bpops-store-sqlite`, `bpops-store-postgres`) and the application holds an
//! `Arc<dyn Store>` chosen once from the `storage.url` scheme.
//!
//! Key decisions:
//! - Time is passed in by the caller (a [`Timestamp`]), never read here, so retention and
//!   leases are testable without sleeping. The databases keep Unix milliseconds.
//! - Every worker write is fenced by `(operation id, attempt)`: a write from a worker whose
//!   claim was superseded changes nothing and reports it.
//! - The inventory effect of an emulated operation and its final status commit together in
//!   [`Store::finish`], so a crash never applies an effect twice or loses it.
//! - Every change to an operation appends to its history ([`Event`]) in the same
//!   transaction, so the history never disagrees with the operation.
//! - A history event that a configured notification wants writes its delivery in the same
//!   transaction (the outbox, [`Notifications`]), so a webhook is never lost to a crash;
//!   any node claims and delivers it ([`Store::claim_deliveries`]).
//! - Wake-ups go through the store: it publishes a [`StoreEvent`] when a submit or a finish
//!   commits, to every process sharing the database, so workers and waiters on any node
//!   react at once instead of polling.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod application_changes;
mod applications;
mod audit;
mod error;
mod history;
mod ids;
pub mod nonces;
mod outbox;
mod pools;
mod records;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
mod trace;

pub use application_changes::{GroupChange, GroupChanged, Reconfiguration, Reconfigured};
pub use applications::{
    Application, ApplicationCreated, ApplicationDeleted, ApplicationOrder, ApplicationOutcome,
    ApplicationPage, ApplicationPlace, ApplicationQuery, ApplicationStatus, LocatedResource,
    NewApplication, NewStep, PageOf, StepStarted,
};
pub use audit::{AuditPage, AuditQuery, AuditRecord, SUCCESS};
pub use error::{Result, StoreError};
pub use history::{Event, HistoryEvent, HistoryPage, HistoryQuery, MAX_EVENTS, Requester};
pub use ids::{AccountId, OperationId};
pub use outbox::{
    ApplicationEvent, AttemptRecord, Attempted, Delivery, DeliveryPage, DeliveryQuery,
    DeliveryState, EventFilter, KEPT_ATTEMPTS, NewDelivery, Notification, Notifications,
    Settlement, Subject, append_attempt, decode_attempts,
};
pub use pools::{Budget, Pool};
pub use records::{
    BootstrapKey, Cancelled, Claimed, Effect, Finish, Lease, ListCursor, ListPage, ListQuery,
    NewOperation, Operation, Progress, QueueDepth, Resource, ResourceKey, Status, StoreEvent,
    Submitted, UNREADABLE, Unreadable,
};
pub use sessions::{NewSession, Session, session_expired};
pub use trace::{MalformedTraceParent, TraceParent};

use std::time::Duration;

use async_trait::async_trait;
use bpops_time::Timestamp;
use tokio::sync::broadcast;

use crate::nonces::NonceSpend;

/// Decides an operation at submission from the current state of its resource (`None` when it
/// names none, or the resource is absent): see [`Store::submit_decided`]. A store that
/// retries the transaction asks again, from the state it then reads.
pub type Decide = Box<dyn FnMut(Option<Resource>) -> Finish + Send>;

/// How many events a subscriber may fall behind before it is told it missed some.
pub const EVENT_BUFFER: usize = 1024;

/// Whether a signature nonce spent until `expires_at` is forgotten at `now`: only
/// once that millisecond has passed. The request path accepts a timestamp through
/// `timestamp + skew` included and spends its nonce until then, so with this one boundary a
/// nonce is remembered for as long as its request is accepted. (The backends' SQL says the
/// same: `expires_at < now`.)
pub fn nonce_expired(expires_at: Timestamp, now: Timestamp) -> bool {
    expires_at < now
}

/// Durable state of bpops: operations, idempotency tokens and the emulated inventory.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new operation in status `INIT`, durably, before returning, and publishes
    /// [`StoreEvent::Submitted`] once it is committed.
    ///
    /// With a client token already used in the account by an operation that has not expired
    /// (expired means finished before `expired_before`), nothing is stored and the existing
    /// operation's id is returned with whether its fingerprint matches.
    async fn submit(&self, op: &NewOperation, expired_before: Timestamp) -> Result<Submitted>;

    /// Like [`Store::submit`], except that when no unfinished operation holds the
    /// operation's resource (so it could run at once), it is stored already final, with what
    /// `decide` makes of the resource's current state, and that result's effect applied, all
    /// in the one transaction: [`Submitted::Decided`]. Nothing is published then: no
    /// operation can wait on it or on its resource. Otherwise `decide` is dropped and the
    /// operation queues as with `submit`.
    ///
    /// For operations decided by the state they act on alone (emulated ones without
    /// latency): one commit instead of three (submit, claim, finish).
    async fn submit_decided(
        &self,
        op: &NewOperation,
        expired_before: Timestamp,
        decide: Decide,
    ) -> Result<Submitted>;

    /// Reads one operation of an account, whatever its age (retention is the caller's rule).
    async fn get(&self, account: &AccountId, id: &OperationId) -> Result<Option<Operation>>;

    /// Whether the store can serve, for the readiness probe: the database answers and a small
    /// write commits (on a full disk reads still work, but nothing can be stored).
    async fn ready(&self) -> Result<()>;

    /// How many operations wait to run and run now, across every account and node.
    async fn queue_depth(&self) -> Result<QueueDepth>;

    /// Claims runnable operations for `node`, at most `budget[pool]` of each pool, oldest
    /// first within a pool: `INIT` ones, and `RUNNING` ones whose lease ended before `now`,
    /// that are the oldest unfinished operation on their resource. Each is returned
    /// `RUNNING`, with its attempt incremented and a lease until `now + lease`, and its
    /// history records [`Event::Claimed`].
    ///
    /// A candidate row that cannot be decoded (a corrupt id, a value of the wrong type) does
    /// not fail the claim: in the same transaction it ends `FAILURE` with [`UNREADABLE`],
    /// finished at `now`, and is reported in [`Claimed::unreadable`], so one bad row never
    /// stops the others.
    async fn claim(
        &self,
        node: &str,
        now: Timestamp,
        lease: Duration,
        budget: Budget,
    ) -> Result<Claimed>;

    /// Extends the lease of a running attempt, and tells whether a cancellation of it was
    /// requested meanwhile ([`Lease::CancelRequested`]) or it is no longer current
    /// ([`Lease::Lost`], nothing written).
    async fn renew_lease(
        &self,
        id: &OperationId,
        attempt: u32,
        lease_until: Timestamp,
    ) -> Result<Lease>;

    /// Schedules the next attempt of a running one that failed: its lease is set to end at
    /// `retry_at`, so that any node claims it then, and its history records
    /// [`Event::RetryScheduled`] with `reason`, at `now`. Answers as [`Store::renew_lease`]
    /// does (nothing written when [`Lease::Lost`]).
    async fn schedule_retry(
        &self,
        id: &OperationId,
        attempt: u32,
        now: Timestamp,
        retry_at: Timestamp,
        reason: &str,
    ) -> Result<Lease>;

    /// Gives up a running attempt's lease, so that any node may claim the operation at once
    /// (as a new attempt), and publishes [`StoreEvent::Submitted`]: for a node that stops
    /// before the attempt ends. `false` (and nothing written) when the attempt is no longer
    /// current or the operation is final. Its history records [`Event::Released`] at `now`.
    async fn release(&self, id: &OperationId, attempt: u32, now: Timestamp) -> Result<bool>;

    /// Ends a running attempt: applies the effect and sets the final status in one
    /// transaction, then publishes [`StoreEvent::Finished`]. `false` (and nothing written)
    /// when the attempt is no longer current.
    async fn finish(&self, id: &OperationId, attempt: u32, finish: &Finish) -> Result<bool>;

    /// Writes one step of a running attempt before it ends (a resource a deploy creates or a
    /// release deletes) with its application's `DeployPercent`, in one transaction. `false`
    /// (and nothing written) when the attempt is no longer current. Creating a resource the
    /// inventory holds already changes nothing, so an attempt that resumes another's work
    /// never creates a resource twice.
    async fn progress(&self, id: &OperationId, attempt: u32, progress: &Progress) -> Result<bool>;

    /// One page of an account's operations matching `query`, newest first (submission time,
    /// then submission order), with where the next page starts.
    async fn list(&self, query: &ListQuery) -> Result<ListPage>;

    /// Cancels an operation of `account` in one transaction: an `INIT` one becomes `FAILURE`
    /// with `message`, finished at `now`, and [`StoreEvent::Finished`] is published; a
    /// `RUNNING` one is marked `cancel_requested` and [`StoreEvent::CancelRequested`] is
    /// published, for the node running it; a final one is left alone. The history records
    /// [`Event::CancelRequested`] by `by` the first time a cancel changes anything (and
    /// [`Event::Finished`] when it ends the operation).
    async fn cancel(
        &self,
        account: &AccountId,
        id: &OperationId,
        by: &Requester,
        message: &str,
        now: Timestamp,
    ) -> Result<Cancelled>;

    /// Deletes at most `limit` operations that finished before `expired_before`, with their
    /// client tokens and their histories, and at most `limit` deliveries delivered or
    /// expired before it (pending ones stay until they are settled). Returns how many
    /// operations were deleted.
    async fn sweep(&self, expired_before: Timestamp, limit: usize) -> Result<usize>;

    /// Stores final operations as given (ids, times, results), in one transaction per call:
    /// for loading a store at scale, and for moving operations between stores. Each gets the
    /// next submission sequence number, in slice order, and is stored as a finish would
    /// have left it: no lease, and no client token (so nothing to compare a fingerprint
    /// with). An operation that is not final ([`Operation::check_loadable`]) is refused, and
    /// then nothing is stored. No event is published: nothing waits on a final operation.
    async fn load(&self, ops: &[Operation]) -> Result<()>;

    /// One page of the history of an operation of `query.account`, oldest first; empty for
    /// an operation the account does not have.
    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage>;

    /// Reads one resource of the inventory; `None` when absent or deleted.
    async fn resource(&self, key: &ResourceKey) -> Result<Option<Resource>>;

    /// Reads one resource of the inventory with the resource group of its application, in one
    /// read, for the authorization of every submit; `None` when absent or deleted.
    async fn located_resource(&self, key: &ResourceKey) -> Result<Option<LocatedResource>>;

    /// Adds resources that the inventory has never held. Resources already present, or
    /// deleted by an operation, keep their state: the configuration only seeds the inventory.
    async fn seed_resources(&self, resources: &[Resource]) -> Result<()>;

    /// Stores a new application, unless its client token is held by an application of the
    /// account that is not deleted ([`ApplicationCreated::Existing`]) or its name is in use
    /// by one ([`ApplicationCreated::NameInUse`]); then nothing is stored.
    async fn create_application(&self, new: &NewApplication) -> Result<ApplicationCreated>;

    /// Reads one application of an account; `None` when absent or deleted.
    async fn application(&self, account: &AccountId, id: &str) -> Result<Option<Application>>;

    /// The account's applications matching `query`, a page at a time, with how many match.
    async fn list_applications(&self, query: &ApplicationQuery) -> Result<ApplicationPage>;

    /// Deletes an application of an account if its status allows it, in one transaction
    /// with that check, at `now`.
    async fn delete_application(
        &self,
        account: &AccountId,
        id: &str,
        now: Timestamp,
    ) -> Result<ApplicationDeleted>;

    /// Starts a lifecycle step in one transaction: with a client token already used in the
    /// account by an operation that has not expired, nothing changes and that operation is
    /// answered (as [`Store::submit`] does); otherwise, when the application exists and its
    /// status is one of `step.allowed`, it moves to `step.status` and the step's operation is
    /// stored `INIT` (publishing [`StoreEvent::Submitted`]); else nothing changes.
    async fn start_step(&self, step: &NewStep, expired_before: Timestamp) -> Result<StepStarted>;

    /// Moves an application of an account to the group `change.to`, in one transaction with
    /// the check that it is still in `change.from` ([`GroupChanged::Elsewhere`] otherwise).
    /// Only its group changes, whatever its status, so a lifecycle step running meanwhile
    /// ends as it would have.
    async fn change_resource_group(&self, change: &GroupChange) -> Result<GroupChanged>;

    /// Gives some variables of an application of an account new values, in one transaction
    /// with the check that its status allows it ([`ApplicationStatus::reconfigurable`]):
    /// the application moves back to `Modified`, with no `Error`, `Checklist` or
    /// `PriceList` (it must be validated and valuated again).
    async fn reconfigure_application(&self, change: &Reconfiguration) -> Result<Reconfigured>;

    /// Adds applications that the store has never held: those present, or deleted, keep
    /// their state, and one whose name is in use in its account is left out. The
    /// configuration only seeds the applications, as it seeds the inventory.
    async fn seed_applications(&self, applications: &[Application]) -> Result<()>;

    /// The inventory resources of an application of an account, not deleted, by service
    /// and id.
    async fn application_resources(
        &self,
        account: &AccountId,
        application: &str,
    ) -> Result<Vec<Resource>>;

    /// Returns the bootstrap root key stored by an earlier start, or stores `candidate` and
    /// returns it with `true` when there is none yet.
    async fn bootstrap_key(&self, candidate: &BootstrapKey) -> Result<(BootstrapKey, bool)>;

    /// Spends a signature nonce until its `expires_at` included: `false` when it was spent
    /// already and has not expired ([`nonce_expired`]), on any node sharing this store and
    /// across restarts. `now` lets the backend forget expired nonces as it goes, so the spends
    /// kept are about one window's.
    async fn spend_nonce(&self, spend: &NonceSpend<'_>, now: Timestamp) -> Result<bool>;

    /// Appends `records` to the audit trail, all in one transaction.
    async fn record_audit(&self, records: &[AuditRecord]) -> Result<()>;

    /// One page of an account's audit records matching `query`, newest first.
    async fn lookup_audit(&self, query: &AuditQuery) -> Result<AuditPage>;

    /// Deletes at most `limit` audit records older than `before`. Returns how many were
    /// deleted. The only way a record ever leaves the trail.
    async fn sweep_audit(&self, before: Timestamp, limit: usize) -> Result<usize>;

    /// Stores a new console session, and forgets those that expired by its `created_at`, so
    /// the sessions kept are about one lifetime's sign-ins.
    async fn create_session(&self, session: &NewSession) -> Result<()>;

    /// The session whose token hashes to `token_hash`, unless it ended or expired by `now`.
    async fn session(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>>;

    /// Ends the session whose token hashes to `token_hash`, on every node: `false` when there
    /// was none.
    async fn end_session(&self, token_hash: &str) -> Result<bool>;
    /// Gives the store the configured notifications, once, before anything is written: from
    /// then on each history event they want writes its deliveries in its transaction. A
    /// second call changes nothing. Without a call (or with none configured) no delivery is
    /// written and nothing more is read.
    fn set_notifications(&self, notifications: Notifications);

    /// Claims up to `limit` due deliveries: pending, their next attempt due by `now`, not
    /// leased, and the oldest pending one of their notification and operation. Each is
    /// returned with its attempt count incremented and leased until `now + lease`, so no
    /// other node takes it meanwhile.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>>;

    /// Records how an attempt ended and settles its delivery (delivered, retried later, or
    /// expired); `false` (and nothing written) when the attempt is no longer current or the
    /// delivery is not pending.
    async fn settle_delivery(&self, attempted: &Attempted) -> Result<bool>;

    /// One page of the deliveries matching `query`, oldest first.
    async fn deliveries(&self, query: &DeliveryQuery) -> Result<DeliveryPage>;

    /// How many deliveries are pending, across every notification and node.
    async fn delivery_backlog(&self) -> Result<u64>;

    /// Events committed from now on by any process sharing this store. A subscriber that
    /// falls behind gets `RecvError::Lagged`, which means the same as [`StoreEvent::Missed`].
    fn subscribe(&self) -> broadcast::Receiver<StoreEvent>;
}
