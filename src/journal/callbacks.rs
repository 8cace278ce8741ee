//! The phases of Jenkins Notification-plugin callbacks, per (job, build number).
//!
//! The plugin sends up to four phases per build and re-sends after any failure, even after a
//! later success (its `failed` flag is never reset): the first finished phase (COMPLETED or
//! FINALIZED) is the only one that acts; later ones are duplicates. The phase record, the
//! review intents it acts with, the build's new status and the events are one transaction.

use rusqlite::{Connection, OptionalExtension, params};

use crate::types::{BuildResult, BuildStatus, Phase, Phases, Sibling};

use super::builds;
use super::events::{self, NewEvent};
use super::intents;
use super::{Journal, JournalError, now_ms};
use crate::record::Planned;

/// One callback's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackPhase {
    pub job: String,
    pub number: u64,
    pub phase: Phase,
    /// The result, in a finished phase.
    pub status: Option<BuildResult>,
    /// The queue item the build came from, when the plugin said (to update the bot's builds).
    pub queue_id: Option<u64>,
    /// The build's link, for the builds table.
    pub url: Option<String>,
}

/// What accepting a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The first finished phase of this build: its reviews were recorded (first intent id).
    Queued(i64),
    /// A finished phase after the first one, or a re-send: nothing new.
    Duplicate { acted_phase: String },
    /// Only recorded (an unfinished phase, or a finished one with nothing to post).
    Recorded,
}

/// What the first finished phase of a build acts with, decided from the builds of the same
/// patch set as the journal knows them in this very transaction (`None`: the bot did not
/// trigger this build, so it has no siblings on record).
pub type OnFinish = Box<dyn FnOnce(Option<&[Sibling]>) -> (Vec<Planned>, Vec<NewEvent>) + Send>;

fn record(
    c: &Connection,
    cb: &CallbackPhase,
    on_finish: OnFinish,
    process: &str,
    now: i64,
) -> rusqlite::Result<(Accepted, Vec<NewEvent>)> {
    let acted = note_phase(c, cb, now)?;
    if let Some(q) = cb.queue_id {
        let status = match (&cb.status, cb.phase.is_finished()) {
            (Some(s), true) => BuildStatus::from_result(s),
            _ => BuildStatus::Building,
        };
        builds::update_from_callback(c, &cb.job, q, cb.number, status, cb.url.as_deref(), now)?;
    }
    if !cb.phase.is_finished() {
        return Ok((Accepted::Recorded, Vec::new()));
    }
    if let Some(acted_phase) = acted {
        return Ok((Accepted::Duplicate { acted_phase }, Vec::new()));
    }
    act(c, cb, on_finish, process, now)
}

/// Adds the phase to the build's record; returns the phase already acted on, if any.
fn note_phase(c: &Connection, cb: &CallbackPhase, now: i64) -> rusqlite::Result<Option<String>> {
    let number = i64::try_from(cb.number).unwrap_or(i64::MAX);
    let existing: Option<(String, Option<String>)> = c
        .prepare_cached("SELECT phases, acted_phase FROM callbacks WHERE job = ?1 AND number = ?2")?
        .query_row(params![cb.job, number], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((phases, acted)) = existing else {
        c.prepare_cached(
            "INSERT INTO callbacks (job, number, phases, deliveries, first_at, last_at)
             VALUES (?1, ?2, ?3, 1, ?4, ?4)",
        )?
        .execute(params![cb.job, number, cb.phase.to_string(), now])?;
        return Ok(None);
    };
    let phases = Phases::read(&phases).with(&cb.phase).to_string();
    c.prepare_cached(
        "UPDATE callbacks SET phases = ?3, deliveries = deliveries + 1, last_at = ?4
         WHERE job = ?1 AND number = ?2",
    )?
    .execute(params![cb.job, number, phases, now])?;
    Ok(acted)
}

/// The build's first finished phase: records what `on_finish` decides from the builds of the
/// same patch set as they are now, and marks the phase as the one acted on.
fn act(
    c: &Connection,
    cb: &CallbackPhase,
    on_finish: OnFinish,
    process: &str,
    now: i64,
) -> rusqlite::Result<(Accepted, Vec<NewEvent>)> {
    let siblings = match cb.queue_id {
        Some(q) => builds::siblings(c, &cb.job, q)?,
        None => None,
    };
    let (reviews, events) = on_finish(siblings.as_deref());
    let mut first = None;
    for review in &reviews {
        let (id, _) = intents::insert(c, &review.intent, now)?;
        first.get_or_insert(id);
    }
    for e in &events {
        events::append(c, e, process, now)?;
    }
    let number = i64::try_from(cb.number).unwrap_or(i64::MAX);
    let status = cb.status.as_ref().map(ToString::to_string);
    c.prepare_cached(
        "UPDATE callbacks SET acted_phase = ?3, status = ?4, item = ?5
         WHERE job = ?1 AND number = ?2",
    )?
    .execute(params![cb.job, number, cb.phase.to_string(), status, first])?;
    Ok((first.map_or(Accepted::Recorded, Accepted::Queued), events))
}

/// Makes a build's next finished phase act again (its acted-on callback was contradicted),
/// and forgets the result that callback claimed.
pub(crate) fn forget_action(c: &Connection, job: &str, number: u64) -> rusqlite::Result<()> {
    let number = i64::try_from(number).unwrap_or(i64::MAX);
    c.prepare_cached(
        "UPDATE callbacks SET acted_phase = NULL, status = NULL, item = NULL
         WHERE job = ?1 AND number = ?2",
    )?
    .execute(params![job, number])?;
    c.prepare_cached(
        "UPDATE builds SET status = 'building', finished = NULL WHERE job = ?1 AND number = ?2",
    )?
    .execute(params![job, number])
    .map(|_| ())
}

impl Journal {
    /// Records a callback and, for the first finished phase of the build, the review intents
    /// and events `on_finish` decides, all in one durable transaction: a re-send or the second
    /// finished phase can never queue a second review, and two builds of one patch set
    /// finishing at once see each other's results.
    /// Returns what was accepted and the events recorded with it.
    pub async fn accept_callback(
        &self,
        cb: CallbackPhase,
        on_finish: OnFinish,
    ) -> Result<(Accepted, Vec<NewEvent>), JournalError> {
        let process = self.process().to_string();
        self.write(move |c| record(c, &cb, on_finish, &process, now_ms()))
            .await
    }

    /// The phases seen for one build, in arrival order, and the one acted on.
    pub async fn callback_phases(
        &self,
        job: &str,
        number: u64,
    ) -> Result<Option<(Vec<String>, Option<String>)>, JournalError> {
        let job = job.to_string();
        let number = i64::try_from(number).unwrap_or(i64::MAX);
        self.read(move |c| {
            c.prepare_cached(
                "SELECT phases, acted_phase FROM callbacks WHERE job = ?1 AND number = ?2",
            )?
            .query_row(params![job, number], |r| {
                let phases: String = r.get(0)?;
                Ok((Phases::read(&phases).names(), r.get(1)?))
            })
            .optional()
        })
        .await
    }
}
