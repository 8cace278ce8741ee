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

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, params};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::gerrit::{Gerrit, GerritError, ReviewInput, VERIFIED};
use crate::state::{State, StateError};

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

/// Jittered exponential backoff: attempt n waits between half and all of
/// `first * 2^(n-1)`, capped at `max`. The jitter keeps a backlog from hitting a Gerrit that
/// just came back all at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// An hour-long Gerrit outage costs at most five minutes of extra delay once it is over.
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        let full = self.first.saturating_mul(factor).min(self.max);
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    }
}

/// Delivers outbox items to Gerrit.
#[derive(Clone)]
pub struct Worker {
    pub state: State,
    pub gerrit: Gerrit,
    pub backoff: Backoff,
}

/// A due item as loaded from the database.
struct Due {
    id: i64,
    kind: String,
    change: String,
    revision: String,
    review: Option<String>,
    source: String,
    attempts: u32,
}

/// How one attempt ended.
enum Attempt {
    Done(String),
    Retry(GerritError),
    Failed(String),
}

impl Worker {
    /// Attempts every due item (at most `limit`) once; returns how many were attempted.
    /// Database errors are logged and count as nothing attempted (the loop tries again later).
    pub async fn deliver_due(&self, limit: usize) -> usize {
        let due = match self.load_due(limit).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return 0;
            }
        };
        let count = due.len();
        for item in due {
            let span = tracing::info_span!("deliver", id = item.id, source = %item.source,
                change = %item.change, revision = %item.revision);
            async {
                let attempt = self.attempt(&item).await;
                if let Err(e) = self.finish(&item, attempt).await {
                    tracing::error!(error = %e, "cannot update the outbox");
                }
            }
            .instrument(span)
            .await;
        }
        count
    }

    async fn load_due(&self, limit: usize) -> Result<Vec<Due>, StateError> {
        let now = now_ms();
        self.state
            .call(move |c| {
                // An item waits while an older item for the same change is still pending.
                let mut st = c.prepare_cached(
                    "SELECT id, kind, change, revision, review, source, attempts FROM outbox o
                     WHERE state = 'pending' AND next_attempt <= ?1
                       AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.state = 'pending'
                                       AND e.order_key = o.order_key AND e.id < o.id)
                     ORDER BY next_attempt, id LIMIT ?2",
                )?;
                let rows = st.query_map(params![now, limit as i64], |r| {
                    Ok(Due {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        change: r.get(2)?,
                        revision: r.get(3)?,
                        review: r.get(4)?,
                        source: r.get(5)?,
                        attempts: r.get(6)?,
                    })
                })?;
                rows.collect()
            })
            .await
    }

    async fn attempt(&self, item: &Due) -> Attempt {
        let result = match (item.kind.as_str(), &item.review) {
            ("review", Some(json)) => match serde_json::from_str::<ReviewInput>(json) {
                Ok(review) => self.post(item, &review).await,
                Err(e) => return Attempt::Failed(format!("stored review is unreadable: {e}")),
            },
            ("drop_rejection", _) => self.drop_rejection(item).await,
            (kind, _) => return Attempt::Failed(format!("unknown outbox item kind `{kind}`")),
        };
        match result {
            Ok(outcome) => Attempt::Done(outcome),
            // 401: the credentials may be fixed (netrc edited, process restarted): keep the item.
            Err(e) if e.is_transient() || e == GerritError::Unauthorized => Attempt::Retry(e),
            Err(e) => Attempt::Failed(e.to_string()),
        }
    }

    async fn post(&self, item: &Due, review: &ReviewInput) -> Result<String, GerritError> {
        let result = self
            .gerrit
            .post_review(&item.change, &item.revision, review)
            .await?;
        let dropped = result.dropped_labels(review);
        if dropped.is_empty() {
            return Ok("posted".into());
        }
        tracing::warn!(
            labels = ?dropped,
            "Gerrit accepted the review but did not apply these labels: the project has no such \
             label or the bot's account may not vote on it (see docs/build-listener.md)"
        );
        Ok(format!("posted; Gerrit dropped {}", dropped.join(", ")))
    }

    async fn drop_rejection(&self, item: &Due) -> Result<String, GerritError> {
        let me = self.gerrit.self_account_id().await?;
        let votes = self
            .gerrit
            .revision_votes(&item.change, &item.revision)
            .await?;
        if !votes.asked_is_current {
            tracing::warn!(
                current = ?votes.current_patch_set.map(|p| p.0),
                "patch set {} is not current: Gerrit reports the current patch set's labels \
                 only, so the decision follows those",
                item.revision
            );
        }
        if !votes.label_exists {
            return Ok("no Verified label on the change: nothing to drop".into());
        }
        match votes.votes.iter().find(|(account, _)| *account == me) {
            Some(&(_, value)) if value < 0 => {
                let review = ReviewInput::bot(None, [(VERIFIED.to_string(), 0)].into());
                self.post(item, &review).await?;
                Ok(format!("removed the bot's Verified{value}"))
            }
            Some(&(_, value)) => Ok(format!("the bot's vote is Verified+{value}: kept")),
            None => Ok("the bot has no Verified vote: nothing to drop".into()),
        }
    }

    async fn finish(&self, item: &Due, attempt: Attempt) -> Result<(), StateError> {
        let (id, now) = (item.id, now_ms());
        let attempts = item.attempts + 1;
        match attempt {
            Attempt::Done(outcome) => {
                tracing::info!(attempts, outcome = %outcome, "delivered");
                self.set(id, "done", attempts, now, None, Some(outcome))
                    .await
            }
            Attempt::Retry(e) => {
                let wait = self.backoff.delay(attempts);
                tracing::warn!(attempts, error = %e, retry_in = ?wait, "Gerrit failed; will retry");
                let next = now + wait.as_millis() as i64;
                self.set(id, "pending", attempts, next, Some(e.to_string()), None)
                    .await
            }
            Attempt::Failed(reason) => {
                tracing::error!(attempts, error = %reason, "not retried: Gerrit will not accept it");
                self.set(id, "failed", attempts, now, Some(reason), None)
                    .await
            }
        }
    }

    async fn set(
        &self,
        id: i64,
        state: &'static str,
        attempts: u32,
        next_attempt: i64,
        error: Option<String>,
        outcome: Option<String>,
    ) -> Result<(), StateError> {
        self.state
            .call(move |c| {
                c.execute(
                    "UPDATE outbox SET state = ?2, attempts = ?3, next_attempt = ?4,
                     last_error = COALESCE(?5, last_error), outcome = ?6, updated = ?7
                     WHERE id = ?1",
                    params![id, state, attempts, next_attempt, error, outcome, now_ms()],
                )
                .map(|_| ())
            })
            .await
    }

    /// How long to sleep before the next item is due (at most a minute; the wake-up
    /// notification cuts it short when something is accepted).
    async fn next_wait(&self) -> Duration {
        let cap = Duration::from_secs(60);
        let next: Result<Option<i64>, _> = self
            .state
            .call(|c| {
                c.query_row(
                    "SELECT MIN(next_attempt) FROM outbox WHERE state = 'pending'",
                    [],
                    |r| r.get(0),
                )
            })
            .await;
        match next {
            Ok(Some(at)) => Duration::from_millis((at - now_ms()).max(0) as u64).min(cap),
            Ok(None) => cap,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                Duration::from_secs(5)
            }
        }
    }

    /// Delivers until `shutdown` completes: first whatever an earlier process left pending, then
    /// each item as it is accepted (`wake`) or comes due. An attempt in flight is finished
    /// before stopping, so a review Gerrit took is never left marked pending.
    pub async fn run(self, wake: Arc<Notify>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        self.prune().await;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = std::future::ready(()) => {}
            }
            if self.deliver_due(1).await > 0 {
                continue;
            }
            let wait = self.next_wait().await;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("outbox worker stopped");
    }

    /// Forgets finished rows after 30 days (the plugin's re-sends come within minutes).
    async fn prune(&self) {
        let before = now_ms() - 30 * 24 * 3600 * 1000;
        let result = self
            .state
            .call(move |c| {
                c.execute(
                    "DELETE FROM outbox WHERE state != 'pending' AND updated < ?1",
                    [before],
                )?;
                c.execute("DELETE FROM callbacks WHERE last_at < ?1", [before])
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot prune the outbox");
        }
    }
}

/// Runs the worker (see [`Worker::run`]).
pub async fn run_worker(worker: Worker, wake: Arc<Notify>, shutdown: impl Future<Output = ()>) {
    worker.run(wake, shutdown).await;
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

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let b = Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(
                d1 >= Duration::from_secs(1) && d1 <= Duration::from_secs(2),
                "{d1:?}"
            );
            let d3 = b.delay(3);
            assert!(
                d3 >= Duration::from_secs(4) && d3 <= Duration::from_secs(8),
                "{d3:?}"
            );
            let d40 = b.delay(40);
            assert!(
                d40 >= Duration::from_secs(30) && d40 <= Duration::from_secs(60),
                "{d40:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_later_item_for_the_same_change_waits_for_the_earlier_one() {
        let (_dir, s) = state();
        let gerrit = Gerrit::new(
            "http://127.0.0.1:9",
            crate::credentials::Credentials {
                login: "u".into(),
                password: crate::credentials::Secret::new("p"),
            },
            Duration::from_secs(1),
        )
        .unwrap();
        let w = Worker {
            state: s.clone(),
            gerrit,
            backoff: Backoff::default(),
        };
        for (change, msg) in [("123", "a"), ("p~123", "b"), ("456", "c")] {
            accept_item(&s, item(change, msg)).await.unwrap();
        }
        let due: Vec<i64> = w.load_due(10).await.unwrap().iter().map(|d| d.id).collect();
        assert_eq!(due, vec![1, 3]);
    }
}
