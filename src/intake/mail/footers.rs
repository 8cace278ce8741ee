//! The `Gerrit-Key: value` footers at the end of a notification's text.
//!
//! Gerrit ends the text with `-- ` (2.x `ChangeFooter.vm`, 3.x `Footer.soy`), a few lines (`To
//! view, visit ...`) and the footers. Their order changed between versions (2.16 puts
//! `Gerrit-MessageType` last), so they are read as a multimap. Only the block after the *last*
//! separator line counts: a user's comment, a commit message or a diff above it can hold lines
//! that look like footers. Without a separator (HTML fallback, a mailer that dropped it), only
//! the unbroken run of footer lines at the very end counts. Quoted (`> Gerrit-...`) and indented
//! lines are never footers.

use std::str::FromStr;

use super::mime::Source;
use super::{MessageType, SetAside, excerpt};
use crate::types::{PatchSet, Project};

pub(super) const MESSAGE_TYPE: &str = "Gerrit-MessageType";
pub(super) const CHANGE_ID: &str = "Gerrit-Change-Id";
pub(super) const PATCH_SET: &str = "Gerrit-PatchSet";
pub(super) const PROJECT: &str = "Gerrit-Project";
pub(super) const BRANCH: &str = "Gerrit-Branch";
pub(super) const CHANGE_NUMBER: &str = "Gerrit-Change-Number";
pub(super) const COMMENT_DATE: &str = "Gerrit-Comment-Date";

/// One footer: key as written, value trimmed.
pub(super) type Entry<'a> = (&'a str, &'a str);

/// Splits the text into (footers, the text before them).
pub(super) fn split(text: &str, source: Source) -> (Vec<Entry<'_>>, &str) {
    let lines: Vec<&str> = text.split('\n').collect();
    let is_separator = |line: &&str| match source {
        // Stripped HTML keeps the spaces around text inside tags.
        Source::Html => line.trim() == "--",
        // `-- ` (RFC 3676 signature separator); a QP decoder may have dropped the space.
        Source::Plain => line.trim_end_matches([' ', '\t', '\r']) == "--",
    };
    let separator = lines.iter().rposition(is_separator);
    let start = match separator {
        Some(sep) => sep + 1,
        None => trailing_run_start(&lines, source),
    };
    let entries = lines[start..]
        .iter()
        .filter_map(|l| footer_line(l, source))
        .collect();
    // Byte offset of line `cut` in `text`: every line before it plus its `\n`.
    let cut = separator.unwrap_or(start);
    let offset: usize = lines[..cut].iter().map(|l| l.len() + 1).sum();
    (entries, text.get(..offset.min(text.len())).unwrap_or(text))
}

/// Index of the first line of the trailing run of footer lines (blank lines may sit between
/// them, as between Gerrit's hidden HTML divs).
fn trailing_run_start(lines: &[&str], source: Source) -> usize {
    let mut start = lines.len();
    for (i, line) in lines.iter().enumerate().rev() {
        if line.trim().is_empty() || footer_line(line, source).is_some() {
            start = i;
        } else {
            break;
        }
    }
    start
}

/// `Gerrit-Key: value` or `Comment-In-Reply-To: value` at the start of the line.
fn footer_line(line: &str, source: Source) -> Option<Entry<'_>> {
    let line = match source {
        Source::Html => line.trim(),
        Source::Plain => line.trim_end(),
    };
    let (key, value) = line.split_once(':')?;
    let name_ok = |k: &str| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let is_key = match key.strip_prefix("Gerrit-") {
        Some(name) => name_ok(name),
        None => key == "Comment-In-Reply-To",
    };
    if !is_key || !(value.is_empty() || value.starts_with(' ')) {
        return None;
    }
    Some((key, value.trim()))
}

/// The validated footers a [`super::Notification`] is built from.
pub(super) struct Fields {
    pub message_type: MessageType,
    pub change_id: String,
    pub patch_set: PatchSet,
    pub project: Project,
    pub branch: Option<String>,
    pub change_number: Option<u64>,
    /// `Gerrit-Comment-Date` (RFC 2822) as milliseconds since the epoch; None when absent or
    /// unreadable (it only narrows which Gerrit message the mail is about).
    pub comment_date: Option<i64>,
}

/// Reads and checks the footers the bot uses. The type is checked first, so an unknown type
/// (account mails carry nothing else) is `UnknownType` rather than a missing footer.
pub(super) fn fields(entries: &[Entry<'_>]) -> Result<Fields, SetAside> {
    if entries.is_empty() {
        return Err(SetAside::NoFooters);
    }
    let message_type = match required(entries, MESSAGE_TYPE)?.parse::<MessageType>() {
        Ok(MessageType::Other(t)) => return Err(SetAside::UnknownType(excerpt(&t))),
        Ok(t) => t,
        Err(never) => match never {},
    };
    let change_id = required(entries, CHANGE_ID)?;
    if !is_change_id(change_id) {
        return Err(bad(CHANGE_ID, change_id));
    }
    let patch_set_text = required(entries, PATCH_SET)?;
    let patch_set = PatchSet::from_str(patch_set_text)
        .ok()
        .filter(|_| is_decimal(patch_set_text))
        .ok_or_else(|| bad(PATCH_SET, patch_set_text))?;
    let project = required(entries, PROJECT)?;
    if !is_name(project) {
        return Err(bad(PROJECT, project));
    }
    let branch = single(entries, BRANCH)?;
    if let Some(b) = branch.filter(|b| !is_name(b)) {
        return Err(bad(BRANCH, b));
    }
    let change_number = match single(entries, CHANGE_NUMBER)? {
        None => None,
        Some(n) => Some(
            n.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .filter(|_| is_decimal(n))
                .ok_or_else(|| bad(CHANGE_NUMBER, n))?,
        ),
    };
    if branch.is_none() && change_number.is_none() {
        // Neither a `project~number` nor a `project~branch~Change-Id` locator is possible.
        return Err(SetAside::MissingFooter(BRANCH));
    }
    let comment_date = single(entries, COMMENT_DATE)
        .ok()
        .flatten()
        .and_then(mail_parser::DateTime::parse_rfc822)
        .map(|d| d.to_timestamp().saturating_mul(1000));
    Ok(Fields {
        comment_date,
        message_type,
        change_id: change_id.to_string(),
        patch_set,
        project: Project(project.to_string()),
        branch: branch.map(str::to_string),
        change_number,
    })
}

fn required<'a>(entries: &[Entry<'a>], key: &'static str) -> Result<&'a str, SetAside> {
    single(entries, key)?.ok_or(SetAside::MissingFooter(key))
}

/// The value of a single-valued footer; repeated identical values are fine, differing ones are
/// not (which one would be true?).
fn single<'a>(entries: &[Entry<'a>], key: &'static str) -> Result<Option<&'a str>, SetAside> {
    let mut found: Option<&'a str> = None;
    for (_, v) in entries.iter().filter(|(k, _)| k.eq_ignore_ascii_case(key)) {
        match found {
            Some(prev) if prev != *v => {
                return Err(bad(key, &format!("{prev} | {v}")));
            }
            _ => found = Some(v),
        }
    }
    Ok(found)
}

fn bad(key: &'static str, value: &str) -> SetAside {
    SetAside::BadFooter {
        key,
        value: excerpt(value),
    }
}

/// `I` followed by 40 hex digits.
fn is_change_id(s: &str) -> bool {
    s.len() == 41 && s.starts_with('I') && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit())
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A project or branch name: non-empty, no whitespace or control characters, and no `~` (the
/// REST locator's separator).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 1024
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '~')
}
