//! From a mail's decisions to effects with stable keys and the events that describe them
//! (pure: the poller records the plan in the journal and the effectors carry it out).
//!
//! Keys: an automatic build is `trigger:auto:<project~number>:<patch set>:<job>`, so the same
//! patch set is built once by that job whatever mails announce it and however many processes
//! read them; a comment's effects are `cmd:<Gerrit message id>#<decision index>`, so each
//! comment Gerrit recorded runs once whatever mails announce it; any other effect of a mail is
//! `mail:<Message-ID>#<decision index>`, so a mail read again (after a crash, or by a second
//! instance) repeats nothing.

use crate::gerrit::{ChangeFacts, ReviewInput};
use crate::hint::Notification;
use crate::intent::{self as effects, Effect, Payload};
use crate::key::{HintKey, IntentKey};
use crate::record::{BuildKind, EventKind, NewBuild, NewEvent, Planned};

use crate::types::{ChangeRef, PatchSet};

use super::{BuildRequest, Decision};

/// What recording a mail's decisions means.
#[derive(Debug, Clone, PartialEq)]
pub struct MailPlan {
    /// The intents to record, in decision order.
    pub planned: Vec<Planned>,
    /// Events that are decided now (skips), recorded with the intents.
    pub events: Vec<NewEvent>,
}

/// Where a person's Verified+1 lifts the bot's Verified-1: gmail-listener asks build-listener
/// (`POST /drop-rejection`); build-listener, handling a webhook event, checks it itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropBy {
    Request,
    InProcess,
}

/// What a hint's intents share: its key, the console context, the change as the lines name
/// it, a job's page (for the BUILD line) and where drops are made.
pub struct Ctx<'a> {
    pub key_base: &'a HintKey,
    pub ctx: &'a str,
    pub who: String,
    pub job_url: &'a dyn Fn(&str) -> String,
    pub drop_by: DropBy,
}

/// Plans `decisions` about hint `n`; `key_base` is `cmd:<Gerrit message id>` for a comment
/// found in Gerrit, else the hint's own key (`mail:<Message-ID>`...); `ctx` is the console
/// context; `job_url` gives a job's page, for the BUILD line.
pub fn plan_mail(
    n: &Notification,
    facts: Option<&ChangeFacts>,
    decisions: &[Decision],
    key_base: &HintKey,
    ctx: &str,
    job_url: &dyn Fn(&str) -> String,
    drop_by: DropBy,
) -> MailPlan {
    let c = Ctx {
        key_base,
        ctx,
        who: facts.map_or_else(
            || n.locator().plain_id(),
            |f| super::change_key(f).to_string(),
        ),
        job_url,
        drop_by,
    };
    let mut plan = MailPlan {
        planned: Vec::new(),
        events: Vec::new(),
    };
    for (i, d) in decisions.iter().enumerate() {
        let step = key_base.step(i);
        match d {
            Decision::Skip(reason) => plan.events.push(skip(reason, &c)),
            Decision::Build(b) => plan.planned.push(build(b, step, ctx, job_url)),
            Decision::Clean {
                job,
                change_key,
                patch_set,
            } => plan
                .planned
                .push(clean(job, change_key, *patch_set, step, &c)),
            Decision::DropRejection {
                change_id,
                patch_set,
            } => {
                let (planned, queued) = drop(change_id, *patch_set, step, &c);
                plan.planned.push(planned);
                plan.events.extend(queued);
            }
            Decision::Reply { message, patch_set } => {
                plan.planned.push(reply(n, message, *patch_set, step, &c));
            }
        }
    }
    plan
}

fn skip(reason: &super::SkipReason, c: &Ctx<'_>) -> NewEvent {
    let kind = if reason.is_error() {
        EventKind::Error
    } else {
        EventKind::Skip
    };
    NewEvent::new(kind, c.ctx, format!("{}: {reason}", c.who)).change(&c.who, None)
}

fn clean(
    job: &str,
    change_key: &ChangeRef,
    patch_set: PatchSet,
    step: IntentKey,
    c: &Ctx<'_>,
) -> Planned {
    let done = NewEvent::new(
        EventKind::Clean,
        c.ctx,
        format!("{change_key} => {job} {}", (c.job_url)(job)),
    )
    .change(change_key, Some(patch_set.0))
    .build(job, None);
    let mut p = effects::plan(
        step,
        Payload {
            effect: Effect::Trigger {
                job: job.to_string(),
                params: Default::default(),
            },
            context: c.ctx.to_string(),
            done: Some(done),
        },
        Some(change_key.to_string()),
        Some(patch_set.0),
        format!("{} {}", c.ctx, c.key_base),
    );
    p.build = Some(NewBuild {
        kind: BuildKind::Clean,
        change: change_key.clone(),
        patch_set: patch_set.0,
        job: job.to_string(),
        target: None,
        once: false,
    });
    p
}

/// A drop of the bot's rejection, as a request to build-listener or (in build-listener) the
/// check itself under the same key, so the mail of the same comment finds it done; with the
/// check comes the line saying it is queued.
fn drop(
    change_id: &str,
    patch_set: PatchSet,
    step: IntentKey,
    c: &Ctx<'_>,
) -> (Planned, Option<NewEvent>) {
    if c.drop_by == DropBy::InProcess {
        let (mut check, queued) = super::drop_rejection(change_id, patch_set.0, 0);
        check.intent.key = step;
        return (check, Some(queued));
    }
    let done = NewEvent::new(
        EventKind::Check,
        c.ctx,
        format!("{change_id}/{patch_set}: Verified+1 by a person; dropping the bot's -1"),
    )
    .change(change_id, Some(patch_set.0));
    let planned = effects::plan(
        step,
        Payload {
            effect: Effect::DropRequest {
                change_id: change_id.to_string(),
                patch_set: patch_set.0,
            },
            context: c.ctx.to_string(),
            done: Some(done),
        },
        Some(change_id.to_string()),
        Some(patch_set.0),
        format!("{} {}", c.ctx, c.key_base),
    );
    (planned, None)
}

fn reply(
    n: &Notification,
    message: &str,
    patch_set: PatchSet,
    step: IntentKey,
    c: &Ctx<'_>,
) -> Planned {
    let done = NewEvent::new(
        EventKind::Reply,
        c.ctx,
        format!(
            "{}/{patch_set}: unknown command; replying with the valid ones",
            c.who
        ),
    )
    .change(&c.who, Some(patch_set.0));
    effects::plan(
        step,
        Payload {
            effect: Effect::Review {
                change: n.locator().plain_id(),
                revision: patch_set.to_string(),
                review: ReviewInput::bot(Some(message.to_string()), Default::default()),
                verify: None,
                only_if_current: false,
            },
            context: c.ctx.to_string(),
            done: Some(done),
        },
        Some(c.who.clone()),
        Some(patch_set.0),
        format!("{} {}", c.ctx, c.key_base),
    )
}

/// SPEC §15 `cancel_superseded`: the bot's builds of older patch sets of a change it now
/// builds again, still waiting in Jenkins' queue, are cancelled (`waiting` is what the journal
/// knows: queue id, job, patch set). Running builds are left alone.
pub fn plan_cancels(
    decisions: &[Decision],
    waiting: &[(u64, String, u32)],
    ctx: &str,
) -> Vec<Planned> {
    let Some(newer) = decisions.iter().find_map(|d| match d {
        Decision::Build(b) => Some(b),
        _ => None,
    }) else {
        return Vec::new();
    };
    waiting
        .iter()
        .filter(|(_, _, ps)| *ps < newer.patch_set.0)
        .map(|(queue_id, job, ps)| {
            let done = NewEvent::new(
                EventKind::Check,
                ctx,
                format!(
                    "{} => {job}: queue item {queue_id} of patch set {ps}: {{outcome}} \
                     (superseded by patch set {})",
                    newer.change_key, newer.patch_set
                ),
            )
            .change(&newer.change_key, Some(*ps))
            .build(job, None);
            effects::plan(
                IntentKey::Cancel {
                    queue_id: *queue_id,
                },
                Payload {
                    effect: Effect::Cancel {
                        queue_id: *queue_id,
                        job: job.clone(),
                    },
                    context: ctx.to_string(),
                    done: Some(done),
                },
                Some(newer.change_key.to_string()),
                Some(*ps),
                ctx,
            )
        })
        .collect()
}

fn build(
    b: &BuildRequest,
    step: IntentKey,
    ctx: &str,
    job_url: &dyn Fn(&str) -> String,
) -> Planned {
    let target = b.params.get("LUNCH_TARGET");
    let line = format!(
        "{} => {} {} {}{}",
        b.change_key,
        b.job,
        job_url(&b.job),
        b.params.get("CHANGE_ID").map_or("", String::as_str),
        target
            .map(|t| format!(" LUNCH_TARGET={t}"))
            .unwrap_or_default(),
    );
    let ctx = if ctx == b.trigger.to_string() {
        ctx.to_string()
    } else {
        format!("{ctx}:{}", b.trigger)
    };
    let key = if b.once {
        IntentKey::AutoBuild {
            change: b.change_key.to_string(),
            patch_set: b.patch_set.0,
            job: b.job.clone(),
        }
    } else {
        step
    };
    let done = NewEvent::new(EventKind::Build, &ctx, line)
        .change(&b.change_key, Some(b.patch_set.0))
        .build(&b.job, None);
    let mut p = effects::plan(
        key,
        Payload {
            effect: Effect::Trigger {
                job: b.job.clone(),
                params: b.params.clone(),
            },
            context: ctx.clone(),
            done: Some(done),
        },
        Some(b.change_key.to_string()),
        Some(b.patch_set.0),
        ctx,
    );
    p.build = Some(NewBuild {
        kind: BuildKind::Presubmit,
        change: b.change_key.clone(),
        patch_set: b.patch_set.0,
        job: b.job.clone(),
        target: target.cloned(),
        once: b.once,
    });
    p
}
