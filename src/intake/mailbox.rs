//! The mailbox's mails: read one, parse it, hand it to [`Intake`] (Gerrit's facts, the policy,
//! the intents) and say where it goes; then file a window's handled mails together, and count
//! the failures of those left (SPEC §12 poison mail). Which mails a poll reads is the
//! [`Cursor`](super::cursor::Cursor)'s business; the loop around all this is the poller's.
//!
//! A mail ends in one of three places: the trash (handled, or stale), set aside under
//! `set_aside_label` (the bot will not act on it, or it failed `[gmail] max_attempts` times),
//! or left in the queue for a later poll (something failed for a passing reason). The mail is
//! moved only once all its effects are done; the move itself is an intent too, carried out by
//! the mail-move effector.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::console::{self, Kind};
use crate::effects::{self, Destination, Moved};
use crate::journal::{NewEvent, now_ms};
use crate::key::{HintKey, IntentKey};

use super::mail;
use super::{Assessed, Carried, Done, Intake};
use crate::gmail::Gmail;
use crate::hint::Notification;

/// Reading, handling and filing mail: the Gmail client and the intake that turns a mail into
/// intents (with the configuration, journal and effectors it holds).
pub struct Mailbox {
    pub gmail: Arc<Gmail>,
    pub intake: Intake,
}

/// A mail as read, before it is handled.
pub enum Fetched {
    Mail(Box<Notification>),
    /// Failed `max_attempts` times (the count, the last failure).
    Poison(u32, String),
    /// Not a Gerrit notification the bot acts on (why).
    NotOurs(String),
    /// Nothing to read: not due yet, or reading failed.
    Ready(Handled),
}

/// Where a mail goes once its effects are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    Trash,
    SetAside,
}

/// How handling one mail ended.
pub enum Handled {
    /// To be filed (trashed or set aside) in the window's batch, with these events.
    File {
        fate: Fate,
        context: String,
        events: Vec<NewEvent>,
    },
    /// Filed: trashed or set aside.
    Filed { trashed: bool },
    /// Left for a later poll because something failed (counted towards `max_attempts`), with
    /// the intents it waits on.
    Failed(String, Vec<IntentKey>),
    /// Left without a failure: another instance holds one of its effects, or it is not due.
    Waiting,
}

impl Handled {
    fn file(fate: Fate, context: &str, events: Vec<NewEvent>) -> Handled {
        Handled::File {
            fate,
            context: context.to_string(),
            events,
        }
    }
}

/// One mail to file.
pub struct ToFile {
    pub id: String,
    pub fate: Fate,
    pub context: String,
    pub events: Vec<NewEvent>,
}

/// Groups mails by the change they are about, keeping the order within each group (and of
/// the groups' first mails). A mail that names no change is a group of its own.
pub fn by_change(fetched: Vec<(String, Fetched)>) -> Vec<Vec<(String, Fetched)>> {
    let mut groups: Vec<Vec<(String, Fetched)>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (id, f) in fetched {
        let key = match &f {
            Fetched::Mail(n) => n.locator().plain_id(),
            _ => format!("mail:{id}"),
        };
        match index.get(&key) {
            Some(&i) => groups[i].push((id, f)),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![(id, f)]);
            }
        }
    }
    groups
}

impl Mailbox {
    /// Handles the mails of one change, one after the other; with the effects each did.
    pub async fn handle_group(
        &self,
        group: Vec<(String, Fetched)>,
    ) -> Vec<(String, Handled, Done)> {
        let mut out = Vec::with_capacity(group.len());
        for (id, fetched) in group {
            let span = tracing::info_span!("mail", id = %id);
            let mut done = Done::default();
            let handled = self.handle(&id, fetched, &mut done).instrument(span).await;
            out.push((id, handled, done));
        }
        out
    }

    /// Reads a mail (unless it is not due, or is poison) and parses it.
    pub async fn fetch(&self, id: &str) -> Fetched {
        let config = &self.intake.config;
        if !self.intake.dry_run {
            match self.intake.journal.mail_attempts(id).await {
                Ok(Some(a)) if a.attempts >= config.gmail.max_attempts => {
                    return Fetched::Poison(a.attempts, a.last_error.unwrap_or_default());
                }
                Ok(Some(a)) if a.next_attempt > now_ms() => {
                    return Fetched::Ready(Handled::Waiting);
                }
                Ok(_) => {}
                Err(e) => {
                    return Fetched::Ready(Handled::Failed(
                        format!("state database: {e}"),
                        Vec::new(),
                    ));
                }
            }
        }
        let raw = match self.gmail.raw(id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id, error = %e, "cannot fetch the mail");
                return Fetched::Ready(Handled::Failed(
                    format!("cannot fetch the mail: {e}"),
                    Vec::new(),
                ));
            }
        };
        match mail::parse(&raw, &config.gmail.senders) {
            Ok(n) => Fetched::Mail(Box::new(n)),
            Err(reason) => Fetched::NotOurs(reason.to_string()),
        }
    }

    async fn handle(&self, id: &str, fetched: Fetched, done: &mut Done) -> Handled {
        let n = match fetched {
            Fetched::Mail(n) => n,
            Fetched::Ready(handled) => return handled,
            Fetched::Poison(attempts, why) => {
                let gave_up = format!("its mail {id} was set aside after {attempts} failures");
                if let Err(e) = self.intake.journal.abandon_mail(id, &gave_up).await {
                    return Handled::Failed(format!("state database: {e}"), Vec::new());
                }
                let text = format!(
                    "{id}: failed {attempts} times ([gmail] max_attempts); setting it aside. \
                     Last failure: {why}"
                );
                let e = NewEvent::new(Kind::Error, "mail", text);
                return Handled::file(Fate::SetAside, "mail", vec![e]);
            }
            Fetched::NotOurs(reason) => {
                tracing::warn!(%reason, "not a notification the bot acts on; setting it aside");
                let e = NewEvent::new(Kind::Aside, "mail", format!("{id}: {reason}"));
                return Handled::file(Fate::SetAside, "mail", vec![e]);
            }
        };
        let ctx = n.message_type.to_string();
        let fallback = HintKey::Mail {
            message_id: n
                .message_id
                .clone()
                .unwrap_or_else(|| format!("gmail:{id}")),
        };
        match self.intake.assess(&n, &fallback).await {
            Assessed::Plan { planned, events } => {
                match self.intake.carry_out(&ctx, planned, events, done).await {
                    Carried::Done => Handled::file(Fate::Trash, &ctx, Vec::new()),
                    Carried::Failed(error, keys) => Handled::Failed(error, keys),
                    Carried::Waiting => Handled::Waiting,
                }
            }
            Assessed::Stale(event) => Handled::file(Fate::Trash, &ctx, vec![event]),
            Assessed::Ambiguous(event) => Handled::file(Fate::SetAside, &ctx, vec![event]),
            Assessed::Failed(error) => Handled::Failed(error, Vec::new()),
            Assessed::DryRun => Handled::Waiting,
        }
    }

    /// Files the mails of a window that are to be filed (see [`Mailbox::file`]); returns how
    /// every mail ended, those not to be filed first, as they were.
    pub async fn file_handled(&self, handled: Vec<(String, Handled)>) -> Vec<(String, Handled)> {
        let mut to_file = Vec::new();
        let mut outcomes = Vec::new();
        for (id, how) in handled {
            match how {
                Handled::File {
                    fate,
                    context,
                    events,
                } => to_file.push(ToFile {
                    id,
                    fate,
                    context,
                    events,
                }),
                other => outcomes.push((id, other)),
            }
        }
        outcomes.extend(self.file(to_file).await);
        outcomes
    }

    /// Files a window's handled mails together: their move intents and events in one journal
    /// write, then the moves, batched by the mail-move effector. Returns how each ended
    /// (`Filed`, `Waiting` when another instance holds the move, `Failed` when Gmail refused).
    pub async fn file(&self, mails: Vec<ToFile>) -> Vec<(String, Handled)> {
        if mails.is_empty() {
            return Vec::new();
        }
        let events: Vec<NewEvent> = mails.iter().flat_map(|m| m.events.clone()).collect();
        if self.intake.dry_run {
            events.iter().for_each(console::event);
            return mails
                .into_iter()
                .map(|m| (m.id, Handled::Waiting))
                .collect();
        }
        let planned = mails
            .iter()
            .map(|m| effects::plan_move(&m.id, self.destination(m.fate), &m.context))
            .collect();
        let failed = |error: String| -> Vec<(String, Handled)> {
            mails
                .iter()
                .map(|m| (m.id.clone(), Handled::Failed(error.clone(), Vec::new())))
                .collect()
        };
        let journal = &self.intake.journal;
        if let Err(e) = journal.record(planned, events.clone()).await {
            return failed(format!("state database: {e}"));
        }
        events.iter().for_each(console::event);
        let moves = mails
            .iter()
            .map(|m| (m.id.clone(), self.destination(m.fate)))
            .collect();
        let moved = match self.intake.effectors.move_mails(moves).await {
            Ok(m) => m,
            Err(e) => return failed(format!("state database: {e}")),
        };
        self.filed(&mails, moved).await
    }

    /// How each mail's move ended; forgets the failures of the mails that left the label.
    async fn filed(&self, mails: &[ToFile], moved: Vec<(String, Moved)>) -> Vec<(String, Handled)> {
        let gone: Vec<String> = moved
            .iter()
            .filter(|(_, m)| *m == Moved::Done)
            .map(|(id, _)| id.clone())
            .collect();
        if !gone.is_empty()
            && let Err(e) = self.intake.journal.mails_finished(gone).await
        {
            tracing::warn!(error = %e, "cannot forget the mails' failures");
        }
        moved
            .into_iter()
            .map(|(id, how)| {
                let handled = match how {
                    Moved::Done => Handled::Filed {
                        trashed: mails.iter().any(|m| m.id == id && m.fate == Fate::Trash),
                    },
                    Moved::Held => Handled::Waiting,
                    Moved::Failed(error) => Handled::Failed(error, Vec::new()),
                };
                (id, handled)
            })
            .collect()
    }

    /// Where a mail of this fate goes: the trash, or from the watch label to the set-aside one.
    fn destination(&self, fate: Fate) -> Destination {
        let gmail = &self.intake.config.gmail;
        (fate == Fate::SetAside).then(|| (gmail.label.clone(), gmail.set_aside_label.clone()))
    }

    /// Counts a failure of mail `id` towards `max_attempts`, and when it may be tried again.
    pub async fn count_failure(&self, id: &str, error: &str, keys: &[IntentKey]) {
        let journal = &self.intake.journal;
        let attempts = match journal.mail_attempts(id).await {
            Ok(a) => a.map_or(0, |a| a.attempts) + 1,
            Err(e) => {
                tracing::error!(error = %e, "cannot count the mail's failure");
                return;
            }
        };
        let wait = i64::try_from(self.backoff(attempts).as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = journal.mail_failed(id, error, wait, keys).await {
            tracing::error!(error = %e, "cannot count the mail's failure");
        }
    }

    /// The first two failures are retried at the next poll; after that the wait doubles from
    /// the poll interval, up to an hour, so a long outage does not burn `max_attempts` in
    /// minutes.
    fn backoff(&self, attempts: u32) -> Duration {
        if attempts <= 2 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow((attempts - 3).min(20));
        self.intake
            .config
            .gmail
            .poll_interval
            .saturating_mul(factor)
            .min(Duration::from_secs(3600))
    }
}
