//! gmail-listener's loop: each poll asks the history cursor which mails to read
//! ([`crate::intake::cursor::Cursor`]), hands them to the mailbox in windows
//! ([`crate::intake::mailbox`]: read, decide, record the effects as intents, carry them out,
//! file the mail), and runs the reconcile pass when it is due.
//!
//! Every effect is an intent with a stable key before it is a request, so a mail read again —
//! after a failure, after a crash, or by a second instance on the same database — repeats
//! nothing; an effect whose outcome a crash lost is reconciled with Jenkins or Gerrit before
//! it is tried again.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::config::Config;
use crate::console::{self, Kind};
use crate::credentials::Secret;
use crate::effects::{self, Backoff, BuildListener, Effectors};
use crate::gerrit::Gerrit;
use crate::gmail::{Gmail, GmailError};
use crate::intake::cursor::{Cursor, CursorError};
use crate::intake::mailbox::{Fetched, Handled, Mailbox, by_change};
use crate::intake::reconcile::{ReconcileError, Reconciled};
use crate::intake::{Done, Intake};
use crate::jenkins::Jenkins;
use crate::journal::{IntentKind, Journal, JournalError, NewEvent, Owner};

/// The intent kinds gmail-listener carries out.
const KINDS: &[IntentKind] = &[
    IntentKind::Trigger,
    IntentKind::Cancel,
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
    fn add_done(&mut self, done: &Done) {
        self.builds += done.builds;
        self.cleans += done.cleans;
        self.replies += done.replies;
        self.drop_rejections += done.drop_rejections;
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

impl From<CursorError> for PollError {
    fn from(e: CursorError) -> PollError {
        match e {
            CursorError::Gmail(e) => PollError::Gmail(e),
            CursorError::NoLabel(label) => PollError::NoLabel(label),
        }
    }
}

/// Everything a poll needs; built once at start-up.
pub struct Poller {
    pub config: Arc<Config>,
    pub gmail: Arc<Gmail>,
    pub gerrit: Gerrit,
    pub jenkins: Jenkins,
    pub journal: Journal,
    pub effectors: Effectors,
    /// Decide and print; trigger, post, record and move nothing.
    pub dry_run: bool,
    /// Turns a mail (and the reconcile pass's findings) into intents.
    pub intake: Intake,
    /// Reads, handles and files the mails.
    mailbox: Mailbox,
    /// Which mails a poll reads.
    cursor: Cursor,
    lease: JoinHandle<()>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.lease.abort();
    }
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
        let gmail = Arc::new(gmail);
        let mut effectors = Effectors::new(journal.clone(), Owner::this_process(LEASE));
        effectors.gerrit = Some(gerrit.clone());
        effectors.jenkins = Some(jenkins.clone());
        effectors.gmail = Some(gmail.clone());
        effectors.listener = Some(BuildListener::new(
            &config.build_listener.url,
            listener_token,
            config.gerrit.timeout,
        )?);
        // A failed effect is retried with its mail, on the mail's own backoff.
        effectors.backoff = Backoff::NONE;
        let lease = tokio::spawn(effects::renew_lease(effectors.clone()));
        let config = Arc::new(config);
        let intake = Intake {
            config: config.clone(),
            gerrit: gerrit.clone(),
            jenkins: jenkins.clone(),
            journal: journal.clone(),
            effectors: effectors.clone(),
            dry_run,
            drop_by: crate::policy::DropBy::Request,
        };
        let mailbox = Mailbox {
            gmail: gmail.clone(),
            intake: intake.clone(),
        };
        let cursor = Cursor::new(&config.gmail.label, config.gmail.full_scan_interval);
        Ok(Poller {
            config,
            intake,
            mailbox,
            cursor,
            gmail,
            gerrit,
            jenkins,
            journal,
            effectors,
            dry_run,
            lease,
        })
    }

    /// Polls (and runs the reconcile pass, `[gerrit] reconcile_interval`) until `shutdown`
    /// resolves. A poll in progress is then given `[gmail] shutdown_timeout` to finish its
    /// mail; what is still running after that is given back as intents in doubt, reconciled by
    /// the next start.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        tokio::join!(
            stop,
            self.poll_loop(stop_rx.clone()),
            self.reconcile_loop(stop_rx)
        );
        match self.journal.abandon(&self.effectors.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "gave back unfinished intents; they will be reconciled"),
            Err(e) => tracing::error!(error = %e, "cannot give back unfinished intents"),
        }
        tracing::info!("gmail-listener stopped");
    }

    async fn poll_loop(&self, stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.gmail.poll_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopped(stop.clone()) => break,
                _ = tick.tick() => {}
            }
            let poll = self.poll_until(&stop);
            tokio::pin!(poll);
            let result = tokio::select! {
                r = &mut poll => r,
                () = stopped(stop.clone()) => {
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
    }

    /// Runs the reconcile pass whenever it is due (checked every minute at most, and at
    /// start: a bot that was down catches up at once).
    async fn reconcile_loop(&self, stop: tokio::sync::watch::Receiver<bool>) {
        let every = self.config.gerrit.reconcile_interval;
        if every.is_zero() || self.dry_run {
            return;
        }
        let mut tick = tokio::time::interval(every.min(Duration::from_secs(60)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopped(stop.clone()) => break,
                _ = tick.tick() => {}
            }
            let pass = self.reconcile_if_due();
            tokio::pin!(pass);
            tokio::select! {
                r = &mut pass => log_reconcile(&self.journal, r).await,
                // Like a poll, the pass in hand may finish what it started within
                // `shutdown_timeout`; intents still in hand then are given back by `run`.
                () = stopped(stop.clone()) => {
                    let limit = self.config.gmail.shutdown_timeout;
                    match tokio::time::timeout(limit, &mut pass).await {
                        Ok(r) => log_reconcile(&self.journal, r).await,
                        Err(_) => tracing::warn!("shutdown timeout: giving back the reconcile pass"),
                    }
                    break;
                }
            }
        }
    }

    /// A reconcile pass if one is due (`--once` runs this after its poll).
    pub async fn reconcile_if_due(&self) -> Result<Option<Reconciled>, ReconcileError> {
        if self.dry_run {
            return Ok(None);
        }
        self.intake.reconcile_if_due().await
    }

    /// One pass over the labelled mail.
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        self.poll_until(&rx).await
    }

    /// One pass, taking no new mail once `stop` is true. Mails are taken in windows, oldest
    /// first; within a window, mails about different changes are handled concurrently (at most
    /// `[gmail] concurrency` at once) and mails about one change one after the other, in order;
    /// the window's mails are then filed together.
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
        let ids = self.cursor.mail_to_read(&self.gmail).await?;
        let mut report = PollReport {
            seen: ids.len(),
            ..PollReport::default()
        };
        let concurrency = self.config.gmail.concurrency.max(1);
        let mut left = Vec::new();
        let windows: Vec<&[String]> = ids.chunks(concurrency * 4).collect();
        // The next window's mails are read while this window's are handled: reading is one of
        // the three requests a mail costs, so the pipeline keeps all three busy.
        let mut next = match windows.first() {
            Some(w) => Some(self.fetch_window(w, concurrency).await),
            None => None,
        };
        for (i, window) in windows.iter().enumerate() {
            let Some(fetched) = next.take() else { break };
            if *stop.borrow() {
                left.extend(window.iter().cloned());
                continue;
            }
            let handling = stream::iter(by_change(fetched))
                .map(|group| self.mailbox.handle_group(group))
                .buffer_unordered(concurrency)
                .collect::<Vec<Vec<(String, Handled, Done)>>>();
            let prefetch = async {
                match windows.get(i + 1) {
                    Some(w) if !*stop.borrow() => Some(self.fetch_window(w, concurrency).await),
                    _ => None,
                }
            };
            let (done, prefetched) = tokio::join!(handling, prefetch);
            next = prefetched;
            if next.is_none() {
                // Stopping: the windows not read are left for the next start.
                for w in windows.iter().skip(i + 1) {
                    left.extend(w.iter().cloned());
                }
            }
            let mut handled = Vec::new();
            for (id, how, done) in done.into_iter().flatten() {
                report.add_done(&done);
                handled.push((id, how));
            }
            let outcomes = self.mailbox.file_handled(handled).await;
            self.tally(outcomes, &mut report, &mut left).await;
        }
        self.cursor.leave(left).await;
        self.adopt_orphans().await;
        Ok(report)
    }

    /// Counts how a window's mails ended; those left are read again by the next poll, and
    /// their failures count towards `max_attempts`.
    async fn tally(
        &self,
        outcomes: Vec<(String, Handled)>,
        report: &mut PollReport,
        left: &mut Vec<String>,
    ) {
        for (id, handled) in outcomes {
            match handled {
                Handled::Filed { trashed: true } => report.trashed += 1,
                Handled::Filed { trashed: false } => report.set_aside += 1,
                Handled::Waiting | Handled::File { .. } => {
                    report.left += 1;
                    left.push(id);
                }
                Handled::Failed(error, keys) => {
                    report.left += 1;
                    if !self.dry_run {
                        self.mailbox.count_failure(&id, &error, &keys).await;
                    }
                    left.push(id);
                }
            }
        }
    }

    /// Reads (and parses) a window's mails, at most `concurrency` at once, in order.
    async fn fetch_window(&self, window: &[String], concurrency: usize) -> Vec<(String, Fetched)> {
        stream::iter(window)
            .map(|id| async move { (id.clone(), self.mailbox.fetch(id).await) })
            .buffered(concurrency)
            .collect()
            .await
    }

    /// Carries out intents a crashed gmail-listener left running whose mail is no longer
    /// there to bring them back (it crashed after moving the mail, before recording that).
    /// Intents whose mail is still labelled come back with it; this finds the rest.
    async fn adopt_orphans(&self) {
        if self.dry_run {
            return;
        }
        self.effectors.adopt(KINDS, 64).await;
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn log_reconcile(journal: &Journal, result: Result<Option<Reconciled>, ReconcileError>) {
    match result {
        Ok(Some(r)) if r.first => {
            tracing::info!("reconcile: first pass; remembering where Gerrit is")
        }
        Ok(Some(r)) => tracing::info!(?r, "reconcile pass finished"),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "reconcile pass failed; retrying at the next interval");
            console::emit(
                journal,
                NewEvent::new(Kind::Error, "reconcile", e.to_string()),
            )
            .await;
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
