//! The coloured one-line-per-decision output of both processes (SPEC §10), rendered from
//! events ([`crate::journal::events`]).
//!
//! Green BUILD/CLEAN/CHECK/REPLY, yellow SKIP/ASIDE/LEAVE, red ERROR, like the 2015 bot. Lines
//! go to stdout; structured logs go to stderr through tracing. Colour is off when stdout is not
//! a terminal or `NO_COLOR` is set (the `colored` crate honours both once told about the
//! terminal). Control characters from the wire are escaped: one event is always one line.

use std::io::IsTerminal;

use colored::Colorize;

pub use crate::journal::EventKind as Kind;
use crate::journal::NewEvent;

fn word(kind: Kind) -> &'static str {
    match kind {
        Kind::Build => "BUILD",
        Kind::Clean => "CLEAN",
        Kind::Check => "CHECK",
        Kind::Reply => "REPLY",
        Kind::Skip => "SKIP",
        Kind::Aside => "ASIDE",
        Kind::Leave => "LEAVE",
        Kind::Error => "ERROR",
        Kind::Status => "STATUS",
    }
}

/// Decides once whether to colour, from the terminal and `NO_COLOR`.
pub fn init() {
    let tty = std::io::stdout().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    colored::control::set_override(tty && !no_color);
}

/// `BUILD(newpatchset): platform/bionic => bionic-presubmit <url> I0123…`
pub fn format(kind: Kind, context: &str, text: &str) -> String {
    let head = format!("{}({}):", word(kind), escape(context));
    let head = match kind {
        Kind::Build | Kind::Clean | Kind::Check | Kind::Reply => head.green(),
        Kind::Skip | Kind::Aside | Kind::Leave => head.yellow(),
        Kind::Error => head.red(),
        Kind::Status => head.normal(),
    };
    format!("{head} {}", escape(text))
}

/// Prints one decision line to stdout.
pub fn line(kind: Kind, context: &str, text: &str) {
    println!("{}", format(kind, context, text));
}

/// Prints an event as its decision line.
pub fn event(e: &NewEvent) {
    line(e.kind, &e.context, &e.text);
}

/// Records an event that goes with no intent, then prints it. If the journal cannot take it,
/// the line is still printed (the operator must see it) and the failure logged.
pub async fn emit(journal: &crate::journal::Journal, e: NewEvent) {
    if let Err(err) = journal.append_events(vec![e.clone()]).await {
        tracing::warn!(error = %err, "cannot record an event");
    }
    event(&e);
}

/// Escapes control characters (`\n` as `\\n`, others as `\\u{..}`) so that nothing from the
/// wire can start a new line or move the cursor.
pub fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\u{{{:x}}}", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_the_2015_bot() {
        colored::control::set_override(false);
        insta::assert_snapshot!(
            [
                format(
                    Kind::Build,
                    "newpatchset",
                    "platform/bionic => bionic-presubmit http://j/job/bionic-presubmit/ I0123"
                ),
                format(
                    Kind::Skip,
                    "newchange",
                    "platform/bionic~1: untrusted committer a@evil.com"
                ),
                format(
                    Kind::Error,
                    "comment",
                    "platform/bionic~1: cannot reach Jenkins"
                ),
            ]
            .join("\n")
        );
    }

    #[test]
    fn control_characters_never_break_a_line() {
        colored::control::set_override(false);
        let line = format(Kind::Check, "COMPLETED", "x\r\nERROR(fake): y\u{1b}[2J");
        assert_eq!(line, "CHECK(COMPLETED): x\\r\\nERROR(fake): y\\u{1b}[2J");
        assert!(!line.contains('\n'));
    }
}
