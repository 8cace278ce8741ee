//! Forgetting: rows older than `[state] retention` are pruned, so the file does not grow
//! forever. Pending and running intents are never pruned, whatever their age.

use rusqlite::params;

use super::{Journal, JournalError, now_ms};

/// How many rows one prune removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub intents: usize,
    pub events: usize,
    pub builds: usize,
    pub callbacks: usize,
    pub mails: usize,
    pub changes: usize,
}

impl Journal {
    /// Deletes finished rows last touched before `retention_ms` ago.
    pub async fn prune(&self, retention_ms: i64) -> Result<Pruned, JournalError> {
        self.write(move |c| {
            let before = now_ms().saturating_sub(retention_ms);
            Ok(Pruned {
                intents: c.execute(
                    "DELETE FROM intents WHERE state IN ('done', 'failed') AND updated < ?1",
                    params![before],
                )?,
                events: c.execute("DELETE FROM events WHERE at < ?1", params![before])?,
                builds: c.execute("DELETE FROM builds WHERE created < ?1", params![before])?,
                callbacks: c
                    .execute("DELETE FROM callbacks WHERE last_at < ?1", params![before])?,
                mails: c.execute("DELETE FROM mails WHERE updated < ?1", params![before])?,
                changes: {
                    // The board's summaries go with the events they summarise.
                    c.execute(
                        "DELETE FROM votes WHERE number IN
                         (SELECT number FROM changes WHERE updated < ?1)",
                        params![before],
                    )?;
                    c.execute("DELETE FROM changes WHERE updated < ?1", params![before])?
                },
            })
        })
        .await
    }
}
