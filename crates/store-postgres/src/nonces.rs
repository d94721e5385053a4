//! Signature nonces spent in groups (see `group_commit`): one statement for a group, on
//! connections whose commits do not wait for the disk.

use bpops_store::{Result, StoreError};
use bpops_time::Timestamp;
use deadpool_postgres::Pool;

use crate::group_commit::{GroupCommit, Member, each_alone};
use crate::{get, queries};

/// The most spends in one statement.
const MAX_GROUP: usize = 256;

/// Statements running at once, each on its own connection.
const IN_FLIGHT: usize = 2;

/// A nonce to spend: see `Store::spend_nonce`.
pub(crate) struct Spend {
    pub(crate) access_key_id: String,
    pub(crate) nonce: String,
    pub(crate) now: Timestamp,
    pub(crate) expires_at: Timestamp,
}

impl Member for Spend {
    type Key = (String, String);

    /// The same nonce twice in one statement would be new twice: the second waits.
    fn keys(&self) -> impl Iterator<Item = (String, String)> {
        std::iter::once((self.access_key_id.clone(), self.nonce.clone()))
    }
}

/// Spends waiting for their group.
pub(crate) struct Nonces {
    group_commit: GroupCommit<Spend, bool>,
}

impl Nonces {
    /// Starts gathering spends into groups, stored through `pool`; that ends when this is
    /// dropped.
    pub(crate) fn start(pool: Pool) -> Nonces {
        let group_commit = GroupCommit::start(MAX_GROUP, IN_FLIGHT, move |group| {
            let pool = pool.clone();
            async move { spend(&pool, group).await }
        });
        Nonces { group_commit }
    }

    /// Whether `spend` was new, once its group is stored.
    pub(crate) async fn spend(&self, spend: Spend) -> Result<bool> {
        self.group_commit.join(spend).await
    }
}

/// Spends a group. When PostgreSQL refuses its statement (nothing is spent), each spend
/// again alone, so that one bad nonce (a text it cannot store, say) fails alone; not when
/// the connection failed, since the statement may have committed, and spending again would
/// call a first use a replay.
async fn spend(pool: &Pool, group: Vec<Spend>) -> Vec<Result<bool>> {
    match spend_together(pool, &group).await {
        Ok(spent) => spent.into_iter().map(Ok).collect(),
        Err(StoreError::Other(_)) if group.len() > 1 => {
            each_alone(group, |one| async move { spend_together(pool, &one).await }).await
        }
        Err(e) => vec![Err(e); group.len()],
    }
}

async fn spend_together(pool: &Pool, group: &[Spend]) -> Result<Vec<bool>> {
    queries::spend_nonces(&get(pool).await?, group).await
}
