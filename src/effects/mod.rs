//! Effects as data, and the effectors that carry them out (SPEC §12).
//!
//! A decision never calls a service. It produces [`Effect`]s with stable keys; the journal
//! records them as intents (with the decision's events) in one transaction; an effector then
//! claims an intent, carries it out, and records the outcome with the events that describe it.
//! When an intent is in doubt (an earlier attempt may have reached the service: a crash, a
//! timeout), its effector first asks the service whether the effect already happened
//! ([`reconcile`]): a Jenkins queue item or build with the same `REF`, a Gerrit message by the
//! bot with the same text. Only then is it tried again.
//!
//! One effector per kind: Jenkins triggers, Gerrit reviews (votes, result messages, replies),
//! drop-rejections (build-listener), drop-rejection requests (gmail-listener to
//! build-listener), mail moves. Both processes use the same code; each has the clients its
//! kinds need.

mod cancel;
mod drop;
mod drop_request;
mod execute;
mod mail_move;
mod outcome;
mod reconcile;
mod review;
mod runner;
mod trigger;

use std::collections::BTreeMap;
use std::sync::Arc;
#[cfg(test)]
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::console;
use crate::gerrit::{Gerrit, ReviewInput};
use crate::intake::gmail::Gmail;
use crate::jenkins::Jenkins;
use crate::journal::{
    Finish, Intent, IntentKind, Journal, JournalError, NewEvent, NewIntent, Owner, Planned,
};

pub use drop_request::{BuildListener, ListenerError};
pub use mail_move::{Destination, Moved, move_key, plan_move};
pub use runner::{Backoff, Foreground, InFlight, Runner, renew_lease};

/// How much clocks may differ, and how coarse Gerrit's dates are, when a reconcile compares a
/// service's time with the intent's.
pub const CLOCK_SLACK_MS: i64 = 60_000;

/// One effect on the outside world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// Queue a Jenkins build: `buildWithParameters`, or `build` when `params` is empty.
    Trigger {
        job: String,
        params: BTreeMap<String, String>,
    },
    /// Post a review on one revision; `change` is the percent-encoded REST id. With `verify`,
    /// only once Jenkins confirms the build the review reports (SPEC §11).
    Review {
        change: String,
        revision: String,
        review: ReviewInput,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verify: Option<Verify>,
        /// The labels only while the revision is the change's current patch set: a result for
        /// a superseded patch set is posted there without a vote (SPEC §15).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        only_if_current: bool,
    },
    /// Set the bot's Verified vote on a revision to 0 if it is negative.
    DropRejection { change: String, revision: String },
    /// Ask build-listener to drop the bot's rejection (`POST /drop-rejection`).
    DropRequest { change_id: String, patch_set: u32 },
    /// Cancel a build the bot triggered that is still waiting in Jenkins' queue.
    Cancel { queue_id: u64, job: String },
    /// Trash a mail, or move it from one label to another (labels by name).
    MailMove {
        gmail_id: String,
        #[serde(default)]
        set_aside: Option<(String, String)>,
    },
}

/// What a callback claimed about a build, to be confirmed by Jenkins before its vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verify {
    /// The job's full path (folders included), as configured.
    pub job: String,
    pub number: u64,
    /// The finished result the callback reported (`SUCCESS`, `FAILURE`...).
    pub status: String,
    /// The `REF` parameter the callback reported (presubmit builds).
    #[serde(default)]
    pub git_ref: Option<String>,
}

impl Effect {
    pub fn kind(&self) -> IntentKind {
        match self {
            Effect::Trigger { .. } => IntentKind::Trigger,
            Effect::Review { .. } => IntentKind::Review,
            Effect::DropRejection { .. } => IntentKind::DropRejection,
            Effect::DropRequest { .. } => IntentKind::DropRequest,
            Effect::MailMove { .. } => IntentKind::MailMove,
            Effect::Cancel { .. } => IntentKind::Cancel,
        }
    }
}

/// What an intent's payload holds: the effect, the console context of its lines, and the
/// event to append once it is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub effect: Effect,
    #[serde(default)]
    pub context: String,
    #[serde(default)]
    pub done: Option<NewEvent>,
}

/// Turns an effect into what the journal records.
pub fn plan(
    key: String,
    payload: Payload,
    change: Option<String>,
    patch_set: Option<u32>,
    source: impl Into<String>,
) -> Planned {
    let order_key = match &payload.effect {
        // Reviews of one change land in the order they were accepted.
        Effect::Review { change, .. } | Effect::DropRejection { change, .. } => {
            Some(order_key(change))
        }
        _ => None,
    };
    let kind = payload.effect.kind();
    Planned {
        intent: NewIntent {
            key,
            kind,
            change,
            patch_set,
            order_key,
            // Serializing strings, integers and maps of strings cannot fail.
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            source: source.into(),
        },
        build: None,
        repeatable: matches!(kind, IntentKind::MailMove),
    }
}

/// Reviews for one change are posted in the order they were accepted. The key is the change
/// number when the REST id names one (`123`, `platform%2Fbionic~123`), else the id itself.
pub fn order_key(change: &str) -> String {
    let mut parts = change.split('~');
    let (first, second, third) = (parts.next(), parts.next(), parts.next());
    let number = match (first, second, third) {
        (Some(n), None, None) | (Some(_), Some(n), None) => Some(n),
        _ => None,
    };
    match number {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => format!("change:{n}"),
        _ => format!("change:{change}"),
    }
}

/// Everything the effectors of one process need. Cheap to clone.
#[derive(Clone)]
pub struct Effectors {
    pub journal: Journal,
    pub owner: Owner,
    pub gerrit: Option<Gerrit>,
    pub jenkins: Option<Jenkins>,
    pub gmail: Option<Arc<Gmail>>,
    pub listener: Option<BuildListener>,
    /// Retry pacing of failed attempts.
    pub backoff: Backoff,
}

impl Effectors {
    pub fn new(journal: Journal, owner: Owner) -> Effectors {
        Effectors {
            journal,
            owner,
            gerrit: None,
            jenkins: None,
            gmail: None,
            listener: None,
            backoff: Backoff::default(),
        }
    }

    /// Carries out a claimed intent and records the outcome; returns how it ended.
    pub async fn run(&self, intent: &Intent) -> Result<Finish, JournalError> {
        let outcome = self.execute(intent).await;
        self.journal
            .complete(
                intent.id,
                outcome.finish.clone(),
                outcome.events.clone(),
                outcome.build,
            )
            .await?;
        for e in &outcome.events {
            console::event(e);
        }
        Ok(outcome.finish)
    }
}

#[cfg(test)]
mod tests;
