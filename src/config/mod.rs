//! The one TOML configuration file both processes read (SPEC §2).
//!
//! Every struct denies unknown fields: a typo in a key must stop the bot at start-up rather than
//! silently fall back to a default. Every error names the file and the key; the binaries turn
//! a [`ConfigError`] into exit code 2. Secrets never live here: credentials come from netrc
//! ([`crate::credentials`]) and the listener token from the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

mod validate;

/// A configuration problem, with enough context for the operator to fix it.
#[derive(Debug, Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub gerrit: GerritConfig,
    pub jenkins: JenkinsConfig,
    pub gmail: GmailConfig,
    pub build_listener: BuildListenerConfig,
    #[serde(default)]
    pub state: StateConfig,
    pub presubmit: PresubmitConfig,
    #[serde(default)]
    pub status: StatusConfig,
}

/// `[status]`: what build-listener tells the outside about builds (SPEC §14).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// When set, every change of a build's status is POSTed here as
    /// `{"payload": <the change as /api/v1/changes shows it>}` (once, 10 s timeout).
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// `[gerrit]`: the review server the bot reads changes from and votes on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GerritConfig {
    /// Base URL, e.g. `https://android-review.googlesource.com`.
    pub url: String,
    /// The account the bot votes as (informational; its votes are found by account id).
    pub bot_account: String,
    /// netrc file holding the HTTP password for the Gerrit host (default `$NETRC` or `~/.netrc`).
    #[serde(default)]
    pub netrc: Option<PathBuf>,
    /// Per-request timeout.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How often gmail-listener asks Gerrit for open changes updated since its last look and
    /// builds any current patch set never built (a lost mail delays a build, never loses it);
    /// `0s` turns it off.
    #[serde(default = "default_reconcile_interval", with = "humantime_serde")]
    pub reconcile_interval: Duration,
}

/// `[jenkins]`: where builds are triggered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JenkinsConfig {
    /// Base URL, e.g. `https://jenkins.example.com` (may include a path prefix).
    pub url: String,
    /// netrc file holding user + API token for the Jenkins host (default `$NETRC` or `~/.netrc`).
    #[serde(default)]
    pub netrc: Option<PathBuf>,
    /// Per-request timeout.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Before voting, read the build from Jenkins and vote only if Jenkins confirms the
    /// callback (job, number, result, `REF`).
    #[serde(default = "default_true")]
    pub verify_callbacks: bool,
}

/// `[gmail]`: the mailbox Gerrit's notifications arrive in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmailConfig {
    /// The installed-app OAuth client JSON from the Google Cloud console.
    pub client_secret: PathBuf,
    /// Where the OAuth token is written on first authorisation and refreshed after.
    pub token_cache: PathBuf,
    /// The label Gerrit's mails carry.
    #[serde(default = "default_label")]
    pub label: String,
    /// Where mails the bot will not act on are moved (created if missing).
    #[serde(default = "default_set_aside_label")]
    pub set_aside_label: String,
    /// From addresses of Gerrit's mail; `*` matches any run of characters; case-insensitive.
    pub senders: Vec<String>,
    /// How often to poll (each idle poll is one `history.list` request).
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often the label is listed in full anyway (besides at start and when the history is
    /// too old): a safety net for anything the history did not say.
    #[serde(default = "default_full_scan_interval", with = "humantime_serde")]
    pub full_scan_interval: Duration,
    /// Gmail API base URL (ends with `/`).
    #[serde(default = "default_gmail_api")]
    pub api_url: String,
    /// Per-request timeout for Gmail calls.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How many mails (about different changes) are handled at once; mails about one change
    /// are always handled one after the other, in the order Gerrit sent them.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// A mail that failed this many times in all is set aside with the reason (poison mail).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// On SIGTERM/SIGINT, how long to let the mail in hand finish before giving it back.
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

/// `[build_listener]`: the callback server and how gmail-listener reaches it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildListenerConfig {
    /// Address the server binds.
    pub bind: SocketAddr,
    /// URL gmail-listener uses to reach build-listener.
    pub url: String,
    /// Link shown in Gerrit messages; `{full_url}` and `{url}` expand.
    #[serde(default = "default_build_link")]
    pub build_link: String,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// A review still not posted this long after its callback was accepted is marked failed
    /// (an `ERROR` line) and stops holding back later reviews of its change.
    #[serde(default = "default_give_up_after", with = "humantime_serde")]
    pub give_up_after: Duration,
    /// On SIGTERM/SIGINT, how long to let Gerrit calls in flight finish before giving them back.
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Open connections accepted at most (below systemd's default `LimitNOFILE` of 1,024).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

/// `[state]`: the SQLite file both processes share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The SQLite file (created 0600).
    #[serde(default = "default_state_path")]
    pub path: PathBuf,
    /// Finished intents, events, builds and callbacks older than this are pruned.
    #[serde(default = "default_retention", with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            path: default_state_path(),
            retention: default_retention(),
        }
    }
}

/// `[presubmit]`: what gets built, by which job, and what is skipped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresubmitConfig {
    pub default_job: String,
    pub clean_job: String,
    #[serde(default)]
    pub ignored_jobs: Vec<String>,
    pub trusted_domains: Vec<String>,
    /// Accounts trusted whatever their domain (exact addresses, case-insensitive).
    #[serde(default)]
    pub trusted_accounts: Vec<String>,
    #[serde(default)]
    pub skip_file_names: Vec<String>,
    #[serde(default)]
    pub skip_path_prefixes: Vec<String>,
    /// Gerrit project -> Jenkins job, or a list of jobs that all build each patch set;
    /// unlisted projects use `default_job`.
    #[serde(default)]
    pub projects: BTreeMap<String, Jobs>,
    /// Jobs that build and report but never vote, and are not waited for.
    #[serde(default)]
    pub non_voting_jobs: Vec<String>,
    /// Post `<job> #<number> started: <link>` when a presubmit build starts.
    #[serde(default)]
    pub start_message: bool,
    /// When the bot triggers a newer patch set, cancel its builds of older patch sets of the
    /// change still waiting in Jenkins' queue.
    #[serde(default = "default_true")]
    pub cancel_superseded: bool,
    /// `bionicbb:<name>` -> `LUNCH_TARGET`.
    #[serde(default)]
    pub targets: BTreeMap<String, String>,
    /// A comment with more command lines than this (repeats counted) runs none.
    #[serde(default = "default_max_commands")]
    pub max_commands_per_comment: usize,
    /// Vote on presubmit builds started by hand in Jenkins too (Jenkins confirms what they
    /// built); `false` votes only on builds the bot triggered.
    #[serde(default = "default_true")]
    pub vote_on_manual_builds: bool,
}

/// One job or several for a project (`"job"` or `["build", "tests", "lint"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Jobs {
    One(String),
    Many(Vec<String>),
}

impl Jobs {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Jobs::One(j) => std::slice::from_ref(j),
            Jobs::Many(js) => js,
        }
    }
}

impl PresubmitConfig {
    /// The Jenkins jobs that build `project`, in the configured order.
    pub fn jobs_for(&self, project: &str) -> &[String] {
        self.projects
            .get(project)
            .map_or(std::slice::from_ref(&self.default_job), Jobs::as_slice)
    }

    /// The first job of `project` (what a target command builds).
    pub fn job_for(&self, project: &str) -> &str {
        self.jobs_for(project)
            .first()
            .map_or(self.default_job.as_str(), String::as_str)
    }

    /// Every job whose callbacks report on changes (the presubmit jobs).
    pub fn is_presubmit_job(&self, job: &str) -> bool {
        job == self.default_job
            || self
                .projects
                .values()
                .any(|js| js.as_slice().iter().any(|j| j == job))
    }

    /// Whether `job`'s result counts towards the patch set's Verified vote.
    pub fn is_voting_job(&self, job: &str) -> bool {
        self.is_presubmit_job(job) && !self.non_voting_jobs.iter().any(|j| j == job)
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_label() -> String {
    "gerrit".into()
}
fn default_set_aside_label() -> String {
    "gerrit-ignored".into()
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_full_scan_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_gmail_api() -> String {
    "https://gmail.googleapis.com/".into()
}
fn default_build_link() -> String {
    "{full_url}".into()
}
fn default_reconcile_interval() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_max_body() -> usize {
    1024 * 1024
}
fn default_true() -> bool {
    true
}
fn default_max_commands() -> usize {
    5
}
fn default_max_connections() -> usize {
    512
}
fn default_concurrency() -> usize {
    16
}
fn default_max_attempts() -> u32 {
    20
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_give_up_after() -> Duration {
    Duration::from_secs(3 * 24 * 3600)
}
fn default_state_path() -> PathBuf {
    PathBuf::from("bionicbb.db")
}
fn default_retention() -> Duration {
    Duration::from_secs(90 * 24 * 3600)
}

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        let mut config = Config::parse(&text, &file)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// Parses and validates TOML text; `file` is used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError {
            file: file.to_string(),
            key: e
                .span()
                .map_or_else(|| "(file)".into(), |s| key_at(text, s.start)),
            message: e.message().trim().replace('\n', " "),
        })?;
        config.validate(file)?;
        Ok(config)
    }

    /// Relative paths in the file are relative to the file's directory, so a service started
    /// from any working directory finds the same files.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.gmail.client_secret);
        fix(&mut self.gmail.token_cache);
        fix(&mut self.state.path);
        if let Some(p) = self.gerrit.netrc.as_mut() {
            fix(p);
        }
        if let Some(p) = self.jenkins.netrc.as_mut() {
            fix(p);
        }
    }
}

/// Best-effort dotted key (`gmail.poll_interval`) for the byte offset of a TOML error.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let key = line
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match (section, key.is_empty() || line.starts_with('[')) {
        (_, true) if line.starts_with('[') => line.trim_matches(|c| c == '[' || c == ']').into(),
        (Some(s), false) => format!("{s}.{key}"),
        (None, false) => key.to_string(),
        (Some(s), true) => s,
        (None, true) => format!("line {}", text[..offset].lines().count().max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../config.example.toml");

    fn with(replace: &str, by: &str) -> Result<Config, ConfigError> {
        assert!(EXAMPLE.contains(replace), "example lacks {replace:?}");
        Config::parse(&EXAMPLE.replacen(replace, by, 1), "test.toml")
    }

    #[test]
    fn the_example_file_parses_and_validates() {
        let c = Config::parse(EXAMPLE, "config.example.toml").unwrap();
        assert_eq!(c.gmail.poll_interval, Duration::from_secs(10));
        assert_eq!(c.gmail.full_scan_interval, Duration::from_secs(3600));
        // SPEC §15 defaults.
        assert_eq!(c.gerrit.reconcile_interval, Duration::from_secs(15 * 60));
        assert!(!c.presubmit.start_message);
        assert!(c.presubmit.cancel_superseded);
        assert_eq!(c.gmail.label, "gerrit");
        assert_eq!(c.presubmit.job_for("platform/bionic"), "bionic-presubmit");
        assert_eq!(
            c.presubmit.job_for("platform/other"),
            c.presubmit.default_job
        );
        assert_eq!(c.presubmit.targets["arm"], "aosp_arm-eng");
        assert!(c.presubmit.is_presubmit_job("bionic-presubmit"));
        assert!(!c.presubmit.is_presubmit_job(&c.presubmit.clean_job));
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let e = with("poll_interval = ", "pol_interval = ").unwrap_err();
        assert_eq!(e.file, "test.toml");
        assert_eq!(e.key, "gmail.pol_interval");
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_durations_name_the_key() {
        let e = with(
            "poll_interval = \"10s\"",
            "poll_interval = \"five minutes\"",
        )
        .unwrap_err();
        assert_eq!(e.key, "gmail.poll_interval", "{e}");
    }

    #[test]
    fn validation_errors_name_the_key() {
        let cases = [
            (
                "url = \"https://android-review",
                "url = \"ftp://android-review",
                "gerrit.url",
            ),
            (
                "poll_interval = \"10s\"",
                "poll_interval = \"0s\"",
                "gmail.poll_interval",
            ),
            (
                "build_link = \"{full_url}\"",
                "build_link = \"{fullurl}\"",
                "build_listener.build_link",
            ),
            (
                "trusted_domains = [\"google.com\"]",
                "trusted_domains = []",
                "presubmit.trusted_domains",
            ),
            (
                "set_aside_label = \"gerrit-ignored\"",
                "set_aside_label = \"gerrit\"",
                "gmail.set_aside_label",
            ),
            (
                "arm = \"aosp_arm-eng\"",
                "retry = \"aosp_arm-eng\"",
                "presubmit.targets.retry",
            ),
        ];
        for (from, to, key) in cases {
            let e = with(from, to).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
    }

    /// Every check of `validate`, one broken value at a time, with its whole message: the
    /// operator reads these, so they are pinned word for word.
    #[test]
    fn every_validation_error_names_the_key_and_says_why() {
        type Break = fn(&mut Config);
        let cases: [(Break, &str); 37] = [
            (
                |c| c.gerrit.url = "ftp://g".into(),
                "gerrit.url: `ftp://g` is not an http(s) URL (scheme `ftp`)",
            ),
            (
                |c| c.jenkins.url = "jenkins".into(),
                "jenkins.url: `jenkins` is not a URL: relative URL without a base",
            ),
            (
                |c| c.gmail.api_url = "file:///x/".into(),
                "gmail.api_url: `file:///x/` is not an http(s) URL (scheme `file`)",
            ),
            (
                |c| c.build_listener.url = "http://".into(),
                "build_listener.url: `http://` is not a URL: empty host",
            ),
            (
                |c| c.status.webhook_url = Some("x:y".into()),
                "status.webhook_url: `x:y` is not an http(s) URL (scheme `x`)",
            ),
            (
                |c| c.gmail.api_url = "https://g/v1".into(),
                "gmail.api_url: must end with `/`",
            ),
            (
                |c| c.gmail.label = " ".into(),
                "gmail.label: must not be empty",
            ),
            (
                |c| c.gmail.set_aside_label = String::new(),
                "gmail.set_aside_label: must not be empty",
            ),
            (
                |c| c.presubmit.default_job = String::new(),
                "presubmit.default_job: must not be empty",
            ),
            (
                |c| c.presubmit.clean_job = "\t".into(),
                "presubmit.clean_job: must not be empty",
            ),
            (
                |c| c.gerrit.bot_account = String::new(),
                "gerrit.bot_account: must not be empty",
            ),
            (
                |c| c.gmail.set_aside_label = c.gmail.label.clone(),
                "gmail.set_aside_label: must differ from gmail.label",
            ),
            (
                |c| c.gmail.senders.clear(),
                "gmail.senders: needs at least one non-empty pattern",
            ),
            (
                |c| c.gmail.senders.push(" ".into()),
                "gmail.senders: needs at least one non-empty pattern",
            ),
            (
                |c| c.gmail.full_scan_interval = Duration::ZERO,
                "gmail.full_scan_interval: must be greater than zero",
            ),
            (
                |c| c.gmail.poll_interval = Duration::ZERO,
                "gmail.poll_interval: must be greater than zero",
            ),
            (
                |c| c.gmail.concurrency = 0,
                "gmail.concurrency: must be between 1 and 256",
            ),
            (
                |c| c.gmail.concurrency = 257,
                "gmail.concurrency: must be between 1 and 256",
            ),
            (
                |c| c.gmail.max_attempts = 0,
                "gmail.max_attempts: must be at least 1",
            ),
            (
                |c| c.gerrit.timeout = Duration::ZERO,
                "gerrit.timeout: must be greater than zero",
            ),
            (
                |c| c.jenkins.timeout = Duration::ZERO,
                "jenkins.timeout: must be greater than zero",
            ),
            (
                |c| c.gmail.timeout = Duration::ZERO,
                "gmail.timeout: must be greater than zero",
            ),
            (
                |c| c.build_listener.give_up_after = Duration::ZERO,
                "build_listener.give_up_after: must be greater than zero",
            ),
            (
                |c| c.state.retention = Duration::ZERO,
                "state.retention: must be greater than zero",
            ),
            (
                |c| c.build_listener.build_link = "{url".into(),
                "build_listener.build_link: has an unclosed `{`",
            ),
            (
                |c| c.build_listener.build_link = "{job}".into(),
                "build_listener.build_link: unknown placeholder `{job}` (use {full_url} or {url})",
            ),
            (
                |c| c.build_listener.max_body_bytes = 1023,
                "build_listener.max_body_bytes: must be at least 1024",
            ),
            (
                |c| c.presubmit.trusted_domains.clear(),
                "presubmit.trusted_domains: is empty: no committer would ever be trusted",
            ),
            (
                |c| c.presubmit.trusted_accounts.push("me@".into()),
                "presubmit.trusted_accounts: `me@` is not an email address",
            ),
            (
                |c| c.presubmit.max_commands_per_comment = 0,
                "presubmit.max_commands_per_comment: must be at least 1",
            ),
            (
                |c| c.build_listener.max_connections = 15,
                "build_listener.max_connections: must be between 16 and 65536",
            ),
            (
                |c| c.presubmit.trusted_domains.push("a@b.com".into()),
                "presubmit.trusted_domains: `a@b.com` is not a domain (write `google.com`, not an address)",
            ),
            (
                |c| _ = c.presubmit.targets.insert("Clean".into(), "x".into()),
                "presubmit.targets.Clean: is a built-in command name",
            ),
            (
                |c| _ = c.presubmit.targets.insert("a.b".into(), "x".into()),
                "presubmit.targets.a.b: names may use letters, digits, `_` and `-` only",
            ),
            (
                |c| _ = c.presubmit.targets.insert("arm".into(), " ".into()),
                "presubmit.targets.arm: must not be empty",
            ),
            (
                |c| c.presubmit.ignored_jobs.push("bionic-presubmit".into()),
                "presubmit.ignored_jobs: `bionic-presubmit` is also a presubmit job: its callbacks would be ignored",
            ),
            (
                |c| c.presubmit.non_voting_jobs.push("lint".into()),
                "presubmit.non_voting_jobs: `lint` is not a job of [presubmit.projects] or default_job",
            ),
        ];
        for (break_it, want) in cases {
            let mut c = Config::parse(EXAMPLE, "t.toml").unwrap();
            break_it(&mut c);
            let e = c.validate("t.toml").unwrap_err();
            assert_eq!(e.to_string(), format!("t.toml: {want}"));
        }
        let projects = "\"platform/bionic\" = \"bionic-presubmit\"";
        let e = with(projects, "\"platform/bionic\" = []").unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.toml: presubmit.projects.\"platform/bionic\": needs a job name, or a non-empty list of them"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bionicbb.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.state.path, dir.path().join("bionicbb.db"));
        assert_eq!(c.gmail.token_cache, dir.path().join("oauth-token.json"));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = Config::load(Path::new("/nonexistent/bionicbb.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("/nonexistent/bionicbb.toml: "),
            "{e}"
        );
    }
}
