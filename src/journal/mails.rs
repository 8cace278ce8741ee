//! Mail attempts: how often handling a mail failed, so that a mail that can never be handled
//! (a poison mail) is set aside instead of being retried forever, and a failing mail is retried
//! with backoff rather than on every poll.

use rusqlite::{OptionalExtension, params};

use crate::key::IntentKey;

use super::{Journal, JournalError, now_ms};

/// What the journal remembers about a mail that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttempts {
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Not to be tried again before this (ms).
    pub next_attempt: i64,
}

impl Journal {
    /// The failures recorded for a mail, if any.
    pub async fn mail_attempts(
        &self,
        gmail_id: &str,
    ) -> Result<Option<MailAttempts>, JournalError> {
        let id = gmail_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT attempts, last_error, next_attempt FROM mails WHERE gmail_id = ?1",
            )?
            .query_row(params![id], |r| {
                Ok(MailAttempts {
                    attempts: r.get(0)?,
                    last_error: r.get(1)?,
                    next_attempt: r.get(2)?,
                })
            })
            .optional()
        })
        .await
    }

    /// Counts one failed attempt; the mail is not tried again for `wait_ms`; `keys` are the
    /// intents it waits on. Returns the count.
    pub async fn mail_failed(
        &self,
        gmail_id: &str,
        error: &str,
        wait_ms: i64,
        keys: &[IntentKey],
    ) -> Result<u32, JournalError> {
        let (id, error) = (gmail_id.to_string(), error.to_string());
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into());
        self.write(move |c| {
            let now = now_ms();
            c.prepare_cached(
                "INSERT INTO mails (gmail_id, attempts, last_error, next_attempt, intent_keys,
                                    first_seen, updated)
                 VALUES (?1, 1, ?2, ?3, ?5, ?4, ?4)
                 ON CONFLICT (gmail_id) DO UPDATE SET attempts = attempts + 1, last_error = ?2,
                    next_attempt = ?3, intent_keys = ?5, updated = ?4",
            )?
            .execute(params![id, error, now.saturating_add(wait_ms), now, keys])?;
            c.prepare_cached("SELECT attempts FROM mails WHERE gmail_id = ?1")?
                .query_row(params![id], |r| r.get(0))
        })
        .await
    }

    /// Gives up on a poison mail's unfinished intents: they fail with `why` (a trigger's build
    /// no longer counts as built). Returns how many.
    pub async fn abandon_mail(&self, gmail_id: &str, why: &str) -> Result<usize, JournalError> {
        let (id, why) = (gmail_id.to_string(), why.to_string());
        self.write(move |c| {
            let keys: Option<String> = c
                .query_row(
                    "SELECT intent_keys FROM mails WHERE gmail_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            let keys: Vec<String> = keys
                .and_then(|k| serde_json::from_str(&k).ok())
                .unwrap_or_default();
            let now = now_ms();
            let mut n = 0;
            for key in keys {
                n += c
                    .prepare_cached(
                        "UPDATE intents SET state = 'failed', last_error = ?2, owner = NULL,
                            lease_until = NULL, updated = ?3
                     WHERE key = ?1 AND state = 'pending'",
                    )?
                    .execute(params![key, why, now])?;
                c.prepare_cached(
                    "UPDATE builds SET status = 'not_triggered'
                     WHERE intent_key = ?1 AND queue_id IS NULL
                       AND (SELECT state FROM intents WHERE key = ?1) = 'failed'",
                )?
                .execute(params![key])?;
            }
            Ok(n)
        })
        .await
    }

    /// Forgets the failures of mails that were handled, in one transaction.
    pub async fn mails_finished(&self, gmail_ids: Vec<String>) -> Result<(), JournalError> {
        self.write(move |c| {
            let mut st = c.prepare_cached("DELETE FROM mails WHERE gmail_id = ?1")?;
            gmail_ids
                .iter()
                .try_for_each(|id| st.execute(params![id]).map(|_| ()))
        })
        .await
    }
}
