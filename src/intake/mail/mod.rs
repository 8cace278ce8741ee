//! Turns one raw Gerrit notification mail (RFC 5322 bytes) into a [`Notification`].
//!
//! The pipeline, each step in its own submodule:
//! 1. [`mime`]: parse MIME with `mail-parser`, pick the `text/plain` part (HTML only when there is
//!    none), undo the transfer encoding and charset, CRLF -> LF, unflow `format=flowed`.
//! 2. [`footers`]: read the `Gerrit-*: value` footers from the trailing block after the last
//!    `-- ` line (or the trailing run of footer lines when there is no separator) as a multimap,
//!    and validate the ones we use.
//! 3. [`body`]: for `comment` mails, read the review: the cover letter's `Patch Set N: votes`
//!    line, the message after it and the patch-set-level comments, never inline file comments.
//!
//! Anything the bot must not act on comes back as a [`SetAside`] with a one-line reason. The
//! sender is checked before anything in the body is looked at: footers alone prove nothing (a
//! human reply can quote or un-hide real footers). See SPEC §3; `tests/data/mail/README.md`
//! lists one fixture per format we have seen (Gerrit 2.x, 3.x, Google's hosted Gerrit).
//!
//! Not handled, on purpose: DKIM/`Authentication-Results` are not checked (the From pattern is
//! the gate); the `X-Gerrit-*` headers are not read (the footers are the documented interface);
//! an HTML-only mail (Gerrit always sends a text part) yields footers but no votes or commands.

mod body;
mod footers;
mod html;
mod mime;
#[cfg(test)]
mod tests;

use mail_parser::{HeaderName, Message, MessageParser};
use thiserror::Error;

use crate::hint::{MessageType, Notification, Review};
use crate::text::printable;

/// Largest raw mail accepted. A normal mail with `sendemail.includeDiff` is a few MB.
pub const MAX_MAIL_BYTES: usize = 10 * 1024 * 1024;

/// Why a mail is set aside (moved to `set_aside_label`, never acted on). `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SetAside {
    #[error("sender `{0}` does not match [gmail] senders")]
    ForeignSender(String),
    #[error("no Gerrit footers: not a Gerrit notification")]
    NoFooters,
    #[error("Gerrit footer `{0}` is missing")]
    MissingFooter(&'static str),
    #[error("Gerrit footer `{key}` has a bad value `{value}`")]
    BadFooter { key: &'static str, value: String },
    #[error("unknown Gerrit-MessageType `{0}`")]
    UnknownType(String),
    #[error("malformed mail: {0}")]
    Malformed(String),
    #[error("mail is {0} bytes, over the {MAX_MAIL_BYTES}-byte limit")]
    TooLarge(usize),
}

/// Parses one raw mail. `senders` are the `[gmail] senders` patterns (see [`sender_matches`]).
///
/// Known types the bot does not act on (`merged`, `abandon`, ...) are `Ok`: the policy skips
/// them. Never panics; linear in the size of the mail.
pub fn parse(raw: &[u8], senders: &[String]) -> Result<Notification, SetAside> {
    if raw.len() > MAX_MAIL_BYTES {
        return Err(SetAside::TooLarge(raw.len()));
    }
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.parts.is_empty())
        .ok_or_else(|| SetAside::Malformed("no RFC 5322 header".into()))?;
    let sender = from_address(&message)?;
    if !senders.iter().any(|p| sender_matches(p, &sender)) {
        return Err(SetAside::ForeignSender(sender));
    }
    let text = mime::body_text(&message)?;
    let (entries, before) = footers::split(&text.text, text.source);
    let fields = footers::fields(&entries)?;
    let review =
        (fields.message_type == MessageType::Comment).then(|| body::review(before, text.source));
    Ok(Notification {
        message_type: fields.message_type,
        change_id: fields.change_id,
        patch_set: fields.patch_set,
        project: fields.project,
        branch: fields.branch,
        change_number: fields.change_number,
        comment_date: fields.comment_date,
        sender,
        reply_to: reply_to(&message),
        subject: message
            .subject()
            .map(|s| printable(s, usize::MAX))
            .unwrap_or_default(),
        message_id: message.message_id().map(|m| printable(m, usize::MAX)),
        review,
    })
}

/// The review in a change message's stored text (see [`Review::text_in_comments`]).
pub fn review_of_change_message(text: &str, author: Option<String>) -> Review {
    body::change_message(text, author)
}

/// Whether `address` matches `pattern` as a whole, ignoring case; `*` in the pattern matches
/// any run of characters (also none). No other character is special.
pub fn sender_matches(pattern: &str, address: &str) -> bool {
    let p: Vec<char> = pattern.trim().to_lowercase().chars().collect();
    let a: Vec<char> = address.trim().to_lowercase().chars().collect();
    // Iterative wildcard match: on a mismatch, let the last `*` swallow one more character.
    let (mut pi, mut ai) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ai < a.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ai));
            pi += 1;
        } else if pi < p.len() && p[pi] == a[ai] {
            pi += 1;
            ai += 1;
        } else if let Some((sp, sa)) = star {
            pi = sp + 1;
            ai = sa + 1;
            star = Some((sp, sa + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The single From address, lowercased. Several From headers or addresses are not Gerrit's.
fn from_address(message: &Message<'_>) -> Result<String, SetAside> {
    let from_headers = message
        .root_part()
        .headers
        .iter()
        .filter(|h| h.name == HeaderName::From)
        .count();
    if from_headers > 1 {
        return Err(SetAside::Malformed(format!("{from_headers} From headers")));
    }
    let addresses: Vec<String> = message
        .from()
        .map(|list| {
            list.iter()
                .filter_map(|a| a.address())
                .map(|a| printable(a.trim(), usize::MAX).to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    match addresses.as_slice() {
        [one] if !one.is_empty() => Ok(one.clone()),
        [] | [_] => Err(SetAside::Malformed("no From address".into())),
        many => Err(SetAside::ForeignSender(many.join(", "))),
    }
}

fn reply_to(message: &Message<'_>) -> Vec<String> {
    message
        .reply_to()
        .map(|list| {
            list.iter()
                .filter_map(|a| a.address())
                .map(|a| printable(a.trim(), usize::MAX).to_lowercase())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Shortens untrusted text quoted in a [`SetAside`] reason.
fn excerpt(s: &str) -> String {
    const MAX: usize = 100;
    let mut out = printable(s, usize::MAX);
    if let Some((cut, _)) = out.char_indices().nth(MAX) {
        out.truncate(cut);
        out.push('…');
    }
    out
}
