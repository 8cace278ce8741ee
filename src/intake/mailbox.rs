//! Handling one mail: read it, ask Gerrit for the facts, decide, record the decision's
//! intents and carry them out. Filing the mail (trash, set aside) is left to the window's
//! batch (`poller/filing.rs`).

use tracing::Instrument;

use crate::console::Kind;
use crate::intake::mail::{self, Notification};
use crate::intake::{Assessed, Carried, Done};
use crate::journal::{NewEvent, now_ms};

use crate::poller::filing::Fate;
use crate::poller::{Handled, PollReport, Poller};

/// A mail as read, before it is handled.
pub(crate) enum Fetched {
    Mail(Box<Notification>),
    /// Failed `max_attempts` times (the count, the last failure).
    Poison(u32, String),
    /// Not a Gerrit notification the bot acts on (why).
    NotOurs(String),
    /// Nothing to read: not due yet, or reading failed.
    Ready(Handled),
}

/// Groups mails by the change they are about, keeping the order within each group (and of
/// the groups' first mails). A mail that names no change is a group of its own.
pub(crate) fn by_change(fetched: Vec<(String, Fetched)>) -> Vec<Vec<(String, Fetched)>> {
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

impl Poller {
    /// Handles the mails of one change, one after the other.
    pub(crate) async fn handle_group(
        &self,
        group: Vec<(String, Fetched)>,
    ) -> Vec<(String, Handled, PollReport)> {
        let mut out = Vec::with_capacity(group.len());
        for (id, fetched) in group {
            let span = tracing::info_span!("mail", id = %id);
            let mut counts = PollReport::default();
            let handled = self
                .handle(&id, fetched, &mut counts)
                .instrument(span)
                .await;
            out.push((id, handled, counts));
        }
        out
    }

    /// Reads a mail (unless it is not due, or is poison) and parses it.
    pub(crate) async fn fetch(&self, id: &str) -> Fetched {
        if !self.dry_run {
            match self.journal.mail_attempts(id).await {
                Ok(Some(a)) if a.attempts >= self.config.gmail.max_attempts => {
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
        match mail::parse(&raw, &self.config.gmail.senders) {
            Ok(n) => Fetched::Mail(Box::new(n)),
            Err(reason) => Fetched::NotOurs(reason.to_string()),
        }
    }

    async fn handle(&self, id: &str, fetched: Fetched, report: &mut PollReport) -> Handled {
        let n = match fetched {
            Fetched::Mail(n) => n,
            Fetched::Ready(handled) => return handled,
            Fetched::Poison(attempts, why) => {
                let gave_up = format!("its mail {id} was set aside after {attempts} failures");
                if let Err(e) = self.journal.abandon_mail(id, &gave_up).await {
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
        let fallback = format!(
            "mail:{}",
            n.message_id
                .clone()
                .unwrap_or_else(|| format!("gmail:{id}"))
        );
        match self.intake.assess(&n, &fallback).await {
            Assessed::Plan { planned, events } => {
                let mut done = Done::default();
                let carried = self
                    .intake
                    .carry_out(&ctx, planned, events, &mut done)
                    .await;
                report.add_done(&done);
                match carried {
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
}
