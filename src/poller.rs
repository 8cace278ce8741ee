//! gmail-listener's loop: each poll reads the labelled mail, decides, records the effects as
//! intents in the journal, carries them out, and files the mail.
//!
//! A mail ends in one of three places: the trash (handled, or stale), set aside under
//! `set_aside_label` (the bot will not act on it, or it failed `[gmail] max_attempts` times),
//! or left in the queue for a later poll (something failed for a passing reason: Gerrit,
//! Jenkins or build-listener down). Every effect is an intent with a stable key before it is
//! a request, so a mail read again — after a failure, after a crash, or by a second instance on
//! the same database — repeats nothing; an effect whose outcome a crash lost is reconciled
//! with Jenkins or Gerrit before it is tried again. The mail is moved only once all its
//! effects are done.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::config::Config;
use crate::console::{self, Kind};
use crate::credentials::Secret;
use crate::effects::{self, Backoff, Effect, Effectors, Listener, Payload};
use crate::gerrit::{ChangeFacts, Gerrit, GerritError};
use crate::gmail::{Gmail, GmailError};
use crate::jenkins::Jenkins;
use crate::journal::{
    Claim, Finish, IntentKind, Journal, JournalError, NewEvent, Owner, Planned, Recorded, now_ms,
};
use crate::mail::{self, Notification};
use crate::policy::{self, Identity};

/// The intent kinds gmail-listener carries out.
const KINDS: &[IntentKind] = &[
    IntentKind::Trigger,
    IntentKind::Review,
    IntentKind::DropRequest,
    IntentKind::MailMove,
];

/// How long an intent gmail-listener is carrying out stays its own without a renewal.
pub const LEASE: Duration = Duration::from_secs(15);

/// What one poll did, for `--once`, the tests and the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub seen: usize,
    pub trashed: usize,
    pub set_aside: usize,
    pub left: usize,
    pub builds: usize,
    pub cleans: usize,
    pub replies: usize,
    pub drop_rejections: usize,
}

impl PollReport {
    fn add(&mut self, other: &PollReport) {
        self.builds += other.builds;
        self.cleans += other.cleans;
        self.replies += other.replies;
        self.drop_rejections += other.drop_rejections;
    }
}

/// A failure that ends a poll early (the mailbox itself is unusable this time).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Gmail(#[from] GmailError),
    #[error(
        "the Gmail label `{0}` does not exist: create it and a filter that applies it to Gerrit's mail"
    )]
    NoLabel(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Everything a poll needs; built once at start-up.
pub struct Poller {
    pub config: Config,
    pub gmail: Arc<Gmail>,
    pub gerrit: Gerrit,
    pub jenkins: Jenkins,
    pub journal: Journal,
    pub effectors: Effectors,
    /// Decide and print; trigger, post, record and move nothing.
    pub dry_run: bool,
    lease: JoinHandle<()>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.lease.abort();
    }
}

/// How handling one mail ended.
enum Handled {
    /// Filed: trashed or set aside.
    Filed { trashed: bool },
    /// Left for a later poll because something failed (counted towards `max_attempts`), with
    /// the intents it waits on.
    Failed(String, Vec<String>),
    /// Left without a failure: another instance holds one of its effects, or it is not due.
    Waiting,
}

/// A mail as read, before it is handled.
enum Fetched {
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
fn by_change(fetched: Vec<(String, Fetched)>) -> Vec<Vec<(String, Fetched)>> {
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

/// Where a mail should go once its effects are done.
enum Fate {
    Trash,
    SetAside,
}

impl Poller {
    pub fn new(
        config: Config,
        gmail: Gmail,
        gerrit: Gerrit,
        jenkins: Jenkins,
        journal: Journal,
        listener_token: Option<Secret>,
        dry_run: bool,
    ) -> Result<Poller, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.gerrit.timeout)
            .build()?;
        let gmail = Arc::new(gmail);
        let mut effectors = Effectors::new(journal.clone(), Owner::this_process(LEASE));
        effectors.gerrit = Some(gerrit.clone());
        effectors.jenkins = Some(jenkins.clone());
        effectors.gmail = Some(gmail.clone());
        effectors.listener = Some(Listener {
            url: config.build_listener.url.clone(),
            token: listener_token,
            http,
        });
        // A failed effect is retried with its mail, on the mail's own backoff.
        effectors.backoff = Backoff::NONE;
        let lease = tokio::spawn(effects::renew_lease(effectors.clone()));
        Ok(Poller {
            config,
            gmail,
            gerrit,
            jenkins,
            journal,
            effectors,
            dry_run,
            lease,
        })
    }

    /// Polls until `shutdown` resolves. A poll in progress is then given
    /// `[gmail] shutdown_timeout` to finish its mail; what is still running after that is given
    /// back as intents in doubt, reconciled by the next start.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.config.gmail.poll_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => {}
            }
            let poll = self.poll_until(&stop_rx);
            tokio::pin!(poll);
            let result = tokio::select! {
                r = &mut poll => r,
                () = &mut shutdown => {
                    let _ = stop_tx.send(true);
                    let limit = self.config.gmail.shutdown_timeout;
                    match tokio::time::timeout(limit, &mut poll).await {
                        Ok(r) => log_poll(&self.journal, r).await,
                        Err(_) => tracing::warn!("shutdown timeout: giving back the mail in hand"),
                    }
                    break;
                }
            };
            log_poll(&self.journal, result).await;
        }
        match self.journal.abandon(&self.effectors.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "gave back unfinished intents; they will be reconciled"),
            Err(e) => tracing::error!(error = %e, "cannot give back unfinished intents"),
        }
        tracing::info!("gmail-listener stopped");
    }

    /// One pass over the labelled mail.
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        self.poll_until(&rx).await
    }

    /// One pass, taking no new mail once `stop` is true. Mails are taken in windows, oldest
    /// first; within a window, mails about different changes are handled concurrently (at most
    /// `[gmail] concurrency` at once) and mails about one change one after the other, in order.
    async fn poll_until(
        &self,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> Result<PollReport, PollError> {
        let report = self.poll_pass(stop).await;
        // The requests' durations go to the shared journal, for build-listener's /metrics.
        if !self.dry_run
            && let Err(e) = self.gerrit.timings().flush(&self.journal).await
        {
            tracing::warn!(error = %e, "cannot record request durations");
        }
        report
    }

    async fn poll_pass(
        &self,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> Result<PollReport, PollError> {
        let label = &self.config.gmail.label;
        let label_id = self
            .gmail
            .label_id(label, false)
            .await?
            .ok_or_else(|| PollError::NoLabel(label.clone()))?;
        // All ids first: trashing while paging would shift the pages under us. Gmail lists
        // newest first; handle mail in the order Gerrit sent it (a newchange before the
        // comments on it).
        let mut ids = self.gmail.list(&label_id).await?;
        ids.reverse();
        let mut report = PollReport {
            seen: ids.len(),
            ..PollReport::default()
        };
        let concurrency = self.config.gmail.concurrency.max(1);
        for window in ids.chunks(concurrency * 4) {
            if *stop.borrow() {
                break;
            }
            let fetched: Vec<(String, Fetched)> = stream::iter(window)
                .map(|id| async move { (id.clone(), self.fetch(id).await) })
                .buffered(concurrency)
                .collect()
                .await;
            let done: Vec<Vec<(String, Handled, PollReport)>> = stream::iter(by_change(fetched))
                .map(|group| self.handle_group(group))
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for (id, handled, counts) in done.into_iter().flatten() {
                report.add(&counts);
                match handled {
                    Handled::Filed { trashed: true } => report.trashed += 1,
                    Handled::Filed { trashed: false } => report.set_aside += 1,
                    Handled::Waiting => report.left += 1,
                    Handled::Failed(error, keys) => {
                        report.left += 1;
                        if !self.dry_run {
                            self.count_failure(&id, &error, &keys).await;
                        }
                    }
                }
            }
        }
        self.adopt_orphans().await;
        Ok(report)
    }

    /// Carries out intents a crashed gmail-listener left running whose mail is no longer
    /// there to bring them back (it crashed after moving the mail, before recording that).
    /// Intents whose mail is still labelled come back with it; this finds the rest.
    async fn adopt_orphans(&self) {
        if self.dry_run {
            return;
        }
        let orphans = self
            .journal
            .claim_orphans(KINDS, &self.effectors.owner, 64)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot look for orphaned intents");
                Vec::new()
            });
        for intent in orphans {
            tracing::info!(key = %intent.key, "carrying out an intent a stopped process left");
            if let Err(e) = self.effectors.run(&intent).await {
                tracing::error!(error = %e, "cannot record an outcome");
            }
        }
    }

    /// Handles the mails of one change, one after the other.
    async fn handle_group(
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
    async fn fetch(&self, id: &str) -> Fetched {
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

    /// The first two failures are retried at the next poll; after that the wait doubles from
    /// the poll interval, up to an hour, so a long outage does not burn `max_attempts` in
    /// minutes.
    fn mail_backoff(&self, attempts: u32) -> Duration {
        if attempts <= 2 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow((attempts - 3).min(20));
        self.config
            .gmail
            .poll_interval
            .saturating_mul(factor)
            .min(Duration::from_secs(3600))
    }

    async fn count_failure(&self, id: &str, error: &str, keys: &[String]) {
        let attempts = match self.journal.mail_attempts(id).await {
            Ok(a) => a.map_or(0, |a| a.attempts) + 1,
            Err(e) => {
                tracing::error!(error = %e, "cannot count the mail's failure");
                return;
            }
        };
        let wait = i64::try_from(self.mail_backoff(attempts).as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = self.journal.mail_failed(id, error, wait, keys).await {
            tracing::error!(error = %e, "cannot count the mail's failure");
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
                return self.file(id, "mail", Fate::SetAside, vec![e]).await;
            }
            Fetched::NotOurs(reason) => {
                tracing::warn!(%reason, "not a notification the bot acts on; setting it aside");
                let e = NewEvent::new(Kind::Aside, "mail", format!("{id}: {reason}"));
                return self.file(id, "mail", Fate::SetAside, vec![e]).await;
            }
        };
        let ctx = n.message_type.to_string();
        let me = Identity {
            bot_account: &self.config.gerrit.bot_account,
        };
        let presubmit = &self.config.presubmit;
        let facts = if policy::needs_facts(&n, presubmit, &me) {
            match self.facts(&n, &ctx).await {
                Ok(f) => Some(f),
                Err(Ok((fate, event))) => return self.file(id, &ctx, fate, vec![event]).await,
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
        let mail_key = n
            .message_id
            .clone()
            .unwrap_or_else(|| format!("gmail:{id}"));
        let job_url = |job: &str| self.jenkins.job_url(job);
        let plan = policy::plan_mail(&n, facts.as_ref(), &decisions, &mail_key, &ctx, &job_url);
        if self.dry_run {
            self.print_dry_run(&plan.planned, &plan.events);
            return Handled::Waiting;
        }
        self.carry_out(id, &ctx, plan.planned, plan.events, report)
            .await
    }

    /// Records the mail's intents and events, carries the intents out, and files the mail
    /// once all of them are done.
    async fn carry_out(
        &self,
        id: &str,
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
            (None, false) => self.file(id, ctx, Fate::Trash, Vec::new()).await,
        }
    }

    /// Trashes the mail or sets it aside, as an intent (repeated if it was done before: moving
    /// is idempotent), with `events`.
    async fn file(&self, id: &str, ctx: &str, fate: Fate, events: Vec<NewEvent>) -> Handled {
        if self.dry_run {
            events.iter().for_each(console::event);
            return Handled::Waiting;
        }
        let set_aside = match fate {
            Fate::Trash => None,
            Fate::SetAside => Some((
                self.config.gmail.label.clone(),
                self.config.gmail.set_aside_label.clone(),
            )),
        };
        let trashed = set_aside.is_none();
        let planned = effects::plan(
            format!("move:{id}"),
            Payload {
                effect: Effect::MailMove {
                    gmail_id: id.to_string(),
                    set_aside,
                },
                context: ctx.to_string(),
                done: None,
            },
            None,
            None,
            format!("mail {id}"),
        );
        if let Err(e) = self.journal.record(vec![planned], events.clone()).await {
            return Handled::Failed(format!("state database: {e}"), Vec::new());
        }
        events.iter().for_each(console::event);
        let claims = match self
            .journal
            .claim_keys(vec![format!("move:{id}")], &self.effectors.owner)
            .await
        {
            Ok(c) => c,
            Err(e) => return Handled::Failed(format!("state database: {e}"), Vec::new()),
        };
        match claims.into_iter().next() {
            Some(Claim::Run(intent)) => match self.effectors.run(&intent).await {
                Ok(Finish::Done { .. }) => {
                    if let Err(e) = self.journal.mail_finished(id).await {
                        tracing::warn!(error = %e, "cannot forget the mail's failures");
                    }
                    Handled::Filed { trashed }
                }
                Ok(Finish::Retry { error, .. } | Finish::Failed { error }) => {
                    tracing::warn!(error = %error, "cannot file the mail; it stays for the next poll");
                    Handled::Failed(error, Vec::new())
                }
                Err(e) => Handled::Failed(format!("state database: {e}"), Vec::new()),
            },
            _ => Handled::Waiting,
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
    ) -> Result<ChangeFacts, Result<(Fate, NewEvent), String>> {
        let locator = n.locator();
        match self.gerrit.change_facts(&locator.rest_id()).await {
            Ok(f) => {
                // For the status board: the change's subject and Change-Id.
                if !self.dry_run
                    && let Err(e) = (self.journal)
                        .note_change(&f.project, f.number, &f.change_id, &f.subject)
                        .await
                {
                    tracing::warn!(error = %e, "cannot note the change for the status board");
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

async fn log_poll(journal: &Journal, result: Result<PollReport, PollError>) {
    match result {
        Ok(r) => tracing::info!(?r, "poll finished"),
        Err(e) => {
            tracing::error!(error = %e, "poll failed; retrying at the next interval");
            console::emit(journal, NewEvent::new(Kind::Error, "poll", e.to_string())).await;
        }
    }
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

/// Builds a [`Poller`] from the configuration: netrc credentials, the Gmail authorisation, the
/// journal. On the very first run (no token cache yet) in a terminal, it walks the operator
/// through the Gmail consent; without a terminal it says how to do that.
pub async fn build(
    config: Config,
    listener_token: Option<Secret>,
    dry_run: bool,
) -> anyhow::Result<Poller> {
    use anyhow::Context;
    use std::io::IsTerminal;

    use crate::credentials;
    use crate::gmail::Authorize;

    let netrc = credentials::netrc_path(config.gerrit.netrc.as_deref())?;
    let gerrit_creds = credentials::for_url(&config.gerrit.url, &netrc)?;
    // One set of request durations for all three clients, flushed after each poll.
    let timings = crate::metrics::Timings::default();
    let gerrit = Gerrit::new(&config.gerrit.url, gerrit_creds, config.gerrit.timeout)
        .context("cannot set up the Gerrit client")?
        .with_timings(timings.clone());
    let netrc = credentials::netrc_path(config.jenkins.netrc.as_deref())?;
    let jenkins_creds = credentials::for_url(&config.jenkins.url, &netrc)?;
    let jenkins = Jenkins::new(&config.jenkins.url, jenkins_creds, config.jenkins.timeout)
        .context("cannot set up the Jenkins client")?
        .with_timings(timings.clone());
    if !config.gmail.token_cache.exists() {
        if std::io::stdin().is_terminal() {
            println!(
                "Gmail is not authorised yet (no {}).",
                config.gmail.token_cache.display()
            );
            crate::gmail::authorize_now(&config.gmail, Authorize::Paste { port: 8085 })
                .await
                .context("Gmail authorisation failed")?;
        } else {
            anyhow::bail!(
                "Gmail is not authorised yet: no token cache at {}. Run `gmail-listener --config \
                 <file> --authorize` once in a terminal (README: \"Authorise Gmail\")",
                config.gmail.token_cache.display()
            );
        }
    }
    let gmail = Gmail::connect(&config.gmail, Authorize::Never)
        .await?
        .with_timings(timings);
    let journal = Journal::open(&config.state.path, "gmail-listener")?;
    let retention = i64::try_from(config.state.retention.as_millis()).unwrap_or(i64::MAX);
    if let Err(e) = journal.prune(retention).await {
        tracing::warn!(error = %e, "cannot prune the state database");
    }
    Poller::new(
        config,
        gmail,
        gerrit,
        jenkins,
        journal,
        listener_token,
        dry_run,
    )
    .context("cannot set up the HTTP client")
}
