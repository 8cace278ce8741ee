//! Events: what either process did, appended to one table (SPEC §14). Console lines, the
//! status board, the API, SSE and metrics are all views of it, so they never disagree.

use rusqlite::{Connection, Row, params};

pub use crate::record::{EventKind, NewEvent};

use super::{Journal, JournalError, now_ms};

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
