//! A Jenkins Notification-plugin event as a closed type (what build-listener's `POST /` gets).
//!
//! Wire facts (plugin 1.x, `model/JobState.java`, `BuildState.java`): `name` is the short job
//! name; `url` and `build.url` are relative; `build.full_url` is absent when Jenkins has no root
//! URL; `build.status` is absent at QUEUED and STARTED and present at COMPLETED and FINALIZED;
//! `build.parameters` values are strings; null fields are omitted. The Pipeline step can send
//! any phase name, so the phase keeps an `Other` variant and the decision rejects it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::types::{BuildResult, Phase};

/// One plugin POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JenkinsEvent {
    /// The short job name (not folder-qualified).
    pub name: String,
    /// The job's relative URL, `job/android/job/bionic-presubmit/`: the only place the plugin
    /// gives a job's folders.
    pub url: Option<String>,
    pub build: BuildEvent,
}

/// The `build` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEvent {
    pub number: u64,
    pub phase: Phase,
    pub status: Option<BuildResult>,
    /// Relative, e.g. `job/bionic-presubmit/42/`.
    pub url: Option<String>,
    pub full_url: Option<String>,
    pub queue_id: Option<u64>,
    pub parameters: BTreeMap<String, String>,
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
    /// The job's full path (`android/bionic-presubmit`), from `url`; the short `name` when the
    /// URL is absent or not a `job/<name>/...` path.
    pub fn job_path(&self) -> String {
        let Some(url) = &self.url else {
            return self.name.clone();
        };
        let segments: Vec<&str> = url.trim_matches('/').split('/').collect();
        let mut names = Vec::new();
        for pair in segments.chunks(2) {
            match pair {
                ["job", name] if !name.is_empty() => names.push(
                    percent_encoding::percent_decode_str(name)
                        .decode_utf8_lossy()
                        .into_owned(),
                ),
                _ => return self.name.clone(),
            }
        }
        // The URL must end in the job the plugin names, or it is not this job's URL.
        if names.last().map(String::as_str) != Some(self.name.as_str()) {
            return self.name.clone();
        }
        names.join("/")
    }

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
            url: get(top, "url", "url", "a string", string)?,
            name,
            build: BuildEvent {
                number,
                phase: Phase::parse(phase),
                status: status.map(BuildResult::parse),
                url: get(build, "url", "build.url", "a string", string)?,
                full_url: get(build, "full_url", "build.full_url", "a string", string)?,
                // `-1` is what Jenkins reports for a build that did not come from the queue;
                // only clean builds need a queue id.
                queue_id: get(
                    build,
                    "queue_id",
                    "build.queue_id",
                    "an integer",
                    Value::as_i64,
                )?
                .and_then(|q| u64::try_from(q).ok()),
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
