//! A Jenkins Notification-plugin event as a closed type, and the pure decision of what to post.
//!
//! Wire facts (plugin 1.x, `model/JobState.java`, `BuildState.java`): `name` is the short job
//! name; `url` and `build.url` are relative; `build.full_url` is absent when Jenkins has no root
//! URL; `build.status` is absent at QUEUED and STARTED and present at COMPLETED and FINALIZED;
//! `build.parameters` values are strings; null fields are omitted. The Pipeline step can send
//! any phase name, so the phase keeps an `Other` variant and the decision rejects it.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::Config;
use crate::console::Kind;
use crate::gerrit::{ReviewInput, VERIFIED};
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

/// One plugin POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JenkinsEvent {
    /// The short job name (not folder-qualified).
    pub name: String,
    pub build: BuildEvent,
}

/// The `build` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEvent {
    pub number: u64,
    pub phase: Phase,
    pub status: Option<BuildStatus>,
    /// Relative, e.g. `job/bionic-presubmit/42/`.
    pub url: Option<String>,
    pub full_url: Option<String>,
    pub queue_id: Option<u64>,
    pub parameters: BTreeMap<String, String>,
}

/// `build.phase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Started,
    Completed,
    Finalized,
    Other(String),
}

impl Phase {
    fn parse(s: &str) -> Phase {
        match s {
            "QUEUED" => Phase::Queued,
            "STARTED" => Phase::Started,
            "COMPLETED" => Phase::Completed,
            "FINALIZED" => Phase::Finalized,
            other => Phase::Other(other.to_string()),
        }
    }

    /// COMPLETED and FINALIZED both carry the result; whichever comes first is acted on.
    pub fn is_finished(&self) -> bool {
        matches!(self, Phase::Completed | Phase::Finalized)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Queued => "QUEUED",
            Phase::Started => "STARTED",
            Phase::Completed => "COMPLETED",
            Phase::Finalized => "FINALIZED",
            Phase::Other(s) => s,
        })
    }
}

/// `build.status`: Jenkins' `Result` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildStatus {
    Success,
    Unstable,
    Failure,
    NotBuilt,
    Aborted,
    Other(String),
}

impl BuildStatus {
    fn parse(s: &str) -> BuildStatus {
        match s {
            "SUCCESS" => BuildStatus::Success,
            "UNSTABLE" => BuildStatus::Unstable,
            "FAILURE" => BuildStatus::Failure,
            "NOT_BUILT" => BuildStatus::NotBuilt,
            "ABORTED" => BuildStatus::Aborted,
            other => BuildStatus::Other(other.to_string()),
        }
    }
}

impl fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildStatus::Success => "SUCCESS",
            BuildStatus::Unstable => "UNSTABLE",
            BuildStatus::Failure => "FAILURE",
            BuildStatus::NotBuilt => "NOT_BUILT",
            BuildStatus::Aborted => "ABORTED",
            BuildStatus::Other(s) => s,
        })
    }
}

/// Why a request body cannot be read (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BodyError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body must be a JSON object")]
    NotObject,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{field}` must be {expected}, not {got}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
}

/// How a value is described in an error: a scalar itself (`-4`, `"4"`), else its type.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => "a long string".into(),
        Value::String(_) => v.to_string(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Reads `key` of `obj`; JSON null counts as absent, as the plugin omits nulls anyway.
pub(crate) fn get<'a, T>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
    expected: &'static str,
    read: impl Fn(&'a Value) -> Option<T>,
) -> Result<Option<T>, BodyError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v).map(Some).ok_or_else(|| BodyError::WrongType {
            field,
            expected,
            got: describe(v),
        }),
    }
}

pub(crate) fn required<T>(
    v: Result<Option<T>, BodyError>,
    field: &'static str,
) -> Result<T, BodyError> {
    v?.ok_or(BodyError::Missing(field))
}

/// Parses a body that must be one JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    // The plugin's other format: say which setting to change rather than where JSON broke.
    if body.trim_ascii_start().starts_with(b"<") {
        return Err(BodyError::NotJson(
            "it looks like XML; set the Notification plugin endpoint's Format to JSON".into(),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError::NotObject),
        Err(e) => Err(BodyError::NotJson(
            e.to_string().chars().take(200).collect(),
        )),
    }
}

impl JenkinsEvent {
    /// Parses a request body, naming the first field that is missing or of the wrong type.
    pub fn parse(body: &[u8]) -> Result<JenkinsEvent, BodyError> {
        let value = parse_object(body)?;
        let top = &value;
        let string = |v: &Value| v.as_str().map(str::to_string);
        let name = required(get(top, "name", "name", "a string", string), "name")?;
        let build = required(
            get(top, "build", "build", "an object", Value::as_object),
            "build",
        )?;
        let number = required(
            get(
                build,
                "number",
                "build.number",
                "a non-negative integer",
                Value::as_u64,
            ),
            "build.number",
        )?;
        let phase = required(
            get(build, "phase", "build.phase", "a string", Value::as_str),
            "build.phase",
        )?;
        let status = get(build, "status", "build.status", "a string", Value::as_str)?;
        let parameters = get(
            build,
            "parameters",
            "build.parameters",
            "an object",
            Value::as_object,
        )?;
        Ok(JenkinsEvent {
            name,
            build: BuildEvent {
                number,
                phase: Phase::parse(phase),
                status: status.map(BuildStatus::parse),
                url: get(build, "url", "build.url", "a string", string)?,
                full_url: get(build, "full_url", "build.full_url", "a string", string)?,
                queue_id: get(
                    build,
                    "queue_id",
                    "build.queue_id",
                    "a non-negative integer",
                    Value::as_u64,
                )?,
                parameters: parameters
                    .map(read_parameters)
                    .transpose()?
                    .unwrap_or_default(),
            },
        })
    }
}

/// Parameter values are always strings on the wire; the ones we read must be.
fn read_parameters(p: &Map<String, Value>) -> Result<BTreeMap<String, String>, BodyError> {
    for (key, field) in [
        ("REF", "build.parameters.REF"),
        ("CHANGE_ID", "build.parameters.CHANGE_ID"),
    ] {
        get(p, key, field, "a string", Value::as_str)?;
    }
    Ok(p.iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect())
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
    /// A finished build of a job we act on: post this (once per build).
    Post(Item),
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

/// SPEC §7: presubmit builds vote, clean builds confirm the clean, everything else is logged.
/// `triggered` is what the state database knows about `build.queue_id`.
pub fn decide(
    event: &JenkinsEvent,
    config: &Config,
    triggered: Option<&Triggered>,
) -> Result<Decision, Rejection> {
    let p = &config.presubmit;
    let job = event.name.as_str();
    let presubmit = p.is_presubmit_job(job);
    if p.ignored_jobs.iter().any(|j| j == job) {
        return Ok(Decision::Ignored);
    }
    if !presubmit && job != p.clean_job {
        return Ok(Decision::UnknownJob);
    }
    let b = &event.build;
    if let Phase::Other(phase) = &b.phase {
        return Err(Rejection::UnknownPhase(phase.clone()));
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
    let item = match (gerrit_ref, triggered) {
        // Posted with the bare change number from REF: REF carries no project, and a number
        // names one change on a server (Gerrit deprecates number-only ids only for imported
        // changes, where it answers "Multiple changes found" and the item fails loudly).
        (Some(r), _) => Item {
            review: presubmit_review(job, b.number, status, &link),
            change: r.change.to_string(),
            revision: r.patch_set.to_string(),
            source,
        },
        (None, Some(t)) if t.job == job => Item {
            review: clean_review(job, b.number, status, &link),
            change: rest_id_from_plain(&t.change_key),
            revision: t.patch_set.to_string(),
            source,
        },
        (None, _) => return Ok(Decision::NoChange),
    };
    Ok(Decision::Post(item))
}

/// `<job> #<number> checkbuild <STATUS>: <link>`, Verified +1 on SUCCESS, -1 and the hint on
/// FAILURE, no vote otherwise.
pub fn presubmit_review(job: &str, number: u64, status: &BuildStatus, link: &str) -> ReviewInput {
    let mut message = format!("{job} #{number} checkbuild {status}: {link}");
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
        other => {
            format!("{job} #{number} {other}: out/ directory may not have been removed: {link}")
        }
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
    let build = format!("{} #{}", event.name, b.number);
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
        Decision::NoChange => skip(format!(
            "clean build of no known change (no build recorded for queue id {})",
            b.queue_id
                .map_or_else(|| "-".to_string(), |q| q.to_string())
        )),
        Decision::Post(item) => {
            let r = &item.review;
            let (kind, vote) = match r.labels.get(VERIFIED) {
                Some(v) => (Kind::Check, format!(" Verified{v:+}")),
                None if r.message.as_deref() == Some("out/ directory removed") => {
                    (Kind::Clean, " out/ removed".to_string())
                }
                None => (Kind::Check, " no vote".to_string()),
            };
            let change = percent_encoding::percent_decode_str(&item.change).decode_utf8_lossy();
            let text = format!(
                "{build}{status} => {change} patch set {}:{vote}",
                item.revision
            );
            Some((kind, b.phase.to_string(), text))
        }
    }
}

#[cfg(test)]
#[path = "callback_tests.rs"]
mod tests;
