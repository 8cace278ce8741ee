//! Events: what either process did, appended to one table (SPEC §14). Console lines, the
//! status board, the API, SSE and metrics are all views of it, so they never disagree.

use rusqlite::{Connection, Row, params};
use serde::{Deserialize, Serialize};

use super::{Journal, JournalError, now_ms};

/// What kind of thing happened; also the word and colour of its console line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A build was triggered.
    Build,
    /// A clean build was triggered or reported.
    Clean,
    /// A check: a vote decided or posted, a rejection dropped.
    Check,
    /// A reply posted on a change.
    Reply,
    /// Something the bot decided not to do.
    Skip,
    /// A mail set aside.
    Aside,
    /// Work left for later.
    Leave,
    /// Something failed.
    Error,
    /// A build's status changed (written by the journal itself when a `builds` row changes:
    /// for the board, `/sse` and the webhook; never a console line).
    Status,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Build => "build",
            EventKind::Clean => "clean",
            EventKind::Check => "check",
            EventKind::Reply => "reply",
            EventKind::Skip => "skip",
            EventKind::Aside => "aside",
            EventKind::Leave => "leave",
            EventKind::Error => "error",
            EventKind::Status => "status",
        }
    }

    pub(crate) fn parse(s: &str) -> EventKind {
        match s {
            "build" => EventKind::Build,
            "clean" => EventKind::Clean,
            "check" => EventKind::Check,
            "reply" => EventKind::Reply,
            "skip" => EventKind::Skip,
            "aside" => EventKind::Aside,
            "leave" => EventKind::Leave,
            "status" => EventKind::Status,
            _ => EventKind::Error,
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub kind: EventKind,
    /// The console line's context: the mail type (`newpatchset`), the phase (`COMPLETED`),
    /// the service (`gerrit`)...
    pub context: String,
    /// `project~number`, or the number when only that is known.
    pub change: Option<String>,
    pub patch_set: Option<u32>,
    pub job: Option<String>,
    pub build: Option<u64>,
    pub status: Option<String>,
    /// The line's text (without kind and context).
    pub text: String,
}

impl NewEvent {
    /// An event with only a kind, a context and a text; add fields with struct update syntax.
    pub fn new(kind: EventKind, context: impl Into<String>, text: impl Into<String>) -> NewEvent {
        NewEvent {
            kind,
            context: context.into(),
            change: None,
            patch_set: None,
            job: None,
            build: None,
            status: None,
            text: text.into(),
        }
    }

    pub fn change(mut self, change: impl Into<String>, patch_set: Option<u32>) -> NewEvent {
        self.change = Some(change.into());
        self.patch_set = patch_set;
        self
    }

    pub fn build(mut self, job: impl Into<String>, number: Option<u64>) -> NewEvent {
        self.job = Some(job.into());
        self.build = number;
        self
    }

    pub fn status(mut self, status: impl Into<String>) -> NewEvent {
        self.status = Some(status.into());
        self
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub event: NewEvent,
    /// `gmail-listener` or `build-listener`.
    pub process: String,
}

pub(crate) fn append(
    c: &Connection,
    e: &NewEvent,
    process: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO events (at, kind, context, change, patch_set, job, build, status, text, process)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
            now,
            e.kind.as_str(),
            e.context,
            e.change,
            e.patch_set,
            e.job,
            e.build.and_then(|b| i64::try_from(b).ok()),
            e.status,
            e.text,
            process
        ])?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        at: r.get(1)?,
        event: NewEvent {
            kind: EventKind::parse(&r.get::<_, String>(2)?),
            context: r.get(3)?,
            change: r.get(4)?,
            patch_set: r.get(5)?,
            job: r.get(6)?,
            build: r
                .get::<_, Option<i64>>(7)?
                .and_then(|b| u64::try_from(b).ok()),
            status: r.get(8)?,
            text: r.get(9)?,
        },
        process: r.get(10)?,
    })
}

impl Journal {
    /// Appends events on their own (decisions that record no intent).
    pub async fn append_events(&self, events: Vec<NewEvent>) -> Result<Vec<i64>, JournalError> {
        let process = self.process().to_string();
        self.write(move |c| {
            let now = now_ms();
            events.iter().map(|e| append(c, e, &process, now)).collect()
        })
        .await
    }

    /// Events with an id above `after`, oldest first, at most `limit`.
    pub async fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>, JournalError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, at, kind, context, change, patch_set, job, build, status, text, process
                 FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = st.query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                from_row,
            )?;
            rows.collect()
        })
        .await
    }
}
