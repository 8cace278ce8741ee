//! The World verbs tests use to arrange and inspect the Gerrit stand-in: accounts, changes,
//! patch sets, statuses, votes, label configuration, and the reviews Gerrit accepted.

use std::collections::{BTreeMap, BTreeSet};

use crate::gerrit_store::{
    Change, ChangeStatus, NewChange, ReceivedReview, SUBJECT, Vote, canonical_label,
};
use crate::util::now_ms;
use crate::world::World;

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

    /// Adds an account that can log in; returns its id. Its HTTP password is
    /// `gerrit_credentials_for(id)`.
    pub fn gerrit_add_account(&self, username: &str, email: &str) -> u64 {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        let id = g.account_for_email(email);
        if let Some(a) = g.accounts.iter_mut().find(|a| a.id == id) {
            a.username = username.to_owned();
            a.name = username.to_owned();
            a.password = Some(format!("standin-password-{username}"));
        }
        id
    }

    /// (username, HTTP password) of an account that can log in.
    pub fn gerrit_credentials_for(&self, account_id: u64) -> Option<(String, String)> {
        let inner = self.lock();
        let a = inner.gerrit.account(account_id)?;
        Some((a.username.clone(), a.password.clone()?))
    }

    /// Creates a change with one patch set; returns its number.
    pub fn gerrit_add_change(&self, c: NewChange) -> u64 {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        let number = c.number.unwrap_or(g.next_number);
        g.next_number = g.next_number.max(number + 1);
        let owner = g.account_for_email(&c.committer_email);
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
            reviewers: BTreeSet::new(),
        });
        let index = g.changes.len() - 1;
        g.new_patch_set(index, &c.committer_email, c.files);
        number
    }

    /// Uploads a new (code-changing) patch set; returns its number. Votes are not copied.
    pub fn gerrit_add_patch_set(
        &self,
        number: u64,
        committer_email: &str,
        files: Vec<String>,
    ) -> u32 {
        let mut inner = self.lock();
        let g = &mut inner.gerrit;
        let index = g
            .changes
            .iter()
            .position(|c| c.number == number)
            .unwrap_or_else(|| panic!("standins: no Gerrit change {number}"));
        g.new_patch_set(index, committer_email, files)
    }

    pub fn gerrit_set_status(&self, number: u64, status: ChangeStatus) {
        let mut inner = self.lock();
        let c = inner.gerrit.change_by_number(number);
        c.status = status;
        c.updated = now_ms();
    }

    /// Sets `account_id`'s vote on a patch set (0 removes it); the account becomes a reviewer.
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
