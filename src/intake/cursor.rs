//! The history cursor (SPEC §13 incremental polling): which mails a poll reads. An idle poll
//! costs one `history.list`; at start, every `[gmail] full_scan_interval` and when the history
//! is too old, the watch label is listed in full instead.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::gmail::{Gmail, GmailError};

/// Why the mailbox could not be read this time.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error(transparent)]
    Gmail(#[from] GmailError),
    #[error(
        "the Gmail label `{0}` does not exist: create it and a filter that applies it to Gerrit's mail"
    )]
    NoLabel(String),
}

/// Where the mailbox was when last looked at.
pub struct Cursor {
    /// The watch label's name.
    label: String,
    full_scan_interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The history id to ask `history.list` from; None: list the label in full next.
    history_id: Option<u64>,
    last_full: Option<Instant>,
    /// Mails left at the last poll (failed, or held by another instance), oldest first: the
    /// history will not mention them again.
    left: Vec<String>,
}

impl Cursor {
    pub fn new(label: &str, full_scan_interval: Duration) -> Cursor {
        Cursor {
            label: label.to_string(),
            full_scan_interval,
            state: Mutex::default(),
        }
    }

    /// Remembers the mails a poll left, to be read again first by the next one.
    pub async fn leave(&self, left: Vec<String>) {
        self.state.lock().await.left = left;
    }

    /// The mails to read this poll, oldest first: what history says was added to the label
    /// since the last poll (one `history.list`), after the mails left last time; or, at
    /// start, every `full_scan_interval`, and when the history is too old, the whole label
    /// (its mail handled oldest first, as Gerrit sent it).
    pub async fn mail_to_read(&self, gmail: &Gmail) -> Result<Vec<String>, CursorError> {
        let (history_id, full_due, left) = {
            let state = self.state.lock().await;
            let full_due = state
                .last_full
                .is_none_or(|t| t.elapsed() >= self.full_scan_interval);
            (state.history_id, full_due, state.left.clone())
        };
        if let (Some(start), false) = (history_id, full_due) {
            let label_id = self.label_id(gmail).await?;
            if let Some(added) = gmail.added_since(&label_id, start).await? {
                let mut ids = left;
                for id in added.ids {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                self.state.lock().await.history_id = Some(added.history_id);
                return Ok(ids);
            }
            tracing::info!("the mailbox history is too old: listing the label in full");
        }
        // A full listing looks the labels up again: one deleted and made again is found.
        gmail.forget_labels().await;
        let label_id = self.label_id(gmail).await?;
        // The history id before the listing: mail arriving meanwhile is found next time.
        let history_id = gmail.history_id().await?;
        // All ids first: moving mail while paging would shift the pages under us. Gmail lists
        // newest first; handle mail in the order Gerrit sent it (a newchange before the
        // comments on it).
        let mut ids = gmail.list(&label_id).await?;
        ids.reverse();
        let mut state = self.state.lock().await;
        state.history_id = Some(history_id);
        state.last_full = Some(Instant::now());
        Ok(ids)
    }

    /// The watch label's id (cached by the client).
    async fn label_id(&self, gmail: &Gmail) -> Result<String, CursorError> {
        gmail
            .label(&self.label, false)
            .await?
            .ok_or_else(|| CursorError::NoLabel(self.label.clone()))
    }
}
