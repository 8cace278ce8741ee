//! The JSON shapes of the status views (SPEC §14), once: `/api/v1`, the board's live updates,
//! `/sse` and the webhook's payload use the same functions, so what a script reads and what a
//! person sees never disagree; and the query-parameter readers they share.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::ApiError;
use crate::config::Config;
use crate::journal::{BuildView, ChangeView, Event};

pub use crate::journal::rfc3339;

#[derive(Serialize)]
struct BuildJson<'a> {
    job: &'a str,
    target: Option<&'a str>,
    queue_id: Option<u64>,
    number: Option<u64>,
    status: &'a str,
    url: Option<String>,
    started: Option<String>,
    finished: Option<String>,
}

/// A build's link: Jenkins' own when the plugin gave a full URL, else under `[jenkins] url`
/// (the plugin omits `full_url` when Jenkins' root URL is not configured).
pub fn build_url(config: &Config, b: &BuildView) -> Option<String> {
    let url = b.url.as_deref()?;
    if url.starts_with("http://") || url.starts_with("https://") {
        Some(url.to_string())
    } else {
        Some(format!(
            "{}/{}",
            config.jenkins.url.trim_end_matches('/'),
            url.trim_start_matches('/')
        ))
    }
}

/// A change as `/api/v1/changes` shows it.
pub fn change_json(config: &Config, c: &ChangeView) -> Value {
    let patch_sets: Vec<Value> = c
        .patch_sets
        .iter()
        .map(|ps| {
            let builds: Vec<BuildJson> = ps
                .builds
                .iter()
                .map(|b| BuildJson {
                    job: &b.job,
                    target: b.target.as_deref(),
                    queue_id: b.queue_id,
                    number: b.number,
                    status: b.status.as_str(),
                    url: build_url(config, b),
                    started: b.started.map(rfc3339),
                    finished: b.finished.map(rfc3339),
                })
                .collect();
            json!({ "number": ps.number, "builds": builds, "vote": ps.vote })
        })
        .collect();
    let mut v = json!({
        "change": c.key(),
        "project": c.project,
        "number": c.number,
        "change_id": c.change_id,
        "updated": rfc3339(c.updated),
        "patch_sets": patch_sets,
    });
    if let (Some(subject), Some(obj)) = (&c.subject, v.as_object_mut()) {
        obj.insert("subject".into(), json!(subject));
    }
    v
}

/// An event as `/api/v1/events` and `/sse` show it: the fields that apply.
pub fn event_json(e: &Event) -> Value {
    let mut v = json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "kind": e.event.kind.as_str(),
        "context": e.event.context,
        "text": e.event.text,
        "process": e.process,
    });
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    if let Some(change) = &e.event.change {
        obj.insert("change".into(), json!(change));
        if let Some((project, number)) = change.rsplit_once('~') {
            obj.insert("project".into(), json!(project));
            if let Ok(n) = number.parse::<u64>() {
                obj.insert("number".into(), json!(n));
            }
        }
    }
    let optional = [
        ("patch_set", e.event.patch_set.map(|p| json!(p))),
        ("job", e.event.job.as_ref().map(|j| json!(j))),
        ("build", e.event.build.map(|b| json!(b))),
        ("status", e.event.status.as_ref().map(|s| json!(s))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            obj.insert(key.into(), value);
        }
    }
    v
}

/// A non-negative integer query parameter, or a 400 naming it.
pub(super) fn param(
    q: &HashMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().map(|n| n.min(max)).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`{name}` must be a non-negative integer"),
            )
        }),
    }
}

/// `project~number` (the project's `/` raw or `%2F`; axum has decoded it) or a bare number.
pub(super) fn parse_change(s: &str) -> Result<(Option<String>, u64), ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{s}` is not <project>~<number>"),
        )
    };
    let s = s.trim_matches('/');
    match s.rsplit_once('~') {
        Some((project, number)) if !project.is_empty() => {
            let n = number.parse().map_err(|_| bad())?;
            Ok((Some(project.replace("%2F", "/").replace("%2f", "/")), n))
        }
        Some(_) => Err(bad()),
        None => Ok((None, s.parse().map_err(|_| bad())?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_named_with_a_raw_or_encoded_slash_or_by_number() {
        assert_eq!(
            parse_change("platform/bionic~12").ok(),
            Some((Some("platform/bionic".into()), 12))
        );
        assert_eq!(
            parse_change("platform%2Fbionic~12").ok(),
            Some((Some("platform/bionic".into()), 12))
        );
        assert_eq!(parse_change("12").ok(), Some((None, 12)));
        for bad in ["~12", "p~x", "p", ""] {
            assert!(parse_change(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
