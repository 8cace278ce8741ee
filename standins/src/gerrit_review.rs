//! Set Review (`POST /a/changes/{id}/revisions/{rev}/review`) as `PostReview`/`PostReviewOp`
//! do it (research/gerrit-api.md §4.8–4.9):
//! - unknown labels and out-of-range values are dropped silently (not strict labels), and are
//!   missing from the echoed `labels`;
//! - a permitted-range value the account may not use is 403 `Applying label "L": -1 is
//!   restricted` (0 is always permitted);
//! - on an ABANDONED change any vote change is 409 `change is closed`; on a MERGED one lowering
//!   or deleting a non-zero vote is 409 `Cannot reduce vote on labels for closed change: L`;
//! - the change message is `Patch Set N: Verified+1` (`-Verified` for a removal), then
//!   `(1 comment)` / `(N comments)` when comments were published, then the trimmed message, each
//!   after a blank line; nothing is written when nothing changed. Comments (inline and
//!   `/PATCHSET_LEVEL`) are checked and stored as `gerrit_comments.rs` describes, after the
//!   labels are checked and before the closed-change checks, as in `PostReview`/`PostReviewOp`;
//! - a review that wrote a message fires `comment-added` (`gerrit_events.rs`), one that wrote
//!   nothing fires nothing.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::gerrit_comments::{self, CommentInput, Origin};
use crate::gerrit_events::{self, Review};
use crate::gerrit_store::{
    ChangeMessage, ChangeStatus, GerritErr, GerritStore, ReceivedReview, Vote, find_revision,
};

/// The parts of a ReviewInput the stand-in acts on.
struct ReviewInput {
    message: Option<String>,
    /// (label as sent, value), in the order sent.
    labels: Option<Vec<(String, i32)>>,
    tag: Option<String>,
    notify: Option<String>,
    comments: Vec<CommentInput>,
    omit_duplicate_comments: bool,
}

/// What a review did: the ReviewResult JSON (without change_info) and the id of the change
/// message it wrote, if it wrote one.
pub(crate) struct Posted {
    pub(crate) result: Value,
    pub(crate) message_id: Option<String>,
}

fn invalid_json() -> GerritErr {
    GerritErr::new(
        StatusCode::BAD_REQUEST,
        "Invalid application/json in request",
    )
}

fn opt_string(v: &Value, key: &str) -> Result<Option<String>, GerritErr> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // Gson coerces numbers and booleans to strings.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(invalid_json()),
    }
}

fn parse_input(body: &Value) -> Result<ReviewInput, GerritErr> {
    if !body.is_object() {
        return Err(invalid_json());
    }
    let labels = match body.get("labels") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let mut out = Vec::new();
            for (name, value) in map {
                // Labels are Java shorts: anything else fails to deserialize.
                let v = value
                    .as_i64()
                    .and_then(|n| i16::try_from(n).ok())
                    .ok_or_else(invalid_json)?;
                out.push((name.clone(), i32::from(v)));
            }
            Some(out)
        }
        Some(_) => return Err(invalid_json()),
    };
    let omit_duplicate_comments = match body.get("omit_duplicate_comments") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid_json()),
    };
    Ok(ReviewInput {
        message: opt_string(body, "message")?,
        labels,
        tag: opt_string(body, "tag")?,
        notify: opt_string(body, "notify")?,
        comments: gerrit_comments::parse_comments(body)?,
        omit_duplicate_comments,
    })
}

/// `LabelVote.format`: `Verified+1`, `Verified-1`, `-Verified` for a removal.
fn format_vote(label: &str, value: i32) -> String {
    match value {
        0 => format!("-{label}"),
        v if v > 0 => format!("{label}+{v}"),
        v => format!("{label}{v}"),
    }
}

/// `LabelValue.formatValue`: `+1`, `-1`, ` 0`.
fn format_value(value: i32) -> String {
    match value {
        0 => " 0".into(),
        v if v > 0 => format!("+{v}"),
        v => v.to_string(),
    }
}

/// Applies a review by `account`: the REST Set Review and the World's comments by people alike.
pub(crate) fn post_review(
    store: &mut GerritStore,
    change_index: usize,
    rev: &str,
    account: u64,
    body: &Value,
) -> Result<Posted, GerritErr> {
    if rev == "0" || rev == "edit" {
        return Err(GerritErr::new(
            StatusCode::CONFLICT,
            "cannot post review on edit",
        ));
    }
    let ps_index = find_revision(&store.changes[change_index], rev)?;
    let input = parse_input(body)?;
    let change = &store.changes[change_index];
    let project = change.project.clone();

    // Which labels survive, by canonical name, and what the echo shows (as sent).
    let mut applied: Vec<(String, String, i32)> = Vec::new();
    for (sent, value) in input.labels.iter().flatten() {
        let Some(lt) = store.label_type(&project, sent) else {
            continue;
        };
        if *value < lt.min || *value > lt.max {
            continue;
        }
        if *value != 0 && !store.may_vote(account, lt.name) {
            return Err(GerritErr::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Applying label \"{}\": {} is restricted",
                    lt.name,
                    format_value(*value)
                ),
            ));
        }
        applied.push((sent.clone(), lt.name.to_owned(), *value));
    }

    let ps = &change.patch_sets[ps_index];
    gerrit_comments::validate(&input.comments, change, ps)?;
    let previous = |label: &str| {
        ps.votes
            .get(label)
            .and_then(|v| v.get(&account))
            .map_or(0, |v| v.value)
    };
    let deltas: Vec<(String, i32, i32)> = applied
        .iter()
        .map(|(_, name, value)| (name.clone(), previous(name), *value))
        .filter(|(_, prev, new)| prev != new)
        .collect();
    match change.status {
        ChangeStatus::Abandoned if !deltas.is_empty() => {
            return Err(GerritErr::new(StatusCode::CONFLICT, "change is closed"));
        }
        ChangeStatus::Merged => {
            // Deleting any non-zero vote counts as reducing it.
            let reduced: Vec<&str> = deltas
                .iter()
                .filter(|(_, prev, new)| new < prev || (*new == 0 && *prev != 0))
                .map(|(name, _, _)| name.as_str())
                .collect();
            if !reduced.is_empty() {
                return Err(GerritErr::new(
                    StatusCode::CONFLICT,
                    format!(
                        "Cannot reduce vote on labels for closed change: {}",
                        reduced.join(", ")
                    ),
                ));
            }
        }
        _ => {}
    }

    let now = store.next_time(change_index);
    let message_id = store.next_message_id();
    let comments = {
        let ps = &store.changes[change_index].patch_sets[ps_index];
        let origin = Origin {
            author: account,
            patch_set: ps.number,
            commit_id: ps.sha.clone(),
            written: now,
            tag: input.tag.as_deref(),
        };
        gerrit_comments::build(
            store,
            change_index,
            input.comments,
            &origin,
            input.omit_duplicate_comments,
        )
    };
    let change = &mut store.changes[change_index];
    let closed = change.status != ChangeStatus::New;
    let ps_number = change.patch_sets[ps_index].number;
    {
        let ps = &mut change.patch_sets[ps_index];
        for (name, _, value) in &deltas {
            let votes = ps.votes.entry(name.clone()).or_default();
            if *value == 0 {
                votes.remove(&account);
            } else {
                votes.insert(
                    account,
                    Vote {
                        value: *value,
                        date: now,
                        tag: input.tag.clone(),
                    },
                );
            }
        }
    }
    if !applied.is_empty() {
        change.reviewers.insert(account);
    }
    let mut text = format!("Patch Set {ps_number}:");
    for (name, _, value) in &deltas {
        text.push(' ');
        text.push_str(&format_vote(name, *value));
    }
    match comments.len() {
        0 => {}
        1 => text.push_str("\n\n(1 comment)"),
        n => text.push_str(&format!("\n\n({n} comments)")),
    }
    let trimmed = input.message.as_deref().map(str::trim).unwrap_or_default();
    if !trimmed.is_empty() {
        text.push_str("\n\n");
        text.push_str(trimmed);
    }
    let wrote = !deltas.is_empty() || !comments.is_empty() || !trimmed.is_empty();
    if wrote {
        change.messages.push(ChangeMessage {
            id: message_id.clone(),
            author: Some(account),
            date: now,
            message: text.clone(),
            revision: ps_number,
            tag: input.tag.clone(),
        });
        change.comments.extend(comments);
        change.updated = now;
    }

    let number = change.number;
    let labels: BTreeMap<String, i32> = applied
        .iter()
        .map(|(_, name, value)| (name.clone(), *value))
        .collect();
    store.reviews.push(ReceivedReview {
        change: number,
        patch_set: ps_number,
        account_id: account,
        message: input.message.clone(),
        labels,
        tag: input.tag.clone(),
        notify: input.notify.clone(),
        raw: body.clone(),
    });
    if wrote {
        let review = Review {
            author: account,
            message: &text,
            message_id: &message_id,
            changed: deltas
                .iter()
                .map(|(n, prev, _)| (n.clone(), *prev))
                .collect(),
            // `updateLabels` returns before touching labels on a closed change sent none.
            labels_examined: !(closed && applied.is_empty()),
        };
        gerrit_events::comment_added(store, change_index, ps_index, &review, now);
    }
    let mut result = Map::new();
    if input.labels.is_some() {
        let echo: Map<String, Value> = applied
            .iter()
            .map(|(sent, _, value)| (sent.clone(), json!(value)))
            .collect();
        result.insert("labels".into(), Value::Object(echo));
    }
    Ok(Posted {
        result: Value::Object(result),
        message_id: wrote.then_some(message_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_format_like_gerrit() {
        assert_eq!(format_vote("Verified", 1), "Verified+1");
        assert_eq!(format_vote("Verified", -1), "Verified-1");
        assert_eq!(format_vote("Verified", 0), "-Verified");
        assert_eq!(format_value(-1), "-1");
        assert_eq!(format_value(1), "+1");
    }
}
