//! The scenario harness: the stand-ins, a config file pointing at them, and domain verbs.
//!
//! A test reads like a scenario: `deliver` mails, `poll_once`, let Jenkins `run` builds, then
//! `expect_*` what Jenkins queued, what Gerrit received and where each mail ended. `finish()`
//! fails on any build or review the test did not expect.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use bionicbb::config::Config;
use bionicbb::credentials::{self, Secret};
use bionicbb::effects::{self, Backoff, Effect, Payload};
use bionicbb::gerrit::Gerrit;
use bionicbb::journal::{
    BuildKind, BuildUpdate, Finish, IntentKind, IntentState, Journal, NewBuild,
};
use bionicbb::poller::{PollReport, Poller};
use bionicbb::server::{self, AppState};
use serde_json::Value;
use standins::{GmailMessageView, QueuedBuild, ReceivedReview, Standins, World};
use tokio::time::Instant;

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

    // ---- expectations -------------------------------------------------------------------

    /// The builds queued since the last expectation; asserts how many.
    pub fn expect_builds(&mut self, n: usize) -> Vec<QueuedBuild> {
        let q = self.world.jenkins_queue();
        let new: Vec<QueuedBuild> = q[self.builds_seen.min(q.len())..].to_vec();
        assert_eq!(
            new.len(),
            n,
            "expected {n} new builds, Jenkins queued {new:#?}"
        );
        self.builds_seen = q.len();
        new
    }

    /// The reviews Gerrit accepted since the last expectation; asserts how many.
    pub fn expect_reviews(&mut self, n: usize) -> Vec<ReceivedReview> {
        let r = self.world.gerrit_reviews();
        let new: Vec<ReceivedReview> = r[self.reviews_seen.min(r.len())..].to_vec();
        assert_eq!(
            new.len(),
            n,
            "expected {n} new reviews, Gerrit got {new:#?}"
        );
        self.reviews_seen = r.len();
        new
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

/// What a Gerrit notification mail says; [`MailSpec::render`] writes it the way Gerrit 3.x
/// does (multipart/alternative, quoted-printable, CRLF).
#[derive(Clone, Debug)]
pub struct MailSpec {
    pub message_type: String,
    pub change_number: Option<u64>,
    pub change_id: String,
    pub patch_set: u32,
    pub project: String,
    pub from: String,
    pub reply_to: String,
    /// For comment mails: the cover letter after "Patch Set N:" (votes then "\n\n" message).
    pub votes: String,
    pub message: String,
    pub message_id: String,
}

impl MailSpec {
    pub fn new(message_type: &str, number: u64, patch_set: u32) -> MailSpec {
        MailSpec {
            message_type: message_type.into(),
            change_number: Some(number),
            change_id: change_id_for(number),
            patch_set,
            project: PROJECT.into(),
            from: format!("Dana Whitfield (Gerrit) <{SENDER}>"),
            reply_to: "dwhitfield@google.com".into(),
            votes: String::new(),
            message: String::new(),
            message_id: format!(
                "<{number}-{patch_set}-{message_type}-{}@gerrit.example>",
                fastrand::u64(..)
            ),
        }
    }

    pub fn comment(number: u64, patch_set: u32, votes: &str, message: &str) -> MailSpec {
        let mut m = MailSpec::new("comment", number, patch_set);
        m.votes = votes.into();
        m.message = message.into();
        m
    }

    pub fn text(&self) -> String {
        let mut body = String::new();
        match self.message_type.as_str() {
            "comment" => {
                body.push_str("Dana Whitfield has posted comments on this change. ( https://review.example/c/x/+/1 )\n\n");
                body.push_str("Change subject: Fix strlen\n");
                body.push_str(
                    "......................................................................\n\n\n",
                );
                let votes = if self.votes.is_empty() {
                    String::new()
                } else {
                    format!(" {}", self.votes)
                };
                body.push_str(&format!("Patch Set {}:{votes}\n", self.patch_set));
                if !self.message.is_empty() {
                    body.push_str(&format!("\n{}\n", self.message));
                }
                body.push('\n');
            }
            _ => {
                body.push_str("Dana Whitfield has uploaded this change for review. ( https://review.example/c/x/+/1 )\n\n");
                body.push_str("Change subject: Fix strlen\n");
                body.push_str(
                    "......................................................................\n\n",
                );
                body.push_str(&format!("Fix strlen\n\nChange-Id: {}\n---\nM libc/bionic/strlen.cpp\n1 file changed, 1 insertion(+)\n\n", self.change_id));
            }
        }
        body.push_str("-- \nTo view, visit https://review.example/c/x/+/1\n\n");
        body.push_str(&format!("Gerrit-MessageType: {}\n", self.message_type));
        body.push_str(&format!(
            "Gerrit-Project: {}\nGerrit-Branch: main\n",
            self.project
        ));
        body.push_str(&format!("Gerrit-Change-Id: {}\n", self.change_id));
        if let Some(n) = self.change_number {
            body.push_str(&format!("Gerrit-Change-Number: {n}\n"));
        }
        body.push_str(&format!("Gerrit-PatchSet: {}\n", self.patch_set));
        body.push_str("Gerrit-Owner: Dana Whitfield <dwhitfield@google.com>\n");
        if self.message_type == "comment" {
            body.push_str("Gerrit-Comment-Date: Tue, 05 Mar 2024 18:22:11 +0000\nGerrit-HasComments: No\nGerrit-Has-Labels: Yes\n");
        }
        body
    }

    /// The mail as Gerrit 3.x sends it.
    pub fn render(&self) -> Vec<u8> {
        let text = qp(&self.text());
        let html = qp(&format!(
            "<html><body><pre>{}</pre></body></html>",
            self.text().replace('<', "&lt;")
        ));
        let b = "Xq7Rz9+/Kk2=";
        format!(
            "Date: Tue, 5 Mar 2024 18:22:11 +0000\r\nFrom: {from}\r\nTo: bionicbb <bionicbb@android.com>\r\n\
             Reply-To: {reply_to}\r\nMessage-ID: {mid}\r\nSubject: Change in ...bionic[main]: Fix strlen\r\n\
             X-Gerrit-MessageType: {t}\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n\
             Content-Type: multipart/alternative; boundary=\"{b}\"; charset=UTF-8\r\n\r\n\
             --{b}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{text}\r\n\
             --{b}\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{html}\r\n\
             --{b}--\r\n",
            from = self.from,
            reply_to = self.reply_to,
            mid = self.message_id,
            t = self.message_type,
        )
        .into_bytes()
    }
}

/// A deterministic Change-Id for a change number.
pub fn change_id_for(number: u64) -> String {
    format!("I{:040x}", number * 0x9e37_79b9)
}

/// Quoted-printable as mime4j writes it: soft breaks every 76 columns, wherever they land
/// (inside footer lines too), `=` and `.` escaped, CRLF line ends.
fn qp(text: &str) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        let mut col = 0;
        for b in line.bytes() {
            let enc = if b == b'=' || b == b'.' || !(b == b' ' || b.is_ascii_graphic()) {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += enc.len();
            out.push_str(&enc);
        }
        out.push_str("\r\n");
    }
    out
}

/// One running build-listener.
pub struct Listener {
    pub url: String,
    pub journal: Journal,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts build-listener in-process the way `server::run` does (on 127.0.0.1:0), with a fast
/// retry pace.
pub async fn start_listener(config: Config, token: Option<Secret>) -> Listener {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    start_listener_on(listener, config, token).await
}

/// As [`start_listener`], on a socket bound earlier (so the config can name its URL).
pub async fn start_listener_on(
    listener: tokio::net::TcpListener,
    config: Config,
    token: Option<Secret>,
) -> Listener {
    let journal = Journal::open(&config.state.path, "build-listener").expect("journal");
    let netrc = credentials::netrc_path(config.gerrit.netrc.as_deref()).expect("netrc path");
    let creds = credentials::for_url(&config.gerrit.url, &netrc).expect("credentials");
    let gerrit = Gerrit::new(&config.gerrit.url, creds, config.gerrit.timeout).expect("gerrit");
    let app = AppState::new(config, journal.clone(), gerrit, token).with_backoff(Backoff {
        first: Duration::from_millis(50),
        max: Duration::from_millis(250),
    });
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, app, async move {
        let _ = rx.await;
    }));
    Listener {
        url,
        journal,
        stop: Some(tx),
        task,
    }
}

impl Listener {
    pub fn notify_url(&self) -> String {
        format!("{}/", self.url)
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.post_with(path, body, None).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json;charset=UTF-8")
            .body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("build-listener answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert!(
            !text.trim_end().contains('\n'),
            "more than one line: {text:?}"
        );
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// build-listener's intents (reviews and drop-rejections), oldest first.
    pub async fn items(&self) -> Vec<ItemView> {
        journal_items(&self.journal).await
    }

    /// Waits until no review or drop-rejection is pending, so no further review can arrive.
    pub async fn settle(&self) -> Vec<ItemView> {
        let deadline = Instant::now() + WAIT;
        loop {
            let items = self.items().await;
            if items
                .iter()
                .all(|i| i.state != "pending" && i.state != "running")
            {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "outbox never settled: {items:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(WAIT, self.task).await;
        assert!(
            matches!(result, Ok(Ok(Ok(())))),
            "build-listener did not stop cleanly: {result:?}"
        );
    }
}

/// A review or drop-rejection intent as the scenarios look at it.
#[derive(Debug, Clone)]
pub struct ItemView {
    pub id: i64,
    pub key: String,
    pub kind: IntentKind,
    pub change: Option<String>,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub outcome: Option<String>,
}

/// The review and drop-rejection intents of a journal, oldest first.
pub async fn journal_items(journal: &Journal) -> Vec<ItemView> {
    journal
        .intents()
        .await
        .expect("intents")
        .into_iter()
        .filter(|i| matches!(i.kind, IntentKind::Review | IntentKind::DropRejection))
        .map(|i| ItemView {
            id: i.id,
            key: i.key,
            kind: i.kind,
            change: i.change,
            state: i.state.as_str().to_string(),
            attempts: i.attempts,
            last_error: i.last_error,
            outcome: i.outcome,
        })
        .collect()
}

/// Records, as gmail-listener does, that a clean build with queue id `queue_id` was triggered
/// for a change.
pub async fn record_clean(
    journal: &Journal,
    job: &str,
    queue_id: u64,
    change: &str,
    patch_set: u32,
) {
    let key = format!("test-clean:{queue_id}");
    let mut planned = effects::plan(
        key.clone(),
        Payload {
            effect: Effect::Trigger {
                job: job.into(),
                params: Default::default(),
            },
            context: "comment".into(),
            done: None,
        },
        Some(change.into()),
        Some(patch_set),
        "test",
    );
    planned.build = Some(NewBuild {
        kind: BuildKind::Clean,
        change: change.into(),
        patch_set,
        job: job.into(),
        target: None,
        once: false,
    });
    let id = journal.record(vec![planned], vec![]).await.expect("record")[0]
        .id()
        .expect("recorded");
    journal
        .complete(
            id,
            Finish::Done {
                outcome: queue_id.to_string(),
            },
            vec![],
            Some(BuildUpdate::Queued {
                intent_key: key,
                queue_id: Some(queue_id),
            }),
        )
        .await
        .expect("complete");
}

/// One real binary, restartable, its stdout and stderr appended to a log file.
pub struct Binary {
    pub name: &'static str,
    path: &'static str,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log: PathBuf,
    child: Option<tokio::process::Child>,
    pub starts: u32,
}

impl Binary {
    pub fn new(name: &'static str, path: &'static str, args: &[&str], log: PathBuf) -> Binary {
        Binary {
            name,
            path,
            args: args.iter().map(|a| (*a).to_string()).collect(),
            envs: vec![
                ("NO_COLOR".into(), "1".into()),
                ("RUST_LOG".into(), "warn".into()),
            ],
            log,
            child: None,
            starts: 0,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Binary {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = log.try_clone().expect("log file");
        let mut cmd = tokio::process::Command::new(self.path);
        cmd.args(&self.args)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn"));
        self.starts += 1;
    }

    /// Restarts the process if it exited by itself (as systemd's `Restart=always` would);
    /// returns whether it had.
    pub fn revive(&mut self) -> bool {
        let exited = match self.child.as_mut().map(tokio::process::Child::try_wait) {
            Some(Ok(Some(_))) | Some(Err(_)) => true,
            Some(Ok(None)) | None => false,
        };
        if exited {
            self.start();
        }
        exited
    }

    /// SIGKILL, and reap the process (so that its pid is gone from /proc).
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// SIGTERM; returns the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().expect("pid").to_string();
        // The shell's builtin `kill`: no dependency on procps being installed.
        let sent = std::process::Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(20), c.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop on SIGTERM", self.name))
            .expect("wait")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A free port on 127.0.0.1 (bound once and released).
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr").port()
}
