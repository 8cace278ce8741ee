//! The journal: everything bionicbb remembers, in the one SQLite file (`[state] path`) both
//! processes open at the same time, and the only module that speaks SQL.
//!
//! What it holds: *intents* (every effect on the outside world, recorded under a stable key
//! before it is attempted, with its outcome after: [`intents`]; which owner carries each out,
//! under a lease: [`claims`]), *events* (what either process did, the one record console lines,
//! the API and the board are rendered from: [`events`]), the *builds* the bot triggered and what
//! Jenkins said about them ([`builds`]), the phases of Jenkins callbacks
//! ([`callbacks`]), mail attempts ([`mails`]) and small cursors.
//!
//! Why it is shaped like this:
//! - Every write goes through one writer thread per process that batches whatever is waiting
//!   into one `BEGIN IMMEDIATE` transaction and commits it with a full `fsync` (group commit):
//!   an acknowledged callback survives a power cut, and 32 concurrent callbacks cost one fsync,
//!   not 32. `IMMEDIATE` takes the write lock up front, so a read-then-write transaction of one
//!   process can never fail with `SQLITE_BUSY_SNAPSHOT` because the other process wrote in
//!   between; it waits (busy timeout) instead.
//! - Reads use a second connection: WAL lets them run beside the writer and the other process.
//! - The schema is versioned with `PRAGMA user_version` and numbered migrations
//!   ([`migrations`]); a database made by an earlier release is migrated, never rejected.
//! - One clock: every time is milliseconds since the Unix epoch ([`now_ms`]).
//! - The file (and SQLite's `-wal`/`-shm` files, which copy its mode) is created 0600.

mod as_of;
pub mod builds;
pub mod callbacks;
pub mod claims;
pub mod events;
pub mod intents;
pub mod mails;
mod migrations;
mod record;
mod retention;
pub mod views;
mod writer;

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

pub use builds::{BuildKind, BuildRow, BuildStatus, NewBuild, Sibling};
pub use callbacks::{Accepted, CallbackPhase, OnFinish};
pub use claims::Claim;
pub use events::{Event, EventKind, NewEvent};
pub use intents::{Effected, Finish, Intent, IntentKind, IntentState, MovedTo, NewIntent, Owner};
pub use mails::MailAttempts;
pub use migrations::LATEST_VERSION;
pub use record::{BuildUpdate, Planned, Recorded};
pub use retention::Pruned;
pub use views::{BuildView, ChangeView, CounterRow, PatchSetView, WaitingRow};

/// How long a writer waits for the other process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A journal failure. Cloneable, because one failed group commit fails every write in it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JournalError {
    #[error("state database: {0}")]
    Sqlite(String),
    #[error("cannot open state database {path}: {message}")]
    Open { path: String, message: String },
    #[error(
        "state database {path} has schema version {found}, newer than this release knows \
         ({known}): run the newer release, or restore a backup"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("state database writer stopped")]
    Closed,
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError::Sqlite(e.to_string())
    }
}

/// Milliseconds since the Unix epoch: the journal's one clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the epoch (the journal's clock) as RFC 3339 UTC, e.g.
/// `2026-11-26T02:46:11.123Z`; a time before the epoch is the epoch.
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// A handle to the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    writer: writer::Writer,
    reader: Mutex<Connection>,
    path: PathBuf,
    /// Which process appends events through this handle.
    process: String,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Journal {
    /// Opens (creating it 0600 if needed) the database at `path` and migrates its schema;
    /// `process` names the events this handle appends (`gmail-listener`, `build-listener`).
    pub fn open(path: &Path, process: &str) -> Result<Journal, JournalError> {
        let open_err = |message: String| JournalError::Open {
            path: path.display().to_string(),
            message,
        };
        make_private(path).map_err(|e| open_err(e.to_string()))?;
        let mut conn = connect(path).map_err(|e| open_err(e.to_string()))?;
        migrations::run(&mut conn, path)?;
        let reader = connect(path).map_err(|e| open_err(e.to_string()))?;
        // Checkpoints run beside the writer (see `checkpoints`), not inside its commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| open_err(e.to_string()))?;
        let checkpointer = connect(path).map_err(|e| open_err(e.to_string()))?;
        let catch_up = Arc::new(AtomicBool::new(false));
        let inner = Arc::new(Inner {
            writer: writer::Writer::spawn(conn, catch_up.clone()),
            reader: Mutex::new(reader),
            path: path.to_path_buf(),
            process: process.to_string(),
        });
        let weak = Arc::downgrade(&inner);
        if let Err(e) = std::thread::Builder::new()
            .name("journal-checkpoint".into())
            .spawn(move || checkpoints(&checkpointer, &weak, &catch_up))
        {
            tracing::warn!(error = %e, "cannot start the journal checkpoint thread");
        }
        Ok(Journal { inner })
    }

    /// The file this journal lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The process name events appended through this handle carry.
    pub fn process(&self) -> &str {
        &self.inner.process
    }

    /// Runs `f` in the next group-committed `BEGIN IMMEDIATE` transaction, inside its own
    /// savepoint (an error rolls back only `f`'s writes), and returns once the commit is on disk.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.writer.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| JournalError::Closed)?
    }

    /// Runs a read on the reader connection, on tokio's blocking pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.read_now(f))
            .await
            .map_err(|e| JournalError::Sqlite(format!("read task failed: {e}")))?
    }

    /// A small cursor value (`name` -> text), e.g. the reconcile pass's last time.
    pub async fn cursor(&self, name: &str) -> Result<Option<String>, JournalError> {
        Ok(self.cursor_with_time(name).await?.map(|(value, _)| value))
    }

    /// A cursor's value and when it was last set (ms).
    pub async fn cursor_with_time(
        &self,
        name: &str,
    ) -> Result<Option<(String, i64)>, JournalError> {
        let name = name.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT value, updated FROM cursors WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
        .await
    }

    /// Sets a cursor value.
    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<(), JournalError> {
        let (name, value) = (name.to_string(), value.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO cursors (name, value, updated) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = ?2, updated = ?3",
                params![name, value, now_ms()],
            )
            .map(|_| ())
        })
        .await
    }
}

/// Checks, without creating, migrating or changing anything, that the database at `path` can
/// be opened for writing: `Ok(None)` when it does not exist yet but its folder does (the first
/// start creates it), else its schema version. A transaction that creates a table and is
/// rolled back proves the write permission and the lock.
pub fn check_file(path: &Path) -> Result<Option<i64>, JournalError> {
    let open_err = |message: String| JournalError::Open {
        path: path.display().to_string(),
        message,
    };
    if !path.exists() {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return if dir.is_dir() {
            Ok(None)
        } else {
            Err(open_err(format!("folder {} does not exist", dir.display())))
        };
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| open_err(e.to_string()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > LATEST_VERSION {
        return Err(JournalError::TooNew {
            path: path.display().to_string(),
            found: version,
            known: LATEST_VERSION,
        });
    }
    conn.execute_batch("BEGIN IMMEDIATE; CREATE TABLE bionicbb_check (x INTEGER); ROLLBACK;")
        .map_err(|e| open_err(e.to_string()))?;
    Ok(Some(version))
}

impl Inner {
    fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let conn = self
            .reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&conn).map_err(JournalError::from)
    }
}

/// Copies the write-ahead log back into the database every [`CHECKPOINT_EVERY`] while the
/// journal is open. A passive checkpoint never blocks the writer, so a commit never waits for
/// one (SQLite's automatic checkpoint runs inside the commit that crosses 1,000 pages).
///
/// SQLite starts the log over only when a write transaction begins with every frame copied
/// back; under steady load new frames always arrive while a checkpoint runs, so the log would
/// grow for as long as the load lasts (hundreds of MB in a minute of callbacks, and every
/// page lookup slower). When the log is still long after a pass, the writer is asked to copy
/// the rest between two of its batches ([`writer`]).
fn checkpoints(conn: &Connection, journal: &std::sync::Weak<Inner>, catch_up: &AtomicBool) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if journal.strong_count() == 0 {
            return;
        }
        if checkpoint(conn).is_some_and(|frames| frames >= RESTART_FRAMES) {
            catch_up.store(true, Ordering::Relaxed);
        }
    }
}

/// A passive checkpoint; returns how many frames the log holds (None if it failed: logged).
fn checkpoint(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .inspect_err(|e| tracing::warn!(error = %e, "journal checkpoint failed"))
        .ok()
}

/// A log this long after a checkpoint pass (2 MB of 2 KiB pages) is not being started over.
const RESTART_FRAMES: i64 = 1_000;

/// How often the write-ahead log is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// One connection with the settings every connection needs: WAL (a reader never blocks the
/// writer), `synchronous = FULL` (each commit is fsynced: durable across a power cut, and the
/// group commit keeps it cheap), a busy timeout for the other process's transactions.
fn connect(path: &Path) -> Result<Connection, JournalError> {
    let conn = Connection::open(path)?;
    // 2 KiB pages for a new database (an existing one keeps its size): most of a commit's pages
    // carry one changed index entry or counter, and every changed page is written whole to the
    // log and again by the checkpoint. Halving them cut build-listener's disk writes under a
    // burst of callbacks from about 110 to 75 MB/s; an intent's row (about 700 bytes) still
    // fits in a page.
    conn.pragma_update(None, "page_size", 2048)?;
    // Room for every statement of the hot paths: a statement on a table with triggers
    // compiles them too, so preparing it once per connection matters.
    conn.set_prepared_statement_cache_capacity(64);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Up to 16 MiB of pages per connection (SQLite's default is 2 MiB): a busy build-listener
    // otherwise reads the same index pages from the OS on every callback. Only pages used
    // are allocated, so an idle process stays small.
    conn.pragma_update(None, "cache_size", -16_384)?;
    // A log that grew under a burst is cut back to 64 MiB when it starts over.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // Savepoint (statement) journals in memory rather than in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The query planner stability guarantee: a plan never depends on a bound value. Without
    // it SQLite recompiles a cached statement whenever a `LIMIT ?` (claims, pages) gets a new
    // value, which cost a busy build-listener 5% of its CPU in the parser.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// Creates the database file 0600, or tightens an existing one (an earlier release made it
/// 0644). SQLite gives its `-wal` and `-shm` files the database's mode; existing ones are
/// tightened too.
fn make_private(path: &Path) -> std::io::Result<()> {
    if !path.exists() {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if let Ok(meta) = std::fs::metadata(&p)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Runs `sql` on the file at `path` without migrating it: for tests that build a database the
/// way an earlier release left it.
#[doc(hidden)]
pub fn raw_sql_for_tests(path: &Path, sql: &str) -> Result<(), JournalError> {
    Connection::open(path)?.execute_batch(sql)?;
    Ok(())
}
