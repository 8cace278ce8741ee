//! What to do about one notification: a pure function from facts to decisions (SPEC §4–§6,
//! §11).
//!
//! The poller gathers the facts (the parsed mail, Gerrit's view of the change with its
//! messages and accounts, what was already built) and executes the decisions; everything
//! between is here, so every rule is table-tested without a network. A mail is only a hint:
//! a comment's commands are read from the change message Gerrit recorded ([`comment`]), and
//! who may do what is decided from the accounts Gerrit knows ([`trust`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::command::{self, Command, UnknownCommand};
use crate::config::PresubmitConfig;
use crate::gerrit::ChangeFacts;
use crate::hint::{MessageType, Notification};
use crate::key::HintKey;
use crate::types::{ChangeRef, PatchSet, Project};

pub mod callback;
pub mod comment;
mod drop;
mod mail;
pub mod trust;
pub mod vote;

pub use drop::{DropVerdict, drop_rejection, drop_verdict};
pub use mail::{DropBy, MailPlan, plan_cancels, plan_mail};
pub use trust::is_trusted;

/// Why a build was requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    NewChange,
    NewPatchSet,
    Retry,
    Target(String),
    OkToTest,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::NewChange => f.write_str("newchange"),
            Trigger::NewPatchSet => f.write_str("newpatchset"),
            Trigger::Retry => f.write_str("retry"),
            Trigger::Target(t) => f.write_str(t),
            Trigger::OkToTest => f.write_str("ok-to-test"),
        }
    }
}

/// One Jenkins build to trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub job: String,
    pub params: BTreeMap<String, String>,
    pub trigger: Trigger,
    /// `project~number`: the key builds are remembered under.
    pub change_key: ChangeRef,
    pub patch_set: PatchSet,
    /// Automatic builds happen once per (patch set, job); commands always build.
    pub once: bool,
}

/// Why nothing (more) is done for a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    MessageType(MessageType),
    UntrustedCommitter(String),
    UntrustedUploader(String),
    UntrustedCommenter(String),
    NotInGerrit,
    OkToTestOutdated {
        commented: PatchSet,
        current: PatchSet,
    },
    AlreadyTrusted,
    SkipFile(String),
    SkipPath(String),
    AlreadyBuilt {
        job: String,
        patch_set: PatchSet,
    },
    OwnComment,
    NoCommands,
    ChangeClosed(String),
    BadProject(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MessageType(t) => write!(f, "{t} mails need no action"),
            SkipReason::UntrustedCommitter(e) => write!(f, "untrusted committer {e}"),
            SkipReason::UntrustedUploader(e) => write!(f, "untrusted uploader {e}"),
            SkipReason::UntrustedCommenter(e) => {
                write!(f, "commands from an untrusted account ({e}) do not run")
            }
            SkipReason::NotInGerrit => f.write_str(
                "Gerrit has no record of this comment: a forged or mistaken mail; nothing runs",
            ),
            SkipReason::OkToTestOutdated { commented, current } => write!(
                f,
                "ok-to-test on patch set {commented} approves nothing (the current one is \
                 {current})"
            ),
            SkipReason::AlreadyTrusted => {
                f.write_str("ok-to-test: the patch set needs no approval")
            }
            SkipReason::SkipFile(p) => write!(f, "touches {p}"),
            SkipReason::SkipPath(p) => write!(f, "touches the bot's own code ({p})"),
            SkipReason::AlreadyBuilt { job, patch_set } => {
                write!(f, "patch set {patch_set} already built by {job}")
            }
            SkipReason::OwnComment => f.write_str("comment by the bot itself"),
            SkipReason::NoCommands => f.write_str("comment without commands"),
            SkipReason::ChangeClosed(s) => write!(f, "change is {s}"),
            SkipReason::BadProject(e) => write!(f, "configuration error: {e}"),
        }
    }
}

impl SkipReason {
    /// A configuration problem the operator must see (red), not a routine skip (yellow).
    pub fn is_error(&self) -> bool {
        matches!(self, SkipReason::BadProject(_) | SkipReason::NotInGerrit)
    }

    /// Only an untrusted committer or uploader stands in the way (`ok-to-test` can lift it).
    pub fn is_untrusted_author(&self) -> bool {
        matches!(
            self,
            SkipReason::UntrustedCommitter(_) | SkipReason::UntrustedUploader(_)
        )
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Build(BuildRequest),
    Clean {
        job: String,
        change_key: ChangeRef,
        patch_set: PatchSet,
    },
    /// Ask build-listener to lift the bot's Verified-1 from this patch set.
    DropRejection {
        change_id: String,
        patch_set: PatchSet,
    },
    /// Answer unknown commands once on the change.
    Reply {
        message: String,
        patch_set: PatchSet,
    },
    Skip(SkipReason),
}

/// The bot's identity: its own comments never command it. Gerrit's `_account_id` (from
/// `GET /a/accounts/self`) is what counts; mail headers say nothing reliable (googlesource
/// mail comes from a per-user address and has no Reply-To).
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub bot_account: &'a str,
    pub bot_id: Option<u64>,
}

/// Whether [`decide`] needs Gerrit's facts for this mail (so the poller can spare the call).
pub fn needs_facts(n: &Notification) -> bool {
    match n.message_type {
        MessageType::NewChange | MessageType::NewPatchSet => true,
        MessageType::Comment => n.review.as_ref().is_some_and(|r| r.may_concern_the_bot()),
        _ => false,
    }
}

/// Decides what one notification calls for.
///
/// `facts` is Gerrit's view of the change (required when [`needs_facts`] says so; without it
/// nothing is built or run); `already_built` lists the jobs that already built the change's
/// current patch set.
pub fn decide(
    n: &Notification,
    facts: Option<&ChangeFacts>,
    already_built: &[String],
    cfg: &PresubmitConfig,
    me: &Identity<'_>,
) -> Vec<Decision> {
    match &n.message_type {
        MessageType::NewChange | MessageType::NewPatchSet => {
            let trigger = if n.message_type == MessageType::NewChange {
                Trigger::NewChange
            } else {
                Trigger::NewPatchSet
            };
            match facts {
                Some(f) => auto_build(f, trigger, already_built, cfg, me),
                None => vec![],
            }
        }
        MessageType::Comment => decide_comment(n, facts, cfg, me),
        other => vec![Decision::Skip(SkipReason::MessageType(other.clone()))],
    }
}

/// The stable key base of a comment's effects: the Gerrit message that recorded it, so that
/// each message runs its commands at most once, whatever mails announce it.
pub fn comment_key(n: &Notification, facts: Option<&ChangeFacts>) -> Option<HintKey> {
    let review = n.review.as_ref()?;
    comment::find(n, review, facts?).map(|found| HintKey::Comment {
        message_id: found.message.id.clone(),
    })
}

fn decide_comment(
    n: &Notification,
    facts: Option<&ChangeFacts>,
    cfg: &PresubmitConfig,
    me: &Identity<'_>,
) -> Vec<Decision> {
    let Some(review) = &n.review else {
        return vec![Decision::Skip(SkipReason::NoCommands)];
    };
    if !review.may_concern_the_bot() {
        return vec![Decision::Skip(SkipReason::NoCommands)];
    }
    let Some(f) = facts else { return vec![] };
    let Some(found) = comment::find(n, review, f) else {
        return vec![Decision::Skip(SkipReason::NotInGerrit)];
    };
    if found.message.author.is_some() && found.message.author == me.bot_id {
        return vec![Decision::Skip(SkipReason::OwnComment)];
    }
    let commented = PatchSet(found.message.patch_set.unwrap_or(n.patch_set.0));
    let mut out = Vec::new();
    // A vote is not a command: Gerrit's permissions decide who may vote Verified, and
    // build-listener checks the vote in Gerrit before lowering anything.
    if found.votes.iter().any(|v| v == "Verified+1") {
        out.push(Decision::DropRejection {
            change_id: n.locator().plain_id(),
            patch_set: commented,
        });
    }
    let commands = command::parse(&found.text, &cfg.targets);
    if commands.is_empty() {
        if out.is_empty() {
            out.push(Decision::Skip(SkipReason::NoCommands));
        }
        return out;
    }
    let author = found.message.author_account.as_ref();
    if !trust::is_trusted_account(author, cfg) {
        out.push(Decision::Skip(SkipReason::UntrustedCommenter(
            trust::describe(author),
        )));
        return out;
    }
    if commands.len() > cfg.max_commands_per_comment {
        out.push(Decision::Reply {
            message: command::too_many_commands_reply(commands.len(), cfg.max_commands_per_comment),
            patch_set: commented,
        });
        return out;
    }
    run_commands(f, commands, commented, cfg, me, &mut out);
    out
}

/// Each distinct command once, in order; unknown ones answered with one reply.
fn run_commands(
    f: &ChangeFacts,
    commands: Vec<Result<Command, UnknownCommand>>,
    commented: PatchSet,
    cfg: &PresubmitConfig,
    me: &Identity<'_>,
    out: &mut Vec<Decision>,
) {
    let mut seen: Vec<Command> = Vec::new();
    let mut unknown: Vec<UnknownCommand> = Vec::new();
    let blocked = skip_reason(f, cfg)
        .filter(|r| !(r.is_untrusted_author() && trust::approved_for_testing(f, cfg, me.bot_id)));
    for c in commands {
        let c = match c {
            Ok(c) if seen.contains(&c) => continue,
            Ok(c) => c,
            Err(u) => {
                if !unknown.contains(&u) {
                    unknown.push(u);
                }
                continue;
            }
        };
        seen.push(c.clone());
        if c == Command::OkToTest {
            out.extend(ok_to_test(f, commented, cfg));
            continue;
        }
        if let Some(reason) = &blocked {
            if !out.iter().any(|d| d == &Decision::Skip(reason.clone())) {
                out.push(Decision::Skip(reason.clone()));
            }
            continue;
        }
        out.extend(command(f, c, cfg));
    }
    if !unknown.is_empty() {
        out.push(Decision::Reply {
            message: command::unknown_command_reply(&unknown, &cfg.targets),
            patch_set: commented,
        });
    }
}

/// What one known command (other than `ok-to-test`) builds.
fn command(f: &ChangeFacts, c: Command, cfg: &PresubmitConfig) -> Vec<Decision> {
    match c {
        // `retry` rebuilds all of the project's jobs; a target builds the first one.
        Command::Retry => cfg
            .jobs_for(&f.project)
            .iter()
            .map(|job| build(f, job, Trigger::Retry, None, false))
            .collect(),
        Command::Target { name, lunch_target } => vec![build(
            f,
            cfg.job_for(&f.project),
            Trigger::Target(name),
            Some(lunch_target),
            false,
        )],
        Command::Clean => vec![Decision::Clean {
            job: cfg.clean_job.clone(),
            change_key: change_key(f),
            patch_set: f.current_patch_set,
        }],
        Command::OkToTest => Vec::new(),
    }
}

/// `bionicbb: ok-to-test` on `commented`: builds the current patch set as a new patch set
/// would, when only its committer or uploader kept it from building (SPEC §11).
fn ok_to_test(f: &ChangeFacts, commented: PatchSet, cfg: &PresubmitConfig) -> Vec<Decision> {
    if commented != f.current_patch_set {
        return vec![Decision::Skip(SkipReason::OkToTestOutdated {
            commented,
            current: f.current_patch_set,
        })];
    }
    match skip_reason(f, cfg) {
        None => vec![Decision::Skip(SkipReason::AlreadyTrusted)],
        Some(r) if r.is_untrusted_author() => match file_skip_reason(f, cfg) {
            Some(files) => vec![Decision::Skip(files)],
            // Built as a new patch set would be: every job, each once.
            None => cfg
                .jobs_for(&f.project)
                .iter()
                .map(|job| build(f, job, Trigger::OkToTest, None, true))
                .collect(),
        },
        Some(other) => vec![Decision::Skip(other)],
    }
}

/// `project~number`, the key under which builds of a change are remembered.
pub fn change_key(f: &ChangeFacts) -> ChangeRef {
    ChangeRef {
        project: f.project.clone(),
        number: f.number,
    }
}

fn auto_build(
    f: &ChangeFacts,
    trigger: Trigger,
    already_built: &[String],
    cfg: &PresubmitConfig,
    me: &Identity<'_>,
) -> Vec<Decision> {
    if let Some(reason) = skip_reason(f, cfg)
        && !(reason.is_untrusted_author() && trust::approved_for_testing(f, cfg, me.bot_id))
    {
        return vec![Decision::Skip(reason)];
    }
    if let Some(reason) = file_skip_reason(f, cfg) {
        return vec![Decision::Skip(reason)];
    }
    // Every job of the project builds the patch set, each once (SPEC §15).
    cfg.jobs_for(&f.project)
        .iter()
        .map(|job| {
            if already_built.iter().any(|j| j == job) {
                Decision::Skip(SkipReason::AlreadyBuilt {
                    job: job.clone(),
                    patch_set: f.current_patch_set,
                })
            } else {
                build(f, job, trigger.clone(), None, true)
            }
        })
        .collect()
}

fn build(
    f: &ChangeFacts,
    job: &str,
    trigger: Trigger,
    lunch_target: Option<String>,
    once: bool,
) -> Decision {
    let project = match Project(f.project.clone()).jenkins_param() {
        Ok(p) => p,
        Err(e) => return Decision::Skip(SkipReason::BadProject(e.to_string())),
    };
    let mut params = BTreeMap::from([
        ("REF".to_string(), f.current_ref.clone()),
        ("CHANGE_ID".to_string(), f.change_id.clone()),
        ("PROJECT".to_string(), project),
    ]);
    if let Some(t) = lunch_target {
        params.insert("LUNCH_TARGET".into(), t);
    }
    Decision::Build(BuildRequest {
        job: job.to_string(),
        params,
        trigger,
        change_key: change_key(f),
        patch_set: f.current_patch_set,
        once,
    })
}

/// SPEC §5 and §11, plus closed changes (building a merged or abandoned change helps nobody):
/// the first reason the change's current patch set must not be built.
pub fn skip_reason(f: &ChangeFacts, cfg: &PresubmitConfig) -> Option<SkipReason> {
    if f.status != "NEW" {
        return Some(SkipReason::ChangeClosed(f.status.to_ascii_lowercase()));
    }
    if !trust::is_trusted_email(&f.committer_email, cfg) {
        return Some(SkipReason::UntrustedCommitter(f.committer_email.clone()));
    }
    if !trust::is_trusted_account(f.uploader.as_ref(), cfg) {
        return Some(SkipReason::UntrustedUploader(trust::describe(
            f.uploader.as_ref(),
        )));
    }
    file_skip_reason(f, cfg)
}

/// The file rules of SPEC §5 (they hold even with `ok-to-test`).
pub fn file_skip_reason(f: &ChangeFacts, cfg: &PresubmitConfig) -> Option<SkipReason> {
    for path in &f.files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if cfg.skip_file_names.iter().any(|n| n == base) {
            return Some(SkipReason::SkipFile(path.clone()));
        }
        if cfg.skip_path_prefixes.iter().any(|p| under_prefix(path, p)) {
            return Some(SkipReason::SkipPath(path.clone()));
        }
    }
    None
}

/// `tools/bionicbb` covers `tools/bionicbb/x.py` but not `tools/bionicbb2/x.py`.
fn under_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    !prefix.is_empty()
        && path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests;
