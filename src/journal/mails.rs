//! Mail attempts: how often handling a mail failed, so that a mail that can never be handled
//! (a poison mail) is set aside instead of being retried forever, and a failing mail is retried
//! with backoff rather than on every poll.

use rusqlite::{OptionalExtension, params};

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
            c.query_row(
                "SELECT attempts, last_error, next_attempt FROM mails WHERE gmail_id = ?1",
                params![id],
                |r| {
                    Ok(MailAttempts {
                        attempts: r.get(0)?,
                        last_error: r.get(1)?,
                        next_attempt: r.get(2)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// Counts one failed attempt; the mail is not tried again for `wait_ms`. Returns the count.
    pub async fn mail_failed(
        &self,
        gmail_id: &str,
        error: &str,
        wait_ms: i64,
    ) -> Result<u32, JournalError> {
        let (id, error) = (gmail_id.to_string(), error.to_string());
        self.write(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO mails (gmail_id, attempts, last_error, next_attempt, first_seen, updated)
                 VALUES (?1, 1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (gmail_id) DO UPDATE SET attempts = attempts + 1, last_error = ?2,
                    next_attempt = ?3, updated = ?4",
                params![id, error, now.saturating_add(wait_ms), now],
            )?;
            c.query_row(
                "SELECT attempts FROM mails WHERE gmail_id = ?1",
                params![id],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Forgets a mail's failures (it was handled).
    pub async fn mail_finished(&self, gmail_id: &str) -> Result<(), JournalError> {
        let id = gmail_id.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM mails WHERE gmail_id = ?1", params![id])
                .map(|_| ())
        })
        .await
    }
}
