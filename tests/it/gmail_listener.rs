//! gmail-listener scenarios: mails in the stand-in Gmail, `poll_once`, and what Jenkins queued,
//! what Gerrit received and where each mail ended.

use std::time::Duration;

use standins::{Fault, Service};

use crate::harness::{self, DANA, Env, MailSpec, Setup, change_id_for, eventually};

#[tokio::test]
async fn a_new_patch_set_is_built_once_with_the_current_ref() {
    let mut env = Env::new().await;
    let n = env.change(123445, &change_id_for(123445));
    env.world
        .gerrit_add_patch_set(n, "dev@google.com", vec!["libc/bionic/strlen.cpp".into()]);
    let first = env.deliver(&MailSpec::new("newpatchset", n, 2).render());
    let report = env.poll_once().await;
    assert_eq!((report.seen, report.builds, report.trashed), (1, 1, 1));
    let b = env.expect_builds(1).remove(0);
    assert_eq!(b.job, "bionic-presubmit");
    assert_eq!(b.params["REF"], "refs/changes/45/123445/2");
    assert_eq!(b.params["CHANGE_ID"], change_id_for(n));
    assert_eq!(b.params["PROJECT"], "bionic");
    env.expect_trashed(&first);

    // Adding a reviewer re-sends newchange for the same patch set: nothing is built.
    let again = env.deliver(&MailSpec::new("newchange", n, 2).render());
    env.poll_once().await;
    env.expect_builds(0);
    env.expect_trashed(&again);
    env.finish();
}

#[tokio::test]
async fn the_build_memory_survives_a_restart() {
    let mut env = Env::new().await;
    let n = env.change(2001, &change_id_for(2001));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(1);
    // A fresh poller (a new process) opens the same state file.
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poller(false).await.poll_once().await.expect("poll");
    env.expect_builds(0);
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn retry_always_builds_again_and_targets_set_lunch_target() {
    let mut env = Env::new().await;
    let n = env.change(3003, &change_id_for(3003));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    let first = env.expect_builds(1);
    // Jenkins folds a request identical to an item still waiting: let that build start.
    let _ = env
        .world
        .jenkins_run(
            first[0].queue_id,
            "SUCCESS",
            "http://127.0.0.1:9/",
            standins::Events::Completed,
        )
        .await;
    let id = env.comment(n, 1, "", "bionicbb: retry\nbionicbb:arm\nbionicbb: clean");
    let report = env.poll_once().await;
    assert_eq!((report.builds, report.cleans), (2, 1));
    let builds = env.expect_builds(3);
    assert_eq!(builds[0].job, "bionic-presubmit");
    // The job declares LUNCH_TARGET, so Jenkins fills in its empty default.
    assert_eq!(
        builds[0].params.get("LUNCH_TARGET").map(String::as_str),
        Some("")
    );
    assert_eq!(builds[1].params["LUNCH_TARGET"], "aosp_arm-eng");
    assert_eq!(builds[2].job, "clean-bionic-presubmit");
    env.expect_trashed(&id);
    // The clean build's queue id maps back to the change for build-listener.
    let journal = bionicbb::journal::Journal::open(&env.config().state.path, "test").expect("db");
    let t = journal
        .builds_by_queue_id(builds[2].queue_id)
        .await
        .expect("db");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].change, format!("platform/bionic~{n}"));
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn untrusted_committers_and_skip_rules_build_nothing() {
    let env = Env::new().await;
    let cases = [
        ("a@google.com.evil.com", "libc/x.c"),
        ("dev@example.org", "libc/x.c"),
        ("dev@google.com", "libc/CleanSpec.mk"),
        ("dev@google.com", "tools/bionicbb/gmail.py"),
    ];
    let mut ids = Vec::new();
    for (i, (committer, file)) in cases.iter().enumerate() {
        let number = 4000 + i as u64;
        env.world.gerrit_add_change(standins::NewChange {
            project: "platform/bionic".into(),
            branch: "main".into(),
            change_id: change_id_for(number),
            number: Some(number),
            committer_email: (*committer).into(),
            files: vec![(*file).into()],
        });
        ids.push(env.deliver(&MailSpec::new("newpatchset", number, 1).render()));
        ids.push(env.comment(number, 1, "", "bionicbb: retry"));
    }
    let report = env.poll_once().await;
    assert_eq!(report.builds, 0);
    for id in &ids {
        env.expect_trashed(id);
    }
    env.finish();
}

#[tokio::test]
async fn mail_the_bot_will_not_act_on_is_set_aside_not_destroyed() {
    let env = Env::new().await;
    let n = env.change(5005, &change_id_for(5005));
    let mut foreign = MailSpec::new("newchange", n, 1);
    foreign.from = "Mallory <mallory@example.com>".into();
    let foreign = env.deliver(&foreign.render());
    let unknown = env.deliver(&MailSpec::new("combinedCheckStateUpdate", n, 1).render());
    let human =
        env.deliver(b"From: Bob <bob@google.com>\r\nSubject: hi\r\n\r\nno footers here\r\n");
    let garbage = env.deliver(&[0xff, 0xfe, 0x00, 0x13, 0x37]);
    let report = env.poll_once().await;
    assert_eq!(report.set_aside, 4, "{report:?}");
    for id in [&foreign, &unknown, &human, &garbage] {
        env.expect_set_aside(id);
    }
    // Set aside means out of the queue: the next poll sees nothing.
    assert_eq!(env.poll_once().await.seen, 0);
    env.finish();
}

#[tokio::test]
async fn skipped_message_types_are_trashed() {
    let env = Env::new().await;
    let n = env.change(6006, &change_id_for(6006));
    let ids: Vec<String> = [
        "merged",
        "abandon",
        "restore",
        "revert",
        "deleteVote",
        "deleteReviewer",
    ]
    .iter()
    .map(|t| env.deliver(&MailSpec::new(t, n, 1).render()))
    .collect();
    let report = env.poll_once().await;
    assert_eq!(report.trashed, ids.len());
    ids.iter().for_each(|id| env.expect_trashed(id));
    env.finish();
}

#[tokio::test]
async fn a_change_gerrit_no_longer_has_is_a_stale_mail() {
    let env = Env::new().await;
    let id = env.deliver(&MailSpec::new("newchange", 9999, 1).render());
    env.poll_once().await;
    env.expect_trashed(&id);
    env.finish();
}

#[tokio::test]
async fn gerrit_or_jenkins_down_leaves_the_mail_and_the_next_poll_builds_once() {
    let mut env = Env::new().await;
    let n = env.change(7007, &change_id_for(7007));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.world.set_fault(Service::Gerrit, Fault::Down);
    assert_eq!(env.poll_once().await.left, 1);
    env.expect_left(&id);
    env.world.set_fault(Service::Gerrit, Fault::None);
    env.world.set_fault(Service::Jenkins, Fault::Down);
    assert_eq!(env.poll_once().await.left, 1);
    env.expect_left(&id);
    env.world.set_fault(Service::Jenkins, Fault::None);
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_trashed(&id);
    env.poll_once().await;
    env.expect_builds(0);
    env.finish();
}

#[tokio::test]
async fn a_failed_second_command_does_not_repeat_the_first() {
    let mut env = Env::new().await;
    let n = env.change(7100, &change_id_for(7100));
    // The clean job does not exist yet: the mail is left after the retry build was queued.
    env.world.jenkins_remove_job("clean-bionic-presubmit");
    let id = env.comment(n, 1, "", "bionicbb: retry\nbionicbb: clean");
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_left(&id);
    env.world.jenkins_add_job("clean-bionic-presubmit", &[]);
    env.poll_once().await;
    let b = env.expect_builds(1);
    assert_eq!(b[0].job, "clean-bionic-presubmit");
    env.expect_trashed(&id);
    env.finish();
}

#[tokio::test]
async fn an_unknown_command_gets_one_reply() {
    let mut env = Env::new().await;
    let n = env.change(8008, &change_id_for(8008));
    let mail = env.comment_mail(
        env.dana,
        DANA,
        n,
        1,
        "Code-Review+1",
        "bionicbb: rebuild-everything",
    );
    env.deliver(&mail.render());
    env.poll_once().await;
    let r = env.expect_reviews(1).remove(0);
    let text = r.message.clone().unwrap_or_default();
    assert!(
        text.contains("rebuild-everything") && text.contains("retry"),
        "{text}"
    );
    assert!(r.labels.is_empty(), "a reply never votes: {r:?}");
    // The same comment delivered again (a copy) is not answered twice.
    env.deliver(&mail.render());
    env.poll_once().await;
    env.expect_reviews(0);
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn quoted_indented_and_mid_line_commands_never_run() {
    let env = Env::new().await;
    let n = env.change(8100, &change_id_for(8100));
    env.comment(
        n,
        1,
        "",
        "> bionicbb: retry\n    bionicbb: retry\nplease do not bionicbb: retry",
    );
    env.poll_once().await;
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn the_bots_own_comments_never_run_commands() {
    // Googlesource-style mail: a per-user From, no Reply-To: only Gerrit's account id tells.
    let mut env = Env::new().await;
    let n = env.change(8200, &change_id_for(8200));
    let bot = env.world.gerrit_bot_account_id();
    let id = env.comment_as(bot, "bionicbb", n, 1, "Verified+1", "bionicbb: retry");
    env.expect_reviews(1); // the bot's comment itself, made by the scenario
    env.poll_once().await;
    env.expect_trashed(&id);
    env.finish();
}

#[tokio::test]
async fn labelled_mail_over_several_pages_is_all_handled_and_unlabelled_mail_untouched() {
    let env = Env::new().await;
    let n = env.change(9100, &change_id_for(9100));
    let mut labelled = Vec::new();
    let mut other = Vec::new();
    for i in 0..520 {
        labelled.push(env.deliver(&MailSpec::new("merged", n, 1).render()));
        if i % 20 == 0 {
            other.push(
                env.world
                    .gmail_deliver(b"From: a@b.c\r\nSubject: x\r\n\r\nhello\r\n", &["INBOX"]),
            );
        }
    }
    let report = env.poll_once().await;
    assert_eq!((report.seen, report.trashed), (520, 520), "{report:?}");
    for id in &labelled {
        env.expect_trashed(id);
    }
    for id in &other {
        let m = env.world.gmail_message(id).expect("message");
        assert!(
            !m.trashed && !m.label_names.iter().any(|l| l == "gerrit-ignored"),
            "{m:?}"
        );
    }
    let lists: Vec<_> = env
        .world
        .gmail_requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/messages") && r.method == "GET")
        .collect();
    assert!(lists.len() >= 2, "expected paging, got {lists:?}");
    assert!(
        lists.iter().all(|r| r.query.contains("labelIds=")),
        "label filter dropped: {lists:?}"
    );
    env.finish();
}

#[tokio::test]
async fn dry_run_decides_but_changes_nothing() {
    let env = Env::new().await;
    let n = env.change(9200, &change_id_for(9200));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poller(true).await.poll_once().await.expect("poll");
    env.expect_left(&id);
    env.finish();
}

#[tokio::test]
async fn an_expired_token_is_refreshed_silently() {
    let mut env = Env::with(Setup {
        token_expired: true,
        ..Setup::default()
    })
    .await;
    let n = env.change(9300, &change_id_for(9300));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn gmail_server_errors_are_retried_within_the_poll() {
    let mut env = Env::new().await;
    let n = env.change(9400, &change_id_for(9400));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.world.set_fault(
        Service::Gmail,
        Fault::FailNext {
            count: 2,
            status: 503,
        },
    );
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn a_persons_verified_plus_one_asks_build_listener_to_drop_the_rejection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut env = Env::with(Setup {
        build_listener_url: url,
        ..Setup::default()
    })
    .await;
    let n = env.change(9500, &change_id_for(9500));
    let bot = env.world.gerrit_bot_account_id();
    env.world.gerrit_set_vote(n, 1, bot, "Verified", -1);
    let config = env.config();
    let server = harness::start_listener_on(listener, config, None).await;
    // Prose mentioning Verified+1 does not count; the vote line does.
    let prose = env.comment(n, 1, "", "I would give this Verified+1 if it built");
    env.poll_once().await;
    env.expect_trashed(&prose);
    assert_eq!(
        env.world.gerrit_votes(n, 1, "Verified").get(&bot),
        Some(&-1)
    );
    env.comment(n, 1, "Verified+1", "");
    let report = env.poll_once().await;
    assert_eq!(report.drop_rejections, 1);
    assert!(
        eventually(Duration::from_secs(5), || env
            .world
            .gerrit_votes(n, 1, "Verified")
            .get(&bot)
            .is_none_or(|v| *v == 0))
        .await,
        "bot -1 not dropped: {:?}",
        env.world.gerrit_votes(n, 1, "Verified")
    );
    let dropped = env.expect_reviews(1);
    assert_eq!(dropped[0].labels.get("Verified"), Some(&0));
    env.expect_all_trashed();
    server.stop().await;
}

#[tokio::test]
async fn build_listener_down_leaves_the_verified_mail() {
    let mut env = Env::new().await; // build_listener url is a closed port
    let n = env.change(9600, &change_id_for(9600));
    let id = env.comment(n, 1, "Verified+1", "");
    assert_eq!(env.poll_once().await.left, 1);
    env.expect_left(&id);
    // The drop request waits for the mail's next attempt.
    env.expect_pending_intents(1);
    env.finish();
}

#[tokio::test]
async fn the_binary_polls_once_and_exits_zero() {
    let mut env = Env::new().await;
    let n = env.change(9700, &change_id_for(9700));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gmail-listener"))
        .arg("--config")
        .arg(&env.config_path)
        .arg("--once")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("BUILD(newchange): platform/bionic~9700 => bionic-presubmit"),
        "{stdout}"
    );
    env.expect_builds(1);
    env.expect_trashed(&id);
    env.finish();
}

#[tokio::test]
async fn the_binary_exits_two_on_a_bad_config() {
    let env = Env::new().await;
    let bad = env.dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&env.config_path)
        .expect("read")
        .replace("poll_interval", "pol_interval");
    std::fs::write(&bad, text).expect("write");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gmail-listener"))
        .arg("--config")
        .arg(&bad)
        .arg("--once")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("gmail.pol_interval"),
        "{stderr}"
    );
}

#[tokio::test]
async fn authorize_stores_the_token_from_the_pasted_redirect_url() {
    let mut env = Env::new().await;
    let cache = env.dir.path().join("oauth-token.json");
    std::fs::remove_file(&cache).expect("rm");
    let code = env.world.oauth_issue_code();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gmail-listener"))
        .arg("--config")
        .arg(&env.config_path)
        .arg("--authorize")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pasted = format!(
        "http://localhost:8085/?code={}&scope=https://www.googleapis.com/auth/gmail.modify\n",
        code.replace('/', "%2F")
    );
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(pasted.as_bytes()).await.expect("write");
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("--authorize hung")
        .expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("access_type=offline") && stdout.contains("gmail.modify"),
        "{stdout}"
    );
    assert!(cache.exists(), "token cache not written");
    // The stored token works for the daemon.
    let n = env.change(9800, &change_id_for(9800));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn a_dead_refresh_token_is_an_error_that_says_what_to_do_and_never_waits() {
    let env = Env::with(Setup {
        token_expired: true,
        ..Setup::default()
    })
    .await;
    env.world.oauth_revoke_refresh_token();
    let poller = env.poller(false).await;
    let result = tokio::time::timeout(Duration::from_secs(30), poller.poll_once())
        .await
        .expect("the daemon waited for a browser");
    let err = result.expect_err("poll should fail").to_string();
    assert!(err.contains("--authorize"), "{err}");
}

#[tokio::test]
async fn without_a_token_and_without_a_terminal_the_daemon_says_how_to_authorise() {
    let env = Env::new().await;
    std::fs::remove_file(env.dir.path().join("oauth-token.json")).expect("rm");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_gmail-listener"))
            .arg("--config")
            .arg(&env.config_path)
            .arg("--once")
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("hung")
    .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--authorize") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// The real-format fixtures, end to end: where each mail ends and what it caused.
#[tokio::test]
async fn real_format_fixtures_end_where_they_should() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut env = Env::with(Setup {
        build_listener_url: url,
        ..Setup::default()
    })
    .await;
    let n = env.change(123445, "I0123456789abcdef0123456789abcdef01234567");
    for _ in 0..3 {
        env.world
            .gerrit_add_patch_set(n, "dev@google.com", vec!["libc/bionic/strlen.cpp".into()]);
    }
    // What Gerrit recorded for the comment fixture: Elliott's votes on patch set 3 and his
    // patch-set-level comment, written when the mail's Gerrit-Comment-Date says.
    let elliott = env
        .world
        .gerrit_add_account_named("epark", "Elliott Park", "epark@google.com");
    let message = env.world.gerrit_post_comment(
        n,
        3,
        elliott,
        standins::CommentSpec {
            patchset_level: Some(
                "> bionicbb: retry\nThanks, the emulator was the problem. LGTM with the nit \
                 fixed.\nbionicbb: x86_64"
                    .into(),
            ),
            labels: vec![("Code-Review".into(), 1), ("Verified".into(), 1)],
            ..Default::default()
        },
    );
    env.world
        .gerrit_set_message_date(n, &message, 1_709_754_002_000);
    let config = env.config();
    let server = harness::start_listener_on(listener, config, None).await;
    let trashed = [
        "newchange-3x-multipart-qp.eml",
        "comment-3x-multipart-qp.eml",
        "merged-3x-multipart-qp.eml",
        "deletevote-3x-multipart-qp.eml",
        "abandon-2x-plain-8bit.eml",
    ];
    let aside = [
        "unknown-type-3x-multipart-qp.eml",
        "comment-3x-truncated.eml",
        "broken-multipart-boundary.eml",
        "undecodable-charset.eml",
        "foreign-sender.eml",
        "human-no-footers.eml",
        "human-reply-quoting-footers.eml",
    ];
    let t: Vec<String> = trashed.iter().map(|f| env.deliver_fixture(f)).collect();
    let a: Vec<String> = aside.iter().map(|f| env.deliver_fixture(f)).collect();
    let report = env.poll_once().await;
    assert_eq!(
        (report.trashed, report.set_aside, report.left),
        (t.len(), a.len(), 0),
        "{report:?}"
    );
    t.iter().for_each(|id| env.expect_trashed(id));
    a.iter().for_each(|id| env.expect_set_aside(id));
    // newchange builds the current patch set; the comment asks only for x86_64 (its inline
    // `bionicbb: clean` and quoted `> bionicbb: retry` never run).
    let builds = env.expect_builds(2);
    assert_eq!(builds[0].params["REF"], "refs/changes/45/123445/4");
    assert_eq!(builds[0].params["LUNCH_TARGET"], "");
    assert_eq!(builds[1].params["LUNCH_TARGET"], "aosp_x86_64-eng");
    assert_eq!(report.drop_rejections, 1);
    server.stop().await;
    env.finish();
}

#[tokio::test]
async fn a_target_build_does_not_stand_in_for_the_presubmit_build() {
    let mut env = Env::new().await;
    let n = env.change(9900, &change_id_for(9900));
    env.comment(n, 1, "", "bionicbb: arm");
    env.poll_once().await;
    assert_eq!(
        env.expect_builds(1)[0].params["LUNCH_TARGET"],
        "aosp_arm-eng"
    );
    // The newchange mail arrives late (mail is not ordered across polls): it still builds.
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    assert_eq!(env.expect_builds(1)[0].params["LUNCH_TARGET"], "");
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn the_daemon_polls_every_interval_and_stops_on_sigterm() {
    let mut env = Env::new().await; // poll_interval = "1s"
    let n = env.change(9950, &change_id_for(9950));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gmail-listener"))
        .arg("--config")
        .arg(&env.config_path)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    // A mail that arrives after the first poll is picked up by a later one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    assert!(
        eventually(Duration::from_secs(10), || !env
            .world
            .jenkins_queue()
            .is_empty())
        .await,
        "the daemon never built"
    );
    let pid = child.id().expect("pid").to_string();
    // The shell's builtin `kill`: no dependency on procps being installed.
    let kill = std::process::Command::new("sh")
        .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("did not stop on SIGTERM")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    env.expect_builds(1);
    env.expect_all_trashed();
    env.finish();
}
