//! What a decision hands to the journal: intents to record (with the builds they start) and
//! events that describe what was decided or done. Plain data, below every layer that makes
//! or keeps it: the pure policy builds these without knowing how they are stored, and the
//! journal stores them without knowing what made them.

use serde::{Deserialize, Serialize};

use crate::key::IntentKey;
use crate::types::ChangeRef;

/// What kind of effect an intent is; decides which effector carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// Queue a Jenkins build.
    Trigger,
    /// Post a Gerrit review (a vote, a result message, a reply).
    Review,
    /// Read the bot's Verified vote and set it to 0 if it is negative.
    DropRejection,
    /// Ask build-listener (`POST /drop-rejection`) to drop a rejection.
    DropRequest,
    /// Trash a mail or set it aside.
    MailMove,
    /// Cancel a Jenkins queue item.
    Cancel,
    /// Done by an earlier release; only its key matters.
    Legacy,
}

impl IntentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentKind::Trigger => "trigger",
            IntentKind::Review => "review",
            IntentKind::DropRejection => "drop_rejection",
            IntentKind::DropRequest => "drop_request",
            IntentKind::MailMove => "mail_move",
            IntentKind::Cancel => "cancel",
            IntentKind::Legacy => "legacy",
        }
    }

    pub fn parse(s: &str) -> IntentKind {
        match s {
            "trigger" => IntentKind::Trigger,
            "review" => IntentKind::Review,
            "drop_rejection" => IntentKind::DropRejection,
            "drop_request" => IntentKind::DropRequest,
            "mail_move" => IntentKind::MailMove,
            "cancel" => IntentKind::Cancel,
            _ => IntentKind::Legacy,
        }
    }
}

/// An intent to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    /// Stable: the same decision made again (by this or another process) has the same key.
    pub key: IntentKey,
    pub kind: IntentKind,
    /// `project~number` (or the number) the effect is about, for operators and ordering.
    pub change: Option<String>,
    pub patch_set: Option<u32>,
    /// Intents sharing an order key run one at a time, in the order they were recorded
    /// (reviews of one change: a −1 never lands after the drop that lifts it).
    pub order_key: Option<String>,
    /// What to do, as JSON the effector understands.
    pub payload: String,
    /// What asked for it, for logs (`bionic-presubmit #42`, a mail id).
    pub source: String,
}

/// What kind of thing happened; also the word and colour of its console line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A build was triggered.
    Build,
    /// A clean build was triggered or reported.
    Clean,
    /// A check: a vote decided or posted, a rejection dropped.
    Check,
    /// A reply posted on a change.
    Reply,
    /// Something the bot decided not to do.
    Skip,
    /// A mail set aside.
    Aside,
    /// Work left for later.
    Leave,
    /// Something failed.
    Error,
    /// A build's status changed (written by the journal itself when a `builds` row changes:
    /// for the board, `/sse` and the webhook; never a console line).
    Status,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Build => "build",
            EventKind::Clean => "clean",
            EventKind::Check => "check",
            EventKind::Reply => "reply",
            EventKind::Skip => "skip",
            EventKind::Aside => "aside",
            EventKind::Leave => "leave",
            EventKind::Error => "error",
            EventKind::Status => "status",
        }
    }

    pub fn parse(s: &str) -> EventKind {
        match s {
            "build" => EventKind::Build,
            "clean" => EventKind::Clean,
            "check" => EventKind::Check,
            "reply" => EventKind::Reply,
            "skip" => EventKind::Skip,
            "aside" => EventKind::Aside,
            "leave" => EventKind::Leave,
            "status" => EventKind::Status,
            _ => EventKind::Error,
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub kind: EventKind,
    /// The console line's context: the mail type (`newpatchset`), the phase (`COMPLETED`),
    /// the service (`gerrit`)...
    pub context: String,
    /// `project~number`, or the number when only that is known.
    pub change: Option<String>,
    pub patch_set: Option<u32>,
    pub job: Option<String>,
    pub build: Option<u64>,
    pub status: Option<String>,
    /// The line's text (without kind and context).
    pub text: String,
}

impl NewEvent {
    /// An event with only a kind, a context and a text; add fields with struct update syntax.
    pub fn new(kind: EventKind, context: impl Into<String>, text: impl Into<String>) -> NewEvent {
        NewEvent {
            kind,
            context: context.into(),
            change: None,
            patch_set: None,
            job: None,
            build: None,
            status: None,
            text: text.into(),
        }
    }

    pub fn change(mut self, change: impl Into<String>, patch_set: Option<u32>) -> NewEvent {
        self.change = Some(change.into());
        self.patch_set = patch_set;
        self
    }

    pub fn build(mut self, job: impl Into<String>, number: Option<u64>) -> NewEvent {
        self.job = Some(job.into());
        self.build = number;
        self
    }

    pub fn status(mut self, status: impl Into<String>) -> NewEvent {
        self.status = Some(status.into());
        self
    }
}

/// A presubmit build (votes) or a clean build (reports on the change that asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildKind {
    Presubmit,
    Clean,
}

impl BuildKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildKind::Presubmit => "presubmit",
            BuildKind::Clean => "clean",
        }
    }

    pub fn parse(s: &str) -> BuildKind {
        if s == "clean" {
            BuildKind::Clean
        } else {
            BuildKind::Presubmit
        }
    }
}

/// A build to record with its trigger intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBuild {
    pub kind: BuildKind,
    /// `project~number`.
    pub change: ChangeRef,
    pub patch_set: u32,
    pub job: String,
    /// `LUNCH_TARGET`, when a target command asked for one.
    pub target: Option<String>,
    /// An automatic build: not recorded (and not triggered) when a build of this job without
    /// a target already exists for the patch set.
    pub once: bool,
}

/// An intent to record, with the build it triggers (for trigger intents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub intent: NewIntent,
    pub build: Option<NewBuild>,
    /// Repeat an idempotent intent that already ended (moving a mail).
    pub repeatable: bool,
}

impl Planned {
    pub fn new(intent: NewIntent) -> Planned {
        Planned {
            intent,
            build: None,
            repeatable: false,
        }
    }
}

/// What a done effect did, kept in typed columns of its intent for the views and counters to
/// read (never fields of the payload's JSON, whose names are free to change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effected {
    /// The job a trigger queued.
    pub job: Option<String>,
    /// The bot's Verified vote the effect left on its patch set: a review's label as Gerrit
    /// applied it, 0 after a dropped rejection.
    pub vote: Option<i32>,
    /// Where a mail went.
    pub moved_to: Option<MovedTo>,
}

/// Where a filed mail went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovedTo {
    Trash,
    SetAside,
}

impl MovedTo {
    pub fn as_str(self) -> &'static str {
        match self {
            MovedTo::Trash => "trash",
            MovedTo::SetAside => "set_aside",
        }
    }
}
