//! The engine's public face: submit, read, wait.

use std::sync::Arc;
use std::time::Duration;

use bpops_catalog::{Catalog, Executor};
use bpops_store::{
    AccountId, ApplicationPlace, Cancelled, DeliveryPage, DeliveryQuery, HistoryPage, HistoryQuery,
    Lease, ListPage, ListQuery, NewOperation, Notification, Notifications, Operation, OperationId,
    Pool, Requester, Resource, ResourceKey, Store, Submitted,
};
use bpops_telemetry::Spans;
use bpops_time::{Clock, Timestamp};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, RwLock};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::emulated::AtSubmit;
use crate::final_cache::FinalCache;
use crate::metrics::EngineMetrics;
use crate::running::Running;
use crate::waiters::Waiters;
use crate::{EngineError, Result, Settings, deliverer, events, sweeper, worker};

/// A request to run an operation, as the API read it.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The account submitting it.
    pub account: AccountId,
    /// Service type.
    pub service: String,
    /// Operation name.
    pub operation: String,
    /// Attributes, not yet validated.
    pub attributes: Map<String, Value>,
    /// `ApplicationId` as the request named it, already checked to belong to the account.
    pub application: Option<String>,
    /// `ClientToken`, for idempotency.
    pub client_token: Option<String>,
    /// Who submits it, for its history; `None` when not submitted through the API.
    pub submitted_by: Option<Requester>,
}

/// A submission with the inventory resource it acts on, as read when it arrived: what the
/// request path authorizes before [`Engine::submit_resolved`] stores it.
#[derive(Clone, Debug)]
pub struct Resolved {
    submission: Submission,
    target: Option<Resource>,
    /// Where the application it acts in ([`Resolved::application`]) stands in the store.
    place: Option<ApplicationPlace>,
}

impl Resolved {
    /// The submission as the request made it.
    pub fn submission(&self) -> &Submission {
        &self.submission
    }

    /// The application the operation acts in, and so the one its request is authorized
    /// against: the target's when the target exists, whatever the request names; otherwise
    /// the request's `ApplicationId`. The operation is stored with it, and a run acts only
    /// on a resource that is (still) in it.
    pub fn application(&self) -> Option<&str> {
        self.target
            .as_ref()
            .map(|target| target.application.as_str())
            .or(self.submission.application.as_deref())
    }

    /// Where the application it acts in stood when the request arrived: `None` when it
    /// names none, or one that does not exist (or was deleted).
    pub fn application_place(&self) -> Option<&ApplicationPlace> {
        self.place.as_ref()
    }
}

/// Runs and tracks operations. Cheap to share: hold it in an `Arc`.
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock>,
    /// Wakes the dispatcher: something may have become runnable.
    pub(crate) work: Notify,
    /// Wakes the deliverer: this node committed a change that may have written webhook
    /// deliveries and that no store event announces (a claim, a retry, a release, an
    /// application's change).
    pub(crate) outbox_written: Notify,
    pub(crate) waiters: Waiters,
    /// The attempts running on this node, for cancellation.
    pub(crate) running: Running,
    /// Held shared while a lease is computed from the clock and written, exclusively while a
    /// test clock is advanced: no lease is read off the time before an advance and written
    /// after it (see [`Engine::advance_clock`]).
    pub(crate) clock_steady: RwLock<()>,
    pub(crate) metrics: EngineMetrics,
    /// Final operations read lately: they never change, so reads need not ask the store.
    pub(crate) final_cache: FinalCache,
}

/// The `Message` of an operation cancelled before it started.
pub const CANCELLED_BEFORE_START: &str =
    "OperationCancelled: the operation was cancelled before it started.";

/// The `Message` of an emulated operation cancelled while it ran, or of one whose node was
/// gone when it was cancelled.
pub const CANCELLED_WHILE_RUNNING: &str =
    "OperationCancelled: the operation was cancelled while it ran.";

impl Engine {
    /// An engine over `store`; call [`Engine::start`] to run operations.
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Arc<Engine> {
        if !settings.notifications.is_empty() {
            store.set_notifications(Notifications::new(
                settings
                    .notifications
                    .iter()
                    .map(|hook| Notification {
                        name: hook.name.clone(),
                        filter: hook.filter.clone(),
                    })
                    .collect(),
            ));
        }
        Arc::new(Engine {
            store,
            catalog,
            settings,
            clock,
            work: Notify::new(),
            outbox_written: Notify::new(),
            waiters: Waiters::default(),
            running: Running::default(),
            clock_steady: RwLock::new(()),
            metrics: EngineMetrics::default(),
            final_cache: FinalCache::default(),
        })
    }

    /// The catalog the engine validates against.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The clock the engine runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Moves a test clock forward by `by` (see [`bpops_time::ManualClock`]) and answers the new time;
    /// `None`, moving nothing, when the engine runs on a clock that cannot be moved.
    ///
    /// Whatever waits on the clock follows at once: emulated latencies and retry backoffs
    /// that end within the advance end, operations past retention are gone, the sweeper
    /// runs. The attempts running on this node keep their leases (renewed first, to the new
    /// time plus a lease), so none is taken for abandoned and run twice. The clock is this
    /// node's alone: on several nodes, each has its own.
    pub async fn advance_clock(&self, by: Duration) -> Result<Option<Timestamp>> {
        let Some(clock) = self.clock.as_manual() else {
            return Ok(None);
        };
        let _advancing = self.clock_steady.write().await;
        let until = clock.now() + by + self.settings.lease;
        for (id, attempt) in self.running.attempts() {
            match self.store.renew_lease(&id, attempt, until).await? {
                Lease::Held | Lease::Lost => {}
                Lease::CancelRequested => {
                    self.running.cancel(&id);
                }
            }
        }
        let now = clock.advance(by);
        tracing::warn!(by = ?by, now = %now, "TEST CLOCK advanced");
        // Retries whose backoff ended are runnable now.
        self.work.notify_one();
        Ok(Some(now))
    }

    /// What the engine counts.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// Where spans go ([`Settings::spans`]): the request path records its own there too.
    pub fn spans(&self) -> &Spans {
        &self.settings.spans
    }

    /// Starts the dispatcher, the store event listener and the sweeper; they stop when
    /// `shutdown` is cancelled. Then every wait is answered at once, and the operations
    /// running here get [`Settings::shutdown_grace`] to finish before their leases are
    /// released: the tasks end within that grace and a short bounded release.
    pub fn start(self: &Arc<Self>, shutdown: CancellationToken) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        // Subscribed before the dispatcher's first claim, so no submit falls in between.
        let events = self.store.subscribe();
        tasks.spawn(events::forward(Arc::clone(self), events, shutdown.clone()));
        tasks.spawn(worker::dispatch(Arc::clone(self), shutdown.clone()));
        tasks.spawn(sweeper::run(Arc::clone(self), shutdown.clone()));
        if !self.settings.notifications.is_empty() {
            let events = self.store.subscribe();
            tasks.spawn(deliverer::run(Arc::clone(self), events, shutdown.clone()));
        }
        let engine = Arc::clone(self);
        tasks.spawn(async move {
            shutdown.cancelled().await;
            engine.waiters.stop();
        });
        tasks
    }

    /// Reads the inventory resource `submission` would act on, and the application it acts
    /// in. An unknown operation, one that acts on no inventory resource, or a target that
    /// does not exist has none; the attributes are validated later, by
    /// [`Engine::submit_resolved`].
    pub async fn resolve(&self, submission: Submission) -> Result<Resolved> {
        let target = match self
            .catalog
            .entry(&submission.service, &submission.operation)
        {
            Ok(entry) if matches!(entry.executor(), Executor::Emulated) => {
                match entry.target(&submission.attributes) {
                    Some(target) => {
                        let key = ResourceKey {
                            account: submission.account.clone(),
                            service: target.service,
                            id: target.id,
                        };
                        // N.B. the target and its application's group in one read: this is
                        // on the path of every submit.
                        self.store.located_resource(&key).await?
                    }
                    None => None,
                }
            }
            _ => None,
        };
        let (target, place) = match target {
            Some(located) => (Some(located.resource), located.application),
            None => {
                let place = match &submission.application {
                    Some(named) => self
                        .store
                        .application(&submission.account, named)
                        .await?
                        .map(|app| ApplicationPlace {
                            resource_group: app.resource_group,
                        }),
                    None => None,
                };
                (None, place)
            }
        };
        Ok(Resolved {
            submission,
            target,
            place,
        })
    }

    /// [`Engine::resolve`], then [`Engine::submit_resolved`]: for callers that authorize
    /// nothing in between.
    pub async fn submit(&self, submission: Submission) -> Result<OperationId> {
        self.submit_resolved(self.resolve(submission).await?).await
    }

    /// Validates and durably stores an operation, returning its id. A reused client token
    /// returns the first operation's id, or `IdempotentParameterMismatch` when the
    /// parameters differ. An `ApplicationId` other than the target's is refused.
    pub async fn submit_resolved(&self, resolved: Resolved) -> Result<OperationId> {
        if resolved.submission.service == crate::STEP_SERVICE {
            return Err(EngineError::ReservedService(resolved.submission.service));
        }
        let application = resolved.application().map(str::to_owned);
        let Resolved {
            submission, target, ..
        } = resolved;
        if let (Some(named), Some(target)) = (&submission.application, &target)
            && *named != target.application
        {
            return Err(EngineError::ApplicationMismatch {
                named: named.clone(),
                actual: target.application.clone(),
            });
        }
        let entry = self
            .catalog
            .entry(&submission.service, &submission.operation)?;
        entry
            .validate(&submission.attributes, application.as_deref())
            .map_err(EngineError::InvalidAttribute)?;
        let resource = entry
            .target(&submission.attributes)
            .map(|target| ResourceKey {
                account: submission.account.clone(),
                service: target.service,
                id: target.id,
            });
        let emulation = self
            .settings
            .emulation(&submission.service, &submission.operation);
        let decide = (self.settings.decide_at_submit
            && AtSubmit::applies(entry.executor(), &emulation))
        .then(|| AtSubmit {
            catalog: Arc::clone(&self.catalog),
            clock: Arc::clone(&self.clock),
            emulation,
            service: submission.service.clone(),
            operation: submission.operation.clone(),
            attributes: submission.attributes.clone(),
            application: application.clone(),
            key: resource.clone(),
        });
        let attributes = Value::Object(submission.attributes).to_string();
        let op = NewOperation {
            id: OperationId::random(),
            // N.B. over the application as the request named it: a retry must match after
            // the target is gone (deleted by this very operation, say).
            fingerprint: fingerprint(&[
                &submission.service,
                &submission.operation,
                submission.application.as_deref().unwrap_or(""),
                &attributes,
            ]),
            account: submission.account,
            service: submission.service,
            operation: submission.operation,
            application,
            resource,
            pool: pool_of(entry.executor()),
            attributes,
            client_token: submission.client_token,
            created_at: self.clock.now(),
            submitted_by: submission.submitted_by,
        };
        let expired_before = self.expired_before();
        let submitted = match decide {
            Some(decide) => {
                let decide = decide.into_decide();
                self.store
                    .submit_decided(&op, expired_before, decide)
                    .await?
            }
            None => self.store.submit(&op, expired_before).await?,
        };
        match submitted {
            // The store's `Submitted` event wakes the workers of every node.
            Submitted::Created => {
                self.metrics.submitted(&op.service, &op.operation);
                Ok(op.id)
            }
            Submitted::Decided(finish) => {
                self.metrics.submitted(&op.service, &op.operation);
                let status = finish.status.as_str();
                self.metrics
                    .finished(&op.service, &op.operation, status, 0.0);
                let id = op.id.clone();
                self.final_cache.remember(&op.stored(Some(&finish)));
                Ok(id)
            }
            Submitted::Existing {
                id,
                same_parameters: true,
            } => Ok(id),
            Submitted::Existing {
                same_parameters: false,
                ..
            } => Err(EngineError::IdempotentParameterMismatch),
        }
    }

    /// The operation, if it exists in the account and has not expired.
    pub async fn get(&self, account: &AccountId, id: &OperationId) -> Result<Option<Operation>> {
        let op = match self.final_cache.get(account, id) {
            Some(op) => Some(Operation::clone(&op)),
            None => {
                let op = self.store.get(account, id).await?;
                if let Some(op) = &op {
                    self.final_cache.remember(op);
                }
                op
            }
        };
        Ok(op.filter(|op| !self.is_expired(op)))
    }

    /// Like [`Engine::get`], but when the operation is not final yet, waits up to `timeout`
    /// for it to finish and answers with its status then. Woken by the store's events, so
    /// an operation finished by any node is seen at once. Once the engine stops (see
    /// [`Engine::start`]), answers at once with the current status.
    pub async fn wait(
        &self,
        account: &AccountId,
        id: &OperationId,
        timeout: Duration,
    ) -> Result<Option<Operation>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let registration = self.waiters.register(id);
        loop {
            // N.B. enabled before the read, so a finish between the read and the wait
            // still wakes it.
            let finished = registration.notify().notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            match self.get(account, id).await? {
                Some(op) if !op.status.is_final() && tokio::time::Instant::now() < deadline => {
                    tokio::select! {
                        // Woken: read again (a wake-up after missed events may be spurious).
                        () = finished => {}
                        // Time is up: read once more, since a status that moved without
                        // finishing (INIT to RUNNING) publishes no event.
                        () = tokio::time::sleep_until(deadline) => {}
                        () = self.waiters.stopped() => return self.get(account, id).await,
                    }
                }
                other => return Ok(other),
            }
        }
    }

    /// One page of the account's operations still within retention, newest first.
    /// `query.expired_before` is set here, from the retention.
    pub async fn list(&self, mut query: ListQuery) -> Result<ListPage> {
        query.expired_before = self.expired_before();
        Ok(self.store.list(&query).await?)
    }

    /// Cancels an operation of the account: an `INIT` one ends `FAILURE` at once; a
    /// `RUNNING` one is stopped by whichever node runs it (this one at once; another when
    /// the store's event reaches it, or at its next lease renewal; one whose node is gone
    /// when it is next claimed). An expired operation is not found, like an unknown one.
    /// `by` is recorded in its history.
    pub async fn cancel(
        &self,
        account: &AccountId,
        id: &OperationId,
        by: &Requester,
    ) -> Result<Cancelled> {
        let now = self.clock.now();
        let cancelled = self
            .store
            .cancel(account, id, by, CANCELLED_BEFORE_START, now)
            .await?;
        match &cancelled {
            Cancelled::AlreadyFinal(op) if self.is_expired(op) => return Ok(Cancelled::NotFound),
            // N.B. the store's event does this too, but only once `start` runs its listener.
            Cancelled::Requested(_) => {
                self.running.cancel(id);
            }
            Cancelled::Ended(op) => {
                self.metrics
                    .ended_unrun(&op.service, &op.operation, op.status.as_str());
            }
            Cancelled::NotFound | Cancelled::AlreadyFinal(_) => {}
        }
        Ok(cancelled)
    }

    /// One page of an operation's history, oldest first. The caller has read the operation
    /// ([`Engine::get`]): an expired one is not found before its history is asked for.
    pub async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        Ok(self.store.history(query).await?)
    }

    /// One page of webhook deliveries. The caller has scoped `query` to an account, and to
    /// an operation it has read when it names one.
    pub async fn deliveries(&self, query: &DeliveryQuery) -> Result<DeliveryPage> {
        Ok(self.store.deliveries(query).await?)
    }

    /// Tells the deliverer that this node committed a change that may have written webhook
    /// deliveries; nothing without notifications. N.B. after the commit: a delivery claimed
    /// before it would not be seen.
    pub(crate) fn outbox_written(&self) {
        if !self.settings.notifications.is_empty() {
            self.outbox_written.notify_one();
        }
    }

    /// Operations that finished before this instant have expired.
    pub(crate) fn expired_before(&self) -> Timestamp {
        self.clock.now() - self.settings.retention
    }

    fn is_expired(&self, op: &Operation) -> bool {
        op.finished_at.is_some_and(|at| at < self.expired_before())
    }
}

/// The pool an operation's attempts take their slot from: what its executor waits on.
fn pool_of(executor: &Executor) -> Pool {
    match executor {
        Executor::Emulated => Pool::Emulated,
        Executor::Http(_) => Pool::Http,
        Executor::Command(_) => Pool::Command,
    }
}

/// What a reused client token must match: a digest of everything that decides what the
/// request does, each part length-prefixed so that no two lists of parts share one.
pub(crate) fn fingerprint(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}
