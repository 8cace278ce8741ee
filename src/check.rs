//! `--check` for both binaries (SPEC §16): one line per check, `ok` or `FAIL` with what to
//! fix; exit 0 only if all pass (2 when the config itself is invalid, as everywhere else).
//!
//! Nothing is changed: only reads go to Gerrit, Jenkins and Gmail; build-listener gets a
//! deliberately incomplete `POST /drop-rejection` it must reject (the only way to learn that
//! it accepts the token without asking for anything); the state database is opened without
//! being created or migrated and written in a transaction that is rolled back.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{Config, ConfigError, PresubmitConfig};
use crate::credentials::{self, Credentials, Secret};
use crate::effects::BuildListener;
use crate::gerrit::{Gerrit, GerritError};
use crate::gmail::{Authorize, Gmail};
use crate::jenkins::{Jenkins, JenkinsError};
use crate::journal;

/// Which binary is checking its set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    GmailListener,
    BuildListener,
}

/// One check's line: what was checked, and `Ok(detail)` or `Err(what to fix)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub what: String,
    pub result: Result<String, String>,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.result {
            Ok(detail) if detail.is_empty() => write!(f, "ok   {}", self.what),
            Ok(detail) => write!(f, "ok   {}: {detail}", self.what),
            Err(fix) => write!(f, "FAIL {}: {fix}", self.what),
        }
    }
}

fn line(what: impl Into<String>, result: Result<String, String>) -> Line {
    Line {
        what: what.into(),
        result,
    }
}

/// The binary's `--check`: prints the lines and gives the exit code.
pub async fn main(
    binary: Binary,
    config_path: &Path,
    config: Result<Config, ConfigError>,
    token: Option<Secret>,
) -> ExitCode {
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            println!("FAIL config: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", line("config", Ok(config_path.display().to_string())));
    let lines = run(binary, &config, token.as_ref(), &mut |l| println!("{l}")).await;
    if lines.iter().all(|l| l.result.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs every check after the config's, calling `each` as each one ends.
pub async fn run(
    binary: Binary,
    config: &Config,
    token: Option<&Secret>,
    each: &mut dyn FnMut(&Line),
) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut push = |l: Line| {
        each(&l);
        lines.push(l);
    };
    let gerrit_creds = netrc("Gerrit", &config.gerrit.url, config.gerrit.netrc.as_deref());
    let jenkins_creds = netrc(
        "Jenkins",
        &config.jenkins.url,
        config.jenkins.netrc.as_deref(),
    );
    push(gerrit_creds.0);
    push(jenkins_creds.0);
    for l in gerrit(config, gerrit_creds.1).await {
        push(l);
    }
    for l in jenkins(config, jenkins_creds.1).await {
        push(l);
    }
    if binary == Binary::GmailListener {
        for l in gmail(config).await {
            push(l);
        }
        for l in listener(config, token).await {
            push(l);
        }
    } else {
        push(bind(config).await);
    }
    push(state(&config.state.path));
    lines
}

fn host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_else(|| url.to_string())
}

fn netrc(service: &str, url: &str, configured: Option<&Path>) -> (Line, Option<Credentials>) {
    let what = format!("netrc entry for {service} ({})", host(url));
    let found = credentials::netrc_path(configured)
        .and_then(|path| credentials::for_url(url, &path).map(|c| (c, path)));
    match found {
        Ok((c, path)) => (line(what, Ok(path.display().to_string())), Some(c)),
        Err(e) => (line(what, Err(e.to_string())), None),
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

async fn gerrit(config: &Config, creds: Option<Credentials>) -> Vec<Line> {
    let url = &config.gerrit.url;
    let what = format!("Gerrit {url}: credentials accepted (GET /a/accounts/self)");
    let account = format!(
        "Gerrit account is [gerrit] bot_account ({})",
        config.gerrit.bot_account
    );
    let Some(creds) = creds else {
        let skipped = || Err("not checked: fix the netrc entry for Gerrit first".to_string());
        return vec![line(what, skipped()), line(account, skipped())];
    };
    let me = match Gerrit::new(url, creds, config.gerrit.timeout.min(TIMEOUT)) {
        Ok(g) => g.self_account().await,
        Err(e) => Err(e),
    };
    let me = match me {
        Ok(me) => me,
        Err(e) => {
            let fix = match e {
                GerritError::Unauthorized { .. } => format!(
                    "Gerrit refused the credentials (401): put the account's HTTP password \
                     (Settings > HTTP Credentials) in the netrc entry for {}",
                    host(url)
                ),
                GerritError::Transport(t) => {
                    format!("cannot reach Gerrit ({t}): check [gerrit] url and the network")
                }
                other => format!("{other}: check [gerrit] url and the netrc entry"),
            };
            return vec![
                line(what, Err(fix)),
                line(account, Err("not checked: Gerrit did not answer".into())),
            ];
        }
    };
    let email = me.email.clone().unwrap_or_default();
    let same = email.eq_ignore_ascii_case(config.gerrit.bot_account.trim());
    vec![
        line(what, Ok(format!("account {} ({email})", me.account_id))),
        line(
            account,
            if same {
                Ok(String::new())
            } else {
                Err(format!(
                    "the netrc credentials log in as `{email}`: set [gerrit] bot_account to it, \
                     or put the bot account's credentials in netrc"
                ))
            },
        ),
    ]
}

fn jenkins_fix(e: &JenkinsError, url: &str) -> String {
    match e {
        JenkinsError::Auth { status: 403, .. } => format!(
            "Jenkins refused the credentials (403): use an API token (User > Configure > API \
             Token), not the password, in the netrc entry for {}",
            host(url)
        ),
        JenkinsError::Auth { status, .. } => format!(
            "Jenkins refused the credentials ({status}): check the user and API token in the \
             netrc entry for {}",
            host(url)
        ),
        JenkinsError::Transport(t) => {
            format!("cannot reach Jenkins ({t}): check [jenkins] url and the network")
        }
        // Its error page says no more than the status does.
        JenkinsError::Status { status, .. } if *status >= 500 => format!(
            "Jenkins answered HTTP {status}: it is down, starting or overloaded; check that it \
             is up and that [jenkins] url points at it"
        ),
        other => other.to_string(),
    }
}

async fn jenkins(config: &Config, creds: Option<Credentials>) -> Vec<Line> {
    let url = &config.jenkins.url;
    let p = &config.presubmit;
    let jobs = presubmit_jobs(p);
    let wanted = wanted_parameters(p);
    let what = format!("Jenkins {url}: API token accepted");
    let job_line = |job: &str| format!("Jenkins job {job}: declares {}", wanted.join(", "));
    let clean_line = format!("Jenkins clean job {}: present", p.clean_job);
    let client = creds
        .ok_or_else(|| "not checked: fix the netrc entry for Jenkins first".to_string())
        .and_then(|c| {
            Jenkins::new(url, c, config.jenkins.timeout.min(TIMEOUT)).map_err(|e| e.to_string())
        });
    let access = match &client {
        Ok(j) => j.check_access().await.map_err(|e| jenkins_fix(&e, url)),
        Err(e) => Err(e.clone()),
    };
    let (Ok(j), Ok(())) = (&client, &access) else {
        let why = "not checked: Jenkins did not answer".to_string();
        let mut lines = vec![line(what, access.map(|()| String::new()))];
        lines.extend(jobs.iter().map(|j| line(job_line(j), Err(why.clone()))));
        lines.push(line(clean_line, Err(why)));
        return lines;
    };
    let mut lines = vec![line(what, Ok(String::new()))];
    for job in jobs {
        let result = job_declares(j, job, &wanted, url).await;
        lines.push(line(job_line(job), result));
    }
    let clean = clean_job_present(j, &p.clean_job, url).await;
    lines.push(line(clean_line, clean));
    lines
}

/// The default job and every project's jobs, each once, sorted.
fn presubmit_jobs(p: &PresubmitConfig) -> Vec<&String> {
    let mut jobs: Vec<&String> = std::iter::once(&p.default_job)
        .chain(p.projects.values().flat_map(|js| js.as_slice()))
        .collect();
    jobs.sort();
    jobs.dedup();
    jobs
}

/// The parameters the bot sets when it triggers a presubmit job.
fn wanted_parameters(p: &PresubmitConfig) -> Vec<&'static str> {
    let mut wanted = vec!["REF", "CHANGE_ID", "PROJECT"];
    if !p.targets.is_empty() {
        wanted.push("LUNCH_TARGET");
    }
    wanted
}

/// Whether `job` exists and declares every parameter in `wanted`.
async fn job_declares(
    j: &Jenkins,
    job: &str,
    wanted: &[&str],
    url: &str,
) -> Result<String, String> {
    match j.job_parameters(job).await {
        Ok(params) => {
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|w| !params.iter().any(|p| p == w))
                .collect();
            if missing.is_empty() {
                Ok(String::new())
            } else {
                Err(format!(
                    "add the string parameter(s) {} to the job (This project is \
                     parameterized)",
                    missing.join(", ")
                ))
            }
        }
        Err(JenkinsError::UnknownJob(_)) => Err(format!(
            "Jenkins has no job `{job}`: create it, or fix [presubmit] default_job / projects"
        )),
        Err(e) => Err(jenkins_fix(&e, url)),
    }
}

async fn clean_job_present(j: &Jenkins, clean_job: &str, url: &str) -> Result<String, String> {
    match j.job_parameters(clean_job).await {
        Ok(_) => Ok(String::new()),
        Err(JenkinsError::UnknownJob(_)) => Err(format!(
            "Jenkins has no job `{clean_job}`: create it, or fix [presubmit] clean_job"
        )),
        Err(e) => Err(jenkins_fix(&e, url)),
    }
}

async fn gmail(config: &Config) -> Vec<Line> {
    let g = &config.gmail;
    let what = format!("Gmail token ({})", g.token_cache.display());
    let labels = [
        (
            &g.label,
            "create it and a Gmail filter that applies it to Gerrit's mail",
        ),
        (
            &g.set_aside_label,
            "create it in Gmail (mails the bot will not act on are moved there)",
        ),
    ];
    let label_line = |l: &str| format!("Gmail label `{l}`: present");
    let authorize = "run `gmail-listener --config <file> --authorize` (README: \"Authorise \
                     Gmail\")";
    let client = if g.token_cache.exists() {
        Gmail::connect(g, Authorize::Never)
            .await
            .map_err(|e| format!("{e}: {authorize}"))
    } else {
        Err(format!("no token cache yet: {authorize}"))
    };
    let client = match client {
        Ok(c) => c,
        Err(fix) => {
            let mut lines = vec![line(what, Err(fix))];
            lines.extend(labels.iter().map(|(l, _)| {
                line(
                    label_line(l),
                    Err("not checked: fix the Gmail token first".into()),
                )
            }));
            return lines;
        }
    };
    let mut lines = Vec::new();
    let mut token_ok = true;
    for (label, fix) in labels {
        let result = match client.label_id(label, false).await {
            Ok(Some(_)) => Ok(String::new()),
            Ok(None) => Err(format!("no such label: {fix}")),
            Err(e) => {
                token_ok = false;
                Err(format!("not checked: {e}"))
            }
        };
        lines.push(line(label_line(label), result));
    }
    let token = if token_ok {
        Ok(String::new())
    } else {
        Err(format!("Gmail did not accept it: {authorize}"))
    };
    lines.insert(0, line(what, token));
    lines
}

async fn listener(config: &Config, token: Option<&Secret>) -> Vec<Line> {
    let url = config.build_listener.url.trim_end_matches('/');
    let health = format!("build-listener {url}: /healthz");
    let accepts = "build-listener accepts BIONICBB_LISTENER_TOKEN".to_string();
    let client = match BuildListener::new(url, token.cloned(), TIMEOUT) {
        Ok(c) => c,
        Err(e) => return vec![line(health, Err(e.to_string()))],
    };
    let up = match client.health().await {
        Ok(s) if s.is_success() => Ok(String::new()),
        Ok(s) => Err(format!(
            "answered HTTP {}: is [build_listener] url a build-listener?",
            s.as_u16()
        )),
        Err(e) => Err(format!(
            "{e}: start build-listener, or fix [build_listener] url"
        )),
    };
    if up.is_err() {
        return vec![
            line(health, up),
            line(
                accepts,
                Err("not checked: build-listener did not answer".into()),
            ),
        ];
    }
    let accepted = match client.probe_token().await {
        Ok(s) if s.as_u16() == 401 => Err(if token.is_some() {
            "refused (401): give both processes the same BIONICBB_LISTENER_TOKEN".to_string()
        } else {
            "build-listener wants a token (401): set BIONICBB_LISTENER_TOKEN for gmail-listener"
                .to_string()
        }),
        Ok(s) if s.is_client_error() => Ok(format!("an incomplete request got {}", s.as_u16())),
        Ok(s) => Err(format!(
            "an incomplete request got HTTP {}, expected a 4xx: is it a build-listener?",
            s.as_u16()
        )),
        Err(e) => Err(e.to_string()),
    };
    vec![line(health, up), line(accepts, accepted)]
}

/// build-listener: its address is free, or a build-listener already answers there.
async fn bind(config: &Config) -> Line {
    let addr = config.build_listener.bind;
    let what = format!("listen on [build_listener] bind ({addr})");
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            drop(l);
            line(what, Ok("free".into()))
        }
        Err(e) => {
            let url = config.build_listener.url.trim_end_matches('/');
            let running = match BuildListener::new(url, None, TIMEOUT) {
                Ok(c) => c.health().await.is_ok_and(|s| s.is_success()),
                Err(_) => false,
            };
            if running {
                line(
                    what,
                    Ok(format!(
                        "in use by a build-listener answering {url}/healthz"
                    )),
                )
            } else {
                line(
                    what,
                    Err(format!(
                        "{e}: stop what uses it, or change [build_listener] bind"
                    )),
                )
            }
        }
    }
}

fn state(path: &Path) -> Line {
    let what = format!("state database {}: writable", path.display());
    match journal::check_file(path) {
        Ok(None) => line(
            what,
            Ok("not created yet; the first start creates it".into()),
        ),
        Ok(Some(v)) => line(what, Ok(format!("schema version {v}"))),
        Err(e) => line(
            what,
            Err(format!(
                "{e}: fix [state] path or the file's owner and mode"
            )),
        ),
    }
}
