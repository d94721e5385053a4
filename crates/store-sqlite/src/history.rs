//! The SQL of operation histories: appending an event in the caller's transaction (with the
//! webhook deliveries it makes, see `outbox`), and reading a page of them.

use bpops_store::{Event, HistoryEvent, HistoryPage, HistoryQuery, Notifications};
use bpops_time::Timestamp;
use rusqlite::{Connection, params};

use crate::outbox::{self, Key};
use crate::queries::corrupt;

/// Appends `event` at `at` to the history of operation `id`, in the caller's transaction,
/// as the next position, with the deliveries `notifications` want of it; nothing when the
/// history holds [`Event::limit`] events already.
pub(crate) fn append(
    conn: &Connection,
    notifications: Option<&Notifications>,
    id: &str,
    at: Timestamp,
    event: &Event,
) -> rusqlite::Result<()> {
    // N.B. one writer writes at a time, so no other event of this operation can take the
    // same position.
    let appended = conn
        .prepare_cached(
            "INSERT INTO operation_events (operation_seq, seq, at, kind, detail)
         SELECT o.seq, COALESCE(MAX(e.seq), 0) + 1, ?2, ?3, ?4
         FROM operations o LEFT JOIN operation_events e ON e.operation_seq = o.seq
         WHERE o.id = ?1
         GROUP BY o.seq
         HAVING COALESCE(MAX(e.seq), 0) < ?5",
        )?
        .execute(params![
            id,
            at.as_millis(),
            event.kind(),
            event.encode(),
            event.limit()
        ])?;
    if appended > 0 {
        outbox::enqueue(conn, notifications, Key::Id(id), &[(at, event)])?;
    }
    Ok(())
}

/// Writes the first events of the history of the operation stored as `operation_seq`, from
/// position 1, with the deliveries `notifications` want of them.
pub(crate) fn start(
    conn: &Connection,
    notifications: Option<&Notifications>,
    operation_seq: i64,
    events: &[(Timestamp, Event)],
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO operation_events (operation_seq, seq, at, kind, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (seq, (at, event)) in (1i64..).zip(events) {
        insert.execute(params![
            operation_seq,
            seq,
            at.as_millis(),
            event.kind(),
            event.encode()
        ])?;
    }
    let events: Vec<_> = events.iter().map(|(at, event)| (*at, event)).collect();
    outbox::enqueue(conn, notifications, Key::Seq(operation_seq), &events)
}

/// Deletes the histories of swept operations (their `seq`s), in the sweep's transaction.
pub(crate) fn delete(conn: &Connection, operation_seqs: &[i64]) -> rusqlite::Result<()> {
    let mut delete =
        conn.prepare_cached("DELETE FROM operation_events WHERE operation_seq = ?1")?;
    for operation_seq in operation_seqs {
        delete.execute([operation_seq])?;
    }
    Ok(())
}

pub(crate) fn page(conn: &Connection, query: &HistoryQuery) -> rusqlite::Result<HistoryPage> {
    let events = conn
        .prepare_cached(
            "SELECT e.seq, e.at, e.detail
             FROM operations o JOIN operation_events e ON e.operation_seq = o.seq
             WHERE o.id = ?1 AND o.account = ?2 AND e.seq > ?3
             ORDER BY e.seq LIMIT ?4",
        )?
        .query_map(
            params![
                query.id.as_str(),
                query.account.as_str(),
                query.after,
                query.rows_to_fetch()
            ],
            |row| {
                let detail: String = row.get(2)?;
                Ok(HistoryEvent {
                    seq: row.get(0)?,
                    at: Timestamp::from_millis(row.get(1)?),
                    event: Event::decode(&detail).map_err(|why| corrupt(2, why))?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(HistoryPage::from_rows(query, events))
}
