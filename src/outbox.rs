//! The durable half of build-listener: accepted callbacks and the reviews waiting for Gerrit.
//!
//! Jenkins' Notification plugin sends on the build thread, waits at most its timeout (30 s by
//! default) and never retries on an HTTP error status, so a callback must be *accepted* at once:
//! written to the state database in one transaction and answered 2xx. A worker then posts the
//! review, retrying transient failures with jittered exponential backoff, across restarts, until
//! it lands or a permanent answer says it never will.
//!
//! The plugin sends up to four phases per build and re-sends after any failure, even after a
//! later success (its `failed` flag is never reset): the `callbacks` table, keyed by
//! (job, build number), makes the first finished phase (COMPLETED or FINALIZED) the only one that
//! queues a review.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::gerrit::ReviewInput;
use crate::state::{State, StateError};

mod worker;

pub use worker::{Backoff, Worker, run_worker};

/// DDL for the outbox tables, run by [`crate::state::State::open`].
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS callbacks (
    job TEXT NOT NULL,
    number INTEGER NOT NULL,
    phases TEXT NOT NULL,
    deliveries INTEGER NOT NULL,
    acted_phase TEXT,
    status TEXT,
    item INTEGER,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (job, number)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    change TEXT NOT NULL,
    revision TEXT NOT NULL,
    order_key TEXT NOT NULL,
    review TEXT,
    source TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT,
    outcome TEXT,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (order_key, state, id);
";

/// What to do on one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Post this review.
    Review(ReviewInput),
    /// Read the Verified votes and set the bot's to 0 if it is negative.
    DropRejection,
}

/// One unit of work for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub action: Action,
    /// The percent-encoded REST change id.
    pub change: String,
    /// A patch-set number or a sha.
    pub revision: String,
    /// What asked for it, for logs (`bionic-presubmit #42`).
    pub source: String,
}

/// The phase bookkeeping of one callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub job: String,
    pub number: u64,
    pub phase: String,
    pub status: Option<String>,
    /// COMPLETED or FINALIZED: the build's result is known.
    pub finished: bool,
    /// What the first finished phase queues (None: nothing to post).
    pub item: Option<Item>,
}

/// What accepting a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The first finished phase of this build: the item was queued with this id.
    Queued(i64),
    /// A finished phase after the first one, or a re-send: nothing new.
    Duplicate { acted_phase: String },
    /// Only recorded (an unfinished phase, or a finished one with nothing to post).
    Recorded,
}

/// Records a callback and, for the first finished phase of the build, queues its item, all in
/// one transaction: a re-send or the second finished phase can never queue a second review.
pub async fn accept_callback(state: &State, cb: Callback) -> Result<Accepted, StateError> {
    state
        .call(move |c| {
            let tx = c.transaction()?;
            let accepted = record_callback(&tx, &cb)?;
            tx.commit()?;
            Ok(accepted)
        })
        .await
}

fn record_callback(tx: &Transaction<'_>, cb: &Callback) -> rusqlite::Result<Accepted> {
    let now = now_ms();
    let number = cb.number as i64;
    let existing: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT phases, acted_phase FROM callbacks WHERE job = ?1 AND number = ?2",
            params![cb.job, number],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let acted = match existing {
        None => {
            tx.execute(
                "INSERT INTO callbacks (job, number, phases, deliveries, first_at, last_at)
                 VALUES (?1, ?2, ?3, 1, ?4, ?4)",
                params![cb.job, number, cb.phase, now],
            )?;
            None
        }
        Some((phases, acted)) => {
            let phases = if phases.split(' ').any(|p| p == cb.phase) {
                phases
            } else {
                format!("{phases} {}", cb.phase)
            };
            tx.execute(
                "UPDATE callbacks SET phases = ?3, deliveries = deliveries + 1, last_at = ?4
                 WHERE job = ?1 AND number = ?2",
                params![cb.job, number, phases, now],
            )?;
            acted
        }
    };
    if !cb.finished {
        return Ok(Accepted::Recorded);
    }
    if let Some(acted_phase) = acted {
        return Ok(Accepted::Duplicate { acted_phase });
    }
    let id = cb
        .item
        .as_ref()
        .map(|item| insert_item(tx, item, now))
        .transpose()?;
    tx.execute(
        "UPDATE callbacks SET acted_phase = ?3, status = ?4, item = ?5 WHERE job = ?1 AND number = ?2",
        params![cb.job, number, cb.phase, cb.status, id],
    )?;
    Ok(id.map_or(Accepted::Recorded, Accepted::Queued))
}

/// Queues an item that does not come from a build (a drop-rejection request). An identical
/// item still pending is not queued twice; its id is returned instead.
pub async fn accept_item(state: &State, item: Item) -> Result<i64, StateError> {
    state
        .call(move |c| {
            let tx = c.transaction()?;
            let (kind, review) = encode_action(&item.action);
            let pending: Option<i64> = tx
                .query_row(
                    "SELECT id FROM outbox WHERE state = 'pending' AND kind = ?1 AND change = ?2
                     AND revision = ?3 AND review IS ?4",
                    params![kind, item.change, item.revision, review],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match pending {
                Some(id) => id,
                None => insert_item(&tx, &item, now_ms())?,
            };
            tx.commit()?;
            Ok(id)
        })
        .await
}

fn encode_action(action: &Action) -> (&'static str, Option<String>) {
    match action {
        // Serializing a struct of strings and integers cannot fail.
        Action::Review(r) => ("review", serde_json::to_string(r).ok()),
        Action::DropRejection => ("drop_rejection", None),
    }
}

fn insert_item(tx: &Transaction<'_>, item: &Item, now: i64) -> rusqlite::Result<i64> {
    let (kind, review) = encode_action(&item.action);
    tx.execute(
        "INSERT INTO outbox (kind, change, revision, order_key, review, source, state,
                             next_attempt, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?7)",
        params![
            kind,
            item.change,
            item.revision,
            order_key(&item.change),
            review,
            item.source,
            now
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Items for one change are delivered in the order they were accepted (a -1 queued while Gerrit
/// was down must not land after the drop-rejection that follows it). The key is the change
/// number when the id names one (`123`, `platform%2Fbionic~123`), else the id itself.
fn order_key(change: &str) -> String {
    let mut parts = change.split('~');
    let (first, second, third) = (parts.next(), parts.next(), parts.next());
    let number = match (first, second, third) {
        (Some(n), None, None) | (Some(_), Some(n), None) => Some(n),
        _ => None,
    };
    match number {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.to_string(),
        _ => change.to_string(),
    }
}

/// A row of the outbox, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    pub id: i64,
    pub kind: String,
    pub change: String,
    pub revision: String,
    pub source: String,
    /// `pending`, `done` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub outcome: Option<String>,
}

/// Every outbox row, oldest first.
pub async fn items(state: &State) -> Result<Vec<ItemView>, StateError> {
    state
        .call(|c| {
            let mut st = c.prepare(
                "SELECT id, kind, change, revision, source, state, attempts, last_error, outcome
                 FROM outbox ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(ItemView {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    change: r.get(2)?,
                    revision: r.get(3)?,
                    source: r.get(4)?,
                    state: r.get(5)?,
                    attempts: r.get(6)?,
                    last_error: r.get(7)?,
                    outcome: r.get(8)?,
                })
            })?;
            rows.collect()
        })
        .await
}

/// The phases seen for one build, in arrival order, and the one acted on.
pub async fn callback_phases(
    state: &State,
    job: &str,
    number: u64,
) -> Result<Option<(Vec<String>, Option<String>)>, StateError> {
    let job = job.to_string();
    state
        .call(move |c| {
            c.query_row(
                "SELECT phases, acted_phase FROM callbacks WHERE job = ?1 AND number = ?2",
                params![job, number as i64],
                |r| {
                    let phases: String = r.get(0)?;
                    Ok((phases.split(' ').map(String::from).collect(), r.get(1)?))
                },
            )
            .optional()
        })
        .await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, State) {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(&dir.path().join("s.db")).unwrap();
        (dir, s)
    }

    fn item(change: &str, message: &str) -> Item {
        Item {
            action: Action::Review(ReviewInput::bot(Some(message.into()), Default::default())),
            change: change.into(),
            revision: "3".into(),
            source: "test".into(),
        }
    }

    fn callback(phase: &str, status: Option<&str>) -> Callback {
        Callback {
            job: "bionic-presubmit".into(),
            number: 42,
            phase: phase.into(),
            status: status.map(String::from),
            finished: status.is_some(),
            item: status.map(|s| item("123", s)),
        }
    }

    #[tokio::test]
    async fn only_the_first_finished_phase_queues_a_review() {
        let (_dir, s) = state();
        let seq = [
            callback("QUEUED", None),
            callback("STARTED", None),
            callback("COMPLETED", Some("SUCCESS")),
            callback("FINALIZED", Some("SUCCESS")),
            callback("COMPLETED", Some("SUCCESS")),
        ];
        let mut results = Vec::new();
        for cb in seq {
            results.push(accept_callback(&s, cb).await.unwrap());
        }
        let dup = || Accepted::Duplicate {
            acted_phase: "COMPLETED".into(),
        };
        assert_eq!(
            results,
            vec![
                Accepted::Recorded,
                Accepted::Recorded,
                Accepted::Queued(1),
                dup(),
                dup()
            ]
        );
        assert_eq!(items(&s).await.unwrap().len(), 1);
        let (phases, acted) = callback_phases(&s, "bionic-presubmit", 42)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(phases, ["QUEUED", "STARTED", "COMPLETED", "FINALIZED"]);
        assert_eq!(acted.as_deref(), Some("COMPLETED"));
    }

    #[tokio::test]
    async fn finalized_alone_queues_and_a_later_completed_is_a_duplicate() {
        let (_dir, s) = state();
        let first = accept_callback(&s, callback("FINALIZED", Some("FAILURE")))
            .await
            .unwrap();
        assert_eq!(first, Accepted::Queued(1));
        let again = accept_callback(&s, callback("COMPLETED", Some("FAILURE")))
            .await
            .unwrap();
        assert_eq!(
            again,
            Accepted::Duplicate {
                acted_phase: "FINALIZED".into()
            }
        );
    }

    #[tokio::test]
    async fn a_finished_build_with_nothing_to_post_is_recorded_once() {
        let (_dir, s) = state();
        let mut cb = callback("COMPLETED", Some("SUCCESS"));
        cb.item = None;
        assert_eq!(
            accept_callback(&s, cb.clone()).await.unwrap(),
            Accepted::Recorded
        );
        assert!(matches!(
            accept_callback(&s, cb).await.unwrap(),
            Accepted::Duplicate { .. }
        ));
        assert!(items(&s).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_identical_pending_item_is_not_queued_twice() {
        let (_dir, s) = state();
        let drop = Item {
            action: Action::DropRejection,
            change: "platform%2Fbionic~5".into(),
            revision: "2".into(),
            source: "drop-rejection".into(),
        };
        let a = accept_item(&s, drop.clone()).await.unwrap();
        let b = accept_item(&s, drop.clone()).await.unwrap();
        assert_eq!(a, b);
        let other = accept_item(
            &s,
            Item {
                revision: "3".into(),
                ..drop
            },
        )
        .await
        .unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn order_keys_are_change_numbers_when_the_id_has_one() {
        assert_eq!(order_key("123"), "123");
        assert_eq!(order_key("platform%2Fbionic~123"), "123");
        assert_eq!(order_key("p~main~I0123"), "p~main~I0123");
        assert_eq!(order_key("I0123"), "I0123");
    }
}
