//! A hint about a change: what a Gerrit mail, a webhooks-plugin event or the reconcile pass
//! says happened, as one closed type. A hint is never the truth (Gerrit is, SPEC §11): it says
//! where to look, and the policy decides from Gerrit's facts.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use crate::types::{ChangeLocator, PatchSet, Project};

/// A Gerrit notification the bot may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub message_type: MessageType,
    /// `I` + 40 hex digits, as the footer gave it.
    pub change_id: String,
    pub patch_set: PatchSet,
    pub project: Project,
    /// `Gerrit-Branch` (short name, e.g. `main`). [`crate::intake::mail::parse`] guarantees that a notification has a
    /// branch or a change number (or both).
    pub branch: Option<String>,
    /// `Gerrit-Change-Number` (Gerrit 2.14+).
    pub change_number: Option<u64>,
    /// The From address, lowercased.
    pub sender: String,
    /// Reply-To addresses, lowercased (3.x lists the commenter and all recipients).
    pub reply_to: Vec<String>,
    /// The decoded Subject (RFC 2047 words undone); empty if the mail has none.
    pub subject: String,
    /// The Message-ID without its angle brackets.
    pub message_id: Option<String>,
    /// The review, for `comment` mails only.
    pub review: Option<Review>,
    /// `Gerrit-Comment-Date` (3.x), milliseconds since the epoch.
    pub comment_date: Option<i64>,
}

impl Notification {
    /// A hint that did not come by mail (a webhook event, the reconcile pass): what Gerrit's
    /// mail about patch set `patch_set` of change `project~number` says, without the mail's
    /// headers. A `newpatchset` of patch set 1 is a `newchange`, as Gerrit mails it.
    pub fn of_change(
        message_type: MessageType,
        project: Project,
        number: u64,
        change_id: String,
        patch_set: PatchSet,
    ) -> Notification {
        let message_type = match message_type {
            MessageType::NewPatchSet if patch_set.0 == 1 => MessageType::NewChange,
            other => other,
        };
        Notification {
            message_type,
            change_id,
            patch_set,
            project,
            branch: None,
            change_number: Some(number),
            sender: String::new(),
            reply_to: Vec::new(),
            subject: String::new(),
            message_id: None,
            review: None,
            comment_date: None,
        }
    }

    /// How to address the change in Gerrit's REST API: `project~number` when the mail gave the
    /// number (2.14+), else `project~branch~Change-Id`.
    ///
    /// [`crate::intake::mail::parse`] only returns notifications that have one of the two, so the `Triplet` always has
    /// a real branch. A hand-built value with neither gets a `Triplet` with an empty branch, which
    /// Gerrit answers with "not found"; build notifications through [`crate::intake::mail::parse`].
    pub fn locator(&self) -> ChangeLocator {
        match self.change_number {
            Some(number) => ChangeLocator::Number {
                project: self.project.0.clone(),
                number,
            },
            None => ChangeLocator::Triplet {
                project: self.project.0.clone(),
                branch: self.branch.clone().unwrap_or_default(),
                change_id: self.change_id.clone(),
            },
        }
    }
}

/// What a `comment` mail says: the vote line, the text that may hold commands, and who wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// N of the cover letter's `Patch Set N: ...` line.
    pub patch_set: Option<PatchSet>,
    /// The vote tokens on that line, as Gerrit formats them: `Verified+1`, `Code-Review-2`,
    /// `-Verified` (vote removed). Empty when the line carries no votes or is not well formed.
    pub votes: Vec<String>,
    /// The review message after the vote line plus the patch-set-level comments (`Patchset:`
    /// group of 3.x mails), without inline file comments. Commands are read from this only.
    pub command_text: String,
    /// `<Name>` from `<Name> has posted comments on this change.`
    pub author: Option<String>,
    /// The hint says the text is in patch-set-level comments it does not carry (a webhook
    /// event of Gerrit 3.x, whose reply text is a `PATCHSET_LEVEL` comment): Gerrit's copy of
    /// the message is read for commands whatever `command_text` holds.
    pub text_in_comments: bool,
}

impl Review {
    /// Whether the vote line carries exactly this token (e.g. `Verified+1`).
    pub fn has_vote(&self, token: &str) -> bool {
        self.votes.iter().any(|v| v == token)
    }

    /// Whether the review may hold something for the bot: a command, a `Verified+1`, or text
    /// only Gerrit has.
    pub fn may_concern_the_bot(&self) -> bool {
        self.text_in_comments
            || !crate::command::command_lines(&self.command_text).is_empty()
            || self.has_vote("Verified+1")
    }
}

/// `Gerrit-MessageType`, with Gerrit's spellings (`EmailFactories.java`, `user-notify.txt`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageType {
    NewChange,
    NewPatchSet,
    Comment,
    Abandon,
    Merged,
    MergeFailed,
    Restore,
    Revert,
    DeleteVote,
    DeleteReviewer,
    SetAssignee,
    AddToAttentionSet,
    RemoveFromAttentionSet,
    /// Anything else (plugins' types, account mails). A mail of an unknown type is set aside
    /// (`crate::intake::mail::SetAside::UnknownType`).
    Other(String),
}

const TYPE_NAMES: [(&str, MessageType); 13] = [
    ("newchange", MessageType::NewChange),
    ("newpatchset", MessageType::NewPatchSet),
    ("comment", MessageType::Comment),
    ("abandon", MessageType::Abandon),
    ("merged", MessageType::Merged),
    ("merge-failed", MessageType::MergeFailed),
    ("restore", MessageType::Restore),
    ("revert", MessageType::Revert),
    ("deleteVote", MessageType::DeleteVote),
    ("deleteReviewer", MessageType::DeleteReviewer),
    ("setassignee", MessageType::SetAssignee),
    ("addToAttentionSet", MessageType::AddToAttentionSet),
    (
        "removeFromAttentionSet",
        MessageType::RemoveFromAttentionSet,
    ),
];

impl MessageType {
    /// Gerrit's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            MessageType::Other(s) => s,
            known => TYPE_NAMES
                .iter()
                .find(|(_, t)| t == known)
                .map_or("", |(name, _)| name),
        }
    }
}

impl FromStr for MessageType {
    type Err = Infallible;
    /// Gerrit's spellings, compared ignoring ASCII case; anything else is `Other`.
    fn from_str(s: &str) -> Result<Self, Infallible> {
        let s = s.trim();
        Ok(TYPE_NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map_or_else(|| MessageType::Other(s.to_string()), |(_, t)| t.clone()))
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_round_trip_through_their_gerrit_spelling() {
        for (name, t) in TYPE_NAMES {
            assert_eq!(name.parse::<MessageType>().unwrap(), t);
            assert_eq!(t.to_string(), name);
        }
        assert_eq!(
            "DELETEVOTE".parse::<MessageType>().unwrap(),
            MessageType::DeleteVote
        );
        assert_eq!(
            "combinedCheckStateUpdate".parse::<MessageType>().unwrap(),
            MessageType::Other("combinedCheckStateUpdate".into())
        );
    }
}
