//! The coloured one-line-per-decision output of gmail-listener (SPEC §10).
//!
//! Green BUILD/CLEAN/CHECK, yellow SKIP/ASIDE, red ERROR, like the 2015 bot. Lines go to stdout;
//! structured logs go to stderr through tracing. Colour is off when stdout is not a terminal
//! or `NO_COLOR` is set (the `colored` crate honours both once told about the terminal).

use std::io::IsTerminal;

use colored::Colorize;

/// The kind of a decision line, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Build,
    Clean,
    Check,
    Reply,
    Skip,
    Aside,
    Leave,
    Error,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Build => "BUILD",
            Kind::Clean => "CLEAN",
            Kind::Check => "CHECK",
            Kind::Reply => "REPLY",
            Kind::Skip => "SKIP",
            Kind::Aside => "ASIDE",
            Kind::Leave => "LEAVE",
            Kind::Error => "ERROR",
        }
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
    let head = format!("{}({context}):", kind.word());
    let head = match kind {
        Kind::Build | Kind::Clean | Kind::Check | Kind::Reply => head.green(),
        Kind::Skip | Kind::Aside | Kind::Leave => head.yellow(),
        Kind::Error => head.red(),
    };
    format!("{head} {text}")
}

/// Prints one decision line to stdout.
pub fn line(kind: Kind, context: &str, text: &str) {
    println!("{}", format(kind, context, text));
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
}
