//! Handling one mail: read it, ask Gerrit for the facts, decide, record the decision's
//! intents and carry them out. Filing the mail (trash, set aside) is left to the window's
//! batch (`filing.rs`).

use tracing::Instrument;

use crate::console::{self, Kind};
use crate::effects::{Effect, Payload};
use crate::gerrit::{ChangeFacts, GerritError};
use crate::journal::{Claim, Finish, IntentKind, NewEvent, Planned, Recorded, now_ms};
use crate::mail::{self, Notification};
use crate::policy::{self, Identity};

use super::filing::Fate;
use super::{Handled, PollReport, Poller};

/// A mail as read, before it is handled.
pub(super) enum Fetched {
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
pub(super) fn by_change(fetched: Vec<(String, Fetched)>) -> Vec<Vec<(String, Fetched)>> {
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
    pub(super) async fn handle_group(
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
    pub(super) async fn fetch(&self, id: &str) -> Fetched {
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
        let presubmit = &self.config.presubmit;
        let mut me = Identity {
            bot_account: &self.config.gerrit.bot_account,
            bot_id: None,
        };
        let facts = if policy::needs_facts(&n, presubmit, &me) {
            // The bot knows its own comments by its account id, never by mail headers.
            match self.gerrit.self_account_id().await {
                Ok(bot) => me.bot_id = Some(bot),
                Err(e) => {
                    return Handled::Failed(
                        format!("cannot ask Gerrit who the bot is: {e}"),
                        Vec::new(),
                    );
                }
            }
            match self.facts(&n, &ctx, me.bot_id).await {
                Ok(f) => Some(f),
                Err(Ok((fate, event))) => return Handled::file(fate, &ctx, vec![event]),
                Err(Err(error)) => return Handled::Failed(error, Vec::new()),
            }
        } else {
            None
        };
        let built = match &facts {
            Some(f) => match self
                .journal
                .built_jobs(&policy::change_key(f), f.current_patch_set.0)
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    console::line(Kind::Error, &ctx, &format!("state database: {e}"));
                    return Handled::Failed(format!("state database: {e}"), Vec::new());
                }
            },
            None => Vec::new(),
        };
        let decisions = policy::decide(&n, facts.as_ref(), &built, presubmit, &me);
        let key_base = policy::comment_key(&n, facts.as_ref()).unwrap_or_else(|| {
            let mail = n
                .message_id
                .clone()
                .unwrap_or_else(|| format!("gmail:{id}"));
            format!("mail:{mail}")
        });
        let job_url = |job: &str| self.jenkins.job_url(job);
        let mut plan = policy::plan_mail(&n, facts.as_ref(), &decisions, &key_base, &ctx, &job_url);
        if presubmit.cancel_superseded
            && let Some(f) = &facts
            && decisions
                .iter()
                .any(|d| matches!(d, policy::Decision::Build(_)))
        {
            match self
                .journal
                .waiting_builds(&policy::change_key(f), f.current_patch_set.0)
                .await
            {
                Ok(waiting) => plan
                    .planned
                    .extend(policy::plan_cancels(&decisions, &waiting, &ctx)),
                Err(e) => return Handled::Failed(format!("state database: {e}"), Vec::new()),
            }
        }
        if self.dry_run {
            self.print_dry_run(&plan.planned, &plan.events);
            return Handled::Waiting;
        }
        self.carry_out(&ctx, plan.planned, plan.events, report)
            .await
    }

    /// Records the mail's intents and events, carries the intents out, and asks for the mail
    /// to be filed once all of them are done.
    async fn carry_out(
        &self,
        ctx: &str,
        planned: Vec<Planned>,
        events: Vec<NewEvent>,
        report: &mut PollReport,
    ) -> Handled {
        let keys: Vec<(String, IntentKind)> = planned
            .iter()
            .map(|p| (p.intent.key.clone(), p.intent.kind))
            .collect();
        let skipped: Vec<NewEvent> = planned
            .iter()
            .filter_map(|p| p.build.as_ref())
            .map(|b| {
                NewEvent::new(
                    Kind::Skip,
                    ctx,
                    format!(
                        "{}: patch set {} already built by {}",
                        b.change, b.patch_set, b.job
                    ),
                )
                .change(&b.change, Some(b.patch_set))
            })
            .collect();
        let recorded = match self.journal.record(planned, events.clone()).await {
            Ok(r) => r,
            Err(e) => return Handled::Failed(format!("state database: {e}"), Vec::new()),
        };
        events.iter().for_each(console::event);
        // Automatic builds already made (by another mail or instance): a SKIP line each.
        let mut builds = skipped.into_iter();
        let mut run_keys = Vec::new();
        for ((key, kind), r) in keys.into_iter().zip(recorded) {
            let skip = if kind == IntentKind::Trigger && key.starts_with("trigger:auto:") {
                builds.next()
            } else {
                None
            };
            match r {
                Recorded::AlreadyBuilt => {
                    if let Some(e) = skip {
                        console::event(&e);
                        if let Err(err) = self.journal.append_events(vec![e]).await {
                            tracing::warn!(error = %err, "cannot record an event");
                        }
                    }
                }
                _ => run_keys.push((key, kind)),
            }
        }
        let mut failure = None;
        let mut waiting = false;
        let claims = match self
            .journal
            .claim_keys(
                run_keys.iter().map(|(k, _)| k.clone()).collect(),
                &self.effectors.owner,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => return Handled::Failed(format!("state database: {e}"), Vec::new()),
        };
        for (claim, (_, kind)) in claims.into_iter().zip(&run_keys) {
            match claim {
                Claim::Run(intent) => match self.effectors.run(&intent).await {
                    Ok(Finish::Done { .. }) => count(report, *kind, &intent.payload),
                    Ok(Finish::Retry { error, .. }) => failure = Some(error),
                    Ok(Finish::Failed { .. }) => {}
                    Err(e) => failure = Some(format!("state database: {e}")),
                },
                Claim::Done(_) | Claim::Failed(_) => {}
                Claim::Held(_) | Claim::Waiting(_) => waiting = true,
                Claim::Missing(key) => failure = Some(format!("intent {key} was not recorded")),
            }
        }
        match (failure, waiting) {
            (Some(error), _) => {
                Handled::Failed(error, run_keys.into_iter().map(|(k, _)| k).collect())
            }
            (None, true) => Handled::Waiting,
            (None, false) => Handled::file(Fate::Trash, ctx, Vec::new()),
        }
    }

    fn print_dry_run(&self, planned: &[Planned], events: &[NewEvent]) {
        events.iter().for_each(console::event);
        for p in planned {
            let payload: Option<Payload> = serde_json::from_str(&p.intent.payload).ok();
            if let Some(e) = payload.and_then(|p| p.done) {
                console::line(
                    e.kind,
                    &e.context,
                    &format!("{} (dry run)", e.text.replace(": {outcome}", "")),
                );
            }
        }
    }

    /// Gerrit's facts, or what to do with the mail without them: `Ok` files it (stale: trash;
    /// ambiguous: set aside), `Err` leaves it (a passing failure).
    async fn facts(
        &self,
        n: &Notification,
        ctx: &str,
        bot_id: Option<u64>,
    ) -> Result<ChangeFacts, Result<(Fate, NewEvent), String>> {
        let locator = n.locator();
        match self.gerrit.change_facts(&locator.rest_id()).await {
            Ok(mut f) => {
                // For the status board: the change's subject and Change-Id.
                if !self.dry_run
                    && let Err(e) = (self.journal)
                        .note_change(&f.project, f.number, &f.change_id, &f.subject)
                        .await
                {
                    tracing::warn!(error = %e, "cannot note the change for the status board");
                }
                if needs_comments(n, &f, &self.config.presubmit, bot_id) {
                    f.comments = self
                        .gerrit
                        .patchset_comments(&locator.rest_id())
                        .await
                        .map_err(|e| Err(format!("{locator}: {e}")))?;
                }
                Ok(f)
            }
            Err(GerritError::NotFound(body)) => Err(Ok((
                Fate::Trash,
                NewEvent::new(
                    Kind::Skip,
                    ctx,
                    format!("{locator}: not in Gerrit ({body}); stale mail"),
                ),
            ))),
            Err(e @ GerritError::Ambiguous(_)) => Err(Ok((
                Fate::SetAside,
                NewEvent::new(Kind::Error, ctx, format!("{locator}: {e}")),
            ))),
            Err(e) => {
                let line = NewEvent::new(Kind::Error, ctx, format!("{locator}: {e}; will retry"))
                    .change(locator.plain_id(), Some(n.patch_set.0));
                console::emit(&self.journal, line).await;
                Err(Err(e.to_string()))
            }
        }
    }
}

/// Whether the patch-set-level comments (a second request) are needed: a comment mail whose
/// text is not in any change message, or an untrusted patch set that a trusted reviewer's
/// message with comments may have approved (`ok-to-test` written as a patch-set-level comment).
fn needs_comments(
    n: &Notification,
    f: &ChangeFacts,
    cfg: &crate::config::PresubmitConfig,
    bot_id: Option<u64>,
) -> bool {
    let with_comments = |ps: u32| {
        f.messages
            .iter()
            .any(|m| m.patch_set == Some(ps) && policy::comment::mentions_comments(m))
    };
    if let Some(review) = &n.review {
        let ps = review.patch_set.unwrap_or(n.patch_set).0;
        if policy::comment::find(n, review, f).is_none() && with_comments(ps) {
            return true;
        }
    }
    policy::skip_reason(f, cfg).is_some_and(|r| r.is_untrusted_author())
        && !policy::trust::approved_for_testing(f, cfg, bot_id)
        && with_comments(f.current_patch_set.0)
}

/// Counts a done effect in the poll's report.
fn count(report: &mut PollReport, kind: IntentKind, payload: &str) {
    match kind {
        IntentKind::Trigger => {
            let clean = serde_json::from_str::<Payload>(payload).is_ok_and(
                |p| matches!(p.effect, Effect::Trigger { ref params, .. } if params.is_empty()),
            );
            if clean {
                report.cleans += 1;
            } else {
                report.builds += 1;
            }
        }
        IntentKind::Review => report.replies += 1,
        IntentKind::DropRequest => report.drop_rejections += 1,
        _ => {}
    }
}
