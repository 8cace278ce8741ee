//! Finding, in Gerrit, the comment a mail announces (SPEC §11: the mail is a hint, Gerrit is
//! the truth). Pure: the facts come from one `GET /changes/{id}?o=MESSAGES&o=DETAILED_ACCOUNTS`
//! (and the patch-set-level comments when the message holds none of the text).
//!
//! A change message is the comment when it is on the mail's patch set, by the account the mail
//! names as the commenter (its display name), written when the mail's `Gerrit-Comment-Date`
//! says (when the mail has one), and its text holds every command line of the mail — or, for a
//! comment without commands, its header carries the mail's votes. A forged mail, or one that
//! quotes a comment nobody made, matches nothing.

use crate::command;
use crate::gerrit::{ChangeFacts, ChangeMessage, Comment};
use crate::hint::{Notification, Review};

/// How far a message's time may be from the mail's `Gerrit-Comment-Date` (which has whole
/// seconds).
const DATE_SLACK_MS: i64 = 1_500;

/// A comment found in Gerrit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub message: &'a ChangeMessage,
    /// What its author wrote: the message body and its patch-set-level comments.
    pub text: String,
    /// The votes on its `Patch Set N:` line (`Verified+1`, `-Code-Review`...).
    pub votes: Vec<String>,
}

/// The comments posted with message `m`: linked by `change_message_id` (Gerrit 3.x), else by
/// author, patch set and time.
fn comments_of<'a>(
    m: &'a ChangeMessage,
    comments: &'a [Comment],
) -> impl Iterator<Item = &'a Comment> {
    comments.iter().filter(move |c| match &c.change_message_id {
        Some(id) => *id == m.id,
        None => {
            c.author == m.author
                && c.patch_set == m.patch_set
                && (c.date - m.date).abs() <= DATE_SLACK_MS
        }
    })
}

/// The text of message `m` as its author wrote it: the body after Gerrit's `Patch Set N:`
/// header, then its patch-set-level comments.
pub fn message_text(m: &ChangeMessage, comments: &[Comment]) -> String {
    let mut text = m.body().to_string();
    for c in comments_of(m, comments) {
        text.push('\n');
        text.push_str(&c.message);
    }
    text
}

/// Whether the message says it has comments (`(1 comment)`, `(3 comments)`): their text is only
/// in `/comments`.
pub fn mentions_comments(m: &ChangeMessage) -> bool {
    m.message.lines().any(|l| {
        let l = l.trim();
        l.starts_with('(') && (l.ends_with(" comment)") || l.ends_with(" comments)"))
    })
}

/// The change message mail `n` announces, if Gerrit has it (the newest when several match).
pub fn find<'a>(n: &Notification, review: &Review, f: &'a ChangeFacts) -> Option<Found<'a>> {
    let patch_set = review.patch_set.unwrap_or(n.patch_set).0;
    let wanted = command::command_lines(&review.command_text);
    f.messages
        .iter()
        .rev()
        .filter(|m| m.patch_set == Some(patch_set))
        .filter(|m| {
            match (
                &review.author,
                m.author_account.as_ref().and_then(|a| a.name.as_deref()),
            ) {
                (Some(mail), Some(gerrit)) => mail.trim().eq_ignore_ascii_case(gerrit.trim()),
                (Some(_), None) => false,
                (None, _) => true,
            }
        })
        .filter(|m| {
            n.comment_date
                .is_none_or(|d| (m.date - d).abs() <= DATE_SLACK_MS)
        })
        .find_map(|m| {
            let text = message_text(m, &f.comments);
            let votes = m.header_votes();
            let holds = if review.text_in_comments && wanted.is_empty() {
                // Found by author, patch set and time; its text is Gerrit's.
                review.votes.is_empty() || same_votes(&review.votes, &votes)
            } else if wanted.is_empty() {
                !review.votes.is_empty() && same_votes(&review.votes, &votes)
            } else {
                let lines = command::command_lines(&text);
                wanted.iter().all(|w| lines.contains(w))
            };
            holds.then_some(Found {
                message: m,
                text,
                votes,
            })
        })
}

/// Same tokens, in any order (Gerrit 3.x sorts them, 2.x did not).
fn same_votes(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}
