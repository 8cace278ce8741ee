//! `bionicbb:` commands in review comments (SPEC §6).
//!
//! A command is a whole line `bionicbb: <name>`: the line starts with `bionicbb:` (any case:
//! phones capitalise the first letter), then optional spaces, a name of letters, digits, `_` and
//! `-`, then optional trailing whitespace. Names match the built-ins and `[presubmit.targets]`
//! ignoring ASCII case (an exact target match wins). Quoted (`> ...`) and indented lines and
//! mentions in the middle of a line never run: the 2015 bot ran commands it found in quotes of
//! earlier comments. The text given here is already free of inline file comments
//! ([`crate::hint::Review::command_text`]).
//!
//! Every command line is returned, in order, duplicates included; a `bionicbb:` line that is not
//! a valid command is an [`UnknownCommand`] the caller answers once with
//! [`unknown_command_reply`].

use std::collections::BTreeMap;
use std::fmt;

/// The prefix of a command line.
const PREFIX: &str = "bionicbb:";

/// Longest unknown-command text echoed back.
const MAX_ECHO: usize = 40;

/// A command the bot runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Build the change again with the project's job.
    Retry,
    /// Trigger `clean_job`.
    Clean,
    /// A trusted reviewer vouches for the current patch set of a change from an untrusted
    /// committer or uploader: build it (SPEC §11).
    OkToTest,
    /// Build with `LUNCH_TARGET=lunch_target` (`name` as configured).
    Target { name: String, lunch_target: String },
}

/// A `bionicbb:` line that names no command: the text after the prefix, trimmed, at most 40
/// characters, control characters replaced by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCommand {
    pub name: String,
}

impl fmt::Display for UnknownCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Echoed into a Gerrit reply: keep it on one line even if built by hand.
        let name = echo(&self.name);
        if name.is_empty() {
            f.write_str("`bionicbb:` with no command")
        } else {
            write!(f, "unknown command `{name}`")
        }
    }
}

impl std::error::Error for UnknownCommand {}

/// Every command line in `text`, in order.
pub fn parse(
    text: &str,
    targets: &BTreeMap<String, String>,
) -> Vec<Result<Command, UnknownCommand>> {
    text.lines()
        .filter_map(|line| {
            let head = line.get(..PREFIX.len())?;
            head.eq_ignore_ascii_case(PREFIX)
                .then(|| resolve(&line[PREFIX.len()..], targets))
        })
        .collect()
}

fn resolve(rest: &str, targets: &BTreeMap<String, String>) -> Result<Command, UnknownCommand> {
    let name = rest.trim();
    let is_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let unknown = || UnknownCommand { name: echo(name) };
    if !is_name {
        return Err(unknown());
    }
    if name.eq_ignore_ascii_case("retry") {
        return Ok(Command::Retry);
    }
    if name.eq_ignore_ascii_case("clean") {
        return Ok(Command::Clean);
    }
    if name.eq_ignore_ascii_case("ok-to-test") {
        return Ok(Command::OkToTest);
    }
    let target = targets
        .get_key_value(name)
        .or_else(|| targets.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)));
    match target {
        Some((k, v)) => Ok(Command::Target {
            name: k.clone(),
            lunch_target: v.clone(),
        }),
        None => Err(unknown()),
    }
}

/// The text of an unknown command as it is safe to echo: one line, at most 40 characters.
fn echo(s: &str) -> String {
    crate::text::printable(s, MAX_ECHO).trim().to_string()
}

/// Every `bionicbb:` line of `text` as written (trailing whitespace dropped): what a mail's
/// comment must share with the comment Gerrit recorded.
pub fn command_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| {
            line.get(..PREFIX.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(PREFIX))
        })
        .map(str::trim_end)
        .collect()
}

/// The one reply to a comment with more command lines than `[presubmit]
/// max_commands_per_comment`: none of them ran.
pub fn too_many_commands_reply(count: usize, max: usize) -> String {
    format!(
        "bionicbb ran none of the {count} commands in this comment: at most {max} are allowed \
         in one comment ([presubmit] max_commands_per_comment). Write each command you mean \
         once."
    )
}

/// The one reply to a comment with unknown commands.
///
/// Commands appear only in the middle of lines, so the bot reading its own reply back can
/// never find a command in it (and its own comments are skipped anyway).
pub fn unknown_command_reply(
    unknown: &[UnknownCommand],
    targets: &BTreeMap<String, String>,
) -> String {
    let what: Vec<String> = unknown.iter().map(ToString::to_string).collect();
    let mut valid: Vec<String> = vec![
        format!("`{PREFIX} retry` (build again)"),
        format!("`{PREFIX} clean` (remove the out/ directory)"),
        format!("`{PREFIX} ok-to-test` (build this patch set of an outside contributor)"),
    ];
    valid.extend(
        targets
            .iter()
            .map(|(name, lunch)| format!("`{PREFIX} {name}` (build {lunch})")),
    );
    format!(
        "bionicbb did not understand this comment: {}.\n\
         Valid commands: {}.\n\
         Write each command on a line of its own.",
        what.join(", "),
        valid.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> BTreeMap<String, String> {
        [
            ("arm", "aosp_arm-eng"),
            ("aarch64", "aosp_arm64-eng"),
            ("x86", "aosp_x86-eng"),
            ("x86_64", "aosp_x86_64-eng"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn ok(name: &str) -> Result<Command, UnknownCommand> {
        match name {
            "retry" => Ok(Command::Retry),
            "clean" => Ok(Command::Clean),
            "ok-to-test" => Ok(Command::OkToTest),
            t => Ok(Command::Target {
                name: t.to_string(),
                lunch_target: targets()[t].clone(),
            }),
        }
    }

    fn unknown(name: &str) -> Result<Command, UnknownCommand> {
        Err(UnknownCommand {
            name: name.to_string(),
        })
    }

    #[test]
    fn whole_line_commands_run_in_order() {
        let text = "Please rebuild.\nbionicbb: retry\nbionicbb:clean\nbionicbb: x86_64   \n";
        assert_eq!(
            parse(text, &targets()),
            [ok("retry"), ok("clean"), ok("x86_64")]
        );
    }

    #[test]
    fn quoted_indented_and_mid_line_mentions_never_run() {
        let text = "> bionicbb: retry\n>bionicbb: clean\n bionicbb: retry\n\tbionicbb: retry\n\
                    say bionicbb: retry please\n`bionicbb: retry`\nbionicbb retry\nbionicbbx: retry";
        assert_eq!(parse(text, &targets()), []);
    }

    #[test]
    fn the_prefix_and_names_ignore_case() {
        let text = "Bionicbb: retry\nBIONICBB: Clean\nbionicbb: ARM\n";
        assert_eq!(
            parse(text, &targets()),
            [ok("retry"), ok("clean"), ok("arm")]
        );
    }

    #[test]
    fn crlf_line_ends_are_fine() {
        assert_eq!(
            parse("bionicbb: retry\r\nbionicbb: arm\r\n", &targets()),
            [ok("retry"), ok("arm")]
        );
    }

    #[test]
    fn garbage_after_the_prefix_is_an_unknown_command() {
        let text = "bionicbb:\nbionicbb: retry please\nbionicbb: mips\nbionicbb: ../../etc\n";
        assert_eq!(
            parse(text, &targets()),
            [
                unknown(""),
                unknown("retry please"),
                unknown("mips"),
                unknown("../../etc")
            ]
        );
    }

    #[test]
    fn unknown_commands_are_truncated_to_forty_characters() {
        let long = format!("bionicbb: {}", "é".repeat(100));
        let got = parse(&long, &targets());
        let [Err(u)] = got.as_slice() else {
            panic!("{got:?}")
        };
        assert_eq!(u.name.chars().count(), 40);
    }

    #[test]
    fn duplicates_are_kept_for_the_caller_to_judge() {
        assert_eq!(
            parse("bionicbb: retry\nbionicbb: retry", &targets()),
            [ok("retry"), ok("retry")]
        );
    }

    #[test]
    fn an_exact_target_name_wins_over_a_case_insensitive_one() {
        let mut t = targets();
        t.insert("ARM".into(), "aosp_arm-userdebug".into());
        assert_eq!(
            parse("bionicbb: ARM\nbionicbb: Arm", &t),
            [
                Ok(Command::Target {
                    name: "ARM".into(),
                    lunch_target: "aosp_arm-userdebug".into()
                }),
                Ok(Command::Target {
                    name: "ARM".into(),
                    lunch_target: "aosp_arm-userdebug".into()
                }),
            ]
        );
    }

    #[test]
    fn the_unknown_command_reply_lists_valid_commands() {
        let reply = unknown_command_reply(
            &[
                UnknownCommand {
                    name: "mips".into(),
                },
                UnknownCommand { name: "".into() },
            ],
            &targets(),
        );
        insta::assert_snapshot!(reply);
    }

    #[test]
    fn the_unknown_command_reply_without_targets() {
        let reply = unknown_command_reply(
            &[UnknownCommand {
                name: "retry now".into(),
            }],
            &BTreeMap::new(),
        );
        insta::assert_snapshot!(reply);
    }

    #[test]
    fn the_reply_never_contains_a_command_line() {
        let hostile = [
            UnknownCommand {
                name: "x\nbionicbb: clean".into(),
            },
            UnknownCommand {
                name: "bionicbb: retry".into(),
            },
        ];
        let reply = unknown_command_reply(&hostile, &targets());
        assert_eq!(parse(&reply, &targets()), []);
        for line in reply.lines() {
            assert!(
                !line.trim_start().to_lowercase().starts_with("bionicbb:"),
                "{line}"
            );
        }
    }
}
