//! Submits stored in groups (see `group_commit`): a group is four round trips however many
//! submits it holds. Two submits that take the same lock (client token or resource) never
//! share a group: the later one, which must see the earlier one's row, waits for the next.

use std::sync::Arc;

use bpops_store::{Decide, NewOperation, Result, StoreError, StoreEvent, Submitted};
use bpops_time::Timestamp;
use deadpool_postgres::Pool;
use tokio::sync::broadcast;

use crate::group_commit::{GroupCommit, Member, each_alone};
use crate::queries::{self, Lock, Pending};
use crate::{from_pg, get};

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
    ) -> Submits {
        let target = Arc::new(Target {
            pool,
            channel,
            events,
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
    let submitted = queries::submit_group(&tx, &target.channel, group)
        .await
        .map_err(Failure::Statement)?;
    tx.commit().await.map_err(|e| Failure::Other(from_pg(e)))?;
    Ok(submitted)
}
