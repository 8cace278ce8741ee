//! What a Jenkins callback calls for (SPEC §7): a pure decision from the event, the
//! configuration and what the journal knows about the build's queue item.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::config::Config;
use crate::console::Kind;
use crate::gerrit::{ReviewInput, VERIFIED};
use crate::jenkins::notification::{BuildStatus, JenkinsEvent, Phase};
use crate::types::{GerritRef, IdError, rest_id_from_plain};

/// The line SPEC §7 adds to a FAILURE message.
pub const FAILURE_HINT: &str = "If you believe this Verified-1 was in error, +1 the change and bionicbb will remove the -1 shortly.";

/// A build the bot triggered, as a callback's decision needs it: which change a clean build
/// (which has no parameters) was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggered {
    pub queue_id: u64,
    pub job: String,
    /// `project~number`.
    pub change_key: String,
    pub patch_set: u32,
}

/// A review to post on one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub review: ReviewInput,
    /// The percent-encoded REST change id.
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
    /// A finished build of a job we act on: post these (once per build): one review for a
    /// presubmit build, one per change that asked for a clean build (Jenkins folds identical
    /// clean requests into one build).
    Post(Vec<Item>),
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

/// SPEC §7 and §11: presubmit builds vote, clean builds confirm the clean, everything else is
/// logged. The job is the callback's full path (folders included); `triggered` is what the
/// journal knows about the build's queue item: the builds the bot triggered with that queue id.
pub fn decide(
    event: &JenkinsEvent,
    config: &Config,
    triggered: &[Triggered],
) -> Result<Decision, Rejection> {
    let p = &config.presubmit;
    let path = event.job_path();
    let job = path.as_str();
    let presubmit = p.is_presubmit_job(job);
    if p.ignored_jobs.iter().any(|j| j == job) {
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
        .as_ref()
        .ok_or_else(|| Rejection::MissingStatus(b.phase.clone()))?;
    let link = build_link(
        &config.build_listener.build_link,
        event,
        &config.jenkins.url,
    );
    let source = format!("{job} #{}", b.number);
    let ours: Vec<&Triggered> = triggered.iter().filter(|t| t.job == job).collect();
    let items = match gerrit_ref {
        // Posted with the bare change number from REF: REF carries no project, and a number
        // names one change on a server (Gerrit deprecates number-only ids only for imported
        // changes, where it answers "Multiple changes found" and the item fails loudly).
        Some(r) => {
            if !p.vote_on_manual_builds && ours.is_empty() {
                return Ok(Decision::ManualBuild);
            }
            vec![Item {
                review: presubmit_review(job, b.number, status, &link),
                change: r.change.to_string(),
                revision: r.patch_set.to_string(),
                source,
            }]
        }
        None if ours.is_empty() => return Ok(Decision::NoChange),
        None => ours
            .iter()
            .map(|t| Item {
                review: clean_review(job, b.number, status, &link),
                change: rest_id_from_plain(&t.change_key),
                revision: t.patch_set.to_string(),
                source: source.clone(),
            })
            .collect(),
    };
    Ok(Decision::Post(items))
}

/// Longest link or status from a callback put into a Gerrit message.
pub const MAX_WIRE_TEXT: usize = 1_000;

/// What a callback says, made safe for a Gerrit message: control characters removed (a CR/LF
/// in a link would start new lines, even command lines, in the bot's own message), cut to
/// [`MAX_WIRE_TEXT`] characters.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_WIRE_TEXT)
        .collect()
}

/// `<job> #<number> checkbuild <STATUS>: <link>`, Verified +1 on SUCCESS, -1 and the hint on
/// FAILURE, no vote otherwise.
pub fn presubmit_review(job: &str, number: u64, status: &BuildStatus, link: &str) -> ReviewInput {
    let (status_text, link) = (sanitize(&status.to_string()), sanitize(link));
    let mut message = format!("{job} #{number} checkbuild {status_text}: {link}");
    let vote = match status {
        BuildStatus::Success => Some(1),
        BuildStatus::Failure => {
            message.push('\n');
            message.push_str(FAILURE_HINT);
            Some(-1)
        }
        _ => None,
    };
    let labels = vote
        .map(|v| (VERIFIED.to_string(), v))
        .into_iter()
        .collect();
    ReviewInput::bot(Some(message), labels)
}

/// `out/ directory removed` for a successful clean; a failed one must not claim it.
pub fn clean_review(job: &str, number: u64, status: &BuildStatus, link: &str) -> ReviewInput {
    let message = match status {
        BuildStatus::Success => "out/ directory removed".to_string(),
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
/// nothing yet. `Post` lines are printed only when the item is queued, not for duplicates.
pub fn decision_line(event: &JenkinsEvent, decision: &Decision) -> Option<(Kind, String, String)> {
    let b = &event.build;
    let build = format!("{} #{}", event.job_path(), b.number);
    let status = b
        .status
        .as_ref()
        .map_or_else(String::new, |s| format!(" {s}"));
    let skip = |why: String| {
        Some((
            Kind::Skip,
            "callback".to_string(),
            format!("{build}: {why}"),
        ))
    };
    match decision {
        Decision::NotFinished => None,
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
        Decision::Post(items) => {
            let item = items.first()?;
            let r = &item.review;
            let (kind, vote) = match r.labels.get(VERIFIED) {
                Some(v) => (Kind::Check, format!(" Verified{v:+}")),
                None if r.message.as_deref() == Some("out/ directory removed") => {
                    (Kind::Clean, " out/ removed".to_string())
                }
                None => (Kind::Check, " no vote".to_string()),
            };
            let change = percent_encoding::percent_decode_str(&item.change).decode_utf8_lossy();
            let more = match items.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more changes that asked)", n - 1),
            };
            let text = format!(
                "{build}{status} => {change} patch set {}:{vote}{more}",
                item.revision
            );
            Some((kind, b.phase.to_string(), text))
        }
    }
}

#[cfg(test)]
#[path = "callback_tests.rs"]
mod tests;
