//! Intents: every effect on the outside world, recorded under a stable key before it is
//! attempted, with its outcome after (SPEC §12).
//!
//! Life of an intent: `pending` → claimed by one owner (`running`, with a lease the owner
//! renews) → `done` or `failed`, or back to `pending` to be retried. A key that already has an
//! intent is never recorded twice, so two processes deciding the same effect act once.
//! This file records intents and their outcomes; [`super::claims`] hands them to owners.

use rusqlite::{Connection, OptionalExtension, Row, params};

pub use crate::record::{IntentKind, NewIntent};

use crate::key::IntentKey;

use super::{Journal, JournalError, now_ms};

/// Where an intent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentState {
    Pending,
    Running,
    Done,
    Failed,
}

impl IntentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentState::Pending => "pending",
            IntentState::Running => "running",
            IntentState::Done => "done",
            IntentState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> IntentState {
        match s {
            "running" => IntentState::Running,
            "done" => IntentState::Done,
            "failed" => IntentState::Failed,
            _ => IntentState::Pending,
        }
    }
}

/// An intent as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: i64,
    pub key: IntentKey,
    pub kind: IntentKind,
    pub change: Option<String>,
    pub patch_set: Option<u32>,
    pub order_key: Option<String>,
    pub payload: String,
    pub source: String,
    pub state: IntentState,
    pub owner: Option<String>,
    pub attempts: u32,
    /// A previous attempt may have taken effect without its outcome being recorded.
    pub doubt: bool,
    pub last_error: Option<String>,
    pub outcome: Option<String>,
    pub created: i64,
    pub updated: i64,
}

pub(super) const COLUMNS: &str = "id, key, kind, change, patch_set, order_key, payload, source, state, \
                       owner, attempts, doubt, last_error, outcome, created, updated";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Intent> {
    Ok(Intent {
        id: r.get(0)?,
        key: IntentKey::read(&r.get::<_, String>(1)?),
        kind: IntentKind::parse(&r.get::<_, String>(2)?),
        change: r.get(3)?,
        patch_set: r.get(4)?,
        order_key: r.get(5)?,
        payload: r.get(6)?,
        source: r.get(7)?,
        state: IntentState::parse(&r.get::<_, String>(8)?),
        owner: r.get(9)?,
        attempts: r.get(10)?,
        doubt: r.get(11)?,
        last_error: r.get(12)?,
        outcome: r.get(13)?,
        created: r.get(14)?,
        updated: r.get(15)?,
    })
}

/// Records `intent` unless its key exists; returns its id and whether it is new.
pub(crate) fn insert(
    c: &Connection,
    intent: &NewIntent,
    now: i64,
) -> rusqlite::Result<(i64, bool)> {
    let n = c
        .prepare_cached(
            "INSERT INTO intents (key, kind, change, patch_set, order_key, payload, source,
                              next_attempt, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8) ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![
            intent.key.to_string(),
            intent.kind.as_str(),
            intent.change,
            intent.patch_set,
            intent.order_key,
            intent.payload,
            intent.source,
            now
        ])?;
    let id = c
        .prepare_cached("SELECT id FROM intents WHERE key = ?1")?
        .query_row(params![intent.key.to_string()], |r| r.get(0))?;
    Ok((id, n == 1))
}

/// Puts an idempotent intent (a mail move) back to `pending` if it already ended, so that it is
/// simply repeated; records it if new. Returns its id.
pub(crate) fn upsert_repeatable(
    c: &Connection,
    intent: &NewIntent,
    now: i64,
) -> rusqlite::Result<i64> {
    let (id, new) = insert(c, intent, now)?;
    if !new {
        c.prepare_cached(
            "UPDATE intents SET state = 'pending', payload = ?2, next_attempt = ?3, updated = ?3,
                    attempts = 0
             WHERE id = ?1 AND state IN ('done', 'failed')",
        )?
        .execute(params![id, intent.payload, now])?;
    }
    Ok(id)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// It happened (or a reconcile found it had); `outcome` is kept (e.g. a queue id).
    Done { outcome: String },
    /// Try again at `at` (ms). `doubt`: the attempt may have reached the service.
    Retry { error: String, at: i64, doubt: bool },
    /// It will never happen.
    Failed { error: String },
}

pub(crate) fn finish(c: &Connection, id: i64, how: &Finish, now: i64) -> rusqlite::Result<()> {
    match how {
        Finish::Done { outcome } => c
            .prepare_cached(
                "UPDATE intents SET state = 'done', outcome = ?2, doubt = 0, owner = NULL,
                    lease_until = NULL, updated = ?3
             WHERE id = ?1",
            )?
            .execute(params![id, outcome, now]),
        Finish::Retry { error, at, doubt } => c
            .prepare_cached(
                "UPDATE intents SET state = 'pending', last_error = ?2, next_attempt = ?3,
                    doubt = ?4, owner = NULL, lease_until = NULL, updated = ?5
             WHERE id = ?1 AND state != 'done'",
            )?
            .execute(params![id, error, at, doubt, now]),
        Finish::Failed { error } => c
            .prepare_cached(
                "UPDATE intents SET state = 'failed', last_error = ?2, owner = NULL,
                    lease_until = NULL, updated = ?3
             WHERE id = ?1 AND state != 'done'",
            )?
            .execute(params![id, error, now]),
    }
    .map(|_| ())
}

impl Journal {
    /// Records how an attempt ended.
    pub async fn finish(&self, id: i64, how: Finish) -> Result<(), JournalError> {
        self.write(move |c| finish(c, id, &how, now_ms())).await
    }

    /// Records how several attempts ended, in one transaction.
    pub async fn finish_many(&self, outcomes: Vec<(i64, Finish)>) -> Result<(), JournalError> {
        self.write(move |c| {
            let now = now_ms();
            outcomes
                .iter()
                .try_for_each(|(id, how)| finish(c, *id, how, now))
        })
        .await
    }

    /// One intent by key.
    pub async fn intent(&self, key: &IntentKey) -> Result<Option<Intent>, JournalError> {
        let key = key.to_string();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM intents WHERE key = ?1"),
                params![key],
                from_row,
            )
            .optional()
        })
        .await
    }

    /// Every intent, oldest first (for operators and tests).
    pub async fn intents(&self) -> Result<Vec<Intent>, JournalError> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM intents ORDER BY id"))?;
            let rows = st.query_map([], from_row)?;
            rows.collect()
        })
        .await
    }
}
