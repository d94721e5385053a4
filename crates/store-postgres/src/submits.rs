//! Group commit of submits. Submits that arrive while earlier groups are being stored wait
//! together and share the next transaction: under load, many submits cost one commit and four
//! round trips in all, while a lone submit still starts at once. A group holds no two submits
//! that take the same lock (client token or resource): the later one, which must see the
//! earlier one's row, waits for the next group.

use std::collections::HashSet;
use std::sync::Arc;

use bpops_store::{Result, StoreError, StoreEvent, Submitted};
use deadpool_postgres::Pool;
use futures_util::future::join_all;
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

use crate::queries::{self, Lock, Pending};
use crate::{from_pg, get};

/// The most submits stored together; bounds how long one transaction holds its locks.
const MAX_GROUP: usize = 256;

/// Groups being stored at once, each on its own connection: while they wait for their
/// commits, the next group gathers.
const IN_FLIGHT: usize = 2;

/// The queue of submits, served by a task that forms the groups.
pub(crate) struct Submits {
    queue: mpsc::UnboundedSender<Request>,
}

struct Request {
    pending: Pending,
    answer: oneshot::Sender<Result<Submitted>>,
}

/// Where a group's submits are stored and whom they concern.
#[derive(Clone)]
struct Target {
    pool: Pool,
    channel: String,
    events: broadcast::Sender<StoreEvent>,
}

impl Submits {
    /// Starts the task that forms groups; it ends when this is dropped.
    pub(crate) fn start(
        pool: Pool,
        channel: String,
        events: broadcast::Sender<StoreEvent>,
    ) -> Submits {
        let (queue, requests) = mpsc::unbounded_channel();
        let target = Target {
            pool,
            channel,
            events,
        };
        tokio::spawn(gather(requests, target));
        Submits { queue }
    }

    /// Stores `pending` in the next group and answers once that group is committed.
    pub(crate) async fn submit(&self, pending: Pending) -> Result<Submitted> {
        let (answer, answered) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the store is shutting down".to_owned());
        self.queue
            .send(Request { pending, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

async fn gather(mut requests: mpsc::UnboundedReceiver<Request>, target: Target) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut held_over = None;
    loop {
        let first = match held_over.take() {
            Some(request) => request,
            None => match requests.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        let slot = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut locks: HashSet<Lock> = first.pending.locks().collect();
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            let Ok(request) = requests.try_recv() else {
                break;
            };
            if request.pending.locks().any(|lock| locks.contains(&lock)) {
                held_over = Some(request);
                break;
            }
            locks.extend(request.pending.locks());
            group.push(request);
        }
        let target = target.clone();
        tokio::spawn(async move {
            store(&target, group).await;
            drop(slot);
        });
    }
}

/// Stores a group and answers its submits.
async fn store(target: &Target, group: Vec<Request>) {
    let (mut pending, answers): (Vec<Pending>, Vec<_>) = group
        .into_iter()
        .map(|request| (request.pending, request.answer))
        .unzip();
    let outcomes = match commit(target, &mut pending).await {
        Ok(submitted) => submitted.into_iter().map(Ok).collect(),
        // One submit may be at fault (a statement failed, nothing is stored): each is stored
        // again alone, so it fails alone.
        Err(Failure::Statement(_)) if pending.len() > 1 => {
            let alone = pending.chunks_mut(1).map(|one| commit(target, one));
            join_all(alone)
                .await
                .into_iter()
                .map(|outcome| match outcome {
                    Ok(mut submitted) => Ok(submitted.remove(0)),
                    Err(failure) => Err(failure.into()),
                })
                .collect()
        }
        Err(failure) => vec![Err(StoreError::from(failure)); pending.len()],
    };
    if outcomes
        .iter()
        .any(|outcome| matches!(outcome, Ok(Submitted::Created)))
    {
        // An error only means nobody subscribes.
        let _ = target.events.send(StoreEvent::Submitted);
    }
    for (answer, outcome) in answers.into_iter().zip(outcomes) {
        // The submitter may have gone; what is stored stays stored.
        let _ = answer.send(outcome);
    }
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
    let submitted = queries::submit_group(&tx, &target.channel, group)
        .await
        .map_err(Failure::Statement)?;
    tx.commit().await.map_err(|e| Failure::Other(from_pg(e)))?;
    Ok(submitted)
}
