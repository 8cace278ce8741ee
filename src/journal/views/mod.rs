//! Reads for the status board, the API, `/sse`, `/metrics` and the webhook (SPEC §14).
//!
//! A change is known by its number (Gerrit numbers are unique on a server; a callback's `REF`
//! carries only the number): migration 3's triggers keep one `changes` row per number with its
//! project, and its newest activity, so the board's list is one indexed query however many
//! changes the database holds. Builds come from `builds`, the bot's votes from `votes`, the
//! counters of both processes from `counters` (kept by triggers, never pruned).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::builds::BuildStatus;
use super::events::{self, Event};
use super::{Journal, JournalError, now_ms};

/// One change as the board and `/api/v1/changes` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeView {
    pub project: String,
    pub number: u64,
    pub change_id: Option<String>,
    pub subject: Option<String>,
    /// Its newest event (ms).
    pub updated: i64,
    /// Newest first.
    pub patch_sets: Vec<PatchSetView>,
}

impl ChangeView {
    /// `project~number`.
    pub fn key(&self) -> String {
        format!("{}~{}", self.project, self.number)
    }
}

/// One patch set: its builds (oldest first) and the bot's Verified vote, if it posted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchSetView {
    pub number: u32,
    pub builds: Vec<BuildView>,
    pub vote: Option<i32>,
}

/// One build the bot triggered (or Jenkins reported for a triggered queue item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildView {
    pub job: String,
    pub target: Option<String>,
    pub queue_id: Option<u64>,
    pub number: Option<u64>,
    pub status: BuildStatus,
    pub url: Option<String>,
    pub started: Option<i64>,
    pub finished: Option<i64>,
}

/// One counter of either process: `name{label}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    pub name: String,
    pub label: String,
    pub value: u64,
    /// When it last moved (ms).
    pub updated: i64,
}

/// Intents not yet carried out, per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingRow {
    pub kind: String,
    pub pending: u64,
    /// Creation time of the oldest (ms).
    pub oldest: i64,
}

pub(super) fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

/// The newest `limit` changes whose project is known, newest activity first.
fn list(c: &Connection, limit: usize) -> rusqlite::Result<Vec<ChangeView>> {
    let mut st = c.prepare_cached(
        "SELECT number, project, change_id, subject, updated FROM changes
         WHERE project IS NOT NULL ORDER BY updated DESC, number DESC LIMIT ?1",
    )?;
    let heads = st
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], head)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    heads.into_iter().map(|h| fill(c, h)).collect()
}

fn head(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeView> {
    Ok(ChangeView {
        number: to_u64(r.get(0)?).unwrap_or(0),
        project: r.get(1)?,
        change_id: r.get(2)?,
        subject: r.get(3)?,
        updated: r.get(4)?,
        patch_sets: Vec::new(),
    })
}

/// Adds the patch sets: those with builds, with a vote, or named by one of its events.
fn fill(c: &Connection, mut view: ChangeView) -> rusqlite::Result<ChangeView> {
    let key = view.key();
    let number = i64::try_from(view.number).unwrap_or(-1);
    let mut sets: BTreeMap<u32, PatchSetView> = BTreeMap::new();
    let mut builds = c.prepare_cached(
        "SELECT patch_set, job, target, queue_id, number, status, url, started, finished
         FROM builds WHERE change = ?1 AND status IS NOT NULL AND status != 'not_triggered'
         ORDER BY id",
    )?;
    let rows = builds.query_map(params![key], |r| {
        let status: String = r.get(5)?;
        Ok((
            r.get::<_, u32>(0)?,
            BuildView {
                job: r.get(1)?,
                target: r.get(2)?,
                queue_id: to_u64(r.get(3)?),
                number: to_u64(r.get(4)?),
                status: BuildStatus::parse(&status).unwrap_or(BuildStatus::Pending),
                url: r.get(6)?,
                started: r.get(7)?,
                finished: r.get(8)?,
            },
        ))
    })?;
    for row in rows {
        let (ps, build) = row?;
        entry(&mut sets, ps).builds.push(build);
    }
    let mut votes =
        c.prepare_cached("SELECT patch_set, vote FROM votes WHERE number = ?1 ORDER BY patch_set")?;
    for row in votes.query_map(params![number], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let (ps, vote): (u32, i32) = row?;
        entry(&mut sets, ps).vote = Some(vote);
    }
    let mut named = c.prepare_cached(
        "SELECT DISTINCT patch_set FROM events WHERE change IN (?1, ?2)
         AND patch_set IS NOT NULL",
    )?;
    for ps in named.query_map(params![key, view.number.to_string()], |r| r.get(0))? {
        entry(&mut sets, ps?);
    }
    view.patch_sets = sets.into_values().rev().collect();
    Ok(view)
}

fn entry(sets: &mut BTreeMap<u32, PatchSetView>, ps: u32) -> &mut PatchSetView {
    sets.entry(ps).or_insert_with(|| PatchSetView {
        number: ps,
        builds: Vec::new(),
        vote: None,
    })
}

impl Journal {
    /// The `limit` changes with the newest activity, newest first.
    pub async fn changes(&self, limit: usize) -> Result<Vec<ChangeView>, JournalError> {
        self.read(move |c| list(c, limit)).await
    }

    /// One change by number, with its events oldest first; `None` if the bot never saw it.
    /// `project`, when given, must match.
    pub async fn change(
        &self,
        project: Option<String>,
        number: u64,
    ) -> Result<Option<(ChangeView, Vec<Event>)>, JournalError> {
        let n = i64::try_from(number).unwrap_or(-1);
        self.read(move |c| {
            let Some(view) = c
                .query_row(
                    "SELECT number, project, change_id, subject, updated FROM changes
                     WHERE number = ?1 AND project IS NOT NULL",
                    params![n],
                    head,
                )
                .optional()?
            else {
                return Ok(None);
            };
            if project.is_some_and(|p| p != view.project) {
                return Ok(None);
            }
            let view = fill(c, view)?;
            let key = view.key();
            let mut st = c.prepare_cached(
                "SELECT id, at, kind, context, change, patch_set, job, build, status, text, process
                 FROM events WHERE change IN (?1, ?2, ?3) ORDER BY id",
            )?;
            let encoded = key.replace('/', "%2F");
            let events = st
                .query_map(params![key, number.to_string(), encoded], events::from_row)?
                .map(|e| {
                    e.map(|mut e| {
                        e.event.change = Some(key.clone());
                        e
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some((view, events)))
        })
        .await
    }

    /// What gmail-listener learned from Gerrit about a change, for the board.
    pub async fn note_change(
        &self,
        project: &str,
        number: u64,
        change_id: &str,
        subject: &str,
    ) -> Result<(), JournalError> {
        let (project, change_id, subject) = (
            project.to_string(),
            change_id.to_string(),
            subject.to_string(),
        );
        let n = i64::try_from(number).unwrap_or(-1);
        self.write(move |c| {
            c.execute(
                "INSERT INTO changes (number, project, change_id, subject, updated)
                 VALUES (?1, ?2, ?3, NULLIF(?4, ''), ?5)
                 ON CONFLICT (number) DO UPDATE SET project = excluded.project,
                    change_id = excluded.change_id,
                    subject = COALESCE(excluded.subject, subject)",
                params![n, project, change_id, subject, now_ms()],
            )
            .map(|_| ())
        })
        .await
    }

    /// Events with an id above `after`, oldest first, at most `limit`; a change named by its
    /// number alone (a callback's `REF` has no project) is named `project~number` when the
    /// project is known, and a `%2F` in a project is decoded.
    pub async fn events_since(&self, after: i64, limit: usize) -> Result<Vec<Event>, JournalError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT e.id, e.at, e.kind, e.context,
                        CASE WHEN e.change IS NULL THEN NULL
                             WHEN ch.project IS NOT NULL THEN ch.project || '~' || ch.number
                             ELSE replace(e.change, '%2F', '/') END,
                        e.patch_set, e.job, e.build, e.status, e.text, e.process
                 FROM events e LEFT JOIN changes ch
                   ON e.change IS NOT NULL
                  AND ch.number = CAST(substr(e.change, instr(e.change, '~') + 1) AS INTEGER)
                 WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
            )?;
            let rows = st.query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                events::from_row,
            )?;
            rows.collect()
        })
        .await
    }

    /// The id of the newest event (0 when there is none).
    pub async fn last_event_id(&self) -> Result<i64, JournalError> {
        self.read(|c| c.query_row("SELECT COALESCE(max(id), 0) FROM events", [], |r| r.get(0)))
            .await
    }

    /// Every counter of both processes.
    pub async fn counters(&self) -> Result<Vec<CounterRow>, JournalError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, label, value, updated FROM counters ORDER BY name, label",
            )?;
            let rows = st.query_map([], |r| {
                Ok(CounterRow {
                    name: r.get(0)?,
                    label: r.get(1)?,
                    value: to_u64(r.get(2)?).unwrap_or(0),
                    updated: r.get(3)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Adds to counters (`name`, `label`, delta): request durations flushed by a process.
    pub async fn add_counters(
        &self,
        deltas: Vec<(String, String, u64)>,
    ) -> Result<(), JournalError> {
        self.write(move |c| {
            let now = now_ms();
            let mut st = c.prepare_cached(
                "INSERT INTO counters (name, label, value, updated) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name, label) DO UPDATE SET value = value + ?3, updated = ?4",
            )?;
            for (name, label, delta) in &deltas {
                st.execute(params![
                    name,
                    label,
                    i64::try_from(*delta).unwrap_or(i64::MAX),
                    now
                ])?;
            }
            Ok(())
        })
        .await
    }

    /// Intents still to be carried out (pending or running), per kind.
    pub async fn waiting_intents(&self) -> Result<Vec<WaitingRow>, JournalError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT kind, count(*), min(created) FROM intents
                 WHERE state IN ('pending', 'running') GROUP BY kind ORDER BY kind",
            )?;
            let rows = st.query_map([], |r| {
                Ok(WaitingRow {
                    kind: r.get(0)?,
                    pending: to_u64(r.get(1)?).unwrap_or(0),
                    oldest: r.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests;
