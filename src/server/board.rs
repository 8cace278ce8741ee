//! The status board (`GET /`, SPEC §14): recent changes, newest activity first; per change its
//! patch sets, newest first; per patch set one box per build, coloured by status and linking
//! to Jenkins, and the vote the bot posted.
//!
//! The page is complete as served (no JavaScript needed; without it, a `<noscript>` refresh
//! keeps a second screen current). With JavaScript it follows `/sse` from the last event the
//! page was rendered with, and on each event about a change fetches that change's card from
//! `/board/changes/{project~number}`, rendered by the same function as the page, and moves it
//! to the top: one template, so the live page and a reload never differ.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::views::{build_url, param, parse_change, rfc3339};
use super::{ApiError, AppState};
use crate::config::Config;
use crate::journal::{BuildStatus, BuildView, ChangeView, now_ms};

const STYLE: &str = include_str!("board.css");
const SCRIPT: &str = include_str!("board.js");

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago" (the script keeps it current).
pub fn ago(ms: i64, now: i64) -> String {
    let s = (now - ms).max(0) / 1000;
    match s {
        0..=4 => "just now".to_string(),
        5..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn time(ms: i64, now: i64) -> String {
    format!(
        r#"<time datetime="{}" data-ms="{ms}">{}</time>"#,
        rfc3339(ms),
        ago(ms, now)
    )
}

/// The Gerrit page of a change (and of one patch set).
fn gerrit_url(config: &Config, c: &ChangeView, ps: Option<u32>) -> String {
    let base = format!(
        "{}/c/{}/+/{}",
        config.gerrit.url.trim_end_matches('/'),
        c.project,
        c.number
    );
    match ps {
        Some(ps) => format!("{base}/{ps}"),
        None => base,
    }
}

fn vote_badge(vote: Option<i32>) -> String {
    match vote {
        Some(v) if v > 0 => format!(r#"<span class="vote up" title="the bot voted">V+{v}</span>"#),
        Some(v) if v < 0 => {
            format!(
                r#"<span class="vote down" title="the bot voted">V&minus;{}</span>"#,
                -v
            )
        }
        Some(_) => r#"<span class="vote zero" title="the bot's vote was lifted">V 0</span>"#.into(),
        None => r#"<span class="vote none" title="no vote posted">no vote</span>"#.into(),
    }
}

/// One change's card; `id="c-<number>"` is what the script replaces.
pub fn render_card(config: &Config, c: &ChangeView, now: i64) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<article class="change" id="c-{n}" data-change="{key}"><header><a class="name" href="{href}">{project}<b>~{n}</b></a>"#,
        n = c.number,
        key = esc(&c.key()),
        href = esc(&gerrit_url(config, c, None)),
        project = esc(&c.project),
    );
    if let Some(subject) = &c.subject {
        let _ = write!(h, r#"<span class="subject">{}</span>"#, esc(subject));
    }
    let _ = write!(h, "{}</header>", time(c.updated, now));
    if c.patch_sets.is_empty() {
        h.push_str(r#"<p class="quiet">nothing built</p>"#);
    }
    for ps in &c.patch_sets {
        let _ = write!(
            h,
            r#"<div class="ps"><a class="psn" href="{}">PS {}</a>{}<div class="builds">"#,
            esc(&gerrit_url(config, c, Some(ps.number))),
            ps.number,
            vote_badge(ps.vote)
        );
        if ps.builds.is_empty() {
            h.push_str(r#"<span class="quiet">no build</span>"#);
        }
        for b in &ps.builds {
            render_build(&mut h, config, b, now);
        }
        h.push_str("</div></div>");
    }
    h.push_str("</article>");
    h
}

/// One build's box: coloured by status, linking to Jenkins.
fn render_build(h: &mut String, config: &Config, b: &BuildView, now: i64) {
    let status = b.status.as_str();
    let url = build_url(config, b).unwrap_or_else(|| {
        format!(
            "{}/job/{}/",
            config.jenkins.url.trim_end_matches('/'),
            b.job.replace('/', "/job/")
        )
    });
    let number = b.number.map(|n| format!("#{n}")).unwrap_or_default();
    let target = b
        .target
        .as_deref()
        .map(|t| format!(r#"<span class="target">{}</span>"#, esc(t)))
        .unwrap_or_default();
    let since = match b.status {
        BuildStatus::Building => b.started.map(|t| time(t, now)),
        BuildStatus::Pending => None,
        _ => b.finished.map(|t| time(t, now)),
    }
    .unwrap_or_default();
    let _ = write!(
        h,
        r#"<a class="build {status}" href="{url}" title="{job} {number} {status}"><span class="job">{job}</span>{target}<span class="no">{number}</span><span class="st">{status}</span>{since}</a>"#,
        url = esc(&url),
        job = esc(&b.job),
    );
}

pub fn render_page(config: &Config, changes: &[ChangeView], last_event: i64, now: i64) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for b in changes
        .iter()
        .flat_map(|c| &c.patch_sets)
        .flat_map(|p| &p.builds)
    {
        *counts.entry(b.status.as_str()).or_default() += 1;
    }
    let mut summary = String::new();
    for s in [
        "building",
        "pending",
        "failed",
        "unstable",
        "successful",
        "aborted",
        "cancelled",
    ] {
        if let Some(n) = counts.get(s) {
            let _ = write!(summary, r#"<span class="count {s}">{n} {s}</span>"#);
        }
    }
    let cards: String = changes
        .iter()
        .map(|c| render_card(config, c, now))
        .collect();
    let empty = if changes.is_empty() {
        r#"<p class="quiet" id="empty">No changes yet: builds appear here as soon as gmail-listener triggers them.</p>"#
    } else {
        ""
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bionicbb · presubmit</title>
<noscript><meta http-equiv="refresh" content="30"></noscript>
<style>{STYLE}</style></head>
<body data-last-event="{last_event}" data-live="0">
<header class="top"><h1>bionicbb <span>presubmit</span></h1>
<div class="summary" id="summary">{summary}</div>
<div class="live" id="live" title="live updates from /sse"><i></i><span>static</span></div></header>
<main id="changes">{empty}{cards}</main>
<footer>Rendered {rendered} · <a href="/api/v1/changes">JSON</a> · <a href="/metrics">metrics</a></footer>
<script>{SCRIPT}</script>
</body></html>
"#,
        rendered = esc(&rfc3339(now)),
    )
}

fn html(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `GET /` (`?limit=N`, default 50).
pub(super) async fn page(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = usize::try_from(param(&q, "limit", 50, 500)?).unwrap_or(50);
    // The id first: an event appended while the page is read is then sent again, never lost.
    let last = app.journal.last_event_id().await?;
    let changes = app.journal.changes(limit).await?;
    Ok(html(render_page(&app.config, &changes, last, now_ms())))
}

/// `GET /board/changes/{project~number}`: one card, for the script's live updates.
pub(super) async fn card(
    State(app): State<AppState>,
    Path(change): Path<String>,
) -> Result<Response, ApiError> {
    let (project, number) = parse_change(&change)?;
    match app.journal.change(project, number).await? {
        Some((view, _)) => Ok(html(render_card(&app.config, &view, now_ms()))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no change {change} seen by bionicbb"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_person_would_say_them() {
        assert_eq!(ago(0, 12_000), "12 s ago");
        assert_eq!(ago(0, 180_000), "3 min ago");
        assert_eq!(ago(0, 7_200_000), "2 h ago");
        assert_eq!(ago(0, 3 * 86_400_000), "3 d ago");
        assert_eq!(ago(10, 0), "just now");
    }

    #[test]
    fn text_from_the_wire_is_escaped() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }
}
