//! The journal's writer thread: group commit.
//!
//! Every write of the process is a job on one channel. The thread takes whatever jobs are
//! waiting, runs them in one `BEGIN IMMEDIATE` transaction (each inside its own savepoint, so
//! one job's error rolls back only its own writes), commits once — one fsync for the whole
//! batch — and only then tells each job's caller. Under load the batch grows by itself: while
//! one commit is being synced, the next batch queues up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;

use super::JournalError;

/// What a job hands back after running: called with the commit's result.
type Completion = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// A job: runs against the open transaction (or learns that it could not be opened) and
/// returns its completion when its result waits for the commit.
type Job = Box<dyn FnOnce(Result<&Connection, &JournalError>) -> Option<Completion> + Send>;

/// The most jobs in one transaction: bounds how long the write lock is held.
const MAX_BATCH: usize = 512;

pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// `catch_up` asks the writer to checkpoint the log's tail between two batches (set by
    /// the checkpoint thread; see [`super::checkpoints`]).
    pub(super) fn spawn(conn: Connection, catch_up: Arc<AtomicBool>) -> Writer {
        let (jobs, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || run(conn, &rx, &catch_up));
        if let Err(e) = spawned {
            // Without a thread every write fails with Closed, which callers report.
            tracing::error!(error = %e, "cannot start the journal writer thread");
        }
        Writer { jobs }
    }

    /// Queues `f`; `reply` gets its result once committed (or its error).
    pub(super) fn submit<T, F, R>(&self, f: F, reply: R) -> Result<(), JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        R: FnOnce(Result<T, JournalError>) + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    reply(Err(e.clone()));
                    return None;
                }
            };
            if let Err(e) = statement(conn, "SAVEPOINT job") {
                reply(Err(e.into()));
                return None;
            }
            match f(conn) {
                Ok(value) => match statement(conn, "RELEASE job") {
                    Ok(()) => Some(Box::new(move |committed: Result<(), JournalError>| {
                        reply(committed.map(|()| value));
                    })),
                    Err(e) => {
                        reply(Err(e.into()));
                        None
                    }
                },
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                    reply(Err(e.into()));
                    None
                }
            }
        });
        self.jobs.send(job).map_err(|_| JournalError::Closed)
    }
}

/// Runs a statement without parameters from the statement cache (every job runs two
/// savepoint statements: parsing them each time is measurable under load).
fn statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run(conn: Connection, rx: &mpsc::Receiver<Job>, catch_up: &AtomicBool) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
        // Between two batches nothing of this process is writing, so a passive checkpoint
        // here copies the few frames the checkpoint thread could not see, and the next
        // transaction starts the log over instead of growing it.
        if catch_up.swap(false, Ordering::Relaxed) {
            super::checkpoint(&conn);
        }
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    if let Err(e) = statement(conn, "BEGIN IMMEDIATE") {
        let e = JournalError::from(e);
        tracing::error!(error = %e, jobs = batch.len(), "cannot begin a journal transaction");
        for job in batch {
            let _ = job(Err(&e));
        }
        return;
    }
    let completions: Vec<Completion> = batch.into_iter().filter_map(|job| job(Ok(conn))).collect();
    let committed = statement(conn, "COMMIT").map_err(JournalError::from);
    if let Err(e) = &committed {
        tracing::error!(error = %e, "journal commit failed; rolling back");
        let _ = conn.execute_batch("ROLLBACK");
    }
    for done in completions {
        done(committed.clone());
    }
}
