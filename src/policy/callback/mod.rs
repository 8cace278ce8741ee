//! What a Jenkins callback calls for (SPEC §7): a pure decision from the event, the
//! configuration and what the journal knows about the build's queue item.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::config::{Config, PresubmitConfig};
use crate::gerrit::{ReviewInput, VERIFIED};
use crate::intent::{self, Effect, Payload, Verify};
use crate::jenkins::notification::JenkinsEvent;
use crate::key::IntentKey;
use crate::record::{EventKind as Kind, NewEvent, Planned};
use crate::types::{BuildResult, ChangeRef, GerritRef, IdError, Phase, Sibling};

use crate::text::sanitize;

use super::vote::presubmit_post;

/// A successful clean's message.
const CLEAN_DONE: &str = "out/ directory removed";

/// A build the bot triggered, as a callback's decision needs it: which change a clean build
/// (which has no parameters) was for, and whether a presubmit build was the bot's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggered {
    pub queue_id: u64,
    pub job: String,
    pub change_key: ChangeRef,
    pub patch_set: u32,
}

/// A review to post on one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub review: ReviewInput,
    /// The change as the bot names it (`project~number`, or the number a build's REF gives).
    pub change: String,
    /// A patch-set number.
    pub revision: String,
    /// What asked for it, for logs (`bionic-presubmit #42`).
    pub source: String,
}

/// Why an event of a job we act on cannot be acted on (answered 422).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("unknown phase `{0}` (expected QUEUED, STARTED, COMPLETED or FINALIZED)")]
    UnknownPhase(String),
    #[error("`build.parameters.REF` is missing: a presubmit build must name the change it built")]
    MissingRef,
    #[error("`build.parameters.REF`: {0}")]
    BadRef(IdError),
    #[error("`build.status` is missing in a {0} event")]
    MissingStatus(Phase),
}

/// What a callback leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// What the bot triggered with this queue item decides it: ask the journal, then decide
    /// again with the answer.
    NeedsTriggered(u64),
    /// A finished build of a job we act on: post its result (once per build).
    Post(Post),
    /// A presubmit build the bot did not trigger, with `[presubmit] vote_on_manual_builds`
    /// off: logged and ignored.
    ManualBuild,
    /// A job we act on, not finished yet: record the phase.
    NotFinished,
    /// A finished clean build whose change we do not know (not triggered by gmail-listener,
    /// or its record is gone).
    NoChange,
    /// In `ignored_jobs`.
    Ignored,
    /// Neither a presubmit job, the clean job nor an ignored job.
    UnknownJob,
}

/// A finished build whose result is to be posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// The job's full path.
    pub job: String,
    pub number: u64,
    pub phase: Phase,
    pub status: BuildResult,
    /// The build's page (`[build_listener] build_link`), made safe for a message.
    pub link: String,
    pub targets: Targets,
    /// Confirm the result with Jenkins before voting (`[jenkins] verify_callbacks`).
    pub verify: Option<Verify>,
}

/// Where a finished build's result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// A presubmit build: the patch set its `REF` names. Posted with the bare change number:
    /// `REF` carries no project, and a number names one change on a server (Gerrit deprecates
    /// number-only ids only for imported changes, where it answers "Multiple changes found"
    /// and the review fails loudly).
    Presubmit(GerritRef),
    /// A clean build: every change that asked (Jenkins folds identical clean requests into
    /// one build).
    Clean(Vec<Triggered>),
}

/// SPEC §7 and §11: presubmit builds vote, clean builds confirm the clean, everything else is
/// logged. The job is the callback's full path (folders included); `triggered` is what the
/// journal knows about the build's queue item (the builds the bot triggered with that queue
/// id), `None` until [`Decision::NeedsTriggered`] asked for it.
pub fn decide(
    event: &JenkinsEvent,
    config: &Config,
    triggered: Option<&[Triggered]>,
) -> Result<Decision, Rejection> {
    let p = &config.presubmit;
    let job = event.job_path();
    let presubmit = p.is_presubmit_job(&job);
    if p.ignored_jobs.contains(&job) {
        return Ok(Decision::Ignored);
    }
    if !presubmit && job != p.clean_job {
        return Ok(Decision::UnknownJob);
    }
    let b = &event.build;
    if let Phase::Other(phase) = &b.phase {
        return Err(Rejection::UnknownPhase(sanitize(phase)));
    }
    let gerrit_ref = if presubmit {
        let r = b.parameters.get("REF").ok_or(Rejection::MissingRef)?;
        Some(r.parse::<GerritRef>().map_err(Rejection::BadRef)?)
    } else {
        None
    };
    if !b.phase.is_finished() {
        return Ok(Decision::NotFinished);
    }
    let status = b
        .status
        .clone()
        .ok_or_else(|| Rejection::MissingStatus(b.phase.clone()))?;
    let targets = match targets(event, &job, gerrit_ref, triggered, p.vote_on_manual_builds) {
        Ok(t) => t,
        Err(NoTargets::NeedsTriggered(q)) => return Ok(Decision::NeedsTriggered(q)),
        Err(NoTargets::ManualBuild) => return Ok(Decision::ManualBuild),
        Err(NoTargets::NoChange) => return Ok(Decision::NoChange),
    };
    Ok(Decision::Post(post(event, config, job, status, targets)))
}

/// Why a finished build's result goes nowhere (yet).
enum NoTargets {
    NeedsTriggered(u64),
    ManualBuild,
    NoChange,
}

/// Where a finished build's result goes, or why it goes nowhere yet. Only a
/// clean build, or a presubmit build when manual builds do not vote, depends on what the bot
/// triggered.
fn targets(
    event: &JenkinsEvent,
    job: &str,
    gerrit_ref: Option<GerritRef>,
    triggered: Option<&[Triggered]>,
    vote_on_manual_builds: bool,
) -> Result<Targets, NoTargets> {
    let needs_triggered = gerrit_ref.is_none() || !vote_on_manual_builds;
    let ours: Vec<Triggered> = match (triggered, event.build.queue_id) {
        (None, Some(q)) if needs_triggered => return Err(NoTargets::NeedsTriggered(q)),
        (Some(t), _) => t.iter().filter(|t| t.job == job).cloned().collect(),
        (None, _) => Vec::new(),
    };
    match gerrit_ref {
        Some(_) if needs_triggered && ours.is_empty() => Err(NoTargets::ManualBuild),
        Some(r) => Ok(Targets::Presubmit(r)),
        None if ours.is_empty() => Err(NoTargets::NoChange),
        None => Ok(Targets::Clean(ours)),
    }
}

fn post(
    event: &JenkinsEvent,
    config: &Config,
    job: String,
    status: BuildResult,
    targets: Targets,
) -> Post {
    let b = &event.build;
    let link = sanitize(&build_link(
        &config.build_listener.build_link,
        event,
        &config.jenkins.url,
    ));
    let verify = config.jenkins.verify_callbacks.then(|| Verify {
        job: job.clone(),
        number: b.number,
        status: status.to_string(),
        git_ref: b.parameters.get("REF").cloned(),
    });
    Post {
        job,
        number: b.number,
        phase: b.phase.clone(),
        status,
        link,
        targets,
        verify,
    }
}

impl Post {
    /// The reviews to post, the vote decided here once: a presubmit build's review carries
    /// the patch set's one vote only when it is the last voting job to finish, from the
    /// latest build of each job of its patch set (`siblings`, read in the same transaction
    /// that records this result; `None`: not a build the bot triggered) (SPEC §15).
    pub fn items(&self, siblings: Option<&[Sibling]>, cfg: &PresubmitConfig) -> Vec<Item> {
        let source = format!("{} #{}", self.job, self.number);
        match &self.targets {
            Targets::Presubmit(r) => vec![Item {
                review: presubmit_post(
                    &self.job,
                    self.number,
                    &self.status,
                    &self.link,
                    siblings,
                    cfg,
                ),
                change: r.change.to_string(),
                revision: r.patch_set.to_string(),
                source,
            }],
            Targets::Clean(asked) => asked
                .iter()
                .map(|t| Item {
                    review: clean_review(&self.job, self.number, &self.status, &self.link),
                    change: t.change_key.to_string(),
                    revision: t.patch_set.to_string(),
                    source: source.clone(),
                })
                .collect(),
        }
    }

    /// The intents posting this result and the line saying what was decided, vote included.
    pub fn plan(&self, siblings: Option<&[Sibling]>, cfg: &PresubmitConfig) -> Reviews {
        let items = self.items(siblings, cfg);
        let presubmit = matches!(self.targets, Targets::Presubmit(_));
        let planned = items
            .iter()
            .map(|item| self.review_intent(item, presubmit))
            .collect();
        let events = post_line(&self.job, self.number, &self.phase, &self.status, &items)
            .into_iter()
            .collect();
        Reviews { planned, events }
    }

    /// One review's intent, keyed by the build, the revision and the status: the plugin's
    /// re-sends and the second finished phase find it already recorded, and a callback
    /// Jenkins contradicted does not stand in the way of the genuine one.
    fn review_intent(&self, item: &Item, only_if_current: bool) -> Planned {
        let key = IntentKey::Review {
            job: self.job.clone(),
            number: self.number,
            change: item.change.clone(),
            revision: item.revision.clone(),
            status: sanitize(&self.status.to_string()),
        };
        let build = (self.job.as_str(), self.number);
        post_intent(key, item, build, self.verify.clone(), only_if_current)
    }
}

/// What a finished build posts: the intents and the decision's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviews {
    pub planned: Vec<Planned>,
    pub events: Vec<NewEvent>,
}

/// The intent of posting `item` under `key` for build `job #number`, with the line its
/// outcome fills in.
fn post_intent(
    key: IntentKey,
    item: &Item,
    (job, number): (&str, u64),
    verify: Option<Verify>,
    only_if_current: bool,
) -> Planned {
    let (change, revision) = (&item.change, &item.revision);
    let done = NewEvent::new(
        Kind::Check,
        "gerrit",
        format!(
            "{} => {change} patch set {revision}: {{outcome}}",
            item.source
        ),
    )
    .change(change, revision.parse().ok())
    .build(job, Some(number));
    intent::plan(
        key,
        Payload {
            effect: Effect::Review {
                change: change.clone(),
                revision: revision.clone(),
                review: item.review.clone(),
                verify,
                only_if_current,
            },
            context: "gerrit".into(),
            done: Some(done),
        },
        Some(change.clone()),
        revision.parse().ok(),
        &item.source,
    )
}

/// `<job> #<number> started: <link>`, once per build (`[presubmit] start_message`): the
/// intent and the line saying it, for the STARTED phase of a presubmit build.
pub fn start_message(event: &JenkinsEvent, config: &Config) -> Option<(Planned, NewEvent)> {
    let job = event.job_path();
    let b = &event.build;
    let p = &config.presubmit;
    if b.phase != Phase::Started || !p.start_message || !p.is_presubmit_job(&job) {
        return None;
    }
    let r: GerritRef = b.parameters.get("REF")?.parse().ok()?;
    let link = build_link(
        &config.build_listener.build_link,
        event,
        &config.jenkins.url,
    );
    let item = Item {
        review: ReviewInput::bot(
            Some(format!("{job} #{} started: {}", b.number, sanitize(&link))),
            BTreeMap::new(),
        ),
        change: r.change.to_string(),
        revision: r.patch_set.to_string(),
        source: format!("{job} #{}", b.number),
    };
    let key = IntentKey::Start {
        job: job.clone(),
        number: b.number,
        change: r.change,
        patch_set: r.patch_set.0,
    };
    let planned = post_intent(key, &item, (&job, b.number), None, false);
    let line = NewEvent::new(
        Kind::Check,
        "STARTED",
        format!(
            "{} => {} patch set {}: started",
            item.source, r.change, r.patch_set
        ),
    )
    .change(r.change.to_string(), Some(r.patch_set.0))
    .build(&job, Some(b.number));
    Some((planned, line))
}

/// `out/ directory removed` for a successful clean; a failed one must not claim it.
pub fn clean_review(job: &str, number: u64, status: &BuildResult, link: &str) -> ReviewInput {
    let message = match status {
        BuildResult::Success => CLEAN_DONE.to_string(),
        other => format!(
            "{job} #{number} {}: out/ directory may not have been removed: {}",
            sanitize(&other.to_string()),
            sanitize(link)
        ),
    };
    ReviewInput::bot(Some(message), BTreeMap::new())
}

/// Expands `{full_url}` and `{url}` in one pass (a URL containing `{url}` stays as it is).
/// Without a Jenkins root URL the plugin omits `full_url`: it is `[jenkins] url` + `build.url`.
pub fn build_link(template: &str, event: &JenkinsEvent, jenkins_url: &str) -> String {
    let b = &event.build;
    let url = b
        .url
        .clone()
        .unwrap_or_else(|| format!("job/{}/{}/", event.name, b.number));
    let full_url = b.full_url.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            jenkins_url.trim_end_matches('/'),
            url.trim_start_matches('/')
        )
    });
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        if let Some(tail) = after.strip_prefix("{full_url}") {
            out.push_str(&full_url);
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("{url}") {
            out.push_str(&url);
            rest = tail;
        } else {
            out.push('{');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The coloured console line for a decision (SPEC §10), or None for a phase that decides
/// nothing yet (a `Post` line is written with the reviews it queues, see [`Post::plan`]).
pub fn decision_line(event: &JenkinsEvent, decision: &Decision) -> Option<NewEvent> {
    let b = &event.build;
    let job = event.job_path();
    let skip = |why: String| {
        Some(
            NewEvent::new(
                Kind::Skip,
                "callback",
                format!("{job} #{}: {why}", b.number),
            )
            .build(&job, Some(b.number)),
        )
    };
    match decision {
        Decision::NotFinished | Decision::NeedsTriggered(_) | Decision::Post(_) => None,
        Decision::Ignored => skip("ignored job".into()),
        Decision::UnknownJob => skip("unknown job".into()),
        Decision::ManualBuild => skip(
            "a build the bot did not trigger ([presubmit] vote_on_manual_builds = false)".into(),
        ),
        Decision::NoChange => skip(format!(
            "clean build of no known change (no build recorded for queue id {})",
            b.queue_id
                .map_or_else(|| "-".to_string(), |q| q.to_string())
        )),
    }
}

/// `<job> #<n> <STATUS> => <change> patch set <n>: Verified+1`, the line of a posted result.
fn post_line(
    job: &str,
    number: u64,
    phase: &Phase,
    status: &BuildResult,
    items: &[Item],
) -> Option<NewEvent> {
    let item = items.first()?;
    let r = &item.review;
    let (kind, vote) = match r.labels.get(VERIFIED) {
        Some(v) => (Kind::Check, format!(" Verified{v:+}")),
        None if r.message.as_deref() == Some(CLEAN_DONE) => (Kind::Clean, " out/ removed".into()),
        None => (Kind::Check, " no vote".to_string()),
    };
    let change = &item.change;
    let more = match items.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} more changes that asked)", n - 1),
    };
    let text = format!(
        "{job} #{number} {status} => {change} patch set {}:{vote}{more}",
        item.revision
    );
    Some(NewEvent::new(kind, phase.to_string(), text).build(job, Some(number)))
}

#[cfg(test)]
mod tests;
