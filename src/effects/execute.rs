//! Carrying out one claimed intent: read its payload, reconcile it with the service when an
//! earlier attempt is in doubt, hand the effect to its kind's effector, and turn the attempt
//! into what the journal records. One effector per kind: [`trigger`](super::trigger),
//! [`review`](super::review), [`drop`](super::drop) (drop-rejections),
//! [`drop_request`](super::drop_request), [`cancel`](super::cancel),
//! [`mail_move`](super::mail_move).

use crate::journal::Intent;

use super::outcome::{Attempt, Outcome};
use super::{Effect, Effectors, Payload};

impl Effectors {
    pub(super) async fn execute(&self, intent: &Intent) -> Outcome {
        let payload: Payload = match serde_json::from_str(&intent.payload) {
            Ok(p) => p,
            Err(e) => {
                return self.outcome(
                    intent,
                    None,
                    Attempt::Failed(format!("stored intent is unreadable: {e}")),
                );
            }
        };
        let attempt = if intent.doubt {
            match self.reconcile(intent, &payload.effect).await {
                Ok(Some(found)) => {
                    tracing::info!(key = %intent.key, found = %found,
                        "an earlier attempt had taken effect; not repeating it");
                    Attempt::Done(found)
                }
                Ok(None) => self.attempt(&payload.effect).await,
                Err(error) => Attempt::Retry { error, doubt: true },
            }
        } else {
            self.attempt(&payload.effect).await
        };
        self.outcome(intent, Some(&payload), attempt)
    }

    async fn attempt(&self, effect: &Effect) -> Attempt {
        match effect {
            Effect::Trigger { job, params } => self.trigger(job, params).await,
            Effect::Review {
                change,
                revision,
                review,
                verify,
                only_if_current,
            } => {
                if let Some(v) = verify
                    && let Err(stop) = self.confirm(v).await
                {
                    return stop;
                }
                if *only_if_current && !review.labels.is_empty() {
                    return self.review_if_current(change, revision, review).await;
                }
                self.review(change, revision, review).await
            }
            Effect::DropRejection { change, revision } => {
                self.drop_rejection(change, revision).await
            }
            Effect::DropRequest {
                change_id,
                patch_set,
            } => self.drop_request(change_id, *patch_set).await,
            Effect::MailMove {
                gmail_id,
                set_aside,
            } => self.mail_move(gmail_id, set_aside.as_ref()).await,
            Effect::Cancel { queue_id, job } => self.cancel(*queue_id, job).await,
        }
    }
}
