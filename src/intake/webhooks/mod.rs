//! Events from Gerrit's webhooks plugin (`POST /gerrit-events`, SPEC §15) as hints.
//!
//! The plugin posts every project event as JSON. Only `patchset-created` and `comment-added`
//! are hints for the bot; any other well-formed event is [`Event::Ignored`]. Two spellings of the
//! top-level fields exist: the plugin serialises with plain Gson (`"project":{"name":"p"}`,
//! `"changeKey":{"key":"I…"}`, or `{"id":"I…"}` before Gerrit 3.1), while `stream-events`
//! writes `"project":"p"` and `{"id":"I…"}`; the nested `change` object is the same in both and
//! is what is read, the top-level fields only have to agree with it. Numbers are ints since
//! Gerrit 2.14 and strings before.
//!
//! An event is only a hint, like a mail: the change, its patch sets and the comment are read
//! from Gerrit before anything is done, so a forged event builds nothing Gerrit does not show.

use serde::Deserialize;
use serde_json::Value;

use crate::hint::{MessageType, Notification};
use crate::intake::mail::review_of_change_message;
use crate::key::HintKey;
use crate::text;
use crate::types::{PatchSet, Project};

/// The largest event accepted: a commit message and its metadata, with room to spare.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// An event, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A hint: handled like the matching mail.
    Hint(Box<Notification>),
    /// Well formed, but nothing for the bot (its type).
    Ignored(String),
}

/// Why an event is malformed: one line, for the 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is empty")]
    Empty,
    #[error("the event is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("the event is not UTF-8 JSON: {0}")]
    NotJson(String),
    #[error("the event has no `type`")]
    NoType,
    #[error("the {kind} event has no `{field}`")]
    Missing { kind: String, field: &'static str },
    #[error("the {kind} event's `{field}` is not valid: {why}")]
    Invalid {
        kind: String,
        field: &'static str,
        why: String,
    },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    change: Option<RawChange>,
    #[serde(rename = "patchSet")]
    patch_set: Option<RawPatchSet>,
    project: Option<Value>,
    #[serde(rename = "changeKey")]
    change_key: Option<Value>,
    author: Option<RawAccount>,
    comment: Option<String>,
    #[serde(rename = "eventCreatedOn")]
    created_on: Option<Value>,
}

#[derive(Deserialize)]
struct RawChange {
    project: Option<String>,
    branch: Option<String>,
    id: Option<String>,
    number: Option<Value>,
    subject: Option<String>,
}

#[derive(Deserialize)]
struct RawPatchSet {
    number: Option<Value>,
}

#[derive(Deserialize)]
struct RawAccount {
    name: Option<String>,
}

/// Reads one event body.
pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(EventError::Empty);
    }
    if body.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge);
    }
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| EventError::NotJson(text::one_line(&e.to_string(), usize::MAX)))?;
    let kind = raw.kind.clone().ok_or(EventError::NoType)?;
    let message_type = match kind.as_str() {
        "patchset-created" => MessageType::NewPatchSet,
        "comment-added" => MessageType::Comment,
        _ => return Ok(Event::Ignored(sanitize_kind(&kind))),
    };
    let kind = Kind(&kind);
    let change = raw.change.as_ref().ok_or_else(|| kind.missing("change"))?;
    let (project, change_id) = identify(&raw, change, kind)?;
    let number = change
        .number
        .as_ref()
        .ok_or_else(|| kind.missing("change.number"))
        .and_then(|v| positive(v).ok_or_else(|| kind.invalid("change.number", "not a number")))?;
    let patch_set = raw
        .patch_set
        .as_ref()
        .and_then(|p| p.number.as_ref())
        .ok_or_else(|| kind.missing("patchSet.number"))
        .and_then(|v| positive(v).ok_or_else(|| kind.invalid("patchSet.number", "not a number")))?;
    let patch_set = u32::try_from(patch_set)
        .map(PatchSet)
        .map_err(|_| kind.invalid("patchSet.number", "too large"))?;
    let branch = change
        .branch
        .clone()
        .filter(|b| !b.is_empty() && !b.chars().any(char::is_control));
    let mut n =
        Notification::of_change(message_type, Project(project), number, change_id, patch_set);
    n.branch = branch;
    n.subject = change.subject.clone().unwrap_or_default();
    if n.message_type == MessageType::Comment {
        add_comment(&mut n, &raw, kind, patch_set)?;
    }
    Ok(Event::Hint(Box::new(n)))
}

/// The type of the event being read, for its errors.
#[derive(Clone, Copy)]
struct Kind<'a>(&'a str);

impl Kind<'_> {
    fn missing(self, field: &'static str) -> EventError {
        EventError::Missing {
            kind: self.0.to_string(),
            field,
        }
    }

    fn invalid(self, field: &'static str, why: &str) -> EventError {
        EventError::Invalid {
            kind: self.0.to_string(),
            field,
            why: why.to_string(),
        }
    }
}

/// The change's project and Change-Id, checked against the top-level fields that repeat them.
fn identify(raw: &Raw, change: &RawChange, kind: Kind<'_>) -> Result<(String, String), EventError> {
    let project = change
        .project
        .clone()
        .ok_or_else(|| kind.missing("change.project"))?;
    if project.is_empty() || project.len() > 255 || project.chars().any(char::is_control) {
        return Err(kind.invalid("change.project", "not a project name"));
    }
    if let Some(top) = &raw.project {
        let name = top
            .as_str()
            .or_else(|| top.get("name").and_then(Value::as_str));
        if name != Some(project.as_str()) {
            return Err(kind.invalid("project", "it does not name the change's project"));
        }
    }
    let change_id = change.id.clone().ok_or_else(|| kind.missing("change.id"))?;
    if !is_change_id(&change_id) {
        return Err(kind.invalid("change.id", "not a Change-Id (I and 40 hex digits)"));
    }
    if let Some(key) = &raw.change_key {
        let id = key
            .get("key")
            .or_else(|| key.get("id"))
            .and_then(Value::as_str);
        if id != Some(change_id.as_str()) {
            return Err(kind.invalid("changeKey", "it does not name the change's Change-Id"));
        }
    }
    Ok((project, change_id))
}

/// A `comment-added` event's comment, author and time, as the review the hint carries.
fn add_comment(
    n: &mut Notification,
    raw: &Raw,
    kind: Kind<'_>,
    patch_set: PatchSet,
) -> Result<(), EventError> {
    let comment = raw
        .comment
        .as_deref()
        .ok_or_else(|| kind.missing("comment"))?;
    let author = raw
        .author
        .as_ref()
        .and_then(|a| a.name.clone())
        .ok_or_else(|| kind.missing("author.name"))?;
    let created = raw
        .created_on
        .as_ref()
        .ok_or_else(|| kind.missing("eventCreatedOn"))
        .and_then(|v| {
            positive(v)
                .and_then(|s| i64::try_from(s).ok())
                .and_then(|s| s.checked_mul(1000))
                .ok_or_else(|| kind.invalid("eventCreatedOn", "not a time in seconds"))
        })?;
    let mut review = review_of_change_message(comment, Some(author));
    // The comment is on the event's patch set whatever its first line says.
    review.patch_set = Some(review.patch_set.unwrap_or(patch_set));
    n.comment_date = Some(created);
    n.review = Some(review);
    Ok(())
}

/// What keys the effects of an event that is not a comment Gerrit recorded.
pub fn fallback_key(n: &Notification) -> HintKey {
    HintKey::Webhook {
        kind: n.message_type.to_string(),
        change: n.locator().plain_id(),
        patch_set: n.patch_set.0,
    }
}

/// A JSON number or (Gerrit before 2.14) a string of digits, above zero.
fn positive(v: &Value) -> Option<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s)
            if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()?
        }
        _ => return None,
    };
    (n > 0).then_some(n)
}

fn is_change_id(s: &str) -> bool {
    s.len() == 41 && s.starts_with('I') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// An unknown type, as it may be echoed in a log line.
fn sanitize_kind(kind: &str) -> String {
    text::sanitize_to(kind, 64)
}

#[cfg(test)]
mod tests;
