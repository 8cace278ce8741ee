//! Filing mail: a window's handled mails are trashed or set aside together, as intents (one
//! journal write for the window's moves, one for their claims) carried out with one Gmail
//! `batchModify` per destination (SPEC §13: one request per 1,000 mails, not one per mail).
//! Moving is idempotent: a mail seen again in the label is simply moved again.

use std::collections::BTreeMap;

use crate::console;
use crate::effects::{self, Effect, Payload};
use crate::intake::gmail::GmailError;
use crate::journal::{Claim, Finish, NewEvent, Planned};

use super::{Handled, Poller};

/// Where a mail goes once its effects are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fate {
    Trash,
    SetAside,
}

/// One mail to file.
pub(super) struct ToFile {
    pub id: String,
    pub fate: Fate,
    pub context: String,
    pub events: Vec<NewEvent>,
}

impl Poller {
    /// Files `mails`; returns how each ended (`Filed`, `Waiting` when another instance holds
    /// the move, `Failed` when Gmail refused).
    pub(super) async fn file_batch(&self, mails: Vec<ToFile>) -> Vec<(String, Handled)> {
        if mails.is_empty() {
            return Vec::new();
        }
        let events: Vec<NewEvent> = mails.iter().flat_map(|m| m.events.clone()).collect();
        if self.dry_run {
            events.iter().for_each(console::event);
            return mails
                .into_iter()
                .map(|m| (m.id, Handled::Waiting))
                .collect();
        }
        let planned: Vec<Planned> = mails.iter().map(|m| self.move_intent(m)).collect();
        let fates: BTreeMap<String, Fate> = mails.iter().map(|m| (m.id.clone(), m.fate)).collect();
        let failed = |error: String| -> Vec<(String, Handled)> {
            fates
                .keys()
                .map(|id| (id.clone(), Handled::Failed(error.clone(), Vec::new())))
                .collect()
        };
        if let Err(e) = self.journal.record(planned, events.clone()).await {
            return failed(format!("state database: {e}"));
        }
        events.iter().for_each(console::event);
        let keys = fates.keys().map(|id| format!("move:{id}")).collect();
        let claims = match self.journal.claim_keys(keys, &self.effectors.owner).await {
            Ok(c) => c,
            Err(e) => return failed(format!("state database: {e}")),
        };
        let mut out = Vec::new();
        let mut run: BTreeMap<Fate, Vec<(String, i64)>> = BTreeMap::new();
        for (claim, (id, fate)) in claims.into_iter().zip(fates.iter()) {
            match claim {
                Claim::Run(intent) => run.entry(*fate).or_default().push((id.clone(), intent.id)),
                _ => out.push((id.clone(), Handled::Waiting)),
            }
        }
        for (fate, batch) in run {
            out.extend(self.move_batch(fate, batch).await);
        }
        out
    }

    fn move_intent(&self, m: &ToFile) -> Planned {
        let set_aside = (m.fate == Fate::SetAside).then(|| {
            (
                self.config.gmail.label.clone(),
                self.config.gmail.set_aside_label.clone(),
            )
        });
        effects::plan(
            format!("move:{}", m.id),
            Payload {
                effect: Effect::MailMove {
                    gmail_id: m.id.clone(),
                    set_aside,
                },
                context: m.context.clone(),
                done: None,
            },
            None,
            None,
            format!("mail {}", m.id),
        )
    }

    /// Moves one destination's mails with `batchModify` and records the outcome of each.
    async fn move_batch(&self, fate: Fate, batch: Vec<(String, i64)>) -> Vec<(String, Handled)> {
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        let moved = match fate {
            Fate::Trash => self.gmail.batch_modify(&ids, &["TRASH"], &[]).await,
            Fate::SetAside => match self.aside_labels().await {
                Ok((watch, aside)) => self.gmail.batch_modify(&ids, &[&aside], &[&watch]).await,
                Err(e) => Err(e),
            },
        };
        let finish = match &moved {
            Ok(()) => Finish::Done {
                outcome: if fate == Fate::Trash {
                    "trashed"
                } else {
                    "set aside"
                }
                .into(),
            },
            Err(e) => Finish::Retry {
                error: e.to_string(),
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
        match moved {
            Ok(()) => {
                if let Err(e) = self.journal.mails_finished(ids.clone()).await {
                    tracing::warn!(error = %e, "cannot forget the mails' failures");
                }
                let trashed = fate == Fate::Trash;
                ids.into_iter()
                    .map(|id| (id, Handled::Filed { trashed }))
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot file the mails; they stay for the next poll");
                let error = e.to_string();
                ids.into_iter()
                    .map(|id| (id, Handled::Failed(error.clone(), Vec::new())))
                    .collect()
            }
        }
    }

    /// The ids of the watch label and of the set-aside label (created when missing).
    async fn aside_labels(&self) -> Result<(String, String), GmailError> {
        let watch = self.label_id().await?;
        let aside = self
            .gmail
            .label_id(&self.config.gmail.set_aside_label, true)
            .await?
            .ok_or_else(|| GmailError::Decode("the set-aside label has no id".into()))?;
        Ok((watch, aside))
    }
}
