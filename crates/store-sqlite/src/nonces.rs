//! Spent signature nonces. One process owns the database, so a table in its memory decides
//! which spends are new; each new spend is also appended to a log on disk, read back into the
//! table at open, so that spends outlive a restart for their whole window.
//!
//! The log is a file of its own (`<database>.nonces`) with a writer thread of its own, so
//! spends, one per signed request, never queue behind operations nor hold their write lock;
//! spends that arrive together share one transaction (group commit, see `writer`). It is
//! append-only in spend order, without an index, so a commit writes a page or two at its end
//! whatever the number of nonces, and expired spends are deleted from its head.
//!
//! Durability: `synchronous = NORMAL` in WAL mode. A commit is in the WAL file, in the
//! operating system's page cache, before its spend is answered, so spent nonces survive the
//! process dying (even `kill -9`), but a commit does not wait for the disk (only checkpoints
//! do, once per thousand pages written): a power loss or an OS crash may lose the spends since
//! the last one, and a request captured before could then be replayed once within its window,
//! which the clock check still bounds. That keeps a disk sync off every signed request;
//! operations keep `synchronous = FULL`. PostgreSQL's nonces make the same trade
//! (`synchronous_commit = off`).

use std::path::Path;

use bpops_store::nonces::{NonceCheck, NonceSpend, Nonces};
use bpops_store::{Result, nonce_expired};
use bpops_time::Timestamp;
use rusqlite::Connection;

use crate::from_sqlite;
use crate::writer::Writer;

/// The oldest spends, which each spend looks at to delete the expired ones: eight. N.B. a
/// literal limit: with a bound one SQLite prepares the statement again at every spend.
const OLDEST_SPENDS: &str = "SELECT rowid, expires_at FROM spent_nonces ORDER BY rowid LIMIT 8";

pub(crate) struct SpentNonces {
    table: Nonces,
    log: Writer,
}

impl SpentNonces {
    /// Opens (creating if needed) the log beside the database at `database` and reads it.
    /// `owner` is the database's process lock, held until the log is closed too.
    pub(crate) fn open(database: &Path, owner: std::fs::File) -> Result<SpentNonces> {
        let mut path = database.as_os_str().to_owned();
        path.push(".nonces");
        let table = Nonces::new(usize::MAX);
        let conn = read_log(Path::new(&path), &table).map_err(from_sqlite)?;
        Ok(SpentNonces {
            table,
            log: Writer::start(conn, owner),
        })
    }

    /// See `Store::spend_nonce`.
    pub(crate) async fn spend(&self, spend: &NonceSpend<'_>, now: Timestamp) -> Result<bool> {
        if self.table.check_and_remember(spend, now) == NonceCheck::Replayed {
            return Ok(false);
        }
        let expires_at = spend.expires_at;
        let (access_key_id, nonce) = (spend.access_key_id.to_owned(), spend.nonce.to_owned());
        self.log
            .run(move |conn| append(conn, &access_key_id, &nonce, now, expires_at))
            .await?;
        Ok(true)
    }
}

/// Opens the log and remembers every spend in it in `table`.
fn read_log(path: &Path, table: &Nonces) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A file of its own, versioned by itself: it holds nothing older than about one window.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS spent_nonces (
             access_key_id TEXT    NOT NULL,
             nonce         TEXT    NOT NULL,
             expires_at    INTEGER NOT NULL
         )",
    )?;
    let mut spends = conn.prepare("SELECT access_key_id, nonce, expires_at FROM spent_nonces")?;
    let mut rows = spends.query([])?;
    while let Some(row) = rows.next()? {
        let (key, nonce): (String, String) = (row.get(0)?, row.get(1)?);
        // Expired ones are forgotten by the first spend of their key.
        let expires_at = Timestamp::from_millis(row.get(2)?);
        table.check_and_remember(&NonceSpend::new(&key, &nonce, expires_at), Timestamp::MIN);
    }
    drop(rows);
    drop(spends);
    Ok(conn)
}

/// Appends a spend, and deletes the expired ones at the head of the log. The head is in spend
/// order, not quite expiry order (a request may be dated up to one skew ahead), so a spend
/// still unexpired there holds back those behind it: the log keeps at most about two windows.
fn append(
    conn: &mut Connection,
    access_key_id: &str,
    nonce: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO spent_nonces (access_key_id, nonce, expires_at) VALUES (?1, ?2, ?3)",
    )?
    .execute((access_key_id, nonce, expires_at.as_millis()))?;
    let head: Vec<(i64, Timestamp)> = conn
        .prepare_cached(OLDEST_SPENDS)?
        .query_map([], |row| {
            Ok((row.get(0)?, Timestamp::from_millis(row.get(1)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let expired = head
        .iter()
        .take_while(|(_, expires_at)| nonce_expired(*expires_at, now))
        .last();
    if let Some((last, _)) = expired {
        conn.prepare_cached("DELETE FROM spent_nonces WHERE rowid <= ?1")?
            .execute([last])?;
    }
    Ok(())
}
