//! Chained expectations and the final check every scenario gets on drop.

use bionicbb::journal::{IntentState, Journal};
use standins::{GmailMessageView, QueuedBuild, ReceivedReview};

use super::{Env, WAIT, eventually};

impl Env {
    /// The builds queued since the last expectation, leaving out those the scenario queued
    /// itself ([`Env::queue`]); asserts how many.
    pub fn expect_builds(&mut self, n: usize) -> Vec<QueuedBuild> {
        let q = self.world.jenkins_queue();
        let own = self.own_builds.lock().unwrap_or_else(|p| p.into_inner());
        let new: Vec<QueuedBuild> = q[self.builds_seen.min(q.len())..]
            .iter()
            .filter(|b| !own.contains(&b.queue_id))
            .cloned()
            .collect();
        drop(own);
        assert_eq!(
            new.len(),
            n,
            "expected {n} new builds, Jenkins queued {new:#?}"
        );
        self.builds_seen = q.len();
        new
    }

    /// The bot's reviews Gerrit accepted since the last expectation (people's comments made
    /// by the scenario are not counted); asserts how many.
    pub fn expect_reviews(&mut self, n: usize) -> Vec<ReceivedReview> {
        let r = self.bot_reviews();
        let new: Vec<ReceivedReview> = r[self.reviews_seen.min(r.len())..].to_vec();
        assert_eq!(
            new.len(),
            n,
            "expected {n} new reviews, Gerrit got {new:#?}"
        );
        self.reviews_seen = r.len();
        new
    }

    /// Waits (boundedly) until Gerrit accepted `n` reviews since the last expectation, then
    /// expects exactly them.
    pub async fn await_reviews(&mut self, n: usize) -> Vec<ReceivedReview> {
        let want = self.reviews_seen + n;
        let world = self.world.clone();
        let bot = world.gerrit_bot_account_id();
        eventually(WAIT, || {
            world
                .gerrit_reviews()
                .iter()
                .filter(|r| r.account_id == bot)
                .count()
                >= want
        })
        .await;
        self.expect_reviews(n)
    }

    fn bot_reviews(&self) -> Vec<ReceivedReview> {
        let bot = self.world.gerrit_bot_account_id();
        self.world
            .gerrit_reviews()
            .into_iter()
            .filter(|r| r.account_id == bot)
            .collect()
    }

    fn saw(&self, id: &str) {
        self.mails_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string());
    }

    /// Declares that the scenario leaves `n` intents unfinished on purpose.
    pub fn expect_pending_intents(&mut self, n: usize) {
        self.pending_allowed = n;
    }

    pub fn expect_trashed(&self, id: &str) {
        self.saw(id);
        let m = self.world.gmail_message(id).expect("message");
        assert!(m.trashed, "{id} not trashed: {m:?}");
    }

    /// Every mail in the mailbox was trashed: none left, none set aside.
    pub fn expect_all_trashed(&self) {
        for m in self.world.gmail_messages() {
            self.expect_trashed(&m.id);
        }
    }

    pub fn expect_left(&self, id: &str) {
        self.saw(id);
        let m = self.world.gmail_message(id).expect("message");
        assert!(
            !m.trashed && m.label_names.iter().any(|l| l == "gerrit"),
            "{id} not left: {m:?}"
        );
    }

    pub fn expect_set_aside(&self, id: &str) {
        self.saw(id);
        let m = self.world.gmail_message(id).expect("message");
        assert!(!m.trashed, "{id} trashed: {m:?}");
        assert!(
            m.label_names.iter().any(|l| l == "gerrit-ignored"),
            "{id} not set aside: {m:?}"
        );
        assert!(
            !m.label_names.iter().any(|l| l == "gerrit"),
            "{id} kept the watch label: {m:?}"
        );
    }

    /// Fails on any build, review or mail move no expectation looked at, and on any intent
    /// left pending or running. Runs by itself when the scenario's `Env` is dropped (unless
    /// the scenario already failed); calling it only makes the point explicit.
    pub fn finish(mut self) {
        self.check();
    }

    fn check(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.expect_builds(0);
        self.expect_reviews(0);
        let seen = self
            .mails_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let moved: Vec<GmailMessageView> = self
            .world
            .gmail_messages()
            .into_iter()
            .filter(|m| !seen.contains(&m.id))
            .filter(|m| m.trashed || m.label_names.iter().any(|l| l == "gerrit-ignored"))
            .collect();
        assert!(
            moved.is_empty(),
            "mails moved that no expectation looked at: {moved:#?}"
        );
        let path = self.config().state.path;
        if path.exists() {
            let pending = std::thread::spawn(move || unfinished_intents(&path))
                .join()
                .expect("journal reader");
            assert!(
                pending.len() <= self.pending_allowed,
                "intents left unfinished: {pending:#?}"
            );
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.check();
        }
    }
}

/// The intents of a journal file not yet done or failed (read on a thread of its own, so
/// that it can run from `Drop` inside a test's runtime).
fn unfinished_intents(path: &std::path::Path) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let j = Journal::open(path, "test").expect("journal");
        j.intents()
            .await
            .expect("intents")
            .into_iter()
            .filter(|i| matches!(i.state, IntentState::Pending | IntentState::Running))
            .map(|i| format!("{} {:?} {:?}", i.key, i.state, i.last_error))
            .collect()
    })
}
