//! Durable state in one SQLite file that both processes open at the same time.
//!
//! gmail-listener records what it built (so a re-sent `newchange` mail builds nothing) and the
//! Jenkins queue id of every build it triggered (so build-listener can find the change a clean
//! build was for); it also remembers comments it already answered. build-listener keeps its
//! accepted callbacks and pending reviews here ([`crate::outbox`]).
//!
//! WAL mode lets one process read while the other writes; the busy timeout makes a writer wait
//! for the other's short transactions instead of failing. Calls run on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

/// A state database error.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot open state database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state database task failed: {0}")]
    Task(String),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS built (
    change_key TEXT NOT NULL,
    patch_set INTEGER NOT NULL,
    job TEXT NOT NULL,
    queue_id INTEGER,
    at INTEGER NOT NULL,
    PRIMARY KEY (change_key, patch_set, job)
);
CREATE TABLE IF NOT EXISTS triggered (
    queue_id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    change_key TEXT NOT NULL,
    patch_set INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS answered (
    mail_key TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
";

/// A handle to the state database; cheap to clone.
#[derive(Clone)]
pub struct State {
    conn: Arc<Mutex<Connection>>,
}

/// One build gmail-listener triggered, as build-listener looks it up by queue id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggered {
    pub queue_id: u64,
    pub job: String,
    /// The plain change id (`project~number`) the build was for.
    pub change_key: String,
    pub patch_set: u32,
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl State {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<State, StateError> {
        let open_err = |source| StateError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        conn.execute_batch(crate::outbox::SCHEMA)
            .map_err(open_err)?;
        Ok(State {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StateError::Task(e.to_string()))?
        .map_err(StateError::from)
    }

    /// The jobs already built for this patch set of this change.
    pub async fn built_jobs(
        &self,
        change_key: &str,
        patch_set: u32,
    ) -> Result<Vec<String>, StateError> {
        let key = change_key.to_string();
        self.call(move |c| {
            let mut st =
                c.prepare_cached("SELECT job FROM built WHERE change_key = ?1 AND patch_set = ?2")?;
            let rows = st.query_map(params![key, patch_set], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    /// Records a triggered build: the patch set counts as built for `job`, and the queue id
    /// (when Jenkins gave one) maps back to the change.
    pub async fn record_build(
        &self,
        change_key: &str,
        patch_set: u32,
        job: &str,
        queue_id: Option<u64>,
    ) -> Result<(), StateError> {
        let (key, job) = (change_key.to_string(), job.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            let now = now_secs();
            tx.execute(
                "INSERT INTO built (change_key, patch_set, job, queue_id, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (change_key, patch_set, job) DO UPDATE SET queue_id = ?4, at = ?5",
                params![key, patch_set, job, queue_id.map(|q| q as i64), now],
            )?;
            if let Some(q) = queue_id {
                tx.execute(
                    "INSERT OR REPLACE INTO triggered (queue_id, job, change_key, patch_set, at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![q as i64, job, key, patch_set, now],
                )?;
            }
            tx.commit()
        })
        .await
    }

    /// Records a build that must not count as "already built" (a clean): only the queue id.
    pub async fn record_triggered(&self, t: Triggered) -> Result<(), StateError> {
        self.call(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO triggered (queue_id, job, change_key, patch_set, at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    t.queue_id as i64,
                    t.job,
                    t.change_key,
                    t.patch_set,
                    now_secs()
                ],
            )
            .map(|_| ())
        })
        .await
    }

    /// The build gmail-listener triggered with this Jenkins queue item id, if any.
    pub async fn triggered(&self, queue_id: u64) -> Result<Option<Triggered>, StateError> {
        self.call(move |c| {
            c.query_row(
                "SELECT job, change_key, patch_set FROM triggered WHERE queue_id = ?1",
                params![queue_id as i64],
                |r| {
                    Ok(Triggered {
                        queue_id,
                        job: r.get(0)?,
                        change_key: r.get(1)?,
                        patch_set: r.get(2)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// Marks a mail-derived action as done once (e.g. the unknown-command reply for one
    /// comment). Returns false when it was already marked.
    pub async fn mark_answered(&self, mail_key: &str) -> Result<bool, StateError> {
        let key = mail_key.to_string();
        self.call(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO answered (mail_key, at) VALUES (?1, ?2)",
                params![key, now_secs()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    /// Whether [`State::mark_answered`] was already called for this key.
    pub async fn is_answered(&self, mail_key: &str) -> Result<bool, StateError> {
        let key = mail_key.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT 1 FROM answered WHERE mail_key = ?1",
                params![key],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_are_remembered_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = State::open(&path).unwrap();
        s.record_build("platform/bionic~1", 2, "bionic-presubmit", Some(77))
            .await
            .unwrap();
        drop(s);
        let s = State::open(&path).unwrap();
        assert_eq!(
            s.built_jobs("platform/bionic~1", 2).await.unwrap(),
            vec!["bionic-presubmit"]
        );
        assert!(
            s.built_jobs("platform/bionic~1", 3)
                .await
                .unwrap()
                .is_empty()
        );
        let t = s.triggered(77).await.unwrap().unwrap();
        assert_eq!(t.change_key, "platform/bionic~1");
        assert_eq!(s.triggered(78).await.unwrap(), None);
    }

    #[tokio::test]
    async fn answering_is_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(&dir.path().join("s.db")).unwrap();
        assert!(!s.is_answered("m1").await.unwrap());
        assert!(s.mark_answered("m1").await.unwrap());
        assert!(!s.mark_answered("m1").await.unwrap());
        assert!(s.is_answered("m1").await.unwrap());
    }

    #[tokio::test]
    async fn two_handles_share_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let a = State::open(&path).unwrap();
        let b = State::open(&path).unwrap();
        a.record_triggered(Triggered {
            queue_id: 5,
            job: "clean".into(),
            change_key: "p~1".into(),
            patch_set: 1,
        })
        .await
        .unwrap();
        assert_eq!(b.triggered(5).await.unwrap().unwrap().job, "clean");
    }
}
