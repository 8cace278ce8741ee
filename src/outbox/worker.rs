//! The outbox worker: delivers due items to Gerrit, one at a time, retrying transient failures
//! with jittered exponential backoff until they land or Gerrit refuses them for good.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::params;
use tokio::sync::Notify;
use tracing::Instrument;

use super::now_ms;
use crate::console::{self, Kind};
use crate::gerrit::{Gerrit, GerritError, ReviewInput, VERIFIED};
use crate::state::{State, StateError};

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

/// `bionic-presubmit #42 => platform/bionic~7 patch set 3: posted`
fn outcome_text(item: &Due, outcome: &str) -> String {
    let change = percent_encoding::percent_decode_str(&item.change).decode_utf8_lossy();
    format!(
        "{} => {change} patch set {}: {outcome}",
        item.source, item.revision
    )
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
                console::line(Kind::Check, "gerrit", &outcome_text(item, &outcome));
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
                let text = outcome_text(item, &format!("{reason} (not retried)"));
                console::line(Kind::Error, "gerrit", &text);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Action, Item, accept_item};

    fn item(change: &str, message: &str) -> Item {
        Item {
            action: Action::Review(ReviewInput::bot(Some(message.into()), Default::default())),
            change: change.into(),
            revision: "3".into(),
            source: "test".into(),
        }
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
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(&dir.path().join("s.db")).unwrap();
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
