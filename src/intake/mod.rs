//! Where the hints come from and what is done with them (SPEC §11, §15). A mail, a Gerrit
//! webhook event ([`webhooks`]) or the reconcile pass ([`reconcile`]) each become a
//! [`Notification`]: a hint about a change. [`Intake`] turns a hint into a plan the same way
//! whatever its source: Gerrit's facts, the pure policy, intents with stable keys. So a patch
//! set announced by a mail, a webhook and the reconcile pass is built once, and a forged hint
//! does nothing Gerrit does not confirm.

pub mod callbacks;
pub mod cursor;
pub mod mail;
pub mod mailbox;
pub mod reconcile;
pub mod webhooks;

use std::sync::Arc;

use crate::config::Config;
use crate::console::{self, Kind};
use crate::effects::{Effect, Effectors, Payload};
use crate::gerrit::{ChangeFacts, Gerrit, GerritError};
use crate::hint::Notification;
use crate::jenkins::Jenkins;
use crate::journal::{IntentKind, Journal, NewEvent, Planned, Recorded};
use crate::key::{HintKey, IntentKey};
use crate::policy::{self, DropBy, Identity};

/// What handling a hint needs: the services of record, the journal and the effectors.
#[derive(Clone)]
pub struct Intake {
    pub config: Arc<Config>,
    pub gerrit: Gerrit,
    pub jenkins: Jenkins,
    pub journal: Journal,
    pub effectors: Effectors,
    /// Decide and print; trigger, post, record and move nothing.
    pub dry_run: bool,
    /// Where a person's Verified+1 lifts the bot's Verified-1.
    pub drop_by: DropBy,
}

/// What a hint calls for, before anything is recorded.
pub enum Assessed {
    /// Record these intents and events (possibly none).
    Plan {
        planned: Vec<Planned>,
        events: Vec<NewEvent>,
    },
    /// The change is not in Gerrit: nothing to do.
    Stale(NewEvent),
    /// The hint names several changes: nothing to do, a person should look.
    Ambiguous(NewEvent),
    /// A passing failure (Gerrit or the journal): try the hint again later.
    Failed(String),
    /// `--dry-run`: the decision was printed.
    DryRun,
}

/// How carrying out a plan ended.
pub enum Carried {
    /// Every effect is done (or failed for good, with its own event).
    Done,
    /// One failed for a passing reason (the error, the intents the hint waits on).
    Failed(String, Vec<IntentKey>),
    /// Another process holds one of the effects, or one is not due yet.
    Waiting,
}

/// Effects done, by kind, for the poll's report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    pub builds: usize,
    pub cleans: usize,
    pub replies: usize,
    pub drop_rejections: usize,
}

impl Intake {
    /// Gerrit's facts, the policy's decisions and the plan for hint `n`. `fallback_key` keys
    /// the effects of a hint that is not a comment Gerrit recorded (a mail's Message-ID).
    pub async fn assess(&self, n: &Notification, fallback_key: &HintKey) -> Assessed {
        let ctx = n.message_type.to_string();
        let presubmit = &self.config.presubmit;
        let (facts, bot_id) = match self.facts_if_needed(n, &ctx).await {
            Ok(found) => found,
            Err(other) => return other,
        };
        let me = Identity {
            bot_account: &self.config.gerrit.bot_account,
            bot_id,
        };
        let built = match self.built(facts.as_ref(), &ctx).await {
            Ok(b) => b,
            Err(failed) => return failed,
        };
        let decisions = policy::decide(n, facts.as_ref(), &built, presubmit, &me);
        let key_base =
            policy::comment_key(n, facts.as_ref()).unwrap_or_else(|| fallback_key.clone());
        let job_url = |job: &str| self.jenkins.job_url(job);
        let mut plan = policy::plan_mail(
            n,
            facts.as_ref(),
            &decisions,
            &key_base,
            &ctx,
            &job_url,
            self.drop_by,
        );
        if let Some(f) = &facts {
            match self.cancels(f, &decisions, &ctx).await {
                Ok(cancels) => plan.planned.extend(cancels),
                Err(e) => return Assessed::Failed(format!("state database: {e}")),
            }
        }
        if self.dry_run {
            print_dry_run(&plan.planned, &plan.events);
            return Assessed::DryRun;
        }
        Assessed::Plan {
            planned: plan.planned,
            events: plan.events,
        }
    }

    /// Gerrit's facts and the bot's account id, when the policy needs them for hint `n`.
    async fn facts_if_needed(
        &self,
        n: &Notification,
        ctx: &str,
    ) -> Result<(Option<ChangeFacts>, Option<u64>), Assessed> {
        if !policy::needs_facts(n) {
            return Ok((None, None));
        }
        let bot = self.bot_id(ctx).await?;
        let facts = self.facts(n, ctx, Some(bot)).await?;
        Ok((Some(facts), Some(bot)))
    }

    /// The jobs that already built the change's current patch set (none without facts).
    async fn built(&self, facts: Option<&ChangeFacts>, ctx: &str) -> Result<Vec<String>, Assessed> {
        let Some(f) = facts else {
            return Ok(Vec::new());
        };
        let key = policy::change_key(f);
        self.journal
            .built_jobs(&key, f.current_patch_set.0)
            .await
            .map_err(|e| {
                console::line(Kind::Error, ctx, &format!("state database: {e}"));
                Assessed::Failed(format!("state database: {e}"))
            })
    }

    /// SPEC §15 `cancel_superseded`: the waiting builds of older patch sets to cancel when the
    /// decisions build the current one.
    async fn cancels(
        &self,
        f: &ChangeFacts,
        decisions: &[policy::Decision],
        ctx: &str,
    ) -> Result<Vec<Planned>, crate::journal::JournalError> {
        let builds = decisions
            .iter()
            .any(|d| matches!(d, policy::Decision::Build(_)));
        if !self.config.presubmit.cancel_superseded || !builds {
            return Ok(Vec::new());
        }
        let waiting = self
            .journal
            .waiting_builds(&policy::change_key(f), f.current_patch_set.0)
            .await?;
        Ok(policy::plan_cancels(decisions, &waiting, ctx))
    }

    /// The bot's account id: it knows its own comments by it, never by mail headers.
    async fn bot_id(&self, ctx: &str) -> Result<u64, Assessed> {
        let e = match self.gerrit.self_account_id().await {
            Ok(bot) => return Ok(bot),
            Err(e) => e,
        };
        let why = format!("cannot ask Gerrit who the bot is: {e}");
        // Credentials, URL or permissions (SPEC §11): an ERROR line says what to check, as when
        // the change itself is refused; an outage stays quiet here.
        if e.is_operator_fixable() {
            let line = NewEvent::new(Kind::Error, ctx, format!("{why}; will retry"));
            console::emit(&self.journal, line).await;
        }
        Err(Assessed::Failed(why))
    }

    /// Records a plan's intents and events; returns the keys of the intents still to carry
    /// out (an automatic build another hint already made gets a SKIP line instead).
    pub async fn record(
        &self,
        ctx: &str,
        planned: Vec<Planned>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<(IntentKey, IntentKind)>, String> {
        let keys: Vec<(IntentKey, IntentKind)> = planned
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
        let recorded = self
            .journal
            .record(planned, events.clone())
            .await
            .map_err(|e| format!("state database: {e}"))?;
        events.iter().for_each(console::event);
        let mut builds = skipped.into_iter();
        let mut run_keys = Vec::new();
        for ((key, kind), r) in keys.into_iter().zip(recorded) {
            let skip = if key.is_auto_build() {
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
        Ok(run_keys)
    }

    /// Records a plan and carries its intents out now, in this task.
    pub async fn carry_out(
        &self,
        ctx: &str,
        planned: Vec<Planned>,
        events: Vec<NewEvent>,
        done: &mut Done,
    ) -> Carried {
        let run_keys = match self.record(ctx, planned, events).await {
            Ok(k) => k,
            Err(e) => return Carried::Failed(e, Vec::new()),
        };
        self.run(&run_keys, done).await
    }

    /// Carries out recorded intents now (as [`Intake::record`] returned them).
    pub async fn run(&self, run_keys: &[(IntentKey, IntentKind)], done: &mut Done) -> Carried {
        let keys: Vec<IntentKey> = run_keys.iter().map(|(k, _)| k.clone()).collect();
        let report = self.effectors.run_now(&keys).await;
        for intent in &report.done {
            count(done, intent.kind, &intent.payload);
        }
        match (report.failure, report.waiting) {
            (Some(error), _) => Carried::Failed(error, keys),
            (None, true) => Carried::Waiting,
            (None, false) => Carried::Done,
        }
    }

    /// Gerrit's facts, or what the hint comes to without them.
    async fn facts(
        &self,
        n: &Notification,
        ctx: &str,
        bot_id: Option<u64>,
    ) -> Result<ChangeFacts, Assessed> {
        let locator = n.locator();
        match self.gerrit.change_facts(&locator.plain_id()).await {
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
                        .patchset_comments(&locator.plain_id())
                        .await
                        .map_err(|e| Assessed::Failed(format!("{locator}: {e}")))?;
                }
                Ok(f)
            }
            Err(GerritError::NotFound(body)) => Err(Assessed::Stale(NewEvent::new(
                Kind::Skip,
                ctx,
                format!("{locator}: not in Gerrit ({body}); stale notification"),
            ))),
            Err(e @ GerritError::Ambiguous(_)) => Err(Assessed::Ambiguous(NewEvent::new(
                Kind::Error,
                ctx,
                format!("{locator}: {e}"),
            ))),
            Err(e) => {
                let line = NewEvent::new(Kind::Error, ctx, format!("{locator}: {e}; will retry"))
                    .change(locator.plain_id(), Some(n.patch_set.0));
                console::emit(&self.journal, line).await;
                Err(Assessed::Failed(e.to_string()))
            }
        }
    }
}

fn print_dry_run(planned: &[Planned], events: &[NewEvent]) {
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

/// Whether the patch-set-level comments (a second request) are needed: a comment whose text
/// is not in any change message (or, from a webhook, is known to be in its comments), or an
/// untrusted patch set that a trusted reviewer's message with comments may have approved
/// (`ok-to-test` written as a patch-set-level comment).
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
        if (review.text_in_comments || policy::comment::find(n, review, f).is_none())
            && with_comments(ps)
        {
            return true;
        }
    }
    policy::skip_reason(f, cfg).is_some_and(|r| r.is_untrusted_author())
        && !policy::trust::approved_for_testing(f, cfg, bot_id)
        && with_comments(f.current_patch_set.0)
}

/// Counts a done effect.
fn count(done: &mut Done, kind: IntentKind, payload: &str) {
    match kind {
        IntentKind::Trigger => {
            let clean = serde_json::from_str::<Payload>(payload).is_ok_and(
                |p| matches!(p.effect, Effect::Trigger { ref params, .. } if params.is_empty()),
            );
            if clean {
                done.cleans += 1;
            } else {
                done.builds += 1;
            }
        }
        IntentKind::Review => done.replies += 1,
        IntentKind::DropRequest => done.drop_rejections += 1,
        _ => {}
    }
}
