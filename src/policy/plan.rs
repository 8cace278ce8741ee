//! From a mail's decisions to effects with stable keys and the events that describe them
//! (pure: the poller records the plan in the journal and the effectors carry it out).
//!
//! Keys: an automatic build is `trigger:auto:<project~number>:<patch set>:<job>`, so the same
//! patch set is built once by that job whatever mails announce it and however many processes
//! read them; a comment's effects are `cmd:<Gerrit message id>#<decision index>`, so each
//! comment Gerrit recorded runs once whatever mails announce it; any other effect of a mail is
//! `mail:<Message-ID>#<decision index>`, so a mail read again (after a crash, or by a second
//! instance) repeats nothing.

use crate::effects::{self, Effect, Payload};
use crate::gerrit::{ChangeFacts, ReviewInput};
use crate::intake::mail::Notification;
use crate::journal::{BuildKind, EventKind, NewBuild, NewEvent, Planned};

use super::{BuildRequest, Decision};

/// What recording a mail's decisions means.
#[derive(Debug, Clone, PartialEq)]
pub struct MailPlan {
    /// The intents to record, in decision order.
    pub planned: Vec<Planned>,
    /// Events that are decided now (skips), recorded with the intents.
    pub events: Vec<NewEvent>,
}

/// Plans `decisions` about mail `n`; `key_base` is `cmd:<Gerrit message id>` for a comment
/// found in Gerrit, else `mail:<Message-ID>`; `ctx` is the console context.
/// `job_url` gives a job's page, for the BUILD line.
pub fn plan_mail(
    n: &Notification,
    facts: Option<&ChangeFacts>,
    decisions: &[Decision],
    key_base: &str,
    ctx: &str,
    job_url: &dyn Fn(&str) -> String,
) -> MailPlan {
    let who = facts.map_or_else(|| n.locator().plain_id(), super::change_key);
    let mut plan = MailPlan {
        planned: Vec::new(),
        events: Vec::new(),
    };
    for (i, d) in decisions.iter().enumerate() {
        let step = format!("{key_base}#{i}");
        let planned = match d {
            Decision::Skip(reason) => {
                let kind = if reason.is_error() {
                    EventKind::Error
                } else {
                    EventKind::Skip
                };
                plan.events
                    .push(NewEvent::new(kind, ctx, format!("{who}: {reason}")).change(&who, None));
                continue;
            }
            Decision::Build(b) => build(b, step, ctx, job_url),
            Decision::Clean {
                job,
                change_key,
                patch_set,
            } => {
                let done = NewEvent::new(
                    EventKind::Clean,
                    ctx,
                    format!("{change_key} => {job} {}", job_url(job)),
                )
                .change(change_key, Some(patch_set.0))
                .build(job, None);
                let mut p = effects::plan(
                    step,
                    Payload {
                        effect: Effect::Trigger {
                            job: job.clone(),
                            params: Default::default(),
                        },
                        context: ctx.to_string(),
                        done: Some(done),
                    },
                    Some(change_key.clone()),
                    Some(patch_set.0),
                    format!("{ctx} {key_base}"),
                );
                p.build = Some(NewBuild {
                    kind: BuildKind::Clean,
                    change: change_key.clone(),
                    patch_set: patch_set.0,
                    job: job.clone(),
                    target: None,
                    once: false,
                });
                p
            }
            Decision::DropRejection {
                change_id,
                patch_set,
            } => {
                let done = NewEvent::new(
                    EventKind::Check,
                    ctx,
                    format!(
                        "{change_id}/{patch_set}: Verified+1 by a person; dropping the bot's -1"
                    ),
                )
                .change(change_id, Some(patch_set.0));
                effects::plan(
                    step,
                    Payload {
                        effect: Effect::DropRequest {
                            change_id: change_id.clone(),
                            patch_set: patch_set.0,
                        },
                        context: ctx.to_string(),
                        done: Some(done),
                    },
                    Some(change_id.clone()),
                    Some(patch_set.0),
                    format!("{ctx} {key_base}"),
                )
            }
            Decision::Reply { message, patch_set } => {
                let done = NewEvent::new(
                    EventKind::Reply,
                    ctx,
                    format!("{who}/{patch_set}: unknown command; replying with the valid ones"),
                )
                .change(&who, Some(patch_set.0));
                effects::plan(
                    step,
                    Payload {
                        effect: Effect::Review {
                            change: n.locator().rest_id(),
                            revision: patch_set.to_string(),
                            review: ReviewInput::bot(Some(message.clone()), Default::default()),
                            verify: None,
                            only_if_current: false,
                        },
                        context: ctx.to_string(),
                        done: Some(done),
                    },
                    Some(who.clone()),
                    Some(patch_set.0),
                    format!("{ctx} {key_base}"),
                )
            }
        };
        plan.planned.push(planned);
    }
    plan
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
                format!("cancel:{queue_id}"),
                Payload {
                    effect: Effect::Cancel {
                        queue_id: *queue_id,
                        job: job.clone(),
                    },
                    context: ctx.to_string(),
                    done: Some(done),
                },
                Some(newer.change_key.clone()),
                Some(*ps),
                ctx,
            )
        })
        .collect()
}

fn build(b: &BuildRequest, step: String, ctx: &str, job_url: &dyn Fn(&str) -> String) -> Planned {
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
        format!("trigger:auto:{}:{}:{}", b.change_key, b.patch_set, b.job)
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
        Some(b.change_key.clone()),
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
