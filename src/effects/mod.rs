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
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use crate::console;
use crate::gerrit::Gerrit;
use crate::gmail::Gmail;
use crate::jenkins::Jenkins;
use crate::journal::{Claim, Finish, Intent, Journal, JournalError, Owner};
use crate::key::IntentKey;
use crate::record::IntentKind;

pub use crate::intent::{Effect, Payload, Verify, order_key, plan};
pub use drop_request::{BuildListener, ListenerError};
pub use mail_move::{Destination, Moved, move_key, plan_move};
pub use runner::{Backoff, Foreground, InFlight, Runner, renew_lease};
pub use webhook::StatusWebhook;

/// How much clocks may differ, and how coarse Gerrit's dates are, when a reconcile compares a
/// service's time with the intent's.
pub const CLOCK_SLACK_MS: i64 = 60_000;

/// How carrying out intents now ([`Effectors::run_now`]) ended.
#[derive(Debug, Default)]
pub struct RunReport {
    /// The intents carried out.
    pub done: Vec<Intent>,
    /// The last passing failure: the intents are to be tried again later.
    pub failure: Option<String>,
    /// Another process holds one of the intents, or one is not due yet.
    pub waiting: bool,
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

    /// Carries out the intents recorded under `keys` now, in this task (the ones another
    /// process holds, or that are not due yet, are left to their owner or the runner).
    pub async fn run_now(&self, keys: &[IntentKey]) -> RunReport {
        let mut report = RunReport::default();
        let claims = match self.journal.claim_keys(keys.to_vec(), &self.owner).await {
            Ok(c) => c,
            Err(e) => {
                report.failure = Some(format!("state database: {e}"));
                return report;
            }
        };
        for claim in claims {
            match claim {
                Claim::Run(intent) => match self.run(&intent).await {
                    Ok(Finish::Done { .. }) => report.done.push(intent),
                    Ok(Finish::Retry { error, .. }) => report.failure = Some(error),
                    Ok(Finish::Failed { .. }) => {}
                    Err(e) => report.failure = Some(format!("state database: {e}")),
                },
                Claim::Done(_) | Claim::Failed(_) => {}
                Claim::Held(_) | Claim::Waiting(_) => report.waiting = true,
                Claim::Missing(key) => {
                    report.failure = Some(format!("intent {key} was not recorded"));
                }
            }
        }
        report
    }

    /// Carries out `keys` in the background, trying a passing failure again up to `attempts`
    /// times with the backoff; what is still not done is left to the next hint that finds
    /// the same intents (same keys) or to the runner.
    pub fn run_soon(&self, keys: Vec<IntentKey>, attempts: u32) {
        let effectors = self.clone();
        tokio::spawn(async move {
            for attempt in 1..=attempts {
                let report = effectors.run_now(&keys).await;
                match (&report.failure, report.waiting) {
                    (None, false) => return,
                    (None, true) if attempt == attempts => return,
                    (Some(error), _) => {
                        tracing::warn!(%error, attempt, "an intent could not be carried out");
                    }
                    (None, true) => {}
                }
                let wait = effectors
                    .backoff
                    .delay(attempt)
                    .max(Duration::from_millis(100));
                tokio::time::sleep(wait).await;
            }
            tracing::warn!("leaving the intents to the next hint or pass that finds them");
        });
    }

    /// Carries out, now, up to `limit` intents of `kinds` that a stopped process left
    /// unfinished (its lease ran out).
    pub async fn adopt(&self, kinds: &[IntentKind], limit: usize) {
        let orphans = self
            .journal
            .claim_orphans(kinds, &self.owner, limit)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot look for orphaned intents");
                Vec::new()
            });
        for intent in orphans {
            tracing::info!(key = %intent.key, "carrying out an intent a stopped process left");
            if let Err(e) = self.run(&intent).await {
                tracing::error!(error = %e, "cannot record an outcome");
            }
        }
    }

    /// Carries out a claimed intent and records the outcome; returns how it ended.
    pub(crate) async fn run(&self, intent: &Intent) -> Result<Finish, JournalError> {
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
