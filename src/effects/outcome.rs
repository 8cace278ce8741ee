//! How one attempt at an intent ended ([`Attempt`]), and what the journal records of it
//! ([`Outcome`]): the finish (done, retry when, failed), the events that describe it, and the
//! change to the build row it implies. Shared by every effector.

use crate::gerrit::{GerritError, VERIFIED};
use crate::jenkins::JenkinsError;
use crate::journal::{
    BuildUpdate, Effected, EventKind, Finish, Intent, IntentKind, MovedTo, NewEvent, now_ms,
};
use crate::text::one_line;

use super::{Effect, Effectors, Payload};

/// The outcome of a cancel that took an item out of Jenkins' queue.
pub(super) const CANCELLED: &str = "cancelled";

/// How an attempt ended, with the events and the build change that go with it.
pub(super) struct Outcome {
    pub finish: Finish,
    pub events: Vec<NewEvent>,
    pub build: Option<BuildUpdate>,
}

/// What one attempt at the service gave.
pub(super) enum Attempt {
    /// Done, with what it did as the effect says ([`effected`]).
    Done(String),
    /// Done, and it did this, not what the effect says (a review posted without its vote).
    DoneAs(String, Effected),
    /// Worth retrying; `doubt`: the request may have taken effect.
    Retry {
        error: String,
        doubt: bool,
    },
    Failed(String),
    /// Jenkins contradicts the callback a review came from: no vote, and the build's vote is
    /// not used up.
    Contradicted(String),
}

impl Effectors {
    pub(super) fn outcome(
        &self,
        intent: &Intent,
        payload: Option<&Payload>,
        attempt: Attempt,
    ) -> Outcome {
        let context = payload.map_or("effect", |p| p.context.as_str());
        match attempt {
            Attempt::Done(outcome) => {
                let effected = payload.map(|p| effected(&p.effect)).unwrap_or_default();
                done(intent, payload, outcome, effected)
            }
            Attempt::DoneAs(outcome, effected) => done(intent, payload, outcome, effected),
            Attempt::Retry { error, doubt } => self.retry(intent, context, error, doubt),
            Attempt::Contradicted(error) => {
                let verify = payload.and_then(|p| match &p.effect {
                    Effect::Review {
                        verify: Some(v), ..
                    } => Some(v.clone()),
                    _ => None,
                });
                Outcome {
                    events: vec![self.error_event(
                        intent,
                        "callback",
                        &format!("{error}: no vote"),
                    )],
                    finish: Finish::Failed { error },
                    build: verify.map(|v| BuildUpdate::Contradicted {
                        job: v.job,
                        number: v.number,
                    }),
                }
            }
            Attempt::Failed(error) => Outcome {
                events: vec![self.error_event(intent, context, &format!("{error} (not retried)"))],
                finish: Finish::Failed { error },
                build: (intent.kind == IntentKind::Trigger).then(|| BuildUpdate::NotTriggered {
                    intent_key: intent.key.clone(),
                }),
            },
        }
    }

    /// A retry after the backoff; its error is an event at the first attempt and every tenth.
    fn retry(&self, intent: &Intent, context: &str, error: String, doubt: bool) -> Outcome {
        let wait = self.backoff.delay(intent.attempts);
        tracing::warn!(key = %intent.key, attempts = intent.attempts, error = %error,
            retry_in = ?wait, "attempt failed; will retry");
        let mut events = Vec::new();
        if intent.attempts == 1 || intent.attempts.is_multiple_of(10) {
            events.push(self.error_event(intent, context, &format!("{error}; will retry")));
        }
        Outcome {
            finish: Finish::Retry {
                error,
                at: now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(0)),
                doubt,
            },
            events,
            build: None,
        }
    }

    fn error_event(&self, intent: &Intent, context: &str, what: &str) -> NewEvent {
        let who = match (&intent.change, intent.patch_set) {
            (Some(c), Some(ps)) => format!("{c} patch set {ps}"),
            (Some(c), None) => c.clone(),
            _ => intent.key.to_string(),
        };
        let mut e = NewEvent::new(
            EventKind::Error,
            context,
            format!("{} => {who}: {}", intent.source, one_line(what, 300)),
        );
        e.change = intent.change.clone();
        e.patch_set = intent.patch_set;
        e
    }
}

/// Done: the intent's own event (with the outcome filled in), and for a trigger the queue item,
/// for a cancel that took an item out of the queue the cancelled build.
fn done(
    intent: &Intent,
    payload: Option<&Payload>,
    outcome: String,
    effected: Effected,
) -> Outcome {
    let mut events = Vec::new();
    if let Some(mut e) = payload.and_then(|p| p.done.clone()) {
        e.text = e.text.replace("{outcome}", &outcome);
        events.push(e);
    }
    let build = if intent.kind == IntentKind::Trigger {
        Some(BuildUpdate::Queued {
            intent_key: intent.key.clone(),
            queue_id: outcome.parse().ok(),
        })
    } else {
        match payload.map(|p| &p.effect) {
            Some(Effect::Cancel { queue_id, .. }) if outcome == CANCELLED => {
                Some(BuildUpdate::Cancelled {
                    queue_id: *queue_id,
                })
            }
            _ => None,
        }
    };
    Outcome {
        finish: Finish::Done { outcome, effected },
        events,
        build,
    }
}

/// What a done effect did when it did what it says: the job a trigger queued, the vote a
/// review carried, where a mail went.
pub(super) fn effected(effect: &Effect) -> Effected {
    match effect {
        Effect::Trigger { job, .. } => Effected {
            job: Some(job.clone()),
            ..Effected::default()
        },
        Effect::Review { review, .. } => Effected {
            vote: review.labels.get(VERIFIED).copied(),
            ..Effected::default()
        },
        Effect::MailMove { set_aside, .. } => Effected {
            moved_to: Some(moved_to(set_aside.as_ref())),
            ..Effected::default()
        },
        Effect::DropRejection { .. } | Effect::DropRequest { .. } | Effect::Cancel { .. } => {
            Effected::default()
        }
    }
}

/// Where a mail moved to `set_aside` (None: the trash) went.
pub(super) fn moved_to<T>(set_aside: Option<&T>) -> MovedTo {
    if set_aside.is_some() {
        MovedTo::SetAside
    } else {
        MovedTo::Trash
    }
}

pub(super) fn no_client(service: &str) -> Attempt {
    Attempt::Retry {
        error: format!("this process cannot reach {service}"),
        doubt: false,
    }
}

pub(super) fn jenkins_failure(e: &JenkinsError) -> Attempt {
    match e {
        // No answer at all: the request may or may not have been queued.
        JenkinsError::Transport(_) => Attempt::Retry {
            error: e.to_string(),
            doubt: true,
        },
        e if e.is_transient() => Attempt::Retry {
            error: e.to_string(),
            doubt: false,
        },
        e => Attempt::Failed(e.to_string()),
    }
}

pub(super) fn gerrit_failure(e: GerritError) -> Attempt {
    match e {
        GerritError::Transport(_) => Attempt::Retry {
            error: e.to_string(),
            doubt: true,
        },
        // 3xx, 401, 403: the operator can fix the credentials, URL or permissions: keep it.
        e if e.is_transient() || e.is_operator_fixable() => Attempt::Retry {
            error: e.to_string(),
            doubt: false,
        },
        e => Attempt::Failed(e.to_string()),
    }
}
