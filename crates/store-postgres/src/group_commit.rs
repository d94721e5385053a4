//! Group commit. Requests that arrive while earlier groups are being stored wait together and
//! share the next transaction: under load, many requests cost one commit and a few round
//! trips, while a lone request still starts at once. A group holds no two members with a key
//! in common: the later one waits for the next group, where it sees what the earlier stored.

use std::collections::HashSet;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use bpops_store::{Result, StoreError};
use futures_util::future::join_all;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// What a group is made of.
pub(crate) trait Member: Send + 'static {
    /// What two members of one group must not share.
    type Key: Eq + Hash;

    /// This member's keys.
    fn keys(&self) -> impl Iterator<Item = Self::Key>;
}

/// The queue of members waiting for a group, served by a task that forms the groups.
pub(crate) struct GroupCommit<M, T> {
    queue: mpsc::UnboundedSender<(M, oneshot::Sender<Result<T>>)>,
}

impl<M: Member, T: Send + 'static> GroupCommit<M, T> {
    /// Starts the task that forms groups of at most `max` members and has `store` store up
    /// to `in_flight` of them at once; `store` answers a group's members in their order. The
    /// task ends when this is dropped; groups already formed are still stored.
    pub(crate) fn start<F, Fut>(max: usize, in_flight: usize, store: F) -> GroupCommit<M, T>
    where
        F: Fn(Vec<M>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Result<T>>> + Send + 'static,
    {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(gather(waiting, max, in_flight, store));
        GroupCommit { queue }
    }

    /// Stores `member` in the next group it fits in and answers for it.
    pub(crate) async fn join(&self, member: M) -> Result<T> {
        let stopped = || StoreError::Unavailable("the store is shutting down".to_owned());
        let (answer, answered) = oneshot::channel();
        self.queue.send((member, answer)).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

async fn gather<M, T, F, Fut>(
    mut waiting: mpsc::UnboundedReceiver<(M, oneshot::Sender<Result<T>>)>,
    max: usize,
    in_flight: usize,
    store: F,
) where
    M: Member,
    T: Send + 'static,
    F: Fn(Vec<M>) -> Fut,
    Fut: Future<Output = Vec<Result<T>>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut held_over = None;
    loop {
        let first = match held_over.take() {
            Some(first) => first,
            None => match waiting.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let slot = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut keys: HashSet<M::Key> = first.0.keys().collect();
        let mut group = vec![first];
        while group.len() < max {
            let Ok(next) = waiting.try_recv() else {
                break;
            };
            if next.0.keys().any(|key| keys.contains(&key)) {
                held_over = Some(next);
                break;
            }
            keys.extend(next.0.keys());
            group.push(next);
        }
        let (members, answers): (Vec<M>, Vec<_>) = group.into_iter().unzip();
        let stored = store(members);
        tokio::spawn(async move {
            for (answer, outcome) in answers.into_iter().zip(stored.await) {
                // The requester may have gone; what is stored stays stored.
                let _ = answer.send(outcome);
            }
            drop(slot);
        });
    }
}

/// Stores each member of `group` alone, all at once, with `store`, which stores a group and
/// answers its members in order: after a group failed in a way one member may have caused,
/// that member then fails alone.
pub(crate) async fn each_alone<M, T, E, Fut>(
    group: Vec<M>,
    store: impl Fn(Vec<M>) -> Fut,
) -> Vec<std::result::Result<T, E>>
where
    Fut: Future<Output = std::result::Result<Vec<T>, E>>,
{
    join_all(group.into_iter().map(|one| store(vec![one])))
        .await
        .into_iter()
        .map(|outcome| outcome.map(|mut answers| answers.remove(0)))
        .collect()
}
