//! The review inside a `comment` mail (text before the footer separator).
//!
//! Layout, both eras (`Comment.vm` / `Comment.soy`; research notes §6):
//! ```text
//! [Attention is currently required from: A, B.]          (3.x)
//! <Name> has posted comments on this change. [( <url> )]
//! [The change is no longer submittable: ...]             (3.x)
//!
//! Change subject: <subject>
//! ......................................................................
//!
//!
//! Patch Set 3: Code-Review+1 Verified+1                  <- the only vote line
//!
//! (2 comments)
//!
//! <review message>                                       <- commands
//!
//! [<link>]                                               (2.x)
//! File libc/foo.cpp:                                     <- inline comments: never commands
//!
//! [<link> :]
//! PS3, Line 12: <code>          (2.x: Line 12: <code>)
//! [> <parent comment>]
//! <comment message>
//!
//!
//! Patchset:                                              (3.x patch-set-level comments)
//!
//! PS3:
//! <comment message>                                      <- commands
//! ```
//! Group titles are `File <path>`, `Commit Message`, `Merge List` and `Patchset`, each followed
//! by a blank line. A user's message that happens to contain such a title cuts the message
//! short, which can only make fewer commands run.

use super::Review;
use super::mime::Source;
use crate::types::PatchSet;

/// Lines before `Change subject:` that may hold the author line; the header is short.
const HEADER_LINES: usize = 50;

pub(super) fn review(body: &str, source: Source) -> Review {
    if source == Source::Html {
        // The HTML rendering differs (`Verified +1` with a space) and nests comments in markup;
        // Gerrit always sends a text part, so an HTML-only mail is not read for votes/commands.
        return Review::default();
    }
    let lines: Vec<&str> = body.split('\n').collect();
    let (author, start) = header(&lines);
    let mut i = skip_blank(&lines, start);
    let (patch_set, votes) = match lines.get(i).and_then(|l| vote_line(l)) {
        Some(v) => {
            i = skip_blank(&lines, i + 1);
            if lines.get(i).is_some_and(|l| is_comment_count(l)) {
                i += 1;
            }
            v
        }
        None => (None, Vec::new()),
    };
    Review {
        patch_set,
        votes,
        command_text: command_text(&lines[i.min(lines.len())..]),
        author,
        text_in_comments: false,
    }
}

/// The review in a change message's text as Gerrit stores it (`Patch Set 3: Verified+1`,
/// a blank line, `(2 comments)`, the message), as a webhook event carries it. When the message
/// says it has comments, their text (where Gerrit 3.x puts a reply's words) is only in Gerrit.
pub(super) fn change_message(text: &str, author: Option<String>) -> Review {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let mut i = skip_blank(&lines, 0);
    let mut text_in_comments = false;
    let (patch_set, votes) = match lines.get(i).and_then(|l| vote_line(l)) {
        Some(v) => {
            i = skip_blank(&lines, i + 1);
            if lines.get(i).is_some_and(|l| is_comment_count(l)) {
                text_in_comments = true;
                i += 1;
            }
            v
        }
        None => (None, Vec::new()),
    };
    Review {
        patch_set,
        votes,
        command_text: command_text(&lines[i.min(lines.len())..]),
        author,
        text_in_comments,
    }
}

/// (author, index of the first line after the header). Without the `Change subject:` + dots
/// header the whole text is the review (no vote line will be recognised at its start).
fn header(lines: &[&str]) -> (Option<String>, usize) {
    let subject = lines
        .iter()
        .take(HEADER_LINES)
        .position(|l| l.starts_with("Change subject:"));
    let author_lines = &lines[..subject.unwrap_or(lines.len().min(10))];
    let author = author_lines.iter().find_map(|l| {
        let (name, _) = l.split_once(" has posted comments on this change")?;
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_string())
    });
    let start = subject.and_then(|s| {
        lines
            .iter()
            .enumerate()
            .skip(s + 1)
            .take(10)
            .find(|(_, l)| l.len() >= 3 && l.bytes().all(|b| b == b'.'))
            .map(|(i, _)| i + 1)
    });
    (author, start.unwrap_or(0))
}

fn skip_blank(lines: &[&str], mut i: usize) -> usize {
    while lines.get(i).is_some_and(|l| l.trim().is_empty()) {
        i += 1;
    }
    i
}

/// `Patch Set N:` followed by zero or more vote tokens. Any token that is not a vote
/// (an old Gerrit's prose `Looks good to me`) makes the votes empty.
fn vote_line(line: &str) -> Option<(Option<PatchSet>, Vec<String>)> {
    let rest = line.strip_prefix("Patch Set ")?;
    let (n, tokens) = rest.split_once(':')?;
    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let patch_set = n.parse().ok();
    let tokens: Vec<String> = tokens.split_whitespace().map(str::to_string).collect();
    let votes = if tokens.iter().all(|t| is_vote(t)) {
        tokens
    } else {
        Vec::new()
    };
    Some((patch_set, votes))
}

/// Gerrit's `LabelVote.format()`: `Label+N`, `Label-N`, or `-Label` (vote removed).
fn is_vote(token: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if let Some(label) = token.strip_prefix('-') {
        return label_ok(label);
    }
    let digits = token.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (head, _) = token.split_at(token.len() - digits);
    match head.strip_suffix(['+', '-']) {
        Some(label) => digits > 0 && digits <= 3 && label_ok(label),
        None => false,
    }
}

/// `(1 comment)` / `(12 comments)`, which Gerrit puts after the vote line.
fn is_comment_count(line: &str) -> bool {
    let Some(inner) = line
        .trim()
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
    else {
        return false;
    };
    let Some((n, word)) = inner.split_once(' ') else {
        return false;
    };
    n.bytes().all(|b| b.is_ascii_digit()) && matches!(word, "comment" | "comments")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// The cover letter's message, before any comment group.
    Message,
    /// `Patchset:`: patch-set-level comments (3.x), read like the message.
    PatchSet,
    /// `File ...:`, `Commit Message:`, `Merge List:`: inline comments, never read.
    Inline,
}

/// The review message plus patch-set-level comments, with the `PS<N>:` prefix lines, the 2.x
/// link lines before group titles and surrounding blank lines removed.
fn command_text(lines: &[&str]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut group = Group::Message;
    for (i, line) in lines.iter().enumerate() {
        if let Some(next) = group_title(lines, i) {
            if group != Group::Inline && kept.last().is_some_and(|l| is_link(l)) {
                kept.pop();
            }
            group = next;
            continue;
        }
        match group {
            Group::Inline => {}
            Group::PatchSet => match ps_prefix(line) {
                // `PS3: ` alone: the comment's header line.
                Some(rest) if rest.trim().is_empty() => {}
                // `PS3:text`: a format=flowed reader joined the header (whose trailing space
                // read as a soft break) with the comment's first line. Gerrit's own line is
                // `PS3: ` and a person's would have a space after the colon.
                Some(rest) if !rest.starts_with(char::is_whitespace) => kept.push(rest),
                _ => kept.push(line),
            },
            Group::Message => kept.push(line),
        }
    }
    let first = kept.iter().position(|l| !l.trim().is_empty());
    let last = kept.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => kept[a..=b].join("\n"),
        _ => String::new(),
    }
}

/// Whether line `i` opens a comment group: a title line followed by a blank line, preceded by a
/// blank line, a link (2.x) or nothing. `Patchset:` must be followed by a `PS<N>:` line.
fn group_title(lines: &[&str], i: usize) -> Option<Group> {
    let line = lines[i];
    let title = line.strip_suffix(':')?;
    let group = match title {
        "Patchset" => Group::PatchSet,
        "Commit Message" | "Merge List" => Group::Inline,
        t if t.starts_with("File ") && t.len() > 5 => Group::Inline,
        _ => return None,
    };
    let before_ok = i == 0 || lines[i - 1].trim().is_empty() || is_link(lines[i - 1]);
    let after_ok = lines.get(i + 1).is_none_or(|l| l.trim().is_empty());
    if !before_ok || !after_ok {
        return None;
    }
    if group == Group::PatchSet {
        let next = skip_blank(lines, i + 1);
        if lines.get(next).is_none_or(|l| ps_prefix(l).is_none()) {
            return None;
        }
    }
    Some(group)
}

/// The text after `PS<N>:` (3.x comment header; its trailing space may be gone after QP).
fn ps_prefix(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("PS")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    rest[digits..].strip_prefix(':')
}

fn is_link(line: &str) -> bool {
    let l = line.trim_end();
    (l.starts_with("https://") || l.starts_with("http://")) && !l.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_tokens_follow_label_vote_format() {
        for ok in [
            "Verified+1",
            "Code-Review-2",
            "-Verified",
            "Presubmit-Ready+1",
        ] {
            assert!(is_vote(ok), "{ok}");
        }
        for bad in [
            "Verified",
            "+1",
            "Verified+",
            "Verified+1,",
            "Looks",
            "-",
            "Verified+1000",
            "",
        ] {
            assert!(!is_vote(bad), "{bad}");
        }
    }

    #[test]
    fn the_vote_line_needs_the_exact_gerrit_form() {
        let v = vote_line("Patch Set 4: Code-Review+1 Verified+1").unwrap();
        assert_eq!(v.0, Some(PatchSet(4)));
        assert_eq!(v.1, ["Code-Review+1", "Verified+1"]);
        assert_eq!(vote_line("Patch Set 3:").unwrap().1, Vec::<String>::new());
        assert!(vote_line("Patch set 4: Verified+1").is_none());
        assert!(vote_line("> Patch Set 4: Verified+1").is_none());
        assert!(vote_line(" Patch Set 4: Verified+1").is_none());
        let prose = vote_line("Patch Set 2: please do not Verified+1 this").unwrap();
        assert!(prose.1.is_empty());
    }

    #[test]
    fn comment_counts_are_recognised() {
        assert!(is_comment_count("(1 comment)"));
        assert!(is_comment_count("(12 comments)"));
        assert!(!is_comment_count("(see comments)"));
    }
}
