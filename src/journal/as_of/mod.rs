//! A change as it was just after one of its `status` events, for the status webhook (SPEC §14:
//! every status change is posted "with the change as it was at that change").
//!
//! The webhook reads events some time after they were written (the feed tails the table), and
//! by then a fast build may have gone from `pending` to `failed`. Migration 4 makes each
//! `status` event keep the build as it was (its row id, target, queue id, link, times) and the
//! patch set's vote then, so the change at event E is: each build's newest snapshot up to E
//! (a build whose first snapshot is after E did not exist yet), and each patch set's vote as of
//! E. A build with no snapshot at all was written before migration 4 and is shown as it is now.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};

use super::builds::BuildStatus;
use super::views::{BuildView, ChangeView, PatchSetView, to_u64};
use super::{Journal, JournalError};

/// One build as a `status` event saw it (or as `builds` holds it now, for an old build).
struct Snapshot {
    id: i64,
    patch_set: u32,
    build: BuildView,
    /// The vote on its patch set when the event was written.
    vote: Option<i32>,
}

/// Reads `id, patch_set, job, target, queue_id, number, status, url, started, finished, vote`.
fn snapshot(r: &rusqlite::Row<'_>) -> rusqlite::Result<Snapshot> {
    let status: String = r.get(6)?;
    Ok(Snapshot {
        id: r.get(0)?,
        patch_set: r.get(1)?,
        build: BuildView {
            job: r.get(2)?,
            target: r.get(3)?,
            queue_id: to_u64(r.get(4)?),
            number: to_u64(r.get(5)?),
            status: BuildStatus::parse(&status).unwrap_or(BuildStatus::Pending),
            url: r.get(7)?,
            started: r.get(8)?,
            finished: r.get(9)?,
        },
        vote: r.get(10)?,
    })
}

/// The names a change's rows may carry: `project~number`, the number alone (a callback's
/// `REF` has no project), and the project with its `/` encoded.
fn names(view: &ChangeView) -> [String; 3] {
    let key = view.key();
    let encoded = key.replace('/', "%2F");
    [key, view.number.to_string(), encoded]
}

/// What the status events up to one event say: each build (oldest first, by build id), and
/// per patch set the vote its newest status event up to then saw.
struct AsOf {
    builds: Vec<Snapshot>,
    votes: BTreeMap<u32, Option<i32>>,
}

fn builds_as_of(c: &Connection, view: &ChangeView, event: i64) -> rusqlite::Result<AsOf> {
    let [key, number, encoded] = names(view);
    let mut st = c.prepare_cached(
        "SELECT build_id, patch_set, job, target, queue_id, build, status, url, started,
                finished, vote, id
         FROM events WHERE change IN (?1, ?2, ?3) AND kind = 'status' AND build_id IS NOT NULL
         ORDER BY id",
    )?;
    let mut seen: HashSet<i64> = HashSet::new();
    let mut latest: BTreeMap<i64, Snapshot> = BTreeMap::new();
    let mut votes: BTreeMap<u32, Option<i32>> = BTreeMap::new();
    let mut rows = st.query(params![key, number, encoded])?;
    while let Some(r) = rows.next()? {
        let s = snapshot(r)?;
        seen.insert(s.id);
        if r.get::<_, i64>(11)? <= event {
            votes.insert(s.patch_set, s.vote);
            latest.insert(s.id, s);
        }
    }
    // Builds written before migration 4 have no snapshot: as they are now.
    let mut old = c.prepare_cached(
        "SELECT id, patch_set, job, target, queue_id, number, status, url, started, finished,
                NULL
         FROM builds WHERE change = ?1 AND status IS NOT NULL ORDER BY id",
    )?;
    for s in old.query_map(params![view.key()], snapshot)? {
        let s = s?;
        if !seen.contains(&s.id) {
            latest.insert(s.id, s);
        }
    }
    let builds = latest
        .into_values()
        .filter(|s| s.build.status != BuildStatus::NotTriggered)
        .collect();
    Ok(AsOf { builds, votes })
}

/// The change's patch sets as of `event` (at `at`, ms): those with a build then, a vote then,
/// or named by one of its events up to `event`; newest first.
fn patch_sets_as_of(
    c: &Connection,
    view: &ChangeView,
    event: i64,
    at: i64,
) -> rusqlite::Result<Vec<PatchSetView>> {
    let mut sets: BTreeMap<u32, PatchSetView> = BTreeMap::new();
    let entry = |sets: &mut BTreeMap<u32, PatchSetView>, ps: u32| {
        sets.entry(ps).or_insert_with(|| PatchSetView {
            number: ps,
            builds: Vec::new(),
            vote: None,
        });
    };
    let then = builds_as_of(c, view, event)?;
    for s in then.builds {
        entry(&mut sets, s.patch_set);
        if let Some(ps) = sets.get_mut(&s.patch_set) {
            ps.builds.push(s.build);
        }
    }
    // The vote now, if it was cast before; else the one the patch set's newest status event up to
    // then saw (exact for the patch set of the event itself, whatever the clocks say).
    let number = i64::try_from(view.number).unwrap_or(-1);
    let mut votes = c.prepare_cached("SELECT patch_set, vote, at FROM votes WHERE number = ?1")?;
    let mut now: BTreeMap<u32, (i32, i64)> = BTreeMap::new();
    for row in votes.query_map(params![number], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))? {
        let (ps, vote) = row?;
        now.insert(ps, vote);
    }
    for (ps, (vote, cast)) in &now {
        let vote = if *cast < at {
            Some(*vote)
        } else {
            then.votes.get(ps).copied().flatten()
        };
        if let Some(vote) = vote {
            entry(&mut sets, *ps);
            if let Some(set) = sets.get_mut(ps) {
                set.vote = Some(vote);
            }
        }
    }
    let [key, number, _] = names(view);
    let mut named = c.prepare_cached(
        "SELECT DISTINCT patch_set FROM events WHERE change IN (?1, ?2)
         AND patch_set IS NOT NULL AND id <= ?3",
    )?;
    for ps in named.query_map(params![key, number, event], |r| r.get(0))? {
        entry(&mut sets, ps?);
    }
    Ok(sets.into_values().rev().collect())
}

impl Journal {
    /// Change `number` as it was just after its event `event` (written at `at`, ms), its
    /// newest activity then being that event; `None` if the bot does not know the change.
    pub async fn change_as_of(
        &self,
        number: u64,
        event: i64,
        at: i64,
    ) -> Result<Option<ChangeView>, JournalError> {
        let n = i64::try_from(number).unwrap_or(-1);
        self.read(move |c| {
            let head = c
                .query_row(
                    "SELECT project, change_id, subject FROM changes
                     WHERE number = ?1 AND project IS NOT NULL",
                    params![n],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((project, change_id, subject)) = head else {
                return Ok(None);
            };
            let mut view = ChangeView {
                project,
                number,
                change_id,
                subject,
                updated: at,
                patch_sets: Vec::new(),
            };
            view.patch_sets = patch_sets_as_of(c, &view, event, at)?;
            Ok(Some(view))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
