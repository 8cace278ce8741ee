//! Recording decisions and outcomes: intents, the builds they are for, and events, each set in
//! one transaction (SPEC §12: an intent is written with the decision that calls for it).

use rusqlite::{Connection, OptionalExtension};

pub use crate::record::Planned;

use crate::key::IntentKey;

use super::builds;
use super::events::{self, NewEvent};
use super::intents::{self, Finish};
use super::{Journal, JournalError, now_ms};

/// What recording one planned intent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now.
    New(i64),
    /// Its key was recorded before (by this or another process).
    Existing(i64),
    /// An automatic build whose patch set and job already have a build: not recorded.
    AlreadyBuilt,
}

impl Recorded {
    pub fn id(self) -> Option<i64> {
        match self {
            Recorded::New(id) | Recorded::Existing(id) => Some(id),
            Recorded::AlreadyBuilt => None,
        }
    }
}

/// A change to the builds table that goes with an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildUpdate {
    /// Jenkins queued the build of this trigger intent (or folded it into this item).
    Queued {
        intent_key: IntentKey,
        queue_id: Option<u64>,
    },
    /// The trigger will never happen.
    NotTriggered { intent_key: IntentKey },
    /// Jenkins took this queue item out of the queue: the build will never run.
    Cancelled { queue_id: u64 },
    /// Jenkins contradicted the callback this review came from: the build's once-only vote
    /// is not used up, so its genuine callback can still act.
    Contradicted { job: String, number: u64 },
}

fn record_one(c: &Connection, p: &Planned, now: i64) -> rusqlite::Result<Recorded> {
    if let Some(b) = &p.build
        && b.once
        && builds::already_built(c, b, &p.intent.key.to_string())?
    {
        return Ok(Recorded::AlreadyBuilt);
    }
    if p.repeatable {
        return intents::upsert_repeatable(c, &p.intent, now).map(Recorded::New);
    }
    let (id, new) = intents::insert(c, &p.intent, now)?;
    if new && let Some(b) = &p.build {
        builds::insert(c, b, &p.intent.key.to_string(), now)?;
    }
    Ok(if new {
        Recorded::New(id)
    } else {
        Recorded::Existing(id)
    })
}

impl Journal {
    /// Records intents and events in one durable transaction.
    pub async fn record(
        &self,
        planned: Vec<Planned>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Recorded>, JournalError> {
        let process = self.process().to_string();
        self.write(move |c| {
            let now = now_ms();
            let recorded = planned
                .iter()
                .map(|p| record_one(c, p, now))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for e in &events {
                events::append(c, e, &process, now)?;
            }
            Ok(recorded)
        })
        .await
    }

    /// Records `planned` unless an intent of the same kind with the same payload is still
    /// pending or running (the same request made twice before it was carried out); returns
    /// the intent's id and whether it is new. `events` are appended only for a new one.
    pub async fn record_deduped(
        &self,
        planned: Planned,
        events: Vec<NewEvent>,
    ) -> Result<(i64, bool), JournalError> {
        let process = self.process().to_string();
        self.write(move |c| {
            let now = now_ms();
            let i = &planned.intent;
            let pending: Option<i64> = c
                .query_row(
                    "SELECT id FROM intents WHERE kind = ?1 AND payload = ?2
                     AND state IN ('pending', 'running') ORDER BY id LIMIT 1",
                    rusqlite::params![i.kind.as_str(), i.payload],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = pending {
                return Ok((id, false));
            }
            let id = record_one(c, &planned, now)?.id().unwrap_or_default();
            for e in &events {
                events::append(c, e, &process, now)?;
            }
            Ok((id, true))
        })
        .await
    }

    /// Records how an attempt ended, with the events and the build change that go with it.
    pub async fn complete(
        &self,
        id: i64,
        how: Finish,
        events: Vec<NewEvent>,
        build: Option<BuildUpdate>,
    ) -> Result<(), JournalError> {
        let process = self.process().to_string();
        self.write(move |c| {
            let now = now_ms();
            intents::finish(c, id, &how, now)?;
            match &build {
                Some(BuildUpdate::Queued {
                    intent_key,
                    queue_id,
                }) => builds::set_queued(c, &intent_key.to_string(), *queue_id)?,
                Some(BuildUpdate::NotTriggered { intent_key }) => {
                    builds::set_not_triggered(c, &intent_key.to_string())?;
                }
                Some(BuildUpdate::Cancelled { queue_id }) => {
                    builds::set_cancelled(c, *queue_id)?;
                }
                Some(BuildUpdate::Contradicted { job, number }) => {
                    super::callbacks::forget_action(c, job, *number)?;
                }
                None => {}
            }
            for e in &events {
                events::append(c, e, &process, now)?;
            }
            Ok(())
        })
        .await
    }
}
