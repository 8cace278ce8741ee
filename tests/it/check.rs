//! `--check` of both real binaries (SPEC §16) against the stand-ins: one line per check, `ok`
//! or `FAIL` with what to fix, exit 0 only if all pass; every failure kind it reports; and
//! nothing changes (the harness's final check fails on any build, review or mail move).

use std::path::Path;

use standins::{Fault, Service};

use crate::harness::{self, Env, Setup, free_port};

/// Runs `bin --check`; returns the exit code and stdout's lines.
async fn check(bin: &str, config: &Path, token: Option<&str>) -> (i32, Vec<String>) {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("--config")
        .arg(config)
        .arg("--check")
        .env("NO_COLOR", "1")
        .env_remove("BIONICBB_LISTENER_TOKEN")
        .stdin(std::process::Stdio::null());
    if let Some(t) = token {
        cmd.env("BIONICBB_LISTENER_TOKEN", t);
    }
    let out = cmd.output().await.expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.code().unwrap_or(-1),
        stdout.lines().map(String::from).collect(),
    )
}

const GMAIL: &str = env!("CARGO_BIN_EXE_gmail-listener");
const BUILD: &str = env!("CARGO_BIN_EXE_build-listener");

/// The line whose check names `what`; asserts it starts with `status` and contains `fix`.
fn expect(lines: &[String], status: &str, what: &str, fix: &str) {
    let line = lines
        .iter()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line for {what:?} in {lines:#?}"));
    assert!(
        line.starts_with(&format!("{status} ")) && line.contains(fix),
        "{what:?}: expected {status} with {fix:?}, got {line:?}"
    );
}

/// An environment whose config names a build-listener on a port of its own.
async fn env_with_listener_port() -> (Env, u16) {
    let port = free_port();
    let env = Env::with(Setup {
        build_listener_url: format!("http://127.0.0.1:{port}"),
        ..Setup::default()
    })
    .await;
    (env, port)
}

async fn listen(env: &Env, port: u16, token: &str) -> harness::Listener {
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    harness::start_listener_on(
        socket,
        env.config(),
        Some(bionicbb::credentials::Secret::new(token)),
    )
    .await
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_set_up_passes_every_check_and_changes_nothing() {
    let (env, port) = env_with_listener_port().await;
    env.world.gmail_label("gerrit-ignored");
    let db = env.config().state.path;
    // Before anything ran: the database is not created by a check.
    let (code, lines) = check(BUILD, &env.config_path, Some("s3cret")).await;
    assert_eq!(code, 0, "{lines:#?}");
    expect(&lines, "ok", "state database", "not created yet");
    expect(&lines, "ok", "listen on [build_listener] bind", "free");
    assert!(!db.exists());

    let l = listen(&env, port, "s3cret").await;
    let events = l.journal.last_event_id().await.expect("events");
    let (code, lines) = check(GMAIL, &env.config_path, Some("s3cret")).await;
    assert_eq!(code, 0, "{lines:#?}");
    assert!(lines.iter().all(|l| l.starts_with("ok ")), "{lines:#?}");
    for what in [
        "config",
        "netrc entry for Gerrit",
        "netrc entry for Jenkins",
        "credentials accepted (GET /a/accounts/self)",
        "Gerrit account is [gerrit] bot_account",
        "API token accepted",
        "Jenkins job bionic-presubmit: declares REF, CHANGE_ID, PROJECT, LUNCH_TARGET",
        "Jenkins job other-presubmit",
        "Jenkins clean job clean-bionic-presubmit",
        "Gmail token",
        "Gmail label `gerrit`",
        "Gmail label `gerrit-ignored`",
        "/healthz",
        "accepts BIONICBB_LISTENER_TOKEN",
        "state database",
    ] {
        expect(&lines, "ok", what, "");
    }
    assert_eq!(lines.len(), 15, "{lines:#?}");
    expect(&lines, "ok", "accepts BIONICBB_LISTENER_TOKEN", "got 400");
    let (code, lines) = check(BUILD, &env.config_path, Some("s3cret")).await;
    assert_eq!(code, 0, "{lines:#?}");
    expect(&lines, "ok", "listen on", "in use by a build-listener");
    expect(&lines, "ok", "state database", "schema version");
    assert_eq!(l.journal.last_event_id().await.expect("events"), events);
    assert!(l.items().await.is_empty());
    l.stop().await;
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_account_missing_jobs_and_parameters_labels_token_and_folder_each_fail() {
    let (env, port) = env_with_listener_port().await;
    let _l = listen(&env, port, "right").await;
    edit(
        &env.config_path,
        "bot_account = \"bionicbb@android.com\"",
        "bot_account = \"robot@android.com\"",
    );
    edit(
        &env.config_path,
        "path = \"bionicbb.db\"",
        "path = \"gone/bionicbb.db\"",
    );
    env.world.jenkins_remove_job("other-presubmit");
    env.world.jenkins_remove_job("clean-bionic-presubmit");
    env.world
        .jenkins_add_job("bionic-presubmit", &["REF", "CHANGE_ID", "PROJECT"]);
    let (code, lines) = check(GMAIL, &env.config_path, Some("wrong")).await;
    assert_eq!(code, 1, "{lines:#?}");
    let bot = env.world.gerrit_bot_account_id();
    expect(
        &lines,
        "ok",
        "credentials accepted",
        &format!("account {bot} (bionicbb@android.com)"),
    );
    expect(
        &lines,
        "FAIL",
        "Gerrit account is [gerrit] bot_account (robot@android.com)",
        "log in as `bionicbb@android.com`",
    );
    expect(&lines, "ok", "API token accepted", "");
    expect(
        &lines,
        "FAIL",
        "Jenkins job bionic-presubmit",
        "add the string parameter(s) LUNCH_TARGET",
    );
    expect(
        &lines,
        "FAIL",
        "Jenkins job other-presubmit",
        "Jenkins has no job `other-presubmit`",
    );
    expect(
        &lines,
        "FAIL",
        "Jenkins clean job",
        "fix [presubmit] clean_job",
    );
    expect(&lines, "ok", "Gmail label `gerrit`", "");
    expect(
        &lines,
        "FAIL",
        "Gmail label `gerrit-ignored`",
        "no such label",
    );
    expect(&lines, "ok", "/healthz", "");
    expect(
        &lines,
        "FAIL",
        "accepts BIONICBB_LISTENER_TOKEN",
        "refused (401)",
    );
    expect(&lines, "FAIL", "state database", "does not exist");
    let (_, lines) = check(GMAIL, &env.config_path, None).await;
    expect(
        &lines,
        "FAIL",
        "accepts BIONICBB_LISTENER_TOKEN",
        "wants a token",
    );
    env.finish();
}

#[tokio::test]
async fn missing_credentials_token_cache_listener_and_a_newer_database_each_fail() {
    let (env, _port) = env_with_listener_port().await;
    let netrc = env.dir.path().join("netrc");
    let text = std::fs::read_to_string(&netrc).expect("netrc");
    let mut lines = text.lines();
    let (gerrit, jenkins) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let (_, jenkins_password) = env.world.jenkins_credentials();
    let jenkins = jenkins.replace(&jenkins_password, "a-password-not-a-token");
    std::fs::write(&netrc, format!("{jenkins}\n")).expect("netrc");
    std::fs::remove_file(env.dir.path().join("oauth-token.json")).expect("token cache");
    let db = env.config().state.path;
    bionicbb::journal::raw_sql_for_tests(&db, "PRAGMA user_version = 99;").expect("db");
    let (code, out) = check(GMAIL, &env.config_path, None).await;
    assert_eq!(code, 1, "{out:#?}");
    expect(&out, "FAIL", "netrc entry for Gerrit", "127.0.0.1");
    expect(
        &out,
        "FAIL",
        "credentials accepted",
        "fix the netrc entry for Gerrit first",
    );
    expect(&out, "ok", "netrc entry for Jenkins", "");
    expect(
        &out,
        "FAIL",
        "API token accepted",
        "Jenkins refused the credentials",
    );
    expect(&out, "FAIL", "Jenkins job bionic-presubmit", "not checked");
    expect(&out, "FAIL", "Gmail token", "--authorize");
    expect(&out, "FAIL", "/healthz", "start build-listener");
    expect(&out, "FAIL", "state database", "newer than this release");
    assert!(!gerrit.is_empty());
    // Untouched by the check; back to a version the final check can open.
    bionicbb::journal::raw_sql_for_tests(&db, "PRAGMA user_version = 0;").expect("db");
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gerrit_down_a_dead_gmail_token_and_a_taken_port_each_fail() {
    let (env, port) = env_with_listener_port().await;
    env.world.gmail_label("gerrit-ignored");
    env.world.set_fault(Service::Gerrit, Fault::Down);
    standins::write_token_cache(&env.standins, env.dir.path(), true).expect("token cache");
    env.world.oauth_revoke_refresh_token();
    let (code, lines) = check(GMAIL, &env.config_path, None).await;
    assert_eq!(code, 1, "{lines:#?}");
    expect(&lines, "FAIL", "credentials accepted", "HTTP 503");
    expect(&lines, "FAIL", "Gerrit account is", "not checked");
    expect(&lines, "FAIL", "Gmail token", "--authorize");
    expect(&lines, "FAIL", "Gmail label `gerrit`", "not checked");
    // Something that is not a build-listener holds the port.
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let (code, lines) = check(BUILD, &env.config_path, None).await;
    assert_eq!(code, 1, "{lines:#?}");
    expect(
        &lines,
        "FAIL",
        "listen on [build_listener] bind",
        "change [build_listener] bind",
    );
    env.world.set_fault(Service::Gerrit, Fault::None);
    env.finish();
}

#[tokio::test]
async fn an_invalid_config_is_one_line_and_exit_two() {
    let env = Env::new().await;
    let good = std::fs::read_to_string(&env.config_path).expect("config");
    edit(&env.config_path, "poll_interval", "pol_interval");
    for bin in [GMAIL, BUILD] {
        let (code, lines) = check(bin, &env.config_path, None).await;
        assert_eq!(code, 2, "{lines:#?}");
        assert_eq!(lines.len(), 1, "{lines:#?}");
        expect(&lines, "FAIL", "config", "gmail.pol_interval");
    }
    std::fs::write(&env.config_path, good).expect("config");
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_targets_no_lunch_target_then_jenkins_down_and_a_file_that_is_no_database() {
    let (env, _port) = env_with_listener_port().await;
    // Without [presubmit.targets] the jobs need not declare LUNCH_TARGET.
    edit(
        &env.config_path,
        "[presubmit.targets]\narm = \"aosp_arm-eng\"\nx86_64 = \"aosp_x86_64-eng\"\n",
        "",
    );
    for job in ["bionic-presubmit", "other-presubmit"] {
        env.world
            .jenkins_add_job(job, &["REF", "CHANGE_ID", "PROJECT"]);
    }
    let (code, lines) = check(BUILD, &env.config_path, None).await;
    assert_eq!(code, 0, "{lines:#?}");
    // build-listener's whole list: no Gmail, no listener checks, its own port instead.
    for what in [
        "config",
        "netrc entry for Gerrit",
        "netrc entry for Jenkins",
        "credentials accepted (GET /a/accounts/self)",
        "Gerrit account is [gerrit] bot_account",
        "API token accepted",
        "Jenkins job bionic-presubmit: declares REF, CHANGE_ID, PROJECT",
        "Jenkins job other-presubmit: declares REF, CHANGE_ID, PROJECT",
        "Jenkins clean job clean-bionic-presubmit",
        "listen on [build_listener] bind",
        "state database",
    ] {
        expect(&lines, "ok", what, "");
    }
    assert_eq!(lines.len(), 11, "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("LUNCH_TARGET")),
        "{lines:#?}"
    );

    env.world.set_fault(Service::Jenkins, Fault::Down);
    let db = env.config().state.path;
    std::fs::write(&db, "bionicbb state, typed by hand\n").expect("db");
    let (code, lines) = check(BUILD, &env.config_path, None).await;
    assert_eq!(code, 1, "{lines:#?}");
    expect(&lines, "ok", "credentials accepted", "");
    expect(
        &lines,
        "FAIL",
        "API token accepted",
        "Jenkins answered HTTP 503: it is down",
    );
    assert!(!lines.iter().any(|l| l.contains("<html")), "{lines:#?}");
    expect(
        &lines,
        "FAIL",
        "Jenkins job bionic-presubmit",
        "not checked: Jenkins did not answer",
    );
    expect(&lines, "FAIL", "Jenkins clean job", "not checked");
    expect(&lines, "FAIL", "state database", "not a database");
    assert_eq!(
        std::fs::read_to_string(&db).expect("db"),
        "bionicbb state, typed by hand\n",
        "the check changed the file"
    );
    std::fs::remove_file(&db).expect("db");
    env.world.set_fault(Service::Jenkins, Fault::None);
    env.finish();
}
