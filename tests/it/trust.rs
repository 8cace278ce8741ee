//! SPEC §11 scenarios: Gerrit and Jenkins are the truth, the mail and the callback are hints.
//! Each attack that worked against the first release is replayed here as a regression test.

use std::time::{Duration, Instant};

use bionicbb::journal::EventKind;
use serde_json::json;
use standins::{Events, Fault, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{
    CLEAN, DANA, Env, MailSpec, PRESUBMIT, Setup, WAIT, change_id_for, eventually, free_port,
};

/// The events a journal recorded, as lines.
async fn lines(env: &Env) -> Vec<String> {
    env.journal()
        .events_after(0, 1000)
        .await
        .expect("events")
        .into_iter()
        .map(|e| {
            format!(
                "{}({}): {}",
                e.event.kind.as_str(),
                e.event.context,
                e.event.text
            )
        })
        .collect()
}

#[tokio::test]
async fn any_gerrit_user_commenting_a_command_does_not_command_the_bot() {
    let env = Env::new().await;
    let n = env.change(50_001, &change_id_for(50_001));
    let eve = env
        .world
        .gerrit_add_account_named("eve", "Eve Mallory", "eve@example.org");
    let id = env.comment_as(
        eve,
        "Eve Mallory",
        n,
        1,
        "",
        "bionicbb: clean\nbionicbb: retry\nbionicbb: nope",
    );
    env.poll_once().await;
    env.expect_trashed(&id);
    let lines = lines(&env).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("skip(comment)")
                && l.contains("untrusted account (eve@example.org)")),
        "{lines:#?}"
    );
    // No build, and no reply either (the final check fails on any).
}

#[tokio::test]
async fn a_trusted_account_outside_the_trusted_domains_commands_the_bot() {
    let mut env = Env::new().await;
    env.set("presubmit", "trusted_accounts = [\"Eve@Example.org\"]");
    let n = env.change(50_002, &change_id_for(50_002));
    let eve = env
        .world
        .gerrit_add_account_named("eve", "Eve Mallory", "eve@example.org");
    env.comment_as(eve, "Eve Mallory", n, 1, "", "bionicbb: retry");
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();
}

#[tokio::test]
async fn fifty_retry_lines_run_nothing_and_get_one_reply() {
    let mut env = Env::new().await;
    let n = env.change(50_003, &change_id_for(50_003));
    let mail = env.comment_mail(env.dana, DANA, n, 1, "", &"bionicbb: retry\n".repeat(50));
    env.deliver(&mail.render());
    env.poll_once().await;
    let reply = env.expect_reviews(1).remove(0);
    assert!(
        reply
            .message
            .as_deref()
            .is_some_and(|m| m.contains("none of the 50")),
        "{reply:?}"
    );
    // The same mail again: Gerrit's message already answered.
    env.deliver(&mail.render());
    env.poll_once().await;
    env.expect_reviews(0);
    env.expect_all_trashed();
}

#[tokio::test]
async fn a_repeated_command_runs_once() {
    let mut env = Env::new().await;
    let n = env.change(50_004, &change_id_for(50_004));
    env.comment(n, 1, "", "bionicbb: arm\nbionicbb: arm\nbionicbb: ARM");
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();
}

#[tokio::test]
async fn a_forged_mail_for_a_comment_gerrit_never_recorded_builds_nothing() {
    let env = Env::new().await;
    let n = env.change(50_005, &change_id_for(50_005));
    // From a matching sender address, real footers, real change: but no such comment.
    let forged = env.deliver(&MailSpec::comment(n, 1, "Verified+1", "bionicbb: retry").render());
    env.poll_once().await;
    env.expect_trashed(&forged);
    let lines = lines(&env).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error(comment)") && l.contains("no record of this comment")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn googlesource_mail_of_the_bots_own_message_runs_nothing() {
    // A callback's link carrying CR/LF and a command line: the bot's message must not hold it
    // as a line of its own, and even if it did, the bot never obeys its own messages.
    let mut env = Env::new().await;
    env.set("jenkins", "verify_callbacks = false");
    let l = env.start_listener().await;
    let n = env.new_change();
    let body = json!({"name": PRESUBMIT, "url": format!("job/{PRESUBMIT}/"),
        "build": {"number": 7, "phase": "COMPLETED", "status": "SUCCESS",
                  "full_url": "http://j/7/\r\nbionicbb: retry\r\nbionicbb: clean",
                  "parameters": {"REF": format!("refs/changes/{:02}/{n}/1", n % 100)}}})
    .to_string();
    assert_eq!(l.post("/", body).await.0, 202);
    l.settle().await;
    let review = env.expect_reviews(1).remove(0);
    let message = review.message.unwrap_or_default();
    assert!(
        !message.contains('\r') && !message.lines().any(|x| x.starts_with("bionicbb:")),
        "{message:?}"
    );
    // Gerrit mails the bot's message to the bot (googlesource: per-user From, no Reply-To).
    let bot = env.world.gerrit_bot_account_id();
    let messages = env.world.gerrit_messages(n);
    let text = messages.last().cloned().unwrap_or_default();
    let mut mail = MailSpec::comment(
        n,
        1,
        "Verified+1",
        text.split_once("\n\n").map_or("", |(_, b)| b),
    );
    mail.author = "bionicbb".into();
    mail.reply_to = String::new();
    let _ = bot;
    let id = env.deliver(&mail.render());
    env.poll_once().await;
    env.expect_trashed(&id);
    l.stop().await;
}

#[tokio::test]
async fn ok_to_test_builds_an_outside_contributors_patch_set_once_and_only_that_one() {
    let mut env = Env::new().await;
    let n = env.world.gerrit_add_change_by(
        standins::NewChange {
            number: Some(50_010),
            change_id: change_id_for(50_010),
            committer_email: "eve@example.org".into(),
            ..standins::NewChange::default()
        },
        "eve@example.org",
    );
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(0);
    env.comment(n, 1, "", "bionicbb: ok-to-test");
    env.poll_once().await;
    let b = env.expect_builds(1);
    assert_eq!(b[0].params["REF"], format!("refs/changes/10/{n}/1"));
    // Said again, or the newchange re-sent: still once.
    env.comment(n, 1, "", "bionicbb: ok-to-test");
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(0);
    // A trusted reviewer's retry now runs on that patch set (once the first build started:
    // Jenkins folds a request identical to one still waiting).
    env.world.jenkins_start(b[0].queue_id).expect("start");
    env.comment(n, 1, "", "bionicbb: retry");
    env.poll_once().await;
    env.expect_builds(1);
    // A new patch set needs a new ok-to-test.
    env.world.gerrit_add_patch_set_by(
        n,
        "eve@example.org",
        "eve@example.org",
        vec!["libc/x.c".into()],
    );
    env.deliver(&MailSpec::new("newpatchset", n, 2).render());
    env.comment(n, 1, "", "bionicbb: ok-to-test");
    env.poll_once().await;
    env.expect_builds(0);
    env.expect_all_trashed();
}

#[tokio::test]
async fn a_forged_committer_does_not_make_an_untrusted_upload_build() {
    let mut env = Env::new().await;
    let n = env.world.gerrit_add_change_by(
        standins::NewChange {
            number: Some(50_011),
            change_id: change_id_for(50_011),
            committer_email: "trusted@google.com".into(),
            ..standins::NewChange::default()
        },
        "eve@example.org",
    );
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(0);
    let lines = lines(&env).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("untrusted uploader eve@example.org")),
        "{lines:#?}"
    );
    env.expect_all_trashed();
}

/// Runs a real presubmit build of change `n` in Jenkins to `status` without notifying anyone;
/// returns (queue id, build number).
async fn real_build(env: &Env, n: u64, status: &str) -> (u64, u32) {
    let q = env.presubmit(n, 1).await;
    let _ = env
        .world
        .jenkins_run(q, status, "http://127.0.0.1:9/", Events::Completed)
        .await;
    let number = env
        .world
        .jenkins_queue()
        .iter()
        .find(|b| b.queue_id == q)
        .and_then(|b| b.number)
        .expect("started");
    (q, number)
}

fn callback(n: u64, number: u32, status: &str, job_url: &str) -> String {
    json!({"name": PRESUBMIT, "url": job_url,
        "build": {"number": number, "phase": "COMPLETED", "status": status,
                  "parameters": {"REF": format!("refs/changes/{:02}/{n}/1", n % 100)}}})
    .to_string()
}

#[tokio::test]
async fn a_callback_jenkins_contradicts_gets_no_vote_and_the_genuine_one_still_votes() {
    let mut env = Env::new().await;
    let l = env.start_listener().await;
    let victim = env.new_change();
    let built = env.new_change();
    let (_, number) = real_build(&env, built, "FAILURE").await;
    // Forged: the same build number, another change's REF, a SUCCESS it never had.
    let forged = callback(victim, number, "SUCCESS", &format!("job/{PRESUBMIT}/"));
    assert_eq!(l.post("/", forged).await.0, 202);
    l.settle().await;
    env.expect_reviews(0);
    // Forged status for the right change: also contradicted, and it does not use up the vote.
    let forged = callback(built, number, "SUCCESS", &format!("job/{PRESUBMIT}/"));
    assert_eq!(l.post("/", forged).await.0, 202);
    l.settle().await;
    env.expect_reviews(0);
    let genuine = callback(built, number, "FAILURE", &format!("job/{PRESUBMIT}/"));
    assert_eq!(l.post("/", genuine).await.0, 202);
    l.settle().await;
    let r = env.expect_reviews(1);
    assert_eq!((r[0].change, r[0].labels["Verified"]), (built, -1));
    let events = l.journal.events_after(0, 100).await.expect("events");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event.kind == EventKind::Error && e.event.text.contains("contradicts"))
            .count(),
        2,
        "{events:#?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_callback_for_a_build_jenkins_still_runs_waits_for_it() {
    let mut env = Env::new().await;
    let l = env.start_listener().await;
    let n = env.new_change();
    let q = env.presubmit(n, 1).await;
    env.world.jenkins_start(q).expect("start");
    let number = env
        .world
        .jenkins_queue()
        .iter()
        .find(|b| b.queue_id == q)
        .and_then(|b| b.number)
        .expect("number");
    assert_eq!(
        l.post(
            "/",
            callback(n, number, "SUCCESS", &format!("job/{PRESUBMIT}/"))
        )
        .await
        .0,
        202
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    env.expect_reviews(0);
    env.world.jenkins_finish(q, "SUCCESS").expect("finish");
    assert_eq!(env.await_reviews(1).await[0].labels["Verified"], 1);
    l.stop().await;
}

#[tokio::test]
async fn a_job_in_a_folder_votes_and_a_queue_id_of_minus_one_is_accepted() {
    let mut env = Env::with(Setup::default()).await;
    env.set("presubmit", "default_job = \"android/bionic-presubmit\"");
    env.world.jenkins_add_job(
        "android/bionic-presubmit",
        &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"],
    );
    env.set(
        "presubmit.projects",
        "\"platform/bionic\" = \"android/bionic-presubmit\"",
    );
    let l = env.start_listener().await;
    let n = env.new_change();
    let q = env
        .queue(
            "android/job/bionic-presubmit",
            &[("REF", format!("refs/changes/{:02}/{n}/1", n % 100))],
        )
        .await;
    let _ = env
        .world
        .jenkins_run(q, "SUCCESS", "http://127.0.0.1:9/", Events::Completed)
        .await;
    let number = env
        .world
        .jenkins_queue()
        .iter()
        .find(|b| b.queue_id == q)
        .and_then(|b| b.number)
        .expect("number");
    let mut body: serde_json::Value = serde_json::from_str(&callback(
        n,
        number,
        "SUCCESS",
        "job/android/job/bionic-presubmit/",
    ))
    .expect("json");
    body["name"] = json!("bionic-presubmit");
    body["build"]["queue_id"] = json!(-1);
    assert_eq!(l.post("/", body.to_string()).await.0, 202);
    let r = env.await_reviews(1).await;
    assert_eq!(r[0].labels["Verified"], 1);
    assert!(
        r[0].message
            .as_deref()
            .unwrap_or("")
            .starts_with("android/bionic-presubmit #"),
        "{r:?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn builds_nobody_triggered_do_not_vote_when_manual_builds_are_off() {
    let env = Env::new().await;
    env.set("presubmit", "vote_on_manual_builds = false");
    let l = env.start_listener().await;
    let n = env.new_change();
    let (q, number) = real_build(&env, n, "SUCCESS").await;
    let mut body: serde_json::Value = serde_json::from_str(&callback(
        n,
        number,
        "SUCCESS",
        &format!("job/{PRESUBMIT}/"),
    ))
    .expect("json");
    body["build"]["queue_id"] = json!(q);
    let (status, answer) = l.post("/", body.to_string()).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("not triggered by the bot"))
    );
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folded_clean_requests_report_to_every_change_that_asked() {
    let port = free_port();
    let mut env = Env::with(Setup {
        build_listener_url: format!("http://127.0.0.1:{port}"),
        ..Setup::default()
    })
    .await;
    let a = env.change(50_020, &change_id_for(50_020));
    let b = env.change(50_021, &change_id_for(50_021));
    env.comment(a, 1, "", "bionicbb: clean");
    env.comment(b, 1, "", "bionicbb: clean");
    env.poll_once().await;
    // Jenkins folded the second request into the first item.
    let queued = env.expect_builds(1);
    assert_eq!(queued[0].job, CLEAN);
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let l = crate::harness::start_listener_on(socket, env.config(), None).await;
    let _ = env
        .world
        .jenkins_run(queued[0].queue_id, "SUCCESS", &l.notify_url(), Events::All)
        .await;
    let r = env.await_reviews(2).await;
    let mut changes: Vec<u64> = r.iter().map(|r| r.change).collect();
    changes.sort_unstable();
    assert_eq!(changes, [a, b]);
    assert!(
        r.iter()
            .all(|r| r.message.as_deref() == Some("out/ directory removed"))
    );
    env.expect_all_trashed();
    l.stop().await;
}

#[tokio::test]
async fn a_gerrit_login_redirect_is_not_followed_and_the_vote_is_kept() {
    let mut env = Env::new().await;
    let l = env.start_listener().await;
    env.world.set_fault(
        Service::Gerrit,
        Fault::Redirect {
            location: "https://login.example.com/?continue=gerrit".into(),
        },
    );
    let n = env.new_change();
    let q = env.presubmit(n, 1).await;
    env.run_build(q, "SUCCESS", &l.notify_url(), Events::Completed)
        .await;
    assert!(eventually(WAIT, || !env.world.requests(Service::Gerrit).is_empty()).await);
    // A POST turned into a GET would have lost the vote; nothing was followed.
    assert!(
        !env.world
            .requests(Service::Gerrit)
            .iter()
            .any(|r| r.path.contains("login"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = l.journal.events_after(0, 100).await.expect("events");
    let error = events
        .iter()
        .find(|e| e.event.kind == EventKind::Error && e.event.text.contains("redirect"))
        .expect("an ERROR line");
    assert!(
        error.event.text.contains("127.0.0.1:") && error.event.text.contains("netrc"),
        "{error:?}"
    );
    env.world.set_fault(Service::Gerrit, Fault::None);
    assert_eq!(env.await_reviews(1).await[0].labels["Verified"], 1);
    l.stop().await;
}

#[tokio::test]
async fn a_jenkins_password_instead_of_an_api_token_is_named_and_the_mail_kept() {
    let env = Env::new().await;
    let (user, token) = env.world.jenkins_credentials();
    let password = env.world.jenkins_password();
    let netrc = env.dir.path().join("netrc");
    let text = std::fs::read_to_string(&netrc).expect("netrc");
    std::fs::write(
        &netrc,
        text.replace(
            &format!("login {user} password {token}"),
            &format!("login {user} password {password}"),
        ),
    )
    .expect("netrc");
    let n = env.change(50_030, &change_id_for(50_030));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    assert_eq!(env.poll_once().await.left, 1);
    env.expect_left(&id);
    let lines = lines(&env).await;
    assert!(
        lines.iter().any(|l| l.starts_with("error(")
            && l.contains("No valid crumb")
            && l.contains("API token")),
        "{lines:#?}"
    );
    drop(env_with_pending(env));
}

fn env_with_pending(mut env: Env) -> Env {
    env.expect_pending_intents(1);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_listener_cannot_be_starved_by_idle_slow_or_unauthenticated_clients() {
    let mut env = Env::with(Setup {
        token: Some("s3cret".into()),
        ..Setup::default()
    })
    .await;
    let l = env.start_listener().await;
    let addr = l.url.trim_start_matches("http://").to_string();
    // 150 connections that send nothing, 150 that send headers one byte at a time.
    let mut idle = Vec::new();
    for _ in 0..150 {
        idle.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    let mut slow = Vec::new();
    for _ in 0..150 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        slow.push(s);
    }
    let dribble = tokio::spawn(async move {
        for _ in 0..30 {
            for s in &mut slow {
                let _ = s.write_all(b"X").await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        slow
    });
    // /healthz and a real callback still answer within a second.
    let t = Instant::now();
    let health = reqwest::get(format!("{}/healthz", l.url))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let n = env.new_change();
    let q = env.presubmit(n, 1).await;
    let t = Instant::now();
    let codes = env
        .run_build(
            q,
            "SUCCESS",
            &format!("{}/?token=s3cret", l.url),
            Events::Completed,
        )
        .await;
    assert_eq!(codes, [202]);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    env.await_reviews(1).await;
    // A declared 1 MB body without the token: 401 at once, the body never sent nor read.
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n")
        .await
        .expect("write");
    let mut answer = vec![0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(1), s.read(&mut answer))
        .await
        .expect("answered within a second")
        .expect("read");
    let head = String::from_utf8_lossy(&answer[..read]).to_string();
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // Connections that never complete a request are cut after the request timeout.
    tokio::time::sleep(bionicbb::server::REQUEST_TIMEOUT + Duration::from_secs(1)).await;
    let mut closed = 0;
    for mut s in idle {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), s.read(&mut b)).await
        {
            closed += 1;
        }
    }
    let slow = dribble.await.expect("dribble");
    let mut slow_closed = 0;
    for mut s in slow {
        let mut b = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut b)).await {
            Ok(Ok(0) | Err(_)) => slow_closed += 1,
            Ok(Ok(n)) if String::from_utf8_lossy(&b[..n]).starts_with("HTTP/1.1 4") => {
                slow_closed += 1
            }
            _ => {}
        }
    }
    assert_eq!((closed, slow_closed), (150, 150));
    l.stop().await;
}

#[tokio::test]
async fn the_state_database_and_the_token_cache_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new().await;
    let token = env.dir.path().join("oauth-token.json");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    env.poll_once().await;
    let db = env.config().state.path;
    for path in [token, db.clone(), db.with_extension("db-wal")] {
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}

#[tokio::test]
async fn a_jenkins_login_redirect_is_reported_with_the_host_and_the_mail_kept() {
    let mut env = Env::new().await;
    env.world.set_fault(
        Service::Jenkins,
        Fault::Redirect {
            location: "https://sso.example.com/login".into(),
        },
    );
    let n = env.change(50_040, &change_id_for(50_040));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    assert_eq!(env.poll_once().await.left, 1);
    env.expect_left(&id);
    let lines = lines(&env).await;
    assert!(
        lines.iter().any(|l| l.starts_with("error(")
            && l.contains("redirect to https://sso.example.com/login")
            && l.contains("127.0.0.1:")),
        "{lines:#?}"
    );
    assert!(
        !env.world
            .requests(Service::Jenkins)
            .iter()
            .any(|r| r.path.contains("login"))
    );
    // Fixed: the next poll builds, once.
    env.world.set_fault(Service::Jenkins, Fault::None);
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_trashed(&id);
}

#[tokio::test]
async fn a_gerrit_401_or_403_is_an_error_line_naming_the_host_and_the_netrc_machine() {
    let mut env = Env::new().await;
    for (i, status) in [401u16, 403].into_iter().enumerate() {
        let number = 50_050 + i as u64;
        env.world.set_fault(
            Service::Gerrit,
            Fault::FailNext {
                count: 1000,
                status,
            },
        );
        let n = env.change(number, &change_id_for(number));
        let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
        assert_eq!(env.poll_once().await.left, 1);
        env.expect_left(&id);
        let lines = lines(&env).await;
        assert!(
            lines.iter().any(|l| l.starts_with("error(")
                && l.contains("Gerrit at 127.0.0.1:")
                && l.contains(&format!(": {status} "))
                && l.contains("netrc entry `machine 127.0.0.1`")),
            "{lines:#?}"
        );
        // Fixed: the next poll builds, once.
        env.world.set_fault(Service::Gerrit, Fault::None);
        env.poll_once().await;
        env.expect_builds(1);
        env.expect_trashed(&id);
    }
}
