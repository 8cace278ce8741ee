//! The scenario harness: the stand-ins, a config file pointing at them, and domain verbs.
//!
//! A test reads like a scenario: `deliver` mails, `poll_once`, queue and `run_build` Jenkins
//! builds against a `start_listener`ed build-listener, then `expect_*` what Jenkins queued,
//! what Gerrit received and where each mail ended. When the `Env` is dropped the harness runs
//! the final check ([`Env::finish`]): any build, review, mail move or unfinished intent the
//! scenario did not expect fails it.
//!
//! - `mod.rs`: the `Env`, its `Setup`, and the verbs that act on the stand-ins;
//! - `expect.rs`: the `expect_*` assertions and the final check;
//! - `listener.rs`: build-listener in-process and its journal items;
//! - `mail.rs`: Gerrit notification mails; `binary.rs`: the real binaries.

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
use standins::{Events, Standins, World};

/// How long any bounded wait in the scenarios may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub const SENDER: &str = "noreply-gerritcodereview-CtTy0igsBrnvL7dKoWEIEg@google.com";
pub const PROJECT: &str = "platform/bionic";
/// The trusted reviewer of the scenarios (`dwhitfield@google.com`).
pub const DANA: &str = "Dana Whitfield";
/// The jobs the operator config names: `[presubmit] default_job` and `clean_job`.
pub const PRESUBMIT: &str = "bionic-presubmit";
pub const CLEAN: &str = "clean-bionic-presubmit";

/// A running set of stand-ins plus the files a real operator would write.
pub struct Env {
    pub standins: Standins,
    pub world: World,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The shared secret of `[build_listener]` (`BIONICBB_LISTENER_TOKEN`), if any.
    token: Option<String>,
    /// Builds and reviews already checked by an `expect_*`.
    builds_seen: usize,
    reviews_seen: usize,
    /// Queue ids of the builds the scenario queued itself (never "unexpected").
    own_builds: std::sync::Mutex<std::collections::BTreeSet<u64>>,
    /// Mails an `expect_*` looked at (their moves are expected).
    mails_seen: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Intents a scenario leaves unfinished on purpose.
    pending_allowed: usize,
    finished: bool,
    /// Dana Whitfield, the trusted reviewer whose comments the mails announce.
    pub dana: u64,
}

/// Settings a scenario may change before the config file is written.
pub struct Setup {
    /// `[build_listener] url` (its `bind` follows when it is an address); defaults to a
    /// closed port.
    pub build_listener_url: String,
    /// Store an expired access token, so the first Gmail call must refresh it.
    pub token_expired: bool,
    /// The shared secret build-listener requires and gmail-listener sends.
    pub token: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            build_listener_url: "http://127.0.0.1:9".into(),
            token_expired: false,
            token: None,
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
        let dana = world.gerrit_add_account_named("dwhitfield", DANA, "dwhitfield@google.com");
        Env {
            dana,
            standins,
            world,
            dir,
            config_path,
            token: setup.token,
            builds_seen: 0,
            reviews_seen: 0,
            own_builds: Default::default(),
            mails_seen: Default::default(),
            pending_allowed: 0,
            finished: false,
        }
    }

    // ---- people ---------------------------------------------------------------------------

    /// Dana comments on patch set `ps` in Gerrit (the vote tokens of `votes`, e.g.
    /// `"Verified+1"`, and `text` as the review message), and Gerrit mails it: the mail names
    /// her and the comment's date, as Gerrit 3.x writes it. Returns the mail's Gmail id.
    pub fn comment(&self, number: u64, ps: u32, votes: &str, text: &str) -> String {
        self.comment_as(self.dana, DANA, number, ps, votes, text)
    }

    /// As [`Env::comment`], by another account (`name` is its display name).
    pub fn comment_as(
        &self,
        account: u64,
        name: &str,
        number: u64,
        ps: u32,
        votes: &str,
        text: &str,
    ) -> String {
        let mail = self.comment_mail(account, name, number, ps, votes, text);
        self.deliver(&mail.render())
    }

    /// Posts the comment in Gerrit and returns the mail Gerrit would send (not delivered).
    pub fn comment_mail(
        &self,
        account: u64,
        name: &str,
        number: u64,
        ps: u32,
        votes: &str,
        text: &str,
    ) -> MailSpec {
        let labels = votes
            .split_whitespace()
            .filter_map(|v| {
                let at = v.rfind(['+', '-'])?;
                Some((v[..at].to_string(), v[at..].parse().ok()?))
            })
            .collect();
        let id = self.world.gerrit_post_comment(
            number,
            ps,
            account,
            standins::CommentSpec {
                message: (!text.is_empty()).then(|| text.to_string()),
                labels,
                ..Default::default()
            },
        );
        self.mail_of(name, number, ps, votes, text, &id)
    }

    /// The mail Gerrit sends for change message `message_id` (written by `name`).
    pub fn mail_of(
        &self,
        name: &str,
        number: u64,
        ps: u32,
        votes: &str,
        text: &str,
        message_id: &str,
    ) -> MailSpec {
        let date = self
            .world
            .gerrit_message_date(number, message_id)
            .expect("message date");
        let mut mail = MailSpec::comment(number, ps, votes, text);
        mail.author = name.to_string();
        mail.comment_date = Some(mail::rfc2822(date));
        mail
    }

    // ---- configuration ------------------------------------------------------------------

    pub fn config(&self) -> Config {
        Config::load(&self.config_path).expect("config")
    }

    fn token(&self) -> Option<Secret> {
        self.token.clone().map(Secret::new)
    }

    /// Sets `line` (`key = value`) in `[section]` of the config file (e.g.
    /// `("gmail", "max_attempts = 3")`), replacing the key's line if the section has one.
    pub fn set(&self, section: &str, line: &str) {
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        std::fs::write(&self.config_path, set_in(&text, section, line)).expect("config");
    }

    /// Writes a copy of the config file named `name`, beside it, with `line` set in
    /// `[section]`; the scenario's own config stays as it is. For a binary that must refuse it.
    pub fn config_variant(&self, name: &str, section: &str, line: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        let path = self.dir.path().join(name);
        std::fs::write(&path, set_in(&text, section, line)).expect("config");
        path
    }

    /// The journal, as another process would open it.
    pub fn journal(&self) -> Journal {
        Journal::open(&self.config().state.path, "test").expect("journal")
    }

    // ---- gmail-listener -----------------------------------------------------------------

    /// A poller built exactly as the binary builds it (sending the `Setup`'s token).
    pub async fn poller(&self, dry_run: bool) -> Poller {
        bionicbb::poller::build(self.config(), self.token(), dry_run)
            .await
            .expect("poller")
    }

    /// A poller built as the binary builds it, sending `token` to build-listener.
    pub async fn poller_with_token(&self, token: &str) -> Poller {
        bionicbb::poller::build(self.config(), Some(Secret::new(token)), false)
            .await
            .expect("poller")
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

    // ---- build-listener -----------------------------------------------------------------

    /// Starts build-listener in-process from this config (and the `Setup`'s token), the way
    /// `server::run` does, on 127.0.0.1:0.
    pub async fn start_listener(&self) -> Listener {
        start_listener(self.config(), self.token()).await
    }

    // ---- Gerrit -------------------------------------------------------------------------

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

    /// Adds a change on [`PROJECT`] with a trusted committer, numbered by Gerrit; returns
    /// its number.
    pub fn new_change(&self) -> u64 {
        let change = standins::NewChange::default();
        assert_eq!(change.project, PROJECT);
        assert!(
            change.committer_email.ends_with("@google.com"),
            "{change:?}"
        );
        self.world.gerrit_add_change(change)
    }

    // ---- Jenkins ------------------------------------------------------------------------

    /// Queues a build through Jenkins' remote API, as gmail-listener does; returns the queue
    /// id. The scenario asked for it, so no expectation or final check counts it.
    pub async fn queue(&self, job: &str, params: &[(&str, String)]) -> u64 {
        let (user, token) = self.world.jenkins_credentials();
        let endpoint = if params.is_empty() {
            "build"
        } else {
            "buildWithParameters"
        };
        let response = reqwest::Client::new()
            .post(format!(
                "{}/job/{job}/{endpoint}",
                self.standins.jenkins_url
            ))
            .basic_auth(user, Some(token))
            .form(params)
            .send()
            .await
            .expect("jenkins");
        assert_eq!(response.status(), 201, "queueing {job}");
        let location = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let id = location
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .expect("queue id");
        self.own_builds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        id
    }

    /// Queues a [`PRESUBMIT`] build of patch set `ps` of change `number`.
    pub async fn presubmit(&self, number: u64, ps: u32) -> u64 {
        self.queue(
            PRESUBMIT,
            &[
                (
                    "REF",
                    format!("refs/changes/{:02}/{number}/{ps}", number % 100),
                ),
                ("CHANGE_ID", format!("I{number:040}")),
                ("PROJECT", "bionic".into()),
            ],
        )
        .await
    }

    /// Jenkins runs queue item `q` to `status`, POSTing `events` to `notify_url` as the
    /// Notification plugin does; returns the HTTP status of each POST.
    pub async fn run_build(
        &self,
        q: u64,
        status: &str,
        notify_url: &str,
        events: Events,
    ) -> Vec<u16> {
        self.world
            .jenkins_run(q, status, notify_url, events)
            .await
            .expect("callbacks delivered")
    }

    /// `text` with the Jenkins stand-in's address (its port varies) written `http://JENKINS`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.standins.jenkins_url, "http://JENKINS")
    }
}

/// `text` (a TOML config) with `line` set in `[section]`: the key's line replaced if the
/// section has one, else `line` added right under the header.
fn set_in(text: &str, section: &str, line: &str) -> String {
    let header = format!("[{section}]\n");
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("no [{section}] in the config"))
        + header.len();
    let key = line.split('=').next().expect("key = value").trim();
    let mut offset = start;
    for existing in text[start..].split_inclusive('\n') {
        if existing.starts_with('[') {
            break;
        }
        if let Some((k, _)) = existing.split_once('=')
            && k.trim() == key
        {
            let eol = if existing.ends_with('\n') { "\n" } else { "" };
            let rest = &text[offset + existing.len()..];
            return format!("{}{line}{eol}{rest}", &text[..offset]);
        }
        offset += existing.len();
    }
    format!("{}{line}\n{}", &text[..start], &text[start..])
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

#[test]
fn set_in_replaces_a_key_or_adds_it_under_the_header() {
    let text = "[a]\nx = 1\n\n[b]\nx = 2\ny = 3\n";
    assert_eq!(
        set_in(text, "b", "x = 9"),
        "[a]\nx = 1\n\n[b]\nx = 9\ny = 3\n"
    );
    assert_eq!(
        set_in(text, "a", "z = 0"),
        "[a]\nz = 0\nx = 1\n\n[b]\nx = 2\ny = 3\n"
    );
    assert_eq!(
        set_in(text, "a", "x = 5"),
        "[a]\nx = 5\n\n[b]\nx = 2\ny = 3\n"
    );
}
