//! Signature nonces spent in groups (see `group_commit`): one statement for a group, on
//! connections whose commits do not wait for the disk. Every authenticated request spends
//! one, and a spend lost with a database crash only reopens a replay window that the clock
//! check still bounds; conflicts with other nodes' spends are decided all the same.

use std::collections::HashSet;

use bpops_store::{Result, StoreError};
use bpops_time::Timestamp;
use deadpool_postgres::Pool;

use crate::group_commit::{GroupCommit, Member, each_alone};
use crate::{from_pg, get};

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

/// Spends `spends` in one statement: whether each was new. No two of them name the same
/// nonce of the same key.
async fn spend_together(pool: &Pool, spends: &[Spend]) -> Result<Vec<bool>> {
    let client = get(pool).await?;
    // Each spend also forgets a few expired nonces (`expires_at < now`, as
    // `bpops_store::nonce_expired` says), so the table holds about one window of traffic
    // without a janitor; SKIP LOCKED keeps concurrent spends from queueing on them. Not those
    // of this statement: a nonce spent again once expired takes its row over instead
    // (`DO UPDATE … WHERE`), since its row may still be there.
    // N.B. the ORDER BY makes it an index scan that stops at the first unexpired nonce:
    // without it the planner may scan the whole table on every spend.
    let stmt = client
        .prepare_cached(
            "WITH spends AS (
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                     AS s (access_key_id, nonce, expires_at)),
             forgotten AS (
                 DELETE FROM signature_nonces WHERE (access_key_id, nonce) IN (
                     SELECT access_key_id, nonce FROM signature_nonces
                     WHERE expires_at < $4
                       AND (access_key_id, nonce) NOT IN (SELECT access_key_id, nonce FROM spends)
                     ORDER BY expires_at LIMIT $5
                     FOR UPDATE SKIP LOCKED))
             INSERT INTO signature_nonces (access_key_id, nonce, expires_at)
             SELECT * FROM spends
             ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
                 WHERE signature_nonces.expires_at < $4
             RETURNING access_key_id, nonce",
        )
        .await
        .map_err(from_pg)?;
    let keys: Vec<&str> = spends.iter().map(|s| s.access_key_id.as_str()).collect();
    let nonces: Vec<&str> = spends.iter().map(|s| s.nonce.as_str()).collect();
    let expiries: Vec<i64> = spends.iter().map(|s| s.expires_at.as_millis()).collect();
    // The group's earliest clock: no spend of it finds a nonce expired before its own clock
    // says so.
    let now = spends.iter().map(|s| s.now).min().unwrap_or_default();
    let forget = 8 * spends.len() as i64;
    let rows = client
        .query(
            &stmt,
            &[&keys, &nonces, &expiries, &now.as_millis(), &forget],
        )
        .await
        .map_err(from_pg)?;
    let spent: HashSet<(&str, &str)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    Ok(spends
        .iter()
        .map(|s| spent.contains(&(s.access_key_id.as_str(), s.nonce.as_str())))
        .collect())
}
