//! The SQL of operation histories: appending an event in the caller's transaction (with the
//! webhook deliveries it makes, see `outbox`), the first events of a whole group of submits
//! in one statement, and reading a page of them.

use bpops_store::{
    Event, HistoryEvent, HistoryPage, HistoryQuery, Notifications, Result, StoreError,
};
use bpops_time::Timestamp;
use deadpool_postgres::{GenericClient, Object};
use tokio_postgres::Statement;

use crate::{from_pg, outbox};

/// Appends `event` at `at` to the history of operation `id`, in the caller's transaction,
/// as the next position, with the deliveries `notifications` want of it; nothing when the
/// history holds [`Event::limit`] events already.
pub(crate) async fn append(
    client: &impl GenericClient,
    notifications: Option<&Notifications>,
    id: &str,
    at: Timestamp,
    event: &Event,
) -> Result<()> {
    // N.B. every caller has written the operation's row first in this transaction, and
    // holds its lock until the commit: no other event of it can take the same position.
    let stmt = client
        .prepare_cached(
            "INSERT INTO operation_events (operation_seq, seq, at, kind, detail)
             SELECT o.seq, COALESCE(MAX(e.seq), 0) + 1, $2::bigint, $3::text, $4::text
             FROM operations o LEFT JOIN operation_events e ON e.operation_seq = o.seq
             WHERE o.id = $1::text
             GROUP BY o.seq
             HAVING COALESCE(MAX(e.seq), 0) < $5::bigint",
        )
        .await
        .map_err(from_pg)?;
    let appended = client
        .execute(
            &stmt,
            &[
                &id,
                &at.as_millis(),
                &event.kind(),
                &event.encode(),
                &event.limit(),
            ],
        )
        .await
        .map_err(from_pg)?;
    if appended > 0 {
        outbox::enqueue(client, notifications, id, at, event).await?;
    }
    Ok(())
}

/// The statement of [`start`], prepared with the others of a group of submits.
pub(crate) async fn prepare_start(client: &impl GenericClient) -> Result<Statement> {
    client
        .prepare_cached(
            "INSERT INTO operation_events (operation_seq, seq, at, kind, detail)
             SELECT o.seq, n.seq, n.at, n.kind, n.detail
             FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[])
                 AS n (id, seq, at, kind, detail)
             JOIN operations o ON o.id = n.id",
        )
        .await
        .map_err(from_pg)
}

/// Writes the first events of new operations' histories (each list from position 1), all in
/// one statement, through `stmt` from [`prepare_start`]. N.B. sent after the operations'
/// rows, in the same transaction: it finds their `seq` by id.
pub(crate) async fn start<'a>(
    client: &impl GenericClient,
    stmt: &Statement,
    histories: impl Iterator<Item = (&'a str, Vec<(Timestamp, Event)>)>,
) -> Result<()> {
    let (mut ids, mut seqs, mut ats, mut kinds, mut details) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, events) in histories {
        for (seq, (at, event)) in (1i32..).zip(events) {
            ids.push(id);
            seqs.push(seq);
            ats.push(at.as_millis());
            kinds.push(event.kind());
            details.push(event.encode());
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    client
        .execute(stmt, &[&ids, &seqs, &ats, &kinds, &details])
        .await
        .map_err(from_pg)?;
    Ok(())
}

pub(crate) async fn page(client: &Object, query: &HistoryQuery) -> Result<HistoryPage> {
    let stmt = client
        .prepare_cached(
            "SELECT e.seq, e.at, e.detail
             FROM operations o JOIN operation_events e ON e.operation_seq = o.seq
             WHERE o.id = $1 AND o.account = $2 AND e.seq > $3
             ORDER BY e.seq LIMIT $4",
        )
        .await
        .map_err(from_pg)?;
    let after = i32::try_from(query.after).unwrap_or(i32::MAX);
    let rows = client
        .query(
            &stmt,
            &[
                &query.id.as_str(),
                &query.account.as_str(),
                &after,
                &query.rows_to_fetch(),
            ],
        )
        .await
        .map_err(from_pg)?;
    let events = rows
        .iter()
        .map(|row| {
            let seq: i32 = row.try_get(0).map_err(from_pg)?;
            let detail: &str = row.try_get(2).map_err(from_pg)?;
            Ok(HistoryEvent {
                seq: u32::try_from(seq)
                    .map_err(|_| StoreError::Corrupt(format!("event position {seq}")))?,
                at: Timestamp::from_millis(row.try_get(1).map_err(from_pg)?),
                event: Event::decode(detail).map_err(StoreError::Corrupt)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(HistoryPage::from_rows(query, events))
}
