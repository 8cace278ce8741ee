//! Incremental sync (SPEC §13): where the mailbox's history is (`users.getProfile`), what was
//! added to the watch label since (`users.history.list`, 2 quota units: one request per idle
//! poll), and moving many mails in one call (`users.messages.batchModify`, ≤ 1,000 ids).
//!
//! Gmail documents (<https://developers.google.com/gmail/api/guides/sync>) that a `historyId`
//! is valid for at least a week, sometimes only hours; an expired one answers 404, and then the
//! caller must list the label in full.

use google_gmail1::api::{BatchModifyMessagesRequest, History, Scope};

use super::{Gmail, GmailError};

/// At most this many ids per `batchModify` (the API's limit).
pub const BATCH_LIMIT: usize = 1000;

/// What the label gained since a history id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    /// Message ids added to the label (new mail, or the label put on later), oldest first,
    /// each once.
    pub ids: Vec<String>,
    /// The mailbox's history id to ask from next time.
    pub history_id: u64,
}

impl Gmail {
    /// The mailbox's current history id: record it *before* a full listing, so that mail
    /// arriving during the listing is found by the next incremental poll.
    pub async fn history_id(&self) -> Result<u64, GmailError> {
        let (_, profile) = self
            .retrying("getProfile", || {
                self.hub
                    .users()
                    .get_profile("me")
                    .add_scope(Scope::Modify)
                    .doit()
            })
            .await?;
        profile
            .history_id
            .ok_or_else(|| GmailError::Decode("profile without historyId".into()))
    }

    /// Mail added to `label_id` since `start`. `Ok(None)` when the history id is too old
    /// (Gmail answers 404): list the label in full instead.
    pub async fn added_since(
        &self,
        label_id: &str,
        start: u64,
    ) -> Result<Option<Added>, GmailError> {
        let mut added = Added {
            ids: Vec::new(),
            history_id: start,
        };
        let mut page: Option<String> = None;
        loop {
            let result = self
                .retrying("history.list", || {
                    let mut call = self
                        .hub
                        .users()
                        .history_list("me")
                        .start_history_id(start)
                        .add_history_types("messageAdded")
                        .add_history_types("labelAdded")
                        .label_id(label_id)
                        .max_results(500)
                        .add_scope(Scope::Modify);
                    if let Some(t) = page.as_deref() {
                        call = call.page_token(t);
                    }
                    call.doit()
                })
                .await;
            let resp = match result {
                Ok((_, resp)) => resp,
                Err(GmailError::Api { code: 404, .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            take_added(resp.history.unwrap_or_default(), label_id, &mut added.ids);
            if let Some(h) = resp.history_id {
                added.history_id = added.history_id.max(h);
            }
            match resp.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if Some(&t) != page.as_ref() => page = Some(t),
                _ => return Ok(Some(added)),
            }
        }
    }

    /// Adds and removes labels on many messages, in calls of at most [`BATCH_LIMIT`] ids.
    /// Trashing is adding `TRASH` (there is no batch trash).
    pub async fn batch_modify(
        &self,
        ids: &[String],
        add: &[&str],
        remove: &[&str],
    ) -> Result<(), GmailError> {
        for chunk in ids.chunks(BATCH_LIMIT) {
            let req = BatchModifyMessagesRequest {
                ids: Some(chunk.to_vec()),
                add_label_ids: (!add.is_empty())
                    .then(|| add.iter().map(|s| s.to_string()).collect()),
                remove_label_ids: (!remove.is_empty())
                    .then(|| remove.iter().map(|s| s.to_string()).collect()),
            };
            self.retrying("messages.batchModify", || {
                self.hub
                    .users()
                    .messages_batch_modify(req.clone(), "me")
                    .add_scope(Scope::Modify)
                    .doit()
            })
            .await?;
        }
        Ok(())
    }
}

/// Appends the messages that `records` added to `label_id` (new mail, or the label put on
/// later) to `ids`, each once.
fn take_added(records: Vec<History>, label_id: &str, ids: &mut Vec<String>) {
    for record in records {
        let new = record
            .messages_added
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| a.message)
            .chain(
                record
                    .labels_added
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| {
                        a.label_ids
                            .as_ref()
                            .is_some_and(|l| l.iter().any(|l| l == label_id))
                    })
                    .filter_map(|a| a.message),
            );
        for m in new {
            // A message added and labelled in one record shows twice.
            if let Some(id) = m.id
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
    }
}
