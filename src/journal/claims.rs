//! Claiming intents: which intent an owner may carry out now, and when the next one is due.
//!
//! Intents sharing an order key (the reviews of one change) run one at a time, oldest first,
//! so only the oldest open intent of each key (its *head*) is ever claimable; the others wait
//! whatever their time. A claim is a write (it takes a lease), so it runs in the writer's
//! transaction beside the callbacks: its cost must not grow with the intents waiting.

use rusqlite::{Connection, OptionalExtension, params};

use crate::key::IntentKey;

use super::intents::{COLUMNS, Intent, IntentKind, IntentState, Owner, from_row, is_dead};
use super::{Journal, JournalError, now_ms};

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

/// The oldest open (pending or running) intent of each order key: the only one of its key
/// that may run. A skip-scan of `intents_open_order` (migration 5): one index seek per order
/// key with open intents, however many intents wait behind each head. (Walking every pending
/// intent and asking of each whether an older one is open cost 30-45 ms per claim, in the
/// writer's transaction, once a burst of callbacks on one change had queued 16,000 reviews.)
/// `INDEXED BY`: without statistics the planner picks `intents_due` and reads every pending
/// intent; naming the index also makes a schema without it an error, not a slow claim.
const HEADS: &str = "
WITH RECURSIVE keys(k) AS (
    SELECT (SELECT min(order_key) FROM intents INDEXED BY intents_open_order
            WHERE state IN ('pending', 'running') AND order_key IS NOT NULL)
    UNION ALL
    SELECT (SELECT min(order_key) FROM intents INDEXED BY intents_open_order
            WHERE state IN ('pending', 'running') AND order_key > keys.k)
    FROM keys WHERE keys.k IS NOT NULL
),
heads(id) AS (
    SELECT (SELECT min(id) FROM intents INDEXED BY intents_open_order
            WHERE state IN ('pending', 'running') AND order_key = keys.k)
    FROM keys WHERE keys.k IS NOT NULL
)";

/// `'review', 'trigger'`: the kinds as SQL literals (from the enum, never from outside).
fn kind_list(kinds: &[IntentKind]) -> String {
    let kinds: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
    kinds.join(", ")
}

/// `(next_attempt, id)` of the rows `sql` selects with `params`.
fn due_rows(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
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
    let kinds = kind_list(kinds);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Intents of no order key wait for no other: `intents_due_free` (state, next_attempt)
    // walked in due order, stopping after `limit` rows; finished intents are never read. Named:
    // the planner prefers `intents_due` and would step over every ordered intent waiting.
    let mut found = Vec::new();
    if pending_too {
        let free = format!(
            "SELECT next_attempt, id FROM intents INDEXED BY intents_due_free
             WHERE order_key IS NULL AND state = 'pending' AND next_attempt <= ?1
               AND kind IN ({kinds})
             ORDER BY next_attempt, id LIMIT ?2"
        );
        found.extend(due_rows(c, &free, params![now, limit])?);
    }
    let expired = format!(
        "SELECT next_attempt, id FROM intents INDEXED BY intents_due_free
         WHERE order_key IS NULL AND state = 'running' AND owner != ?2 AND lease_until < ?1
           AND kind IN ({kinds})
         ORDER BY next_attempt, id LIMIT ?3"
    );
    found.extend(due_rows(c, &expired, params![now, me.id, limit])?);
    // Of ordered intents, only the head of each order key may run.
    let heads = format!(
        "{HEADS}
         SELECT o.next_attempt, o.id FROM heads CROSS JOIN intents o ON o.id = heads.id
         WHERE o.kind IN ({kinds})
           AND ((?4 AND o.state = 'pending' AND o.next_attempt <= ?1)
                OR (o.state = 'running' AND o.owner != ?2 AND o.lease_until < ?1))
         ORDER BY o.next_attempt, o.id LIMIT ?3"
    );
    found.extend(due_rows(
        c,
        &heads,
        params![now, me.id, limit, pending_too],
    )?);
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

    /// When the next intent of `kinds` that may run is due (ms), if any: a pending intent of no
    /// order key, the head of an order key, or the lease of a running one. Intents waiting
    /// behind a head are not due, whatever their time: counting them made the runner claim
    /// again at once, over and over, while a head was in flight.
    pub async fn next_due(&self, kinds: &[IntentKind]) -> Result<Option<i64>, JournalError> {
        let kinds = kind_list(kinds);
        let sql = format!(
            "{HEADS}
             SELECT MIN(at) FROM (
               SELECT MIN(next_attempt) AS at FROM intents INDEXED BY intents_due_free
               WHERE order_key IS NULL AND state = 'pending' AND kind IN ({kinds})
               UNION ALL
               SELECT MIN(o.next_attempt) FROM heads CROSS JOIN intents o ON o.id = heads.id
               WHERE o.state = 'pending' AND o.kind IN ({kinds})
               UNION ALL
               SELECT MIN(lease_until) FROM intents
               WHERE state = 'running' AND kind IN ({kinds}))"
        );
        self.read(move |c| c.prepare_cached(&sql)?.query_row([], |r| r.get(0)))
            .await
    }
}
