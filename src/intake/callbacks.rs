//! Jenkins' news of a build (SPEC §7, §11): a Notification-plugin callback, handled like mail
//! and Gerrit's events are: parse (the shell did that), the facts the decision needs (what the
//! bot triggered with the build's queue item, from the journal), the pure decision
//! ([`crate::policy::callback`]: the vote decided once, the intent keys made there), then one
//! durable record of the phase with the reviews it calls for. Gerrit is never called from
//! here: the plugin blocks the build while it waits for the answer and never retries on an
//! error, so the effect runner posts the reviews afterwards.

use std::sync::Arc;

use thiserror::Error;

use crate::config::Config;
use crate::console;
use crate::jenkins::notification::JenkinsEvent;
use crate::journal::{Accepted, CallbackPhase, Journal, JournalError, OnFinish, Recorded};
use crate::policy::callback::{self, Decision, Rejection, Triggered};
use crate::record::{EventKind, NewEvent};
use crate::text::sanitize;

/// Handles Jenkins' news of builds; cheap to clone.
#[derive(Clone)]
pub struct Callbacks {
    pub config: Arc<Config>,
    pub journal: Journal,
}

/// What handling a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// A job the bot does not act on, or a build it did not trigger (why).
    Nothing(&'static str),
    /// Recorded; `started` when a start message was queued with it.
    Accepted { accepted: Accepted, started: bool },
}

impl Handled {
    /// Whether an intent was queued (the runner has work).
    pub fn queued(&self) -> bool {
        matches!(
            self,
            Handled::Accepted {
                accepted: Accepted::Queued(_),
                ..
            } | Handled::Accepted { started: true, .. }
        )
    }
}

/// Why a callback could not be handled.
#[derive(Debug, Error)]
pub enum CallbackError {
    /// A job we act on sent what cannot be acted on (a 422).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The state database failed (a 503).
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl Callbacks {
    /// Handles one callback of a build.
    pub async fn handle(&self, event: &JenkinsEvent) -> Result<Handled, CallbackError> {
        let decision = match self.decide(event).await {
            Err(CallbackError::Rejected(e)) => {
                tracing::warn!(error = %e, "callback rejected");
                let b = &event.build;
                let job = event.job_path();
                let line = NewEvent::new(
                    EventKind::Error,
                    "callback",
                    format!("{job} #{} {}: {e}", b.number, b.phase),
                )
                .build(&job, Some(b.number));
                console::emit(&self.journal, line).await;
                return Err(e.into());
            }
            other => other?,
        };
        let nothing = match decision {
            Decision::Ignored => Some("ignored job"),
            Decision::UnknownJob => Some("unknown job"),
            Decision::ManualBuild => Some("not triggered by the bot"),
            _ => None,
        };
        if let Some(what) = nothing {
            tracing::info!("{what}: nothing to do");
            let events: Vec<NewEvent> = callback::decision_line(event, &decision)
                .into_iter()
                .collect();
            self.journal.append_events(events.clone()).await?;
            events.iter().for_each(console::event);
            return Ok(Handled::Nothing(what));
        }
        if decision == Decision::NoChange {
            tracing::warn!(queue_id = ?event.build.queue_id,
                "clean build of no known change: gmail-listener did not record this queue id");
        }
        let (accepted, recorded) = self
            .journal
            .accept_callback(phase(event), self.on_finish(event, decision))
            .await?;
        recorded.iter().for_each(console::event);
        let started = self.start_message(event).await?;
        Ok(Handled::Accepted { accepted, started })
    }

    /// The decision, with what the journal knows of the build's queue item when it matters.
    async fn decide(&self, event: &JenkinsEvent) -> Result<Decision, CallbackError> {
        match callback::decide(event, &self.config, None)? {
            Decision::NeedsTriggered(queue_id) => {
                let triggered: Vec<Triggered> = self
                    .journal
                    .builds_by_queue_id(queue_id)
                    .await?
                    .into_iter()
                    // The bot writes every build's change as project~number.
                    .filter_map(|r| {
                        Some(Triggered {
                            queue_id,
                            change_key: r.change.parse().ok()?,
                            job: r.job,
                            patch_set: r.patch_set,
                        })
                    })
                    .collect();
                Ok(callback::decide(event, &self.config, Some(&triggered))?)
            }
            decided => Ok(decided),
        }
    }

    /// What the build's first finished phase records, decided in the journal's transaction
    /// from the builds of its patch set as they are then.
    fn on_finish(&self, event: &JenkinsEvent, decision: Decision) -> OnFinish {
        match decision {
            Decision::Post(post) => {
                let config = self.config.clone();
                Box::new(move |siblings| {
                    let reviews = post.plan(siblings, &config.presubmit);
                    (reviews.planned, reviews.events)
                })
            }
            other => {
                let events = callback::decision_line(event, &other).into_iter().collect();
                Box::new(move |_| (Vec::new(), events))
            }
        }
    }

    /// Records the "started" message of a presubmit build (`[presubmit] start_message`);
    /// whether it is new.
    async fn start_message(&self, event: &JenkinsEvent) -> Result<bool, JournalError> {
        let Some((planned, line)) = callback::start_message(event, &self.config) else {
            return Ok(false);
        };
        let recorded = self.journal.record(vec![planned], vec![]).await?;
        if !matches!(recorded.first(), Some(Recorded::New(_))) {
            return Ok(false);
        }
        self.journal.append_events(vec![line.clone()]).await?;
        console::event(&line);
        Ok(true)
    }
}

/// The journal's record of one callback.
fn phase(event: &JenkinsEvent) -> CallbackPhase {
    let b = &event.build;
    CallbackPhase {
        job: event.job_path(),
        number: b.number,
        phase: b.phase.clone(),
        status: b.status.clone(),
        queue_id: b.queue_id,
        url: b.full_url.as_deref().or(b.url.as_deref()).map(sanitize),
    }
}
