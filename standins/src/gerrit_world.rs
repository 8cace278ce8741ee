//! The World verbs tests use to arrange and inspect the Gerrit stand-in: accounts, changes,
//! patch sets (with their uploaders), statuses, votes, label configuration, comments posted by
//! people, when changes were updated, and the reviews Gerrit accepted. Uploads and posted
//! reviews fire events as Gerrit does (`gerrit_events.rs`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::gerrit_comments::PATCHSET_LEVEL;
use crate::gerrit_review::post_review;
use crate::gerrit_store::{
    Change, ChangeStatus, NewChange, ReceivedReview, SUBJECT, Vote, canonical_label,
};
use crate::util::now_ms;
use crate::world::World;

/// A review a person posts with [`World::gerrit_post_comment`], as the web UI's reply dialog
/// sends it. Everything is optional; an empty spec posts nothing (and panics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommentSpec {
    /// The cover message (`ReviewInput.message`), shown in the change message after the votes.
    pub message: Option<String>,
    /// A patch-set-level comment (path `/PATCHSET_LEVEL`), as the web UI posts reply text.
    pub patchset_level: Option<String>,
    /// Inline comments: (file path, line, text).
    pub inline: Vec<(String, u32, String)>,
    /// Votes: (label, value); 0 removes a vote.
    pub labels: Vec<(String, i32)>,
}

impl CommentSpec {
    /// The ReviewInput JSON this spec stands for.
    fn review_input(&self) -> Value {
        let mut body = Map::new();
        if let Some(m) = &self.message {
            body.insert("message".into(), json!(m));
        }
        if !self.labels.is_empty() {
            let labels: Map<String, Value> = self
                .labels
                .iter()
                .map(|(l, v)| (l.clone(), json!(v)))
                .collect();
            body.insert("labels".into(), Value::Object(labels));
        }
        let mut comments: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        if let Some(text) = &self.patchset_level {
            comments
                .entry(PATCHSET_LEVEL.into())
                .or_default()
                .push(json!({"message": text}));
        }
        for (path, line, text) in &self.inline {
            comments
                .entry(path.clone())
                .or_default()
                .push(json!({"line": line, "message": text}));
        }
        if !comments.is_empty() {
            body.insert("comments".into(), json!(comments));
        }
        Value::Object(body)
    }
}

/// An account as Gerrit's events show it (`{name, email, username}`), with the numeric id
/// that only the REST API reveals: what a test needs to match an event to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GerritAccount {
    pub id: u64,
    /// The full name (`AccountInfo.name`, the event's `name`).
    pub name: String,
    /// The preferred email.
    pub email: String,
    pub username: String,
}

impl World {
    /// (user, HTTP password) of the bot account, for Basic auth on `/a/`.
    pub fn gerrit_credentials(&self) -> (String, String) {
        let inner = self.lock();
        let g = &inner.gerrit;
        g.account(g.bot).map_or_else(
            || (String::new(), String::new()),
            |a| (a.username.clone(), a.password.clone().unwrap_or_default()),
        )
    }

    /// `_account_id` of the bot (what `GET /a/accounts/self` answers).
    pub fn gerrit_bot_account_id(&self) -> u64 {
        self.lock().gerrit.bot
    }

    /// Adds an account that can log in; returns its id. Its full name is the username; its
    /// HTTP password is `gerrit_credentials_for(id)`.
    pub fn gerrit_add_account(&self, username: &str, email: &str) -> u64 {
        self.gerrit_add_account_named(username, username, email)
    }

    /// Adds an account that can log in, with a full name (AccountInfo `name`, what Gerrit's mails
    /// call the account by); returns its id. An account with `email` already (say, made for a
    /// committer) gets these username and name instead.
    pub fn gerrit_add_account_named(&self, username: &str, name: &str, email: &str) -> u64 {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        let id = g.account_for_email(email);
        if let Some(a) = g.accounts.iter_mut().find(|a| a.id == id) {
            a.username = username.to_owned();
            a.name = name.to_owned();
            a.password = Some(format!("standin-password-{username}"));
        }
        id
    }

    /// An account's id, full name, preferred email and username.
    pub fn gerrit_account(&self, account_id: u64) -> Option<GerritAccount> {
        let inner = self.lock();
        inner.gerrit.account(account_id).map(|a| GerritAccount {
            id: a.id,
            name: a.name.clone(),
            email: a.email.clone(),
            username: a.username.clone(),
        })
    }

    /// (username, HTTP password) of an account that can log in.
    pub fn gerrit_credentials_for(&self, account_id: u64) -> Option<(String, String)> {
        let inner = self.lock();
        let a = inner.gerrit.account(account_id)?;
        Some((a.username.clone(), a.password.clone()?))
    }

    /// Creates a change with one patch set, uploaded by its committer; returns its number.
    pub fn gerrit_add_change(&self, c: NewChange) -> u64 {
        let uploader = c.committer_email.clone();
        self.gerrit_add_change_by(c, &uploader)
    }

    /// Creates a change whose first patch set `uploader_email` pushed (it becomes the change's
    /// owner and the revision's `uploader`; the commit keeps `c.committer_email`). The account is
    /// created if missing. Returns the change number.
    pub fn gerrit_add_change_by(&self, c: NewChange, uploader_email: &str) -> u64 {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        let number = c.number.unwrap_or(g.next_number);
        g.next_number = g.next_number.max(number + 1);
        let owner = g.account_for_email(uploader_email);
        let now = now_ms();
        g.changes.push(Change {
            number,
            project: c.project,
            branch: c.branch,
            change_id: c.change_id,
            subject: SUBJECT.to_owned(),
            status: ChangeStatus::New,
            owner,
            created: now,
            updated: now,
            patch_sets: Vec::new(),
            messages: Vec::new(),
            comments: Vec::new(),
            reviewers: BTreeSet::new(),
        });
        let index = g.changes.len() - 1;
        g.new_patch_set(index, &c.committer_email, uploader_email, c.files);
        number
    }

    /// Uploads a new (code-changing) patch set, pushed by its committer; returns its number.
    /// Votes are not copied.
    pub fn gerrit_add_patch_set(
        &self,
        number: u64,
        committer_email: &str,
        files: Vec<String>,
    ) -> u32 {
        self.gerrit_add_patch_set_by(number, committer_email, committer_email, files)
    }

    /// Uploads a new patch set committed by `committer_email` and pushed by `uploader_email`
    /// (RevisionInfo `uploader`, created if missing); returns its number.
    pub fn gerrit_add_patch_set_by(
        &self,
        number: u64,
        committer_email: &str,
        uploader_email: &str,
        files: Vec<String>,
    ) -> u32 {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        let index = g
            .changes
            .iter()
            .position(|c| c.number == number)
            .unwrap_or_else(|| panic!("standins: no Gerrit change {number}"));
        g.new_patch_set(index, committer_email, uploader_email, files)
    }

    /// Posts a review as `account_id` (created if missing) on a patch set, through the same code
    /// as `POST .../review`: the change message, votes, comments and [`World::gerrit_reviews`]
    /// entry are exactly what the REST call would make. Returns the id of the change message it
    /// wrote. Panics when Gerrit refuses the review or it changes nothing (no message written).
    pub fn gerrit_post_comment(
        &self,
        number: u64,
        patch_set: u32,
        account_id: u64,
        spec: CommentSpec,
    ) -> String {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        g.ensure_account(account_id);
        let Some(index) = g.changes.iter().position(|c| c.number == number) else {
            panic!("standins: no Gerrit change {number}");
        };
        let body = spec.review_input();
        match post_review(g, index, &patch_set.to_string(), account_id, &body) {
            Ok(posted) => posted.message_id.unwrap_or_else(|| {
                panic!("standins: the review {body} changed nothing on change {number}")
            }),
            Err(e) => panic!(
                "standins: Gerrit refused the review {body} on change {number}: {} {}",
                e.status, e.text
            ),
        }
    }

    /// Moves a change message, and the comments posted with it, to `date` (ms since the
    /// epoch): for a scenario that replays a real mail, whose `Gerrit-Comment-Date` is fixed.
    pub fn gerrit_set_message_date(&self, number: u64, message_id: &str, date: i64) {
        let mut inner = self.lock();
        let c = inner.gerrit.change_by_number(number);
        let Some(m) = c.messages.iter_mut().find(|m| m.id == message_id) else {
            panic!("standins: no message {message_id} on change {number}");
        };
        let (old, author) = (m.date, m.author);
        m.date = date;
        for comment in c
            .comments
            .iter_mut()
            .filter(|x| x.written == old && Some(x.author) == author)
        {
            comment.written = date;
        }
    }

    /// The date (ms since the epoch) of a change message, e.g. for a mail's
    /// `Gerrit-Comment-Date`.
    pub fn gerrit_message_date(&self, number: u64, message_id: &str) -> Option<i64> {
        let inner = self.lock();
        let c = inner.gerrit.changes.iter().find(|c| c.number == number)?;
        c.messages
            .iter()
            .find(|m| m.id == message_id)
            .map(|m| m.date)
    }

    pub fn gerrit_set_status(&self, number: u64, status: ChangeStatus) {
        let mut inner = self.lock();
        let c = inner.gerrit.change_by_number(number);
        c.status = status;
        c.updated = now_ms();
    }

    /// When the change was last updated (ChangeInfo `updated`, what `after:` compares), in ms
    /// since the epoch.
    pub fn gerrit_updated(&self, number: u64) -> Option<i64> {
        let inner = self.lock();
        let c = inner.gerrit.changes.iter().find(|c| c.number == number)?;
        Some(c.updated)
    }

    /// Moves the change's `updated` to `date` (ms since the epoch): for queries with `after:`
    /// over changes last touched at known times. Later uploads and reviews move it again.
    pub fn gerrit_set_updated(&self, number: u64, date: i64) {
        self.lock().gerrit.change_by_number(number).updated = date;
    }

    /// Sets `account_id`'s vote on a patch set (0 removes it); the account becomes a reviewer.
    /// The change's `updated` moves, as with any vote, but no change message is written and no
    /// event fires: post a review with [`World::gerrit_post_comment`] for that.
    pub fn gerrit_set_vote(
        &self,
        number: u64,
        patch_set: u32,
        account_id: u64,
        label: &str,
        value: i32,
    ) {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        g.ensure_account(account_id);
        let c = g.change_by_number(number);
        c.reviewers.insert(account_id);
        c.updated = now_ms().max(c.updated);
        let Some(ps) = c.patch_sets.iter_mut().find(|p| p.number == patch_set) else {
            panic!("standins: change {number} has no patch set {patch_set}");
        };
        let votes = ps.votes.entry(canonical_label(label)).or_default();
        if value == 0 {
            votes.remove(&account_id);
        } else {
            votes.insert(
                account_id,
                Vote {
                    value,
                    date: now_ms(),
                    tag: None,
                },
            );
        }
    }

    /// The non-zero votes on `label` of one patch set, by account.
    pub fn gerrit_votes(&self, number: u64, patch_set: u32, label: &str) -> BTreeMap<u64, i32> {
        let inner = self.lock();
        let Some(c) = inner.gerrit.changes.iter().find(|c| c.number == number) else {
            return BTreeMap::new();
        };
        c.patch_sets
            .iter()
            .find(|p| p.number == patch_set)
            .and_then(|p| p.votes.get(&canonical_label(label)))
            .map(|v| v.iter().map(|(a, vote)| (*a, vote.value)).collect())
            .unwrap_or_default()
    }

    /// Reviews Gerrit accepted, in order.
    pub fn gerrit_reviews(&self) -> Vec<ReceivedReview> {
        self.lock().gerrit.reviews.clone()
    }

    /// The change messages of a change, oldest first ("Patch Set 2: Verified+1\n\n...").
    pub fn gerrit_messages(&self, number: u64) -> Vec<String> {
        let inner = self.lock();
        inner
            .gerrit
            .changes
            .iter()
            .find(|c| c.number == number)
            .map(|c| c.messages.iter().map(|m| m.message.clone()).collect())
            .unwrap_or_default()
    }

    /// The commit sha of a patch set.
    pub fn gerrit_revision(&self, number: u64, patch_set: u32) -> Option<String> {
        let inner = self.lock();
        let c = inner.gerrit.changes.iter().find(|c| c.number == number)?;
        let p = c.patch_sets.iter().find(|p| p.number == patch_set)?;
        Some(p.sha.clone())
    }

    /// Removes `label` from `project`'s config: votes on it are then silently dropped.
    pub fn gerrit_remove_label(&self, project: &str, label: &str) {
        self.lock()
            .gerrit
            .removed
            .insert((project.to_owned(), label.to_ascii_lowercase()));
    }

    /// Denies `account_id` non-zero votes on `label`: 403 `Applying label "L": -1 is restricted`.
    pub fn gerrit_forbid_label(&self, account_id: u64, label: &str) {
        self.lock()
            .gerrit
            .forbidden
            .insert((account_id, label.to_ascii_lowercase()));
    }
}
