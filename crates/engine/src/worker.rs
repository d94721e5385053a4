//! Claims runnable operations and executes them.
//!
//! One dispatcher claims as many operations as there are free execution slots in each pool
//! (what the attempts wait on: a timer, a socket, a process; see `bpops_store::Pool`),
//! whenever something may have become runnable (a submit, a finish freeing a resource, on
//! any node, as the store's events tell) or a slot was freed, or, failing that, every
//! `fallback_poll` (to take over expired leases). Each claimed operation runs in its own
//! task, renewing its lease until it finishes. The tasks are tracked, so that on shutdown
//! the dispatcher stops claiming and drains them (see `shutdown`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bpops_catalog::{self as catalog, Executor};
use bpops_executors::{self as executors, Job};
use bpops_store::{Budget, Claimed, Finish, Lease, Operation, Pool, Status};
use bpops_telemetry::{AttemptSpan, Outcome};
use bpops_time::Timestamp;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::emulated::{self, draw, failure};
use crate::running::Registration;
use crate::{CANCELLED_WHILE_RUNNING, Engine, shutdown};

/// How long the dispatcher, and a run waiting for the store, back off after a store failure.
const STORE_RETRY: Duration = Duration::from_millis(200);
/// The longest a run waits between two tries of a store call that keeps failing.
const STORE_RETRY_MAX: Duration = Duration::from_secs(2);

pub(crate) async fn dispatch(engine: Arc<Engine>, stop: CancellationToken) {
    let attempts = TaskTracker::new();
    // Cancelled when the shutdown grace is over: the attempts still running give up.
    let abandon = CancellationToken::new();
    claim_and_run(&engine, &stop, &attempts, &abandon).await;
    shutdown::drain(&engine, attempts, abandon).await;
}

/// Claims and starts operations until `stop` is cancelled.
async fn claim_and_run(
    engine: &Arc<Engine>,
    stop: &CancellationToken,
    attempts: &TaskTracker,
    abandon: &CancellationToken,
) {
    let slots = Arc::new(Slots::new(engine.settings.concurrency));
    loop {
        // Only what can start at once is claimed: at most the free slots of each pool.
        let free = slots.free();
        if free.total() == 0 {
            tokio::select! {
                () = stop.cancelled() => return,
                () = slots.freed.notified() => continue,
            }
        }
        // N.B. once stopping, never claim again, even with a slot free.
        if stop.is_cancelled() {
            return;
        }
        let claimed = match claim(engine, free).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "claiming operations failed");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(STORE_RETRY) => continue,
                }
            }
        };
        // N.B. a row set aside may have freed its resource for the next operation.
        let idle = claimed.attempts.is_empty() && !claimed.unreadable;
        for attempt in claimed.attempts {
            let slot = Slot::take(&slots, attempt.op.pool);
            let engine = Arc::clone(engine);
            let abandon = abandon.clone();
            attempts.spawn(async move {
                execute(&engine, attempt, &abandon).await;
                drop(slot);
            });
        }
        if idle {
            // N.B. also woken by a freed slot: the finish that frees it wakes `work` before
            // the slot is given back, and a claim in between finds its pool full.
            tokio::select! {
                () = stop.cancelled() => return,
                () = engine.work.notified() => {}
                () = slots.freed.notified() => {}
                () = tokio::time::sleep(engine.settings.fallback_poll) => {}
            }
        }
    }
}

/// The free execution slots of this node, per pool.
struct Slots {
    free: Mutex<Budget>,
    /// Notified when an attempt gives its slot back.
    freed: Notify,
}

impl Slots {
    fn new(limits: Budget) -> Slots {
        Slots {
            free: Mutex::new(limits),
            freed: Notify::new(),
        }
    }

    fn free(&self) -> Budget {
        *self.free.lock().expect("no slot count panics")
    }
}

/// A slot an attempt holds while it runs; given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    pool: Pool,
}

impl Slot {
    /// Takes a slot of `pool`. The claim took no more of a pool than it had free, and only
    /// the dispatcher takes slots, so one is free.
    fn take(slots: &Arc<Slots>, pool: Pool) -> Slot {
        let mut free = slots.free.lock().expect("no slot count panics");
        debug_assert!(
            free[pool] > 0,
            "a claim took more {pool} attempts than were free"
        );
        free[pool] = free[pool].saturating_sub(1);
        Slot {
            slots: Arc::clone(slots),
            pool,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.free.lock().expect("no slot count panics")[self.pool] += 1;
        self.slots.freed.notify_one();
    }
}

impl Engine {
    /// Claims one batch of runnable operations and runs them all to their end, without
    /// background tasks. Returns how many ran. Lets tests drive the engine step by step.
    pub async fn run_once(self: &Arc<Self>) -> bpops_store::Result<usize> {
        let claimed = claim(self, self.settings.concurrency).await?.attempts;
        let n = claimed.len();
        let mut running = tokio::task::JoinSet::new();
        for attempt in claimed {
            let engine = Arc::clone(self);
            let abandon = CancellationToken::new();
            running.spawn(async move { execute(&engine, attempt, &abandon).await });
        }
        running.join_all().await;
        Ok(n)
    }
}

/// What one claim took.
struct Taken {
    attempts: Vec<Attempt>,
    /// Whether the store set rows aside (their resources may be free now).
    unreadable: bool,
}

/// A claimed operation, its attempt registered on this node.
struct Attempt {
    op: Operation,
    registration: Registration,
    /// The clock's time when it was claimed: an emulated latency runs from there, so a test
    /// clock advanced between the claim and the wait still counts.
    began: Timestamp,
}

/// Claims up to `budget` operations and registers their attempts; the rows the store set
/// aside are logged and counted.
async fn claim(engine: &Engine, budget: Budget) -> bpops_store::Result<Taken> {
    // N.B. the leases are taken and the attempts registered with no test clock advance in
    // between: an advance renews the lease of every registered attempt (see
    // `Engine::advance_clock`), so none is found expired and claimed a second time.
    let _steady = engine.clock_steady.read().await;
    let now = engine.clock.now();
    let claimed: Claimed = engine
        .store
        .claim(&engine.settings.node, now, engine.settings.lease, budget)
        .await?;
    if !claimed.operations.is_empty() || !claimed.unreadable.is_empty() {
        engine.outbox_written();
    }
    for row in &claimed.unreadable {
        unreadable(engine, &row.id, &row.reason);
    }
    let attempts = claimed
        .operations
        .into_iter()
        .map(|op| Attempt {
            registration: engine.running.register(&op.id, op.attempt),
            op,
            began: now,
        })
        .collect();
    Ok(Taken {
        attempts,
        unreadable: !claimed.unreadable.is_empty(),
    })
}

/// A stored operation that cannot be read ends `FAILURE` (the store or the run ends it) and
/// the others run on; an operator needs to hear of it.
fn unreadable(engine: &Engine, id: &str, reason: &str) {
    tracing::error!(
        operation = id,
        reason,
        "a stored operation is unreadable: it ends FAILURE"
    );
    engine.metrics.unreadable();
}

/// Runs one claimed attempt to its end, renewing the lease meanwhile, and commits the
/// result. A store failure is never the operation's verdict: the attempt asks the store
/// again, and if its lease ends first, the operation is claimed and run again. When
/// `abandon` is cancelled first, the attempt is dropped and its lease released.
async fn execute(engine: &Arc<Engine>, attempt: Attempt, abandon: &CancellationToken) {
    let Attempt {
        op,
        registration,
        began,
    } = attempt;
    if op.attempt == 1
        && let Some(request) = op.trace()
    {
        let spans = &engine.settings.spans;
        spans.queue_wait(request, op.id.as_str(), op.created_at, began);
    }
    if op.cancel_requested {
        // Cancelled while an earlier attempt ran, on a node that is gone (or between
        // attempts): end it without running it again.
        let finish = cancelled(engine);
        if commit(engine, &op, &finish).await {
            engine
                .metrics
                .finished(&op.service, &op.operation, finish.status.as_str(), 0.0);
        }
        return;
    }
    let started = std::time::Instant::now();
    let cancel = registration.token();
    // Boxed, so that it can be dropped before the lease is released.
    let mut run = Box::pin(decide(engine, &op, began, cancel));
    // N.B. polled together with the run, never instead of it: a renewal waits for the
    // operation's row, which a write of the run (a deployment step) may hold locked until
    // the run is polled again.
    let renewing = heartbeat(engine, &op, cancel);
    tokio::pin!(renewing);
    let ending = tokio::select! {
        ending = &mut run => ending,
        () = abandon.cancelled() => {
            // N.B. dropping the attempt kills a declared program's process group, so the
            // operation never runs twice at once once another node claims it.
            drop(run);
            shutdown::release(engine, &op).await;
            return;
        }
        // Another worker took over: its result counts.
        () = &mut renewing => return,
    };
    trace_attempt(engine, &op, began, started.elapsed(), &ending);
    match ending {
        Ending::Final(finish) => {
            if commit(engine, &op, &finish).await {
                let seconds = started.elapsed().as_secs_f64();
                engine.metrics.finished(
                    &op.service,
                    &op.operation,
                    finish.status.as_str(),
                    seconds,
                );
            }
        }
        Ending::Retry { after, message } => retry_later(engine, &op, after, &message).await,
    }
}

/// Records the attempt's span, a child of the request that submitted the operation.
fn trace_attempt(
    engine: &Engine,
    op: &Operation,
    began: Timestamp,
    ran: Duration,
    ending: &Ending,
) {
    let Some(request) = op.trace() else {
        return;
    };
    let outcome = match ending {
        Ending::Final(finish) if finish.status == Status::Success => Outcome::Success,
        Ending::Final(finish) => Outcome::Failure(&finish.message),
        Ending::Retry { message, .. } => Outcome::Retry(message),
    };
    engine.settings.spans.attempt(AttemptSpan {
        request: *request,
        operation_id: op.id.as_str(),
        service: &op.service,
        operation: &op.operation,
        attempt: op.attempt,
        node: &engine.settings.node,
        outcome,
        start: began,
        duration: ran,
    });
}

/// Renews the attempt's lease every third of a lease, for as long as it holds it; returns
/// once it is lost. A cancellation requested on a node whose event did not reach this one
/// shows in the renewal and cancels the attempt.
async fn heartbeat(engine: &Engine, op: &Operation, cancel: &CancellationToken) {
    let renew_every = engine.settings.lease / 3;
    loop {
        engine.clock.sleep(renew_every).await;
        let _steady = engine.clock_steady.read().await;
        let until = engine.clock.now() + engine.settings.lease;
        match engine.store.renew_lease(&op.id, op.attempt, until).await {
            Ok(Lease::Held) => {}
            Ok(Lease::CancelRequested) => cancel.cancel(),
            Ok(Lease::Lost) => return,
            Err(e) => tracing::warn!(operation = %op.id, error = %e, "lease renewal failed"),
        }
    }
}

/// Commits the attempt's result; `true` when it became the operation's final status. While
/// the store fails, tries again for as long as a lease lasts; past that, another claim may
/// have taken the operation over (a commit of this attempt is then refused anyway).
async fn commit(engine: &Engine, op: &Operation, finish: &Finish) -> bool {
    let committed = until_answered(
        op,
        "recording the result",
        tokio::time::sleep(engine.settings.lease),
        || engine.store.finish(&op.id, op.attempt, finish),
    )
    .await;
    match committed {
        Some(true) => {
            // The store's `Finished` event wakes its waiters, and the workers of every node
            // (the resource it held may let the next operation run).
            tracing::debug!(operation = %op.id, status = finish.status.as_str(), "operation finished");
            true
        }
        Some(false) => {
            tracing::info!(operation = %op.id, attempt = op.attempt, "attempt superseded; result dropped");
            false
        }
        None => {
            tracing::warn!(operation = %op.id, attempt = op.attempt, "the result could not be recorded; the operation runs again when its lease ends");
            false
        }
    }
}

/// Calls the store until it answers, backing off between tries: a store failure during a
/// run (a lost connection, a full disk) is never the operation's verdict. Gives up, with
/// `None`, once `stop` completes.
pub(crate) async fn until_answered<T, Fut>(
    op: &Operation,
    what: &str,
    stop: impl Future<Output = ()>,
    mut call: impl FnMut() -> Fut,
) -> Option<T>
where
    Fut: Future<Output = bpops_store::Result<T>>,
{
    tokio::pin!(stop);
    let mut pause = STORE_RETRY;
    loop {
        match call().await {
            Ok(answer) => return Some(answer),
            Err(e) => {
                tracing::warn!(operation = %op.id, error = %e, "{what} failed; trying again")
            }
        }
        tokio::select! {
            () = &mut stop => return None,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(STORE_RETRY_MAX);
    }
}

/// Schedules the next attempt. The operation stays `RUNNING` (a status never moves back)
/// and keeps its place on its resource; its lease is set to end when the backoff does, so
/// whichever node claims it then runs the next attempt, and a crash meanwhile loses nothing.
async fn retry_later(engine: &Arc<Engine>, op: &Operation, after: Duration, message: &str) {
    let now = engine.clock.now();
    let scheduled = engine
        .store
        .schedule_retry(&op.id, op.attempt, now, now + after, message);
    match scheduled.await {
        // A cancellation requested meanwhile ends it at the next claim.
        Ok(Lease::Held | Lease::CancelRequested) => {
            engine.outbox_written();
            tracing::info!(operation = %op.id, attempt = op.attempt, retry_in = ?after, failure = message, "attempt failed; retrying");
            let (engine, backoff) = (Arc::clone(engine), engine.clock.sleep(after));
            tokio::spawn(async move {
                backoff.await;
                engine.work.notify_one();
            });
        }
        Ok(Lease::Lost) => {
            tracing::info!(operation = %op.id, attempt = op.attempt, "attempt superseded")
        }
        Err(e) => {
            tracing::warn!(operation = %op.id, error = %e, "scheduling a retry failed; the lease will expire")
        }
    }
}

/// How an attempt ended.
enum Ending {
    /// Final: commit it.
    Final(Finish),
    /// A failure the operation's retry policy retries: run another attempt after `after`.
    Retry { after: Duration, message: String },
}

/// The end of an attempt cancelled before it decided anything.
fn cancelled(engine: &Engine) -> Finish {
    failure(CANCELLED_WHILE_RUNNING.to_owned(), engine.clock.now())
}

/// Decides how an attempt ends: emulated latency, injected failure, then the executor. A
/// cancellation during the latency ends it with nothing applied; the executors of declared
/// operations stop on `cancel` by themselves (a program's whole process group is killed).
async fn decide(
    engine: &Engine,
    op: &Operation,
    began: Timestamp,
    cancel: &CancellationToken,
) -> Ending {
    if op.service == crate::STEP_SERVICE {
        let application = op.application.as_deref().unwrap_or_default();
        let read = until_answered(op, "reading the application", cancel.cancelled(), || {
            engine.store.application(&op.account, application)
        });
        return Ending::Final(match read.await {
            Some(app) => Box::pin(engine.run_step(op, app, cancel)).await,
            None => cancelled(engine),
        });
    }
    let emulation = engine.settings.emulation(&op.service, &op.operation);
    if !emulation.latency.is_zero() {
        tokio::select! {
            () = engine.clock.sleep_until(began + emulation.latency) => {}
            () = cancel.cancelled() => return Ending::Final(cancelled(engine)),
        }
    }
    if cancel.is_cancelled() {
        return Ending::Final(cancelled(engine));
    }
    let clock = engine.clock.as_ref();
    if let Some(failed) = emulated::injected_failure(&emulation, clock, &op.service, &op.operation)
    {
        return Ending::Final(failed);
    }
    // N.B. boxed, as a step's run above: an executor's future is several KB, and thousands of
    // attempts may wait on their latency at once; the box is only allocated once it runs.
    match Box::pin(run_executor(engine, op, cancel)).await {
        Ok(finish) => Ending::Final(finish),
        Err(RunError::Cancelled) => Ending::Final(cancelled(engine)),
        Err(RunError::Fatal(message)) => Ending::Final(failure(message, clock.now())),
        Err(RunError::Retry { after, message }) => Ending::Retry { after, message },
    }
}

/// Why an attempt has no final result.
enum RunError {
    /// The attempt failed for good, with this message.
    Fatal(String),
    /// The attempt failed and the retry policy allows another after `after`.
    Retry { after: Duration, message: String },
    /// The attempt was cancelled while it waited for the store.
    Cancelled,
}

async fn run_executor(
    engine: &Engine,
    op: &Operation,
    cancel: &CancellationToken,
) -> Result<Finish, RunError> {
    let entry = engine
        .catalog
        .entry(&op.service, &op.operation)
        .map_err(|e| RunError::Fatal(format!("InvalidOperation.NotFound: {e}")))?;
    let attributes: Map<String, Value> = match serde_json::from_str(&op.attributes) {
        Ok(Value::Object(map)) => map,
        _ => {
            unreadable(
                engine,
                op.id.as_str(),
                "the attributes are not a JSON object",
            );
            return Err(RunError::Fatal(
                "InternalError: the stored attributes are unreadable.".to_owned(),
            ));
        }
    };
    // Declared entries always have a timeout; the lease bounds anything else.
    let timeout = entry.timeout().unwrap_or(engine.settings.lease);
    let declared = match entry.executor() {
        Executor::Emulated => {
            return run_emulated(engine, op, entry, &attributes, cancel).await;
        }
        Executor::Command(spec) => {
            executors::run_command(spec, &job(op, attributes), timeout, cancel).await
        }
        Executor::Http(spec) => {
            executors::run_http(spec, &job(op, attributes), timeout, cancel).await
        }
    };
    match declared {
        Ok(success) => Ok(Finish {
            status: Status::Success,
            message: success.message,
            arguments: success.arguments,
            finished_at: engine.clock.now(),
            effect: None,
        }),
        Err(failure) => {
            match entry
                .retry_policy()
                .after_failure(failure.kind, op.attempt, draw())
            {
                Some(after) => Err(RunError::Retry {
                    after,
                    message: failure.message,
                }),
                None => Err(RunError::Fatal(failure.message)),
            }
        }
    }
}

fn job(op: &Operation, attributes: Map<String, Value>) -> Job {
    Job {
        operation_id: op.id.to_string(),
        service: op.service.clone(),
        operation: op.operation.clone(),
        attributes,
        application: op.application.clone(),
        attempt: op.attempt,
        traceparent: op
            .trace()
            .map(|request| request.attempt(op.id.as_str(), op.attempt).to_string()),
    }
}

async fn run_emulated(
    engine: &Engine,
    op: &Operation,
    entry: &catalog::Entry,
    attributes: &Map<String, Value>,
    cancel: &CancellationToken,
) -> Result<Finish, RunError> {
    let resource = match &op.resource {
        Some(key) => until_answered(op, "reading the inventory", cancel.cancelled(), || {
            engine.store.resource(key)
        })
        .await
        .ok_or(RunError::Cancelled)?,
        None => None,
    };
    Ok(emulated::finish(
        entry,
        attributes,
        op.application.as_deref(),
        op.resource.as_ref(),
        resource,
        engine.clock.as_ref(),
    ))
}
