//! The scenario harness: the stand-ins, a config file pointing at them, and domain verbs.
//!
//! A test reads like a scenario: `deliver` mails, `poll_once`, let Jenkins `run` builds, then
//! `expect_*` what Jenkins queued, what Gerrit received and where each mail ended. `finish()`
//! fails on any build or review the test did not expect.
//!
//! - `mod.rs`: the `Env`, its `Setup`, and the verbs that act on the stand-ins;
//! - `expect.rs`: the `expect_*` assertions and the final check;
//! - `listener.rs`: build-listener in-process and its journal items;
//! - `mail.rs`: Gerrit notification mails; `binary.rs`: the real binaries.

#![allow(dead_code)]

mod binary;
mod expect;
mod listener;
mod mail;

pub use binary::{Binary, free_port};
pub use listener::{Listener, record_clean, start_listener, start_listener_on};
pub use mail::{MailSpec, change_id_for};

use std::path::PathBuf;
use std::time::Duration;

use bionicbb::config::Config;
use bionicbb::credentials::Secret;
use bionicbb::journal::Journal;
use bionicbb::poller::{PollReport, Poller};
use standins::{Standins, World};

/// How long any bounded wait in the scenarios may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub const SENDER: &str = "noreply-gerritcodereview-CtTy0igsBrnvL7dKoWEIEg@google.com";
pub const PROJECT: &str = "platform/bionic";

/// A running set of stand-ins plus the files a real operator would write.
pub struct Env {
    pub standins: Standins,
    pub world: World,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// Builds and reviews already checked by an `expect_*`.
    builds_seen: usize,
    reviews_seen: usize,
    /// Mails an `expect_*` looked at (their moves are expected).
    mails_seen: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Intents a scenario leaves unfinished on purpose.
    pending_allowed: usize,
    finished: bool,
}

/// Settings a scenario may change before the config file is written.
pub struct Setup {
    /// `[build_listener] url`; defaults to a closed port.
    pub build_listener_url: String,
    /// Store an expired access token, so the first Gmail call must refresh it.
    pub token_expired: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            build_listener_url: "http://127.0.0.1:9".into(),
            token_expired: false,
        }
    }
}

impl Env {
    pub async fn new() -> Env {
        Env::with(Setup::default()).await
    }

    pub async fn with(setup: Setup) -> Env {
        let standins = Standins::start().await;
        let world = standins.world.clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path =
            standins::operator_files(&standins, dir.path(), &setup.build_listener_url)
                .expect("operator files");
        if setup.token_expired {
            standins::write_token_cache(&standins, dir.path(), true).expect("token cache");
        }
        Env {
            standins,
            world,
            dir,
            config_path,
            builds_seen: 0,
            reviews_seen: 0,
            mails_seen: Default::default(),
            pending_allowed: 0,
            finished: false,
        }
    }

    pub fn config(&self) -> Config {
        Config::load(&self.config_path).expect("config")
    }

    /// A poller built exactly as the binary builds it.
    pub async fn poller(&self, dry_run: bool) -> Poller {
        bionicbb::poller::build(self.config(), None, dry_run)
            .await
            .expect("poller")
    }

    /// Adds `line` to `[section]` of the config file (e.g. `("gmail", "max_attempts = 3")`).
    pub fn set(&self, section: &str, line: &str) {
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        let header = format!("[{section}]\n");
        assert!(text.contains(&header), "no [{section}] in the config");
        let text = text.replacen(&header, &format!("{header}{line}\n"), 1);
        std::fs::write(&self.config_path, text).expect("config");
    }

    /// A poller built as the binary builds it, sending `token` to build-listener.
    pub async fn poller_with_token(&self, token: &str) -> Poller {
        bionicbb::poller::build(self.config(), Some(Secret::new(token)), false)
            .await
            .expect("poller")
    }

    /// The journal, as another process would open it.
    pub fn journal(&self) -> Journal {
        Journal::open(&self.config().state.path, "test").expect("journal")
    }

    pub async fn poll_once(&self) -> PollReport {
        self.poller(false).await.poll_once().await.expect("poll")
    }

    /// Delivers raw mail bytes with the watch label; returns the Gmail id.
    pub fn deliver(&self, raw: &[u8]) -> String {
        self.world.gmail_deliver(raw, &["gerrit"])
    }

    /// Delivers a fixture from tests/data/mail.
    pub fn deliver_fixture(&self, name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/mail")
            .join(name);
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.deliver(&raw)
    }

    /// Adds a change (trusted committer, an ordinary file) and returns its number.
    pub fn change(&self, number: u64, change_id: &str) -> u64 {
        self.world.gerrit_add_change(standins::NewChange {
            project: PROJECT.into(),
            branch: "main".into(),
            change_id: change_id.into(),
            number: Some(number),
            committer_email: "dev@google.com".into(),
            files: vec!["libc/bionic/strlen.cpp".into()],
        })
    }
}

/// Waits up to `limit` for `cond`, checking every 20 ms.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
