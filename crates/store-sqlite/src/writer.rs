//! A writer: a thread that owns a database's write connection (the operations' one, or the
//! nonces') and commits queued writes in groups. Writes that arrive while a commit is on its way to the disk wait together and
//! share the next transaction, so under load many writes cost one disk sync, while a lone
//! write still commits at once. Each write runs in a savepoint of the group's transaction:
//! one that fails rolls back alone, and none is answered before the group is durable.

use std::fs::File;
use std::sync::mpsc;
use std::thread::JoinHandle;

use bpops_store::{Result, StoreError};
use rusqlite::Connection;

use crate::from_sqlite;

/// The most writes committed together; bounds how long one transaction holds the database.
const MAX_GROUP: usize = 512;

/// Runs one write; returns what to answer once the group's fate is known.
type Job = Box<dyn FnOnce(&mut Connection) -> Answer + Send>;
/// Answers a write, given whether its group committed.
type Answer = Box<dyn FnOnce(Result<()>) + Send>;

pub(crate) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread. It also keeps `owner` (the database's process lock) until
    /// the connection is closed.
    pub(crate) fn start(conn: Connection, owner: File) -> Writer {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bpops-sqlite-writer".to_owned())
            .spawn(move || serve(conn, &queue, owner))
            .expect("the writer thread starts");
        Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Runs `write` in the next group and answers once that group is committed.
    pub(crate) async fn run<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = write(conn).map_err(from_sqlite);
            Box::new(move |committed: Result<()>| {
                let _ = answer.send(committed.and(outcome));
            })
        });
        let stopped = || StoreError::Other("the SQLite writer has stopped".to_owned());
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread; waiting for it closes the connection and frees
        // the process lock before anyone can open the database again.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut conn: Connection, queue: &mpsc::Receiver<Job>, _owner: File) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Outside a transaction each write's savepoint commits on its own: slower, and
            // just as correct.
            tracing::warn!(error = %e, "starting a group transaction failed; committing writes one by one");
            for job in group {
                job(&mut conn)(Ok(()));
            }
            continue;
        }
        let answers: Vec<Answer> = group.into_iter().map(|job| job(&mut conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(from_sqlite);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for answer in answers {
            answer(committed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn writer(dir: &tempfile::TempDir) -> (Writer, std::path::PathBuf) {
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        let owner = File::create(dir.path().join("w.lock")).unwrap();
        (Writer::start(conn, owner), path)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_rolls_back_alone_while_its_group_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path) = writer(&dir);
        let writer = Arc::new(writer);
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..200i64 {
            let writer = Arc::clone(&writer);
            writes.spawn(async move {
                let outcome = writer
                    .run(move |conn| {
                        let sp = conn.savepoint()?;
                        sp.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        if n % 10 == 3 {
                            // Fails after a first statement: that one must not survive.
                            sp.execute("INSERT INTO missing VALUES (1)", [])?;
                        }
                        sp.commit()
                    })
                    .await;
                (n, outcome.is_ok())
            });
        }
        for (n, ok) in writes.join_all().await {
            assert_eq!(ok, n % 10 != 3, "write {n}");
        }
        drop(writer);
        let conn = Connection::open(&path).unwrap();
        let (rows, failed): (i64, i64) = conn
            .query_row(
                "SELECT count(*), count(*) FILTER (WHERE n % 10 = 3) FROM t",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((rows, failed), (180, 0));
    }

    #[tokio::test]
    async fn a_write_after_the_writer_stopped_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, _) = writer(&dir);
        drop(writer.jobs.take());
        let outcome = writer
            .run(|conn| conn.execute("INSERT INTO t (n) VALUES (1)", []))
            .await;
        assert!(matches!(outcome, Err(StoreError::Other(_))), "{outcome:?}");
    }
}
