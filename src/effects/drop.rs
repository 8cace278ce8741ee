//! The drop-rejection effector (build-listener): set the bot's Verified vote on a revision to
//! 0 when it is negative and another account has voted Verified+1 on that patch set.

use crate::gerrit::{ReviewInput, VERIFIED};
use crate::journal::Effected;
use crate::policy::{self, DropVerdict};

use super::Effectors;
use super::outcome::{Attempt, gerrit_failure, no_client};

impl Effectors {
    pub(super) async fn drop_rejection(&self, change: &str, revision: &str) -> Attempt {
        let Some(gerrit) = &self.gerrit else {
            return no_client("Gerrit");
        };
        let result = async {
            let me = gerrit.self_account_id().await?;
            let votes = gerrit.revision_votes(change, revision).await?;
            if !votes.asked_is_current {
                tracing::warn!(current = ?votes.current_patch_set.map(|p| p.0),
                    "patch set {revision} is not current: Gerrit reports the current patch set's \
                     labels only, so the decision follows those");
            }
            let person_plus_one = if votes.asked_is_current {
                votes.votes.iter().any(|&(a, v)| a != me && v > 0)
            } else if votes.label_exists {
                // Gerrit reports only the current patch set's labels: on an older one, the
                // change message is the record of the vote.
                gerrit.messages(change).await?.iter().any(|m| {
                    m.author.is_some_and(|a| a != me)
                        && m.patch_set.map(|p| p.to_string()).as_deref() == Some(revision)
                        && m.header_votes().iter().any(|t| t == "Verified+1")
                })
            } else {
                false
            };
            let bot_vote = votes.votes.iter().find(|(a, _)| *a == me).map(|&(_, v)| v);
            let verdict = policy::drop_verdict(votes.label_exists, person_plus_one, bot_vote);
            let mut effected = Effected::default();
            if verdict == DropVerdict::Drop {
                let review = ReviewInput::bot(None, [(VERIFIED.to_string(), 0)].into());
                gerrit.post_review(change, revision, &review).await?;
                effected.vote = Some(0);
            }
            Ok((verdict.outcome(revision, bot_vote), effected))
        }
        .await;
        match result {
            Ok((outcome, effected)) => Attempt::DoneAs(outcome, effected),
            Err(e) => gerrit_failure(e),
        }
    }
}
