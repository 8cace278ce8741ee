//! What to do about one notification: a pure function from facts to decisions (SPEC §4–§6).
//!
//! The poller gathers the facts (the parsed mail, Gerrit's view of the change, what was already
//! built) and executes the decisions; everything between is here, so every rule is
//! table-tested without a network.

use std::collections::BTreeMap;
use std::fmt;

use crate::command::{self, Command, UnknownCommand};
use crate::config::PresubmitConfig;
use crate::gerrit::ChangeFacts;
use crate::mail::{MessageType, Notification};
use crate::types::{PatchSet, Project};

pub mod callback;
mod plan;

pub use plan::{MailPlan, plan_mail};

/// Why a build was requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    NewChange,
    NewPatchSet,
    Retry,
    Target(String),
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::NewChange => f.write_str("newchange"),
            Trigger::NewPatchSet => f.write_str("newpatchset"),
            Trigger::Retry => f.write_str("retry"),
            Trigger::Target(t) => f.write_str(t),
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
    pub change_key: String,
    pub patch_set: PatchSet,
    /// Automatic builds happen once per (patch set, job); commands always build.
    pub once: bool,
}

/// Why nothing (more) is done for a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    MessageType(MessageType),
    UntrustedCommitter(String),
    SkipFile(String),
    SkipPath(String),
    AlreadyBuilt { job: String, patch_set: PatchSet },
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
        matches!(self, SkipReason::BadProject(_))
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Build(BuildRequest),
    Clean {
        job: String,
        change_key: String,
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

/// The bot's identity, for ignoring its own comments.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub bot_account: &'a str,
}

/// Whether [`decide`] needs Gerrit's facts for this mail (so the poller can spare the call).
pub fn needs_facts(n: &Notification, cfg: &PresubmitConfig, me: &Identity<'_>) -> bool {
    match n.message_type {
        MessageType::NewChange | MessageType::NewPatchSet => true,
        MessageType::Comment => {
            !is_own(n, me)
                && n.review
                    .as_ref()
                    .is_some_and(|r| !command::parse(&r.command_text, &cfg.targets).is_empty())
        }
        _ => false,
    }
}

fn is_own(n: &Notification, me: &Identity<'_>) -> bool {
    let bot = me.bot_account;
    // Gerrit 2.x puts the commenter's address in Reply-To; 3.x lists the commenter first,
    // then every recipient (which includes the bot when it watches the project).
    n.reply_to
        .first()
        .is_some_and(|a| a.eq_ignore_ascii_case(bot))
        || n.sender.eq_ignore_ascii_case(bot)
}

/// Decides what one notification calls for.
///
/// `facts` is Gerrit's view of the change (required when [`needs_facts`] says so; without it
/// nothing is built); `already_built` lists the jobs that already built the change's current
/// patch set.
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
                Some(f) => vec![auto_build(f, trigger, already_built, cfg)],
                None => vec![],
            }
        }
        MessageType::Comment => decide_comment(n, facts, cfg, me),
        other => vec![Decision::Skip(SkipReason::MessageType(other.clone()))],
    }
}

fn decide_comment(
    n: &Notification,
    facts: Option<&ChangeFacts>,
    cfg: &PresubmitConfig,
    me: &Identity<'_>,
) -> Vec<Decision> {
    if is_own(n, me) {
        return vec![Decision::Skip(SkipReason::OwnComment)];
    }
    let Some(review) = &n.review else {
        return vec![Decision::Skip(SkipReason::NoCommands)];
    };
    let voted_on = review.patch_set.unwrap_or(n.patch_set);
    let mut out = Vec::new();
    if review.has_vote("Verified+1") {
        out.push(Decision::DropRejection {
            change_id: n.locator().plain_id(),
            patch_set: voted_on,
        });
    }
    let commands = command::parse(&review.command_text, &cfg.targets);
    if commands.is_empty() {
        if out.is_empty() {
            out.push(Decision::Skip(SkipReason::NoCommands));
        }
        return out;
    }
    let Some(f) = facts else { return out };
    if let Some(reason) = skip_reason(f, cfg) {
        out.push(Decision::Skip(reason));
        return out;
    }
    let mut unknown: Vec<UnknownCommand> = Vec::new();
    for c in commands {
        match c {
            Ok(Command::Retry) => out.push(build(f, Trigger::Retry, None, cfg, false)),
            Ok(Command::Target { name, lunch_target }) => out.push(build(
                f,
                Trigger::Target(name),
                Some(lunch_target),
                cfg,
                false,
            )),
            Ok(Command::Clean) => out.push(Decision::Clean {
                job: cfg.clean_job.clone(),
                change_key: change_key(f),
                patch_set: f.current_patch_set,
            }),
            Err(u) => unknown.push(u),
        }
    }
    if !unknown.is_empty() {
        out.push(Decision::Reply {
            message: command::unknown_command_reply(&unknown, &cfg.targets),
            patch_set: voted_on,
        });
    }
    out
}

/// `project~number`, the key under which builds of a change are remembered.
pub fn change_key(f: &ChangeFacts) -> String {
    format!("{}~{}", f.project, f.number)
}

fn auto_build(
    f: &ChangeFacts,
    trigger: Trigger,
    already_built: &[String],
    cfg: &PresubmitConfig,
) -> Decision {
    if let Some(reason) = skip_reason(f, cfg) {
        return Decision::Skip(reason);
    }
    let job = cfg.job_for(&f.project);
    if already_built.iter().any(|j| j == job) {
        return Decision::Skip(SkipReason::AlreadyBuilt {
            job: job.to_string(),
            patch_set: f.current_patch_set,
        });
    }
    build(f, trigger, None, cfg, true)
}

fn build(
    f: &ChangeFacts,
    trigger: Trigger,
    lunch_target: Option<String>,
    cfg: &PresubmitConfig,
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
        job: cfg.job_for(&f.project).to_string(),
        params,
        trigger,
        change_key: change_key(f),
        patch_set: f.current_patch_set,
        once,
    })
}

/// SPEC §5, plus closed changes (building a merged or abandoned change helps nobody).
pub fn skip_reason(f: &ChangeFacts, cfg: &PresubmitConfig) -> Option<SkipReason> {
    if f.status != "NEW" {
        return Some(SkipReason::ChangeClosed(f.status.to_ascii_lowercase()));
    }
    if !is_trusted(&f.committer_email, &cfg.trusted_domains) {
        return Some(SkipReason::UntrustedCommitter(f.committer_email.clone()));
    }
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

/// The committer's domain (after the last `@`) must equal a trusted domain exactly.
pub fn is_trusted(email: &str, trusted: &[String]) -> bool {
    match email.trim().rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            trusted.iter().any(|t| t.eq_ignore_ascii_case(domain))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
