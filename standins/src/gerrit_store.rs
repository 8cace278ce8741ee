//! The Gerrit stand-in's model: accounts, changes with their patch sets and per-patch-set votes,
//! change messages and label configuration, and the event log. The World verbs over it are in
//! `gerrit_world.rs`. Every patch set upload fires `patchset-created` (`gerrit_events.rs`).
//!
//! Id resolution follows `ChangeFinder`/`Revisions` (research/gerrit-api.md §3): `project~number`,
//! `project~branch~Change-Id`, a bare number, a commit sha, or a Change-Id (ambiguous ones are a
//! 404 "Multiple changes found for <id>"); revisions are `current`, a 1–5 digit patch-set number
//! or a (short) sha.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::gerrit_comments::Comment;
use crate::gerrit_events::{self, FiredEvent};
use crate::gerrit_webhooks::WebhookDelivery;
use crate::util::{hex40, now_ms};

/// A change to create with [`World::gerrit_add_change`].
#[derive(Clone, Debug)]
pub struct NewChange {
    pub project: String,
    pub branch: String,
    pub change_id: String,
    /// `None`: the next free number.
    pub number: Option<u64>,
    pub committer_email: String,
    /// Paths the first patch set touches (without Gerrit's magic `/COMMIT_MSG`).
    pub files: Vec<String>,
}

/// The commit subject every stand-in change carries.
pub(crate) const SUBJECT: &str = "Fix the frobnicator";

static NEXT_CHANGE_ID: AtomicU64 = AtomicU64::new(1);

impl Default for NewChange {
    fn default() -> Self {
        let n = NEXT_CHANGE_ID.fetch_add(1, Ordering::Relaxed);
        NewChange {
            project: "platform/bionic".into(),
            branch: "main".into(),
            change_id: format!("I{}", hex40(0xC4A9_0000 + n)),
            number: None,
            committer_email: "a@google.com".into(),
            files: vec!["libc/foo.cpp".into()],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeStatus {
    New,
    Merged,
    Abandoned,
}

impl ChangeStatus {
    pub(crate) fn wire(self) -> &'static str {
        match self {
            ChangeStatus::New => "NEW",
            ChangeStatus::Merged => "MERGED",
            ChangeStatus::Abandoned => "ABANDONED",
        }
    }
}

/// A review Gerrit accepted (`POST .../review`), in order.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedReview {
    pub change: u64,
    pub patch_set: u32,
    pub account_id: u64,
    pub message: Option<String>,
    /// The labels applied (configured, permitted, in range), by canonical label name.
    pub labels: BTreeMap<String, i32>,
    pub tag: Option<String>,
    pub notify: Option<String>,
    /// The request body as sent.
    pub raw: Value,
}

/// A label as `project.config` defines it.
pub(crate) struct LabelType {
    pub(crate) name: &'static str,
    pub(crate) min: i32,
    pub(crate) max: i32,
    pub(crate) values: &'static [(&'static str, &'static str)],
}

/// Verified is not built in; bionic's project config adds it (config-labels.txt §Verified).
pub(crate) const LABEL_TYPES: &[LabelType] = &[
    LabelType {
        name: "Code-Review",
        min: -2,
        max: 2,
        values: &[
            ("-2", "This shall not be submitted"),
            ("-1", "I would prefer this is not submitted as is"),
            (" 0", "No score"),
            ("+1", "Looks good to me, but someone else must approve"),
            ("+2", "Looks good to me, approved"),
        ],
    },
    LabelType {
        name: "Verified",
        min: -1,
        max: 1,
        values: &[("-1", "Fails"), (" 0", "No score"), ("+1", "Verified")],
    },
];

pub(crate) struct Account {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) username: String,
    pub(crate) password: Option<String>,
}

pub(crate) struct Vote {
    pub(crate) value: i32,
    pub(crate) date: i64,
    pub(crate) tag: Option<String>,
}

pub(crate) struct PatchSet {
    pub(crate) number: u32,
    pub(crate) sha: String,
    pub(crate) parent: String,
    pub(crate) committer_email: String,
    pub(crate) files: Vec<String>,
    pub(crate) created: i64,
    pub(crate) uploader: u64,
    /// label name → account → vote.
    pub(crate) votes: BTreeMap<String, BTreeMap<u64, Vote>>,
}

pub(crate) struct ChangeMessage {
    pub(crate) id: String,
    pub(crate) author: Option<u64>,
    pub(crate) date: i64,
    pub(crate) message: String,
    pub(crate) revision: u32,
    pub(crate) tag: Option<String>,
}

pub(crate) struct Change {
    pub(crate) number: u64,
    pub(crate) project: String,
    pub(crate) branch: String,
    pub(crate) change_id: String,
    pub(crate) subject: String,
    pub(crate) status: ChangeStatus,
    pub(crate) owner: u64,
    pub(crate) created: i64,
    pub(crate) updated: i64,
    pub(crate) patch_sets: Vec<PatchSet>,
    pub(crate) messages: Vec<ChangeMessage>,
    /// Published comments, in the order they were posted.
    pub(crate) comments: Vec<Comment>,
    pub(crate) reviewers: BTreeSet<u64>,
}

impl Change {
    pub(crate) fn current(&self) -> &PatchSet {
        // Every change is created with a first patch set and never loses one.
        &self.patch_sets[self.patch_sets.len() - 1]
    }

    /// `refs/changes/NN/<change>/<ps>`, NN = change number mod 100, two digits.
    pub(crate) fn git_ref(&self, ps: u32) -> String {
        format!(
            "refs/changes/{:02}/{}/{}",
            self.number % 100,
            self.number,
            ps
        )
    }
}

/// A Gerrit error: status and the plain-text message.
#[derive(Debug)]
pub(crate) struct GerritErr {
    pub(crate) status: StatusCode,
    pub(crate) text: String,
}

impl GerritErr {
    pub(crate) fn new(status: StatusCode, text: impl Into<String>) -> GerritErr {
        GerritErr {
            status,
            text: text.into(),
        }
    }

    pub(crate) fn not_found(id: &str) -> GerritErr {
        GerritErr::new(StatusCode::NOT_FOUND, format!("Not found: {id}"))
    }
}

pub(crate) struct GerritStore {
    pub(crate) changes: Vec<Change>,
    pub(crate) next_number: u64,
    pub(crate) accounts: Vec<Account>,
    pub(crate) bot: u64,
    next_account: u64,
    /// (project, lower-case label) pairs removed from a project's config.
    pub(crate) removed: BTreeSet<(String, String)>,
    /// (account, lower-case label) pairs the account may not vote non-zero on.
    pub(crate) forbidden: BTreeSet<(u64, String)>,
    pub(crate) reviews: Vec<ReceivedReview>,
    seq: u64,
    /// `gerrit.canonicalWebUrl`, with its trailing slash, once the server is listening.
    pub(crate) own_url: Option<String>,
    /// Every event fired (`gerrit_events.rs`), oldest first.
    pub(crate) events: Vec<FiredEvent>,
    /// The automatic webhook's queue, while one is on (`gerrit_webhooks.rs`).
    pub(crate) webhook: Option<UnboundedSender<FiredEvent>>,
    pub(crate) webhook_deliveries: Vec<WebhookDelivery>,
}

impl GerritStore {
    pub(crate) fn new() -> GerritStore {
        GerritStore {
            changes: Vec::new(),
            next_number: 123_456,
            accounts: vec![Account {
                id: 1_000_099,
                name: "bionicbb".into(),
                email: "bionicbb@android.com".into(),
                username: "bionicbb".into(),
                password: Some("standin-gerrit-http-password".into()),
            }],
            bot: 1_000_099,
            next_account: 1_000_100,
            removed: BTreeSet::new(),
            forbidden: BTreeSet::new(),
            reviews: Vec::new(),
            seq: 0,
            own_url: None,
            events: Vec::new(),
            webhook: None,
            webhook_deliveries: Vec::new(),
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A change message id: in NoteDb it is the sha of the meta-ref commit that wrote it.
    pub(crate) fn next_message_id(&mut self) -> String {
        let seq = self.next_seq();
        hex40(0x4E07_EDB0_0000_0000 ^ seq)
    }

    /// A comment id as `ChangeUtil.messageUuid()` makes them: `hex8_hex8`.
    pub(crate) fn next_comment_id(&mut self) -> String {
        let seq = self.next_seq();
        let h = hex40(0xC033_E470_0000_0000 ^ seq);
        format!("{}_{}", &h[..8], &h[8..16])
    }

    /// The time of a new event on a change: now, but strictly after the change's last message.
    /// Gerrit links a comment to its review's message by timestamp only, so two messages of one
    /// change must never share one (real Gerrit, with NoteDb's whole seconds, can mislink then).
    pub(crate) fn next_time(&self, change: usize) -> i64 {
        let last = self.changes[change].messages.iter().map(|m| m.date).max();
        last.map_or_else(now_ms, |t| now_ms().max(t + 1))
    }

    pub(crate) fn account(&self, id: u64) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The account with `email`, created (name and username from the local part) if missing.
    pub(crate) fn account_for_email(&mut self, email: &str) -> u64 {
        if let Some(a) = self.accounts.iter().find(|a| a.email == email) {
            return a.id;
        }
        let local = email.split('@').next().unwrap_or(email).to_owned();
        let id = self.next_account;
        self.next_account += 1;
        self.accounts.push(Account {
            id,
            name: local.clone(),
            email: email.to_owned(),
            username: local,
            password: None,
        });
        id
    }

    pub(crate) fn ensure_account(&mut self, id: u64) {
        if self.account(id).is_none() {
            self.accounts.push(Account {
                id,
                name: format!("User {id}"),
                email: format!("user{id}@example.com"),
                username: format!("user{id}"),
                password: None,
            });
            self.next_account = self.next_account.max(id + 1);
        }
    }

    /// The account whose username and HTTP password these are.
    pub(crate) fn login(&self, user: &str, password: &str) -> Option<u64> {
        self.accounts
            .iter()
            .find(|a| a.username == user && a.password.as_deref() == Some(password))
            .map(|a| a.id)
    }

    /// The label type called `name` (case-insensitively) if `project` has it.
    pub(crate) fn label_type(&self, project: &str, name: &str) -> Option<&'static LabelType> {
        let lower = name.to_ascii_lowercase();
        if self.removed.contains(&(project.to_owned(), lower.clone())) {
            return None;
        }
        LABEL_TYPES
            .iter()
            .find(|l| l.name.to_ascii_lowercase() == lower)
    }

    pub(crate) fn may_vote(&self, account: u64, label: &str) -> bool {
        !self
            .forbidden
            .contains(&(account, label.to_ascii_lowercase()))
    }

    /// Adds a patch set committed by `committer_email` and uploaded by `uploader_email` (the
    /// account Gerrit authenticated for the push; created if missing).
    pub(crate) fn new_patch_set(
        &mut self,
        change: usize,
        committer_email: &str,
        uploader_email: &str,
        files: Vec<String>,
    ) -> u32 {
        let uploader = self.account_for_email(uploader_email);
        let seq = self.next_seq();
        let id = self.next_message_id();
        let now = self.next_time(change);
        let c = &mut self.changes[change];
        let number = u32::try_from(c.patch_sets.len()).unwrap_or(u32::MAX - 1) + 1;
        let parent = c
            .patch_sets
            .first()
            .map_or_else(|| hex40(c.number), |p| p.parent.clone());
        c.patch_sets.push(PatchSet {
            number,
            sha: hex40(c.number * 1000 + u64::from(number) + seq),
            parent,
            committer_email: committer_email.to_owned(),
            files,
            created: now,
            uploader,
            votes: BTreeMap::new(),
        });
        c.updated = now;
        c.messages.push(ChangeMessage {
            id,
            author: Some(uploader),
            date: now,
            message: format!("Uploaded patch set {number}."),
            revision: number,
            tag: Some("autogenerated:gerrit:newPatchSet".into()),
        });
        gerrit_events::patchset_created(self, change, now);
        number
    }

    /// Resolves a `{change-id}` (already URL-decoded) the way `ChangeFinder` does.
    pub(crate) fn find_change(&self, id: &str) -> Result<usize, GerritErr> {
        let matches: Vec<usize> = match id.split('~').collect::<Vec<_>>().as_slice() {
            [project, number] if number.parse::<u64>().is_ok() => {
                let n = number.parse::<u64>().ok();
                self.positions(|c| Some(c.number) == n && c.project == *project)
            }
            [project, branch, change_id] => {
                let branch = branch.strip_prefix("refs/heads/").unwrap_or(branch);
                self.positions(|c| {
                    c.project == *project && c.branch == branch && c.change_id == *change_id
                })
            }
            [single] if !single.is_empty() && single.chars().all(|ch| ch.is_ascii_digit()) => {
                // Too many digits for a u64: no change has that number.
                let n = single.parse::<u64>().ok();
                self.positions(|c| Some(c.number) == n)
            }
            [single]
                if (7..=40).contains(&single.len())
                    && single.chars().all(|ch| ch.is_ascii_hexdigit()) =>
            {
                self.positions(|c| c.patch_sets.iter().any(|p| p.sha.starts_with(*single)))
            }
            [single] if single.starts_with('I') && single.len() > 1 => {
                self.positions(|c| c.change_id.starts_with(*single))
            }
            _ => Vec::new(),
        };
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(GerritErr::not_found(id)),
            _ => Err(GerritErr::new(
                StatusCode::NOT_FOUND,
                format!("Multiple changes found for {id}"),
            )),
        }
    }

    fn positions(&self, pred: impl Fn(&Change) -> bool) -> Vec<usize> {
        (0..self.changes.len())
            .filter(|&i| pred(&self.changes[i]))
            .collect()
    }

    pub(crate) fn change_by_number(&mut self, number: u64) -> &mut Change {
        match self.changes.iter_mut().find(|c| c.number == number) {
            Some(c) => c,
            None => panic!("standins: no Gerrit change {number}"),
        }
    }
}

/// Resolves a `{revision-id}` on `change` to a patch-set index.
pub(crate) fn find_revision(change: &Change, rev: &str) -> Result<usize, GerritErr> {
    let last = change.patch_sets.len() - 1;
    if rev == "current" {
        return Ok(last);
    }
    // 1–5 digits not starting with 0 are always a patch-set number, never a short sha.
    if (1..=5).contains(&rev.len())
        && !rev.starts_with('0')
        && rev.chars().all(|c| c.is_ascii_digit())
    {
        return change
            .patch_sets
            .iter()
            .position(|p| p.number.to_string() == rev)
            .ok_or_else(|| GerritErr::not_found(rev));
    }
    if rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
        let hits: Vec<usize> = (0..=last)
            .filter(|&i| change.patch_sets[i].sha.starts_with(rev))
            .collect();
        return match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(GerritErr::not_found(rev)),
            _ => Err(GerritErr::new(
                StatusCode::NOT_FOUND,
                format!("Multiple patch sets for \"{rev}\""),
            )),
        };
    }
    Err(GerritErr::not_found(rev))
}

/// The configured spelling of a label name (Gerrit matches names case-insensitively).
pub(crate) fn canonical_label(name: &str) -> String {
    LABEL_TYPES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |l| l.name.to_owned())
}
