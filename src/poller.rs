//! gmail-listener's loop: one poll reads every labelled mail, decides, acts, and files the mail.
//!
//! A mail ends in one of three places: the trash (handled, or stale), set aside under
//! `set_aside_label` (the bot will not act on it), or left in the queue (a passing failure:
//! Gerrit, Jenkins or build-listener down) for the next poll. Each action of a mail is recorded
//! in the state database once done, so a mail left for a retry never repeats what already
//! succeeded (no second build, no second reply).

use tokio::time::MissedTickBehavior;

use crate::config::Config;
use crate::console::{self, Kind};
use crate::credentials::Secret;
use crate::gerrit::{ChangeFacts, Gerrit, GerritError};
use crate::gmail::{Gmail, GmailError};
use crate::jenkins::Jenkins;
use crate::mail::{self, Notification};
use crate::policy::{self, Identity};
use crate::state::{State, StateError, Triggered};

mod act;

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
    State(#[from] StateError),
}

/// Everything a poll needs; built once at start-up.
pub struct Poller {
    pub config: Config,
    pub gmail: Gmail,
    pub gerrit: Gerrit,
    pub jenkins: Jenkins,
    pub state: State,
    /// `BIONICBB_LISTENER_TOKEN`, sent on `/drop-rejection`.
    pub listener_token: Option<Secret>,
    /// Decide and print; trigger, post, record and trash nothing.
    pub dry_run: bool,
    http: reqwest::Client,
}

/// How one mail ended.
enum Fate {
    Trash,
    SetAside,
    Leave,
}

impl Poller {
    pub fn new(
        config: Config,
        gmail: Gmail,
        gerrit: Gerrit,
        jenkins: Jenkins,
        state: State,
        listener_token: Option<Secret>,
        dry_run: bool,
    ) -> Result<Poller, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.gerrit.timeout)
            .build()?;
        Ok(Poller {
            config,
            gmail,
            gerrit,
            jenkins,
            state,
            listener_token,
            dry_run,
            http,
        })
    }

    /// Polls until `shutdown` resolves; a failed poll is logged and retried next interval.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.config.gmail.poll_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            // A poll in progress is allowed to finish: interrupting it half-way would only
            // repeat its work on the next start.
            match self.poll_once().await {
                Ok(r) => tracing::info!(?r, "poll finished"),
                Err(e) => {
                    console::line(Kind::Error, "poll", &e.to_string());
                    tracing::error!(error = %e, "poll failed; retrying at the next interval");
                }
            }
        }
    }

    /// One pass over the labelled mail.
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
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
        let mut aside_id: Option<String> = None;
        for id in ids {
            let span = tracing::info_span!("mail", id = %id);
            let _enter = span.enter();
            let fate = self.handle(&id, &mut report).await;
            if self.dry_run {
                continue;
            }
            let filed = match fate {
                Fate::Leave => {
                    report.left += 1;
                    Ok(())
                }
                Fate::Trash => self.gmail.trash(&id).await.map(|()| report.trashed += 1),
                Fate::SetAside => match self.set_aside(&id, &label_id, &mut aside_id).await {
                    Ok(()) => {
                        report.set_aside += 1;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = filed {
                // The mail stays labelled and its recorded actions will not repeat.
                tracing::warn!(error = %e, "cannot file the mail; it stays for the next poll");
                report.left += 1;
            }
        }
        Ok(report)
    }

    async fn set_aside(
        &self,
        id: &str,
        label_id: &str,
        aside_id: &mut Option<String>,
    ) -> Result<(), GmailError> {
        let aside = match aside_id {
            Some(a) => a.clone(),
            None => {
                let name = &self.config.gmail.set_aside_label;
                let a = self.gmail.label_id(name, true).await?.unwrap_or_default();
                *aside_id = Some(a.clone());
                a
            }
        };
        self.gmail.relabel(id, label_id, &aside).await
    }

    async fn handle(&self, id: &str, report: &mut PollReport) -> Fate {
        let raw = match self.gmail.raw(id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the mail");
                return Fate::Leave;
            }
        };
        let n = match mail::parse(&raw, &self.config.gmail.senders) {
            Ok(n) => n,
            Err(reason) => {
                console::line(Kind::Aside, "mail", &format!("{id}: {reason}"));
                tracing::warn!(%reason, "not a notification the bot acts on; setting it aside");
                return Fate::SetAside;
            }
        };
        let mail_key = n
            .message_id
            .clone()
            .unwrap_or_else(|| format!("gmail:{id}"));
        let ctx = n.message_type.to_string();
        let me = Identity {
            bot_account: &self.config.gerrit.bot_account,
        };
        let presubmit = &self.config.presubmit;
        let facts = if policy::needs_facts(&n, presubmit, &me) {
            match self.facts(&n, &ctx).await {
                Ok(f) => Some(f),
                Err(fate) => return fate,
            }
        } else {
            None
        };
        let built = match &facts {
            Some(f) => {
                match self
                    .state
                    .built_jobs(&policy::change_key(f), f.current_patch_set.0)
                    .await
                {
                    Ok(b) => b,
                    Err(e) => {
                        console::line(Kind::Error, &ctx, &format!("state database: {e}"));
                        return Fate::Leave;
                    }
                }
            }
            None => Vec::new(),
        };
        let decisions = policy::decide(&n, facts.as_ref(), &built, presubmit, &me);
        let mut fate = Fate::Trash;
        for (i, d) in decisions.iter().enumerate() {
            let step_key = format!("{mail_key}#{i}");
            match self
                .act(&n, facts.as_ref(), d, &step_key, &ctx, report)
                .await
            {
                Ok(()) => {}
                Err(()) => fate = Fate::Leave,
            }
        }
        fate
    }

    async fn facts(&self, n: &Notification, ctx: &str) -> Result<ChangeFacts, Fate> {
        let locator = n.locator();
        match self.gerrit.change_facts(&locator.rest_id()).await {
            Ok(f) => Ok(f),
            Err(GerritError::NotFound(body)) => {
                console::line(
                    Kind::Skip,
                    ctx,
                    &format!("{locator}: not in Gerrit ({body}); stale mail"),
                );
                Err(Fate::Trash)
            }
            Err(e @ GerritError::Ambiguous(_)) => {
                console::line(Kind::Error, ctx, &format!("{locator}: {e}"));
                Err(Fate::SetAside)
            }
            Err(e) => {
                console::line(Kind::Error, ctx, &format!("{locator}: {e}; will retry"));
                Err(Fate::Leave)
            }
        }
    }

    /// The plain id build-listener's `/drop-rejection` gets, and the clean job's record.
    fn triggered(queue_id: u64, job: &str, change_key: &str, patch_set: u32) -> Triggered {
        Triggered {
            queue_id,
            job: job.to_string(),
            change_key: change_key.to_string(),
            patch_set,
        }
    }
}

/// Builds a [`Poller`] from the configuration: netrc credentials, the Gmail authorisation, the
/// state database. On the very first run (no token cache yet) in a terminal, it walks the
/// operator through the Gmail consent; without a terminal it says how to do that.
pub async fn build(config: Config, dry_run: bool) -> anyhow::Result<Poller> {
    use anyhow::Context;
    use std::io::IsTerminal;

    use crate::credentials;
    use crate::gmail::Authorize;

    let netrc = credentials::netrc_path(config.gerrit.netrc.as_deref())?;
    let gerrit_creds = credentials::for_url(&config.gerrit.url, &netrc)?;
    let gerrit = Gerrit::new(&config.gerrit.url, gerrit_creds, config.gerrit.timeout)
        .context("cannot set up the Gerrit client")?;
    let netrc = credentials::netrc_path(config.jenkins.netrc.as_deref())?;
    let jenkins_creds = credentials::for_url(&config.jenkins.url, &netrc)?;
    let jenkins = Jenkins::new(&config.jenkins.url, jenkins_creds, config.jenkins.timeout)
        .context("cannot set up the Jenkins client")?;
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
    let gmail = Gmail::connect(&config.gmail, Authorize::Never).await?;
    let state = State::open(&config.state.path)?;
    let token = crate::cli::listener_token()?;
    Poller::new(config, gmail, gerrit, jenkins, state, token, dry_run)
        .context("cannot set up the HTTP client")
}
