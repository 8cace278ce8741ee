//! The builds the bot asked Jenkins for, and what Jenkins later said about them.
//!
//! A row is written with its trigger intent (status `pending`), gets its queue id when Jenkins
//! accepted the trigger, and its number and status from the callbacks. It answers "was this
//! patch set already built by this job?", "which change asked for this clean build?" and
//! "which queue items are already accounted for?" (reconciling a trigger in doubt).

use rusqlite::{Connection, Row, params};

use crate::types::ChangeRef;
pub use crate::types::{BuildStatus, Sibling};

pub use crate::record::{BuildKind, NewBuild};

use super::{Journal, JournalError};

/// A build as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRow {
    pub id: i64,
    pub intent_key: Option<String>,
    pub kind: BuildKind,
    pub change: String,
    pub patch_set: u32,
    pub job: String,
    pub target: Option<String>,
    pub queue_id: Option<u64>,
    pub number: Option<u64>,
    pub status: Option<BuildStatus>,
    pub url: Option<String>,
    pub created: i64,
}

const COLUMNS: &str = "id, intent_key, kind, change, patch_set, job, target, queue_id, number, \
                       status, url, created";

fn from_row(r: &Row<'_>) -> rusqlite::Result<BuildRow> {
    Ok(BuildRow {
        id: r.get(0)?,
        intent_key: r.get(1)?,
        kind: BuildKind::parse(&r.get::<_, String>(2)?),
        change: r.get(3)?,
        patch_set: r.get(4)?,
        job: r.get(5)?,
        target: r.get(6)?,
        queue_id: r
            .get::<_, Option<i64>>(7)?
            .and_then(|q| u64::try_from(q).ok()),
        number: r
            .get::<_, Option<i64>>(8)?
            .and_then(|n| u64::try_from(n).ok()),
        status: r
            .get::<_, Option<String>>(9)?
            .and_then(|s| BuildStatus::parse(&s)),
        url: r.get(10)?,
        created: r.get(11)?,
    })
}

/// Whether this patch set already has a build of `job` without a target (one that did not
/// fail to trigger), other than the one recorded under `except_key`.
pub(crate) fn already_built(
    c: &Connection,
    b: &NewBuild,
    except_key: &str,
) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM builds WHERE change = ?1 AND patch_set = ?2 AND job = ?3
                        AND kind = 'presubmit' AND target IS NULL
                        AND (status IS NULL OR status != 'not_triggered')
                        AND (intent_key IS NULL OR intent_key != ?4))",
    )?
    .query_row(
        params![b.change.to_string(), b.patch_set, b.job, except_key],
        |r| r.get(0),
    )
}

pub(crate) fn insert(
    c: &Connection,
    b: &NewBuild,
    intent_key: &str,
    now: i64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO builds (intent_key, kind, change, patch_set, job, target, status, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7) ON CONFLICT (intent_key) DO NOTHING",
    )?
    .execute(params![
        intent_key,
        b.kind.as_str(),
        b.change.to_string(),
        b.patch_set,
        b.job,
        b.target,
        now
    ])
    .map(|_| ())
}

/// Jenkins accepted the trigger: the queue item it created (or folded the request into).
pub(crate) fn set_queued(
    c: &Connection,
    intent_key: &str,
    queue_id: Option<u64>,
) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE builds SET queue_id = ?2 WHERE intent_key = ?1")?
        .execute(params![
            intent_key,
            queue_id.and_then(|q| i64::try_from(q).ok())
        ])
        .map(|_| ())
}

/// The trigger will never happen: the build does not count as built.
pub(crate) fn set_not_triggered(c: &Connection, intent_key: &str) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE builds SET status = 'not_triggered' WHERE intent_key = ?1")?
        .execute(params![intent_key])
        .map(|_| ())
}

/// Jenkins cancelled the queue item: its builds never run.
pub(crate) fn set_cancelled(c: &Connection, queue_id: u64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE builds SET status = 'cancelled' WHERE queue_id = ?1 AND status = 'pending'",
    )?
    .execute(params![i64::try_from(queue_id).unwrap_or(-1)])
    .map(|_| ())
}

/// What a callback says about a build: updates the rows with this queue id and job.
pub(crate) fn update_from_callback(
    c: &Connection,
    job: &str,
    queue_id: u64,
    number: u64,
    status: BuildStatus,
    url: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    let finished = !matches!(status, BuildStatus::Pending | BuildStatus::Building);
    c.prepare_cached(
        "UPDATE builds SET number = ?3, url = COALESCE(?5, url),
                status = CASE WHEN status IN ('successful', 'failed', 'unstable', 'aborted',
                              'cancelled') AND ?4 = 'building' THEN status ELSE ?4 END,
                started = COALESCE(started, ?6),
                finished = CASE WHEN ?7 THEN COALESCE(finished, ?6) ELSE finished END
         WHERE queue_id = ?1 AND job = ?2",
    )?
    .execute(params![
        i64::try_from(queue_id).unwrap_or(-1),
        job,
        i64::try_from(number).unwrap_or(-1),
        status.as_str(),
        url,
        now,
        finished
    ])
    .map(|_| ())
}

impl Journal {
    /// The jobs that already built this patch set without a target (or were asked to, by a
    /// command).
    pub async fn built_jobs(
        &self,
        change: &ChangeRef,
        patch_set: u32,
    ) -> Result<Vec<String>, JournalError> {
        let change = change.to_string();
        self.read(move |c| {
            // An automatic build whose trigger is still to be carried out is not "built": the
            // mail that asked for it must decide it again, find its intent and carry it out.
            let mut st = c.prepare_cached(
                "SELECT DISTINCT b.job FROM builds b LEFT JOIN intents i ON i.key = b.intent_key
                 WHERE b.change = ?1 AND b.patch_set = ?2
                 AND b.kind = 'presubmit' AND b.target IS NULL
                 AND (b.status IS NULL OR b.status != 'not_triggered')
                 AND NOT (b.intent_key LIKE 'trigger:auto:%'
                          AND i.state IN ('pending', 'running'))",
            )?;
            let rows = st.query_map(params![change, patch_set], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    /// The bot's builds with this queue id (several changes when Jenkins folded cleans).
    pub async fn builds_by_queue_id(&self, queue_id: u64) -> Result<Vec<BuildRow>, JournalError> {
        let q = i64::try_from(queue_id).unwrap_or(-1);
        self.read(move |c| builds_by_queue_id(c, q)).await
    }

    /// The queue ids of `job` already recorded for some build, since `since` (ms).
    pub async fn claimed_queue_ids(&self, job: &str, since: i64) -> Result<Vec<u64>, JournalError> {
        let job = job.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT queue_id FROM builds WHERE job = ?1 AND queue_id IS NOT NULL
                 AND created >= ?2",
            )?;
            let rows = st.query_map(params![job, since], |r| r.get::<_, i64>(0))?;
            rows.map(|q| q.map(|q| u64::try_from(q).unwrap_or(0)))
                .collect()
        })
        .await
    }

    /// The bot's builds of `change` for patch sets before `patch_set` that, as far as the
    /// journal knows, are still waiting in Jenkins' queue (queued, no callback yet): what a
    /// newer patch set supersedes (SPEC §15 `cancel_superseded`). `(queue id, job, patch set)`.
    pub async fn waiting_builds(
        &self,
        change: &ChangeRef,
        patch_set: u32,
    ) -> Result<Vec<(u64, String, u32)>, JournalError> {
        let change = change.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT queue_id, job, patch_set FROM builds
                 WHERE change = ?1 AND patch_set < ?2 AND kind = 'presubmit'
                   AND status = 'pending' AND queue_id IS NOT NULL AND number IS NULL
                 ORDER BY queue_id",
            )?;
            let rows = st.query_map(params![change, patch_set], |r| {
                Ok((
                    u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    r.get(1)?,
                    r.get(2)?,
                ))
            })?;
            rows.collect()
        })
        .await
    }

    /// Every build row, oldest first (for operators and tests).
    pub async fn builds(&self) -> Result<Vec<BuildRow>, JournalError> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM builds ORDER BY id"))?;
            let rows = st.query_map([], from_row)?;
            rows.collect()
        })
        .await
    }
}

pub(crate) fn builds_by_queue_id(c: &Connection, queue_id: i64) -> rusqlite::Result<Vec<BuildRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM builds WHERE queue_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map(params![queue_id], from_row)?;
    rows.collect()
}

/// The builds of the patch set that the build of `job` with queue item `queue_id` built: the
/// latest (last triggered) of each job, no targets, none that never ran. None when the bot did
/// not trigger that build.
pub(crate) fn siblings(
    c: &Connection,
    job: &str,
    queue_id: u64,
) -> rusqlite::Result<Option<Vec<Sibling>>> {
    let q = i64::try_from(queue_id).unwrap_or(-1);
    let own: Option<(String, u32)> = {
        let mut st = c.prepare_cached(
            "SELECT change, patch_set FROM builds WHERE queue_id = ?1 AND job = ?2
             AND kind = 'presubmit' AND target IS NULL ORDER BY id DESC LIMIT 1",
        )?;
        let mut rows = st.query(params![q, job])?;
        match rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?)),
            None => None,
        }
    };
    let Some((change, patch_set)) = own else {
        return Ok(None);
    };
    // One seek per job of the patch set (a skip-scan of `builds_change` over its jobs), then
    // the newest build of each: this runs in the writer's transaction for every build that
    // finishes, so it must not read every build of the patch set (a patch set built 12,000
    // times cost 40 ms per callback that way; this costs well under 1 ms).
    let mut st = c.prepare_cached(
        "WITH RECURSIVE jobs(job) AS (
             SELECT (SELECT min(job) FROM builds WHERE change = ?1 AND patch_set = ?2)
             UNION ALL
             SELECT (SELECT min(job) FROM builds
                     WHERE change = ?1 AND patch_set = ?2 AND job > jobs.job)
             FROM jobs WHERE jobs.job IS NOT NULL
         )
         SELECT b.job, b.number, b.status, b.url FROM jobs JOIN builds b ON b.id = (
             SELECT MAX(id) FROM builds l
             WHERE l.change = ?1 AND l.patch_set = ?2 AND l.job = jobs.job
               AND l.kind = 'presubmit' AND l.target IS NULL
               AND (l.status IS NULL OR l.status NOT IN ('not_triggered', 'cancelled')))
         WHERE jobs.job IS NOT NULL
         ORDER BY b.job",
    )?;
    let rows = st.query_map(params![change, patch_set], |r| {
        Ok(Sibling {
            job: r.get(0)?,
            number: r
                .get::<_, Option<i64>>(1)?
                .and_then(|n| u64::try_from(n).ok()),
            status: r
                .get::<_, Option<String>>(2)?
                .and_then(|s| BuildStatus::parse(&s)),
            url: r.get(3)?,
        })
    })?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map(Some)
}
