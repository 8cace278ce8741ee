//! The mail-move effector: trashing a handled mail, or setting it aside under another label.
//! The one place mail is moved: a poll's window of handled mails goes in one Gmail
//! `batchModify` per destination (SPEC §13: one request per 1,000 mails, not one per mail),
//! and a single intent (a retry, or one a stopped process left) is a batch of one.
//! Moving is idempotent: a mail seen again in the label is simply moved again.

use std::collections::BTreeMap;

use crate::key::IntentKey;

use crate::gmail::{Gmail, GmailError};
use crate::journal::{Claim, Effected, Finish, JournalError, Planned};

use super::outcome::{Attempt, no_client};
use super::{Effect, Effectors, Payload};

/// Where a mail goes: `None` to the trash, or from one label to another (names) to set it
/// aside.
pub type Destination = Option<(String, String)>;

/// How a mail's move ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// Trashed or set aside.
    Done,
    /// Another process holds the move (or it is not due): it is left to that process.
    Held,
    /// Gmail refused; the move is retried with its mail (the error).
    Failed(String),
}

/// The intent key of moving Gmail message `gmail_id`.
pub fn move_key(gmail_id: &str) -> IntentKey {
    IntentKey::MailMove {
        gmail_id: gmail_id.to_string(),
    }
}

/// The intent that moves mail `gmail_id` to `to` once its effects are done.
pub fn plan_move(gmail_id: &str, to: Destination, context: &str) -> Planned {
    super::plan(
        move_key(gmail_id),
        Payload {
            effect: Effect::MailMove {
                gmail_id: gmail_id.to_string(),
                set_aside: to,
            },
            context: context.to_string(),
            done: None,
        },
        None,
        None,
        format!("mail {gmail_id}"),
    )
}

impl Effectors {
    /// Claims the recorded moves of `mails` (see [`plan_move`]) and carries them out together:
    /// one `batchModify` per destination, the outcomes recorded in one journal write. The
    /// destination given here wins over the one a pending intent recorded earlier (a mail set
    /// aside after its move to the trash failed too often). Returns how each mail ended,
    /// those held elsewhere first, then the trash, then the set-aside batch.
    pub async fn move_mails(
        &self,
        mails: Vec<(String, Destination)>,
    ) -> Result<Vec<(String, Moved)>, JournalError> {
        let mails: BTreeMap<String, Destination> = mails.into_iter().collect();
        let keys = mails.keys().map(|id| move_key(id)).collect();
        let claims = self.journal.claim_keys(keys, &self.owner).await?;
        let mut out = Vec::new();
        let mut batches: BTreeMap<Destination, Vec<(String, i64)>> = BTreeMap::new();
        for (claim, (id, to)) in claims.into_iter().zip(mails) {
            match claim {
                Claim::Run(intent) => batches.entry(to).or_default().push((id, intent.id)),
                _ => out.push((id, Moved::Held)),
            }
        }
        for (to, batch) in batches {
            out.extend(self.move_batch(to.as_ref(), batch).await);
        }
        Ok(out)
    }

    /// Moves one destination's claimed mails and records the outcome of each.
    async fn move_batch(
        &self,
        to: Option<&(String, String)>,
        batch: Vec<(String, i64)>,
    ) -> Vec<(String, Moved)> {
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        let moved = match &self.gmail {
            Some(gmail) => move_all(gmail, &ids, to).await.map_err(|e| e.to_string()),
            None => Err("this process cannot reach Gmail".to_string()),
        };
        let finish = match &moved {
            Ok(outcome) => Finish::Done {
                outcome: (*outcome).into(),
                effected: Effected {
                    moved_to: Some(super::outcome::moved_to(to)),
                    ..Effected::default()
                },
            },
            // Due again at once: the mail's own backoff paces the retry.
            Err(error) => Finish::Retry {
                error: error.clone(),
                at: 0,
                doubt: false,
            },
        };
        let outcomes = batch
            .iter()
            .map(|(_, intent)| (*intent, finish.clone()))
            .collect();
        if let Err(e) = self.journal.finish_many(outcomes).await {
            tracing::error!(error = %e, "cannot record how the mails were moved");
        }
        let how = match moved {
            Ok(_) => Moved::Done,
            Err(error) => {
                tracing::warn!(%error, "cannot file the mails; they stay for the next poll");
                Moved::Failed(error)
            }
        };
        ids.into_iter().map(|id| (id, how.clone())).collect()
    }

    /// One attempt at one claimed move: a batch of one.
    pub(super) async fn mail_move(&self, gmail_id: &str, to: Option<&(String, String)>) -> Attempt {
        let Some(gmail) = &self.gmail else {
            return no_client("Gmail");
        };
        match move_all(gmail, &[gmail_id.to_string()], to).await {
            Ok(outcome) => Attempt::Done(outcome.into()),
            // The mail is gone already (a person deleted it): nothing left to move.
            Err(GmailError::Api { code: 404, .. }) => Attempt::Done("gone".into()),
            Err(e) => Attempt::Retry {
                error: e.to_string(),
                doubt: false,
            },
        }
    }
}

/// Moves `ids` to `to` with `batchModify` (trashing is adding `TRASH`: there is no batch
/// trash); the outcome's text.
async fn move_all(
    gmail: &Gmail,
    ids: &[String],
    to: Option<&(String, String)>,
) -> Result<&'static str, GmailError> {
    let Some((from, aside)) = to else {
        gmail.batch_modify(ids, &["TRASH"], &[]).await?;
        return Ok("trashed");
    };
    let from = label(gmail, from, false).await?;
    let aside = label(gmail, aside, true).await?;
    gmail.batch_modify(ids, &[&aside], &[&from]).await?;
    Ok("set aside")
}

/// A label's id (the set-aside label is created when missing).
async fn label(gmail: &Gmail, name: &str, create: bool) -> Result<String, GmailError> {
    gmail
        .label(name, create)
        .await?
        .ok_or_else(|| GmailError::Decode(format!("no Gmail label `{name}`")))
}
