//! Gerrit's JSON shapes, only the fields the client reads, and their conversion into the
//! client's types.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    Account, ChangeFacts, ChangeMessage, Comment, GerritError, OpenChange, RevisionVotes, VERIFIED,
};
use crate::types::PatchSet;

#[derive(Deserialize)]
pub struct AccountInfo {
    #[serde(rename = "_account_id")]
    pub account_id: u64,
    /// With `o=DETAILED_ACCOUNTS` (and on `/accounts/self`).
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
}

impl AccountInfo {
    pub fn into_account(self) -> Account {
        Account {
            id: self.account_id,
            name: self.display_name.or(self.name),
            email: self.email,
        }
    }
}

#[derive(Deserialize)]
pub struct ChangeInfo {
    pub project: String,
    pub branch: String,
    pub change_id: String,
    /// The first line of the commit message (for the status board).
    #[serde(default)]
    pub subject: String,
    #[serde(rename = "_number")]
    pub number: u64,
    pub status: String,
    pub current_revision: Option<String>,
    #[serde(default)]
    pub revisions: BTreeMap<String, RevisionInfo>,
    /// With `o=MESSAGES`.
    #[serde(default)]
    pub messages: Vec<MessageInfo>,
    /// When the change last changed (Gerrit's timestamp).
    #[serde(default)]
    pub updated: Option<String>,
    /// On the last change of a query's page when there are more.
    #[serde(rename = "_more_changes", default)]
    pub more_changes: bool,
}

#[derive(Deserialize)]
pub struct RevisionInfo {
    /// The patch-set number, or the string "edit" for a change edit.
    #[serde(rename = "_number")]
    pub number: serde_json::Value,
    /// Since Gerrit 2.11; `fetch` only exists when a download plugin is installed.
    pub r#ref: Option<String>,
    #[serde(default)]
    pub fetch: BTreeMap<String, FetchInfo>,
    pub commit: Option<CommitInfo>,
    #[serde(default)]
    pub files: BTreeMap<String, serde_json::Value>,
    /// Who uploaded the patch set (Gerrit authenticated them; a committer can be forged).
    pub uploader: Option<AccountInfo>,
}

#[derive(Deserialize)]
pub struct FetchInfo {
    pub r#ref: Option<String>,
}

#[derive(Deserialize)]
pub struct CommitInfo {
    pub committer: Option<PersonInfo>,
}

#[derive(Deserialize)]
pub struct PersonInfo {
    pub email: Option<String>,
}

fn patch_set(v: &serde_json::Value) -> Option<PatchSet> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
        .map(PatchSet)
}

impl ChangeInfo {
    /// A query's entry as an [`OpenChange`] (asked with `o=CURRENT_REVISION`).
    pub fn into_open_change(self) -> Result<OpenChange, GerritError> {
        let missing = |what: &str| {
            GerritError::Decode(format!(
                "change {}: no {what} in the query's answer",
                self.number
            ))
        };
        let current_patch_set = self
            .current_revision
            .as_ref()
            .and_then(|sha| self.revisions.get(sha))
            .and_then(|rev| patch_set(&rev.number))
            .ok_or_else(|| missing("current patch set"))?;
        let updated = self
            .updated
            .as_deref()
            .and_then(parse_timestamp)
            .ok_or_else(|| missing("`updated` time"))?;
        Ok(OpenChange {
            project: self.project,
            branch: self.branch,
            change_id: self.change_id,
            subject: self.subject,
            number: self.number,
            current_patch_set: current_patch_set.0,
            updated,
        })
    }

    pub fn into_facts(mut self) -> Result<ChangeFacts, GerritError> {
        let missing = |what: &str| {
            GerritError::Decode(format!("change {}: no {what} in the answer", self.number))
        };
        let sha = self
            .current_revision
            .clone()
            .ok_or_else(|| missing("current_revision"))?;
        let rev = self
            .revisions
            .remove(&sha)
            .ok_or_else(|| missing("current revision entry"))?;
        let current_patch_set =
            patch_set(&rev.number).ok_or_else(|| missing("patch-set number"))?;
        let current_ref = rev
            .r#ref
            .or_else(|| rev.fetch.into_values().find_map(|f| f.r#ref))
            .ok_or_else(|| missing("fetch ref"))?;
        let committer_email = rev
            .commit
            .and_then(|c| c.committer)
            .and_then(|p| p.email)
            .ok_or_else(|| missing("committer email"))?;
        let files = rev
            .files
            .into_keys()
            .filter(|p| !p.starts_with('/'))
            .collect();
        let uploader = rev.uploader.map(AccountInfo::into_account);
        let messages = std::mem::take(&mut self.messages)
            .into_iter()
            .map(MessageInfo::into_message)
            .collect();
        Ok(ChangeFacts {
            project: self.project,
            branch: self.branch,
            change_id: self.change_id,
            subject: self.subject,
            number: self.number,
            status: self.status,
            current_patch_set,
            current_ref,
            current_revision: sha,
            committer_email,
            files,
            uploader,
            messages,
            comments: Vec::new(),
        })
    }
}

/// `GET /changes/{id}/revisions/{rev}/review`: a ChangeInfo with detailed labels.
#[derive(Deserialize)]
pub struct ReviewInfo {
    /// Since 3.10.
    pub current_revision_number: Option<u64>,
    /// Set only when the asked revision is the current one.
    pub current_revision: Option<String>,
    #[serde(default)]
    pub revisions: BTreeMap<String, RevisionInfo>,
    #[serde(default)]
    pub labels: BTreeMap<String, LabelInfo>,
}

#[derive(Deserialize)]
pub struct LabelInfo {
    #[serde(default)]
    pub all: Vec<ApprovalInfo>,
}

#[derive(Deserialize)]
pub struct ApprovalInfo {
    #[serde(rename = "_account_id")]
    pub account_id: Option<u64>,
    /// Absent when the account may not vote; 0 when it has not voted.
    pub value: Option<i32>,
}

impl ReviewInfo {
    pub fn into_votes(self, asked: &str) -> RevisionVotes {
        let label = self
            .labels
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(VERIFIED))
            .map(|(_, l)| l);
        let label_exists = label.is_some();
        let votes = label
            .map(|l| l.all)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| Some((a.account_id?, a.value?)))
            .filter(|&(_, v)| v != 0)
            .collect();
        let asked_number = self
            .revisions
            .iter()
            .find(|(sha, r)| {
                sha.as_str() == asked || r.number.as_u64().is_some_and(|n| n.to_string() == asked)
            })
            .and_then(|(_, r)| patch_set(&r.number));
        let current_patch_set = self
            .current_revision_number
            .and_then(|n| u32::try_from(n).ok())
            .map(PatchSet)
            .or_else(|| {
                let sha = self.current_revision.as_ref()?;
                patch_set(&self.revisions.get(sha)?.number)
            });
        let asked_is_current = match (current_patch_set, asked_number) {
            (Some(current), Some(asked)) => current == asked,
            (Some(current), None) => current.to_string() == asked,
            // Without a number, Gerrit marks the current revision by naming it.
            (None, _) => self.current_revision.is_some(),
        };
        RevisionVotes {
            votes,
            label_exists,
            asked_is_current,
            current_patch_set,
        }
    }
}

/// `ChangeMessageInfo`. Servers up to 2.6 named `date` `updated`, and `_revision_number`
/// `revision_number`.
#[derive(Deserialize)]
pub struct MessageInfo {
    #[serde(default)]
    pub id: String,
    pub author: Option<AccountInfo>,
    #[serde(alias = "updated")]
    pub date: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(rename = "_revision_number", alias = "revision_number")]
    pub revision_number: Option<u32>,
    pub tag: Option<String>,
}

impl MessageInfo {
    pub fn into_message(self) -> ChangeMessage {
        let account = self.author.map(AccountInfo::into_account);
        ChangeMessage {
            id: self.id,
            author: account.as_ref().map(|a| a.id),
            author_account: account,
            date: self.date.as_deref().and_then(parse_timestamp).unwrap_or(0),
            message: self.message,
            patch_set: self.revision_number,
            tag: self.tag,
        }
    }
}

/// Gerrit's timestamp, `2013-02-01 09:59:32.126000000` (UTC, a space, 0–9 fraction digits), as
/// milliseconds since the epoch; None when it is not one.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    let (y, m, day): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, day.parse().ok()?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':');
    let (h, min, sec) = (t.next()?, t.next()?, t.next()?);
    let (h, min, sec): (i64, i64, i64) = (h.parse().ok()?, min.parse().ok()?, sec.parse().ok()?);
    if t.next().is_some() || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000 + sec * 1000 + millis)
}

/// Milliseconds since the epoch as a Gerrit query timestamp, `2013-02-01 09:59:32.126` (UTC):
/// RFC 3339 without the `T` and the `Z`.
pub fn format_timestamp(ms: i64) -> String {
    let t = crate::journal::rfc3339(ms);
    t.trim_end_matches('Z').replacen('T', " ", 1)
}

/// `CommentInfo`, as far as the bot reads it.
#[derive(Deserialize)]
pub struct CommentInfo {
    #[serde(default)]
    pub id: String,
    pub author: Option<AccountInfo>,
    pub patch_set: Option<u32>,
    #[serde(default)]
    pub message: String,
    pub updated: Option<String>,
    /// Since 3.x: the change message this comment was posted with.
    pub change_message_id: Option<String>,
}

impl CommentInfo {
    pub fn into_comment(self, path: &str) -> Comment {
        Comment {
            id: self.id,
            path: path.to_string(),
            author: self.author.map(|a| a.account_id),
            patch_set: self.patch_set,
            message: self.message,
            date: self
                .updated
                .as_deref()
                .and_then(parse_timestamp)
                .unwrap_or(0),
            change_message_id: self.change_message_id,
        }
    }
}
