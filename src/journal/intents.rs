//! Intents: every effect on the outside world, recorded under a stable key before it is
//! attempted, with its outcome after (SPEC §12).
//!
//! Life of an intent: `pending` → claimed by one owner (`running`, with a lease the owner
//! renews) → `done` or `failed`, or back to `pending` to be retried. A key that already has an
//! intent is never recorded twice, so two processes deciding the same effect act once.
//!
//! *Doubt*: a claim whose previous attempt may have reached the service without its outcome
//! being recorded (the owner crashed, or the request timed out) is marked `doubt`; the effector
//! then asks the service whether the effect already happened before trying again.
//!
//! An owner that crashed stops renewing its lease; another instance takes its intents over once
//! the lease has expired, or at once when the owner is provably dead (same host, and its
//! process is gone).

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

pub use crate::record::{Effected, IntentKind, MovedTo, NewIntent};

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

/// One running instance that claims intents: `host/pid/start-time/nonce`, and its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub lease: Duration,
}

impl Owner {
    /// This process, with `lease`. The start time tells a reused pid from the same process.
    pub fn this_process(lease: Duration) -> Owner {
        let pid = std::process::id();
        let start = process_start(pid).unwrap_or_default();
        Owner {
            id: format!("{}/{pid}/{start}/{:08x}", host(), fastrand::u32(..)),
            lease,
        }
    }

    pub(super) fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of `/proc/<pid>/stat` (clock ticks since boot), read after the `)` that ends the
/// command name (which may itself contain spaces and parentheses).
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}

/// Whether `owner` is provably gone: it ran on this host and its process no longer exists
/// (or the pid now belongs to another process). Anything else must wait for its lease.
pub(super) fn is_dead(owner: &str) -> bool {
    let mut parts = owner.split('/');
    let (Some(h), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if h != host() || start.is_empty() {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) => process_start(pid).as_deref() != Some(start),
        Err(_) => false,
    }
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
    /// It happened (or a reconcile found it had); `outcome` is kept (e.g. a queue id), and
    /// what it did in typed columns.
    Done { outcome: String, effected: Effected },
    /// Try again at `at` (ms). `doubt`: the attempt may have reached the service.
    Retry { error: String, at: i64, doubt: bool },
    /// It will never happen.
    Failed { error: String },
}

pub(crate) fn finish(c: &Connection, id: i64, how: &Finish, now: i64) -> rusqlite::Result<()> {
    match how {
        Finish::Done { outcome, effected } => c
            .prepare_cached(
                "UPDATE intents SET state = 'done', outcome = ?2, doubt = 0, owner = NULL,
                    lease_until = NULL, updated = ?3, job = ?4, vote = ?5, moved_to = ?6
             WHERE id = ?1",
            )?
            .execute(params![
                id,
                outcome,
                now,
                effected.job,
                effected.vote,
                effected.moved_to.map(MovedTo::as_str)
            ]),
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

    /// Extends the lease of everything `me` is running.
    pub async fn renew(&self, me: &Owner) -> Result<(), JournalError> {
        let me = me.clone();
        self.write(move |c| {
            let now = now_ms();
            c.prepare_cached(
                "UPDATE intents SET lease_until = ?2 WHERE owner = ?1 AND state = 'running'",
            )?
            .execute(params![me.id, now.saturating_add(me.lease_ms())])
            .map(|_| ())
        })
        .await
    }

    /// Gives back what `me` is running (a graceful stop that could not finish it): pending
    /// again, in doubt, due at once.
    pub async fn abandon(&self, me: &Owner) -> Result<usize, JournalError> {
        let me = me.clone();
        self.write(move |c| {
            let now = now_ms();
            c.prepare_cached(
                "UPDATE intents SET state = 'pending', doubt = 1, owner = NULL,
                        lease_until = NULL, next_attempt = ?2, updated = ?2
                 WHERE owner = ?1 AND state = 'running'",
            )?
            .execute(params![me.id, now])
        })
        .await
    }

    /// Marks pending intents of `kind` created before `before` (ms) as failed with `why`;
    /// returns them. They stop holding back later intents of their order key.
    pub async fn give_up(
        &self,
        kind: IntentKind,
        before: i64,
        why: &str,
    ) -> Result<Vec<Intent>, JournalError> {
        let why = why.to_string();
        self.write(move |c| {
            let now = now_ms();
            let ids: Vec<i64> = {
                let mut st = c.prepare_cached(
                    "SELECT id FROM intents WHERE kind = ?1 AND state = 'pending' AND created < ?2",
                )?;
                let rows = st.query_map(params![kind.as_str(), before], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut out = Vec::new();
            for id in ids {
                let error = Finish::Failed { error: why.clone() };
                finish(c, id, &error, now)?;
                out.push(c.query_row(
                    &format!("SELECT {COLUMNS} FROM intents WHERE id = ?1"),
                    params![id],
                    from_row,
                )?);
            }
            Ok(out)
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

#[cfg(test)]
pub(super) fn dead_owner_for_tests() -> String {
    format!("{}/{}/{}/0", host(), u32::MAX - 1, "1")
}
