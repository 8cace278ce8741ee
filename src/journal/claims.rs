//! Claims: which owner carries out which intent, under a lease (SPEC §12).
//!
//! An owner claims an intent (`running`, leased, one more attempt) and renews its lease while it
//! works. *Doubt*: a claim whose previous attempt may have reached the service without its
//! outcome being recorded (the owner crashed, or the request timed out) is marked `doubt`; the
//! effector then asks the service whether the effect already happened before trying again.
//!
//! An owner that crashed stops renewing its lease; another instance takes its intents over once
//! the lease has expired, or at once when the owner is provably dead (same host, and its
//! process is gone).

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::key::IntentKey;

use super::intents::{COLUMNS, Finish, Intent, IntentKind, IntentState, finish, from_row};
use super::{Journal, JournalError, now_ms};

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

    fn lease_ms(&self) -> i64 {
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
fn is_dead(owner: &str) -> bool {
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

/// What a claim by key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Claimed by the caller: carry it out and [`Journal::finish`] it.
    Run(Intent),
    /// Already done.
    Done(Intent),
    /// Ended in failure.
    Failed(Intent),
    /// Another live owner is carrying it out.
    Held(Intent),
    /// Not due yet (backoff), or waiting behind an older intent of its order key.
    Waiting(Intent),
    /// No intent has this key.
    Missing(IntentKey),
}

fn release_dead_owners(c: &Connection, me: &Owner, now: i64) -> rusqlite::Result<()> {
    let owners: Vec<String> = {
        let mut st = c.prepare_cached(
            "SELECT DISTINCT owner FROM intents
             WHERE state = 'running' AND owner != ?1 AND lease_until >= ?2",
        )?;
        let rows = st.query_map(params![me.id, now], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for owner in owners.iter().filter(|o| is_dead(o)) {
        tracing::info!(owner = %owner, "taking over the intents of a process that is gone");
        c.prepare_cached(
            "UPDATE intents SET lease_until = 0 WHERE owner = ?1 AND state = 'running'",
        )?
        .execute(params![owner])?;
    }
    Ok(())
}

/// Claims `id` for `me`: running, leased, one more attempt; a crashed attempt becomes doubt.
fn take(c: &Connection, id: i64, me: &Owner, now: i64) -> rusqlite::Result<Intent> {
    c.prepare_cached(
        "UPDATE intents SET doubt = CASE WHEN state = 'running' THEN 1 ELSE doubt END,
                state = 'running', owner = ?2, lease_until = ?3, attempts = attempts + 1,
                updated = ?4
         WHERE id = ?1",
    )?
    .execute(params![id, me.id, now.saturating_add(me.lease_ms()), now])?;
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM intents WHERE id = ?1"))?
        .query_row(params![id], from_row)
}

/// Whether an older intent of the same order key has not ended yet.
fn behind_another(c: &Connection, intent: &Intent) -> rusqlite::Result<bool> {
    let Some(order) = &intent.order_key else {
        return Ok(false);
    };
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM intents WHERE order_key = ?1
                        AND state IN ('pending', 'running') AND id < ?2)",
    )?
    .query_row(params![order, intent.id], |r| r.get(0))
}

fn claim_one(c: &Connection, key: &IntentKey, me: &Owner, now: i64) -> rusqlite::Result<Claim> {
    let Some(intent) = c
        .query_row(
            &format!("SELECT {COLUMNS} FROM intents WHERE key = ?1"),
            params![key.to_string()],
            from_row,
        )
        .optional()?
    else {
        return Ok(Claim::Missing(key.clone()));
    };
    let (lease_until, next_attempt): (Option<i64>, i64) = c
        .prepare_cached("SELECT lease_until, next_attempt FROM intents WHERE id = ?1")?
        .query_row(params![intent.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    match intent.state {
        IntentState::Done => Ok(Claim::Done(intent)),
        IntentState::Failed => Ok(Claim::Failed(intent)),
        IntentState::Running
            if intent.owner.as_deref() == Some(me.id.as_str())
                || lease_until.unwrap_or(0) >= now =>
        {
            Ok(Claim::Held(intent))
        }
        IntentState::Pending if next_attempt > now => Ok(Claim::Waiting(intent)),
        _ if behind_another(c, &intent)? => Ok(Claim::Waiting(intent)),
        _ => Ok(Claim::Run(take(c, intent.id, me, now)?)),
    }
}

fn claim_due(
    c: &Connection,
    kinds: &[IntentKind],
    me: &Owner,
    limit: usize,
    now: i64,
    pending_too: bool,
) -> rusqlite::Result<Vec<Intent>> {
    release_dead_owners(c, me, now)?;
    let kinds: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
    let kinds = kinds.join(", ");
    // Each query walks `intents_due` (state, next_attempt) in order and stops after `limit`
    // claimable rows: finished intents (nearly all of the table) are never read, and a backlog
    // of pending ones is not sorted whole on every claim.
    let behind = "(o.order_key IS NULL OR NOT EXISTS (
                     SELECT 1 FROM intents e WHERE e.order_key = o.order_key
                     AND e.state IN ('pending', 'running') AND e.id < o.id))";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut found: Vec<(i64, i64)> = Vec::new();
    if pending_too {
        let sql = format!(
            "SELECT id, next_attempt FROM intents o
             WHERE state = 'pending' AND next_attempt <= ?1 AND kind IN ({kinds}) AND {behind}
             ORDER BY next_attempt, id LIMIT ?2"
        );
        let mut st = c.prepare_cached(&sql)?;
        let rows = st.query_map(params![now, limit], |r| Ok((r.get(1)?, r.get(0)?)))?;
        found.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    let sql = format!(
        "SELECT id, next_attempt FROM intents o
         WHERE state = 'running' AND owner != ?2 AND lease_until < ?1 AND kind IN ({kinds})
           AND {behind}
         ORDER BY next_attempt, id LIMIT ?3"
    );
    {
        let mut st = c.prepare_cached(&sql)?;
        let rows = st.query_map(params![now, me.id, limit], |r| Ok((r.get(1)?, r.get(0)?)))?;
        found.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    found.sort_unstable();
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let ids: Vec<i64> = found.into_iter().map(|(_, id)| id).collect();
    ids.into_iter().map(|id| take(c, id, me, now)).collect()
}

impl Journal {
    /// Claims each key for `me` (see [`Claim`]), in one transaction.
    pub async fn claim_keys(
        &self,
        keys: Vec<IntentKey>,
        me: &Owner,
    ) -> Result<Vec<Claim>, JournalError> {
        let me = me.clone();
        self.write(move |c| {
            let now = now_ms();
            release_dead_owners(c, &me, now)?;
            keys.iter().map(|k| claim_one(c, k, &me, now)).collect()
        })
        .await
    }

    /// Claims up to `limit` due intents of `kinds`: pending ones whose time has come, and
    /// running ones whose owner's lease expired; never one behind an older intent of its order.
    pub async fn claim_due(
        &self,
        kinds: &[IntentKind],
        me: &Owner,
        limit: usize,
    ) -> Result<Vec<Intent>, JournalError> {
        let (kinds, me) = (kinds.to_vec(), me.clone());
        self.write(move |c| claim_due(c, &kinds, &me, limit, now_ms(), true))
            .await
    }

    /// Claims up to `limit` orphans of `kinds`: intents left running by an owner that is gone
    /// (its lease expired, or its process died). Their effect may or may not have happened, so
    /// they come back in doubt.
    pub async fn claim_orphans(
        &self,
        kinds: &[IntentKind],
        me: &Owner,
        limit: usize,
    ) -> Result<Vec<Intent>, JournalError> {
        let (kinds, me) = (kinds.to_vec(), me.clone());
        self.write(move |c| claim_due(c, &kinds, &me, limit, now_ms(), false))
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

    /// When the next pending intent of `kinds` is due (ms), if any.
    pub async fn next_due(&self, kinds: &[IntentKind]) -> Result<Option<i64>, JournalError> {
        let kinds: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
        let kinds = kinds.join(", ");
        // Index range scans on state (see `claim_due`), not a scan of every intent.
        let sql = format!(
            "SELECT MIN(at) FROM (
               SELECT MIN(next_attempt) AS at FROM intents
               WHERE state = 'pending' AND kind IN ({kinds})
               UNION ALL
               SELECT MIN(lease_until) FROM intents
               WHERE state = 'running' AND kind IN ({kinds}))"
        );
        self.read(move |c| c.prepare_cached(&sql)?.query_row([], |r| r.get(0)))
            .await
    }
}

#[cfg(test)]
pub(super) fn dead_owner_for_tests() -> String {
    format!("{}/{}/{}/0", host(), u32::MAX - 1, "1")
}
