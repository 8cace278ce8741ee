//! Numbered schema migrations, tracked in `PRAGMA user_version`.
//!
//! Migration 1 is the schema the first release created without a version (`built`,
//! `triggered`, `answered`, `callbacks`, `outbox`), written with `IF NOT EXISTS` so that a new
//! file and a file from that release arrive at the same place. Later migrations move data
//! forward; they never assume an empty database. Each runs in its own `BEGIN IMMEDIATE`
//! transaction, so two processes starting at once migrate once.

use std::path::Path;

use rusqlite::Connection;

use super::JournalError;

/// The first release's tables, exactly as it created them.
const V1: &str = include_str!("v1.sql");

/// Intents, events, builds, mails and cursors; the first release's rows move into them
/// (its times were seconds in `built`/`triggered`/`answered`, milliseconds elsewhere).
const V2: &str = include_str!("v2.sql");

/// The views of SPEC §14: event kind `status` (a build's status changed, written by a trigger
/// on `builds` so that no writer, of either process, can change a build without the board
/// and the webhook hearing of it), `changes` and `votes` (summaries the board reads in one
/// indexed query), and `counters` (the Prometheus counters of both processes, kept by triggers
/// in the same transactions as what they count, and never pruned). SQLite cannot alter a CHECK
/// constraint, so `events` is rebuilt; its AUTOINCREMENT sequence is carried over, so an id
/// is never reused and an SSE client's `Last-Event-ID` stays meaningful.
const V3: &str = include_str!("v3.sql");

/// Each `status` event also keeps the build as it was at that change (its `builds` row id,
/// target, queue id, link, start and finish times) and the bot's vote on its patch set then,
/// written by the same triggers in the same transaction: the webhook posts every status change
/// with the change as it was at that change, however late it reads the event (a build going
/// `pending`, `building`, `failed` within one tail of the feed would otherwise be posted three
/// times as `failed`). The columns are only added (no rewrite of `events`); rows written before
/// stay NULL there and are read as the build's current row.
const V4: &str = include_str!("v4.sql");

/// Indexes that keep the cost of a claim, and of the due time, independent of how many
/// intents wait (see [`super::claims`]): the open intents of each order key by id (the head of
/// each is one seek, whatever waits behind it), the intents of no order key by due time, and
/// pending intents by kind and age (giving up on stale reviews reads only those).
const V5: &str = include_str!("v5.sql");

/// Version 6: what a done intent did is kept in typed columns (`job`, `vote`, `moved_to`) that
/// the counters and the votes table read, instead of fields of the payload's JSON; the rows
/// of earlier releases get them once, here.
const V6: &str = include_str!("v6.sql");

const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The schema version this release writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`LATEST_VERSION`], one migration per transaction.
pub(super) fn run(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > LATEST_VERSION {
            return Err(JournalError::TooNew {
                path: path.display().to_string(),
                found: version,
                known: LATEST_VERSION,
            });
        }
        if version == LATEST_VERSION {
            tx.commit()?;
            return Ok(());
        }
        let index = usize::try_from(version).unwrap_or(0);
        tx.execute_batch(MIGRATIONS[index])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(
            path = %path.display(),
            version = version + 1,
            "state database migrated"
        );
    }
}

#[cfg(test)]
pub(super) const FIRST_RELEASE_SCHEMA: &str = V1;

/// Applies the migrations up to `version` only: a database as an earlier release left it.
#[cfg(test)]
pub(super) fn run_to(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    for (i, m) in MIGRATIONS
        .iter()
        .enumerate()
        .take(usize::try_from(version).unwrap_or(0))
    {
        conn.execute_batch(m)?;
        conn.pragma_update(None, "user_version", i64::try_from(i).unwrap_or(0) + 1)?;
    }
    Ok(())
}
