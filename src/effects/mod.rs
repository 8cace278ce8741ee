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

mod execute;
mod reconcile;
mod runner;

use std::collections::BTreeMap;
use std::sync::Arc;
#[cfg(test)]
use std::time::Duration;

use crate::console;
use crate::credentials::Secret;
use crate::gerrit::Gerrit;
use crate::gmail::Gmail;
use crate::jenkins::Jenkins;
use crate::journal::{Finish, Intent, Journal, JournalError, Owner};

pub use crate::intent::{Effect, Payload, Verify, order_key, plan};
pub use runner::{Backoff, Foreground, InFlight, Runner, renew_lease};

/// How much clocks may differ, and how coarse Gerrit's dates are, when a reconcile compares a
/// service's time with the intent's.
pub const CLOCK_SLACK_MS: i64 = 60_000;

/// How gmail-listener reaches build-listener's `/drop-rejection`.
#[derive(Clone, Debug)]
pub struct Listener {
    pub url: String,
    pub token: Option<Secret>,
    pub http: reqwest::Client,
}

/// Everything the effectors of one process need. Cheap to clone.
#[derive(Clone)]
pub struct Effectors {
    pub journal: Journal,
    pub owner: Owner,
    pub gerrit: Option<Gerrit>,
    pub jenkins: Option<Jenkins>,
    pub gmail: Option<Arc<Gmail>>,
    pub listener: Option<Listener>,
    /// Retry pacing of failed attempts.
    pub backoff: Backoff,
    /// Gmail label ids by name, looked up once.
    labels: Arc<tokio::sync::Mutex<BTreeMap<String, String>>>,
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
            labels: Arc::default(),
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
