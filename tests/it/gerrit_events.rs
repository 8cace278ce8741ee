//! SPEC §15 instant intake: `POST /gerrit-events` takes the webhooks plugin's
//! `patchset-created` and `comment-added` events through the same checks and intents as mail.

use std::time::Duration;

use standins::{EventSpelling, Fault, GerritWebhooks, Service};

use crate::harness::{
    Env, MailSpec, Setup, WAIT, change_id_for, eventually, free_port, start_listener_on,
};

/// An environment whose build-listener is on a known port (gmail-listener can reach it).
async fn env_with_listener(token: Option<&str>) -> (Env, crate::harness::Listener) {
    let port = free_port();
    let env = Env::with(Setup {
        build_listener_url: format!("http://127.0.0.1:{port}"),
        token: token.map(str::to_string),
        ..Setup::default()
    })
    .await;
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let token = token.map(|t| bionicbb::credentials::Secret::new(t.to_string()));
    let l = start_listener_on(socket, env.config(), token).await;
    (env, l)
}

fn events_url(l: &crate::harness::Listener) -> String {
    format!("{}/gerrit-events", l.url)
}

async fn await_builds(env: &Env, n: usize) {
    let world = env.world.clone();
    eventually(WAIT, || world.jenkins_queue().len() >= n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_set_announced_by_webhook_and_mail_is_built_once() {
    let (mut env, l) = env_with_listener(None).await;
    let n = env.change(80_001, &change_id_for(80_001));
    let event = env
        .world
        .gerrit_patchset_created_event(n, 1, EventSpelling::Webhooks)
        .expect("event");
    let status = env.world.gerrit_webhook(&events_url(&l), &event).await;
    assert_eq!(status, Ok(202));
    await_builds(&env, 1).await;
    let build = env.expect_builds(1).remove(0);
    assert_eq!(build.job, "bionic-presubmit");
    assert_eq!(build.params.get("CHANGE_ID"), Some(&change_id_for(80_001)));
    // The plugin's retry of the same event, and the mail, build nothing more.
    assert_eq!(
        env.world.gerrit_webhook(&events_url(&l), &event).await,
        Ok(202)
    );
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(0);
    env.expect_trashed(&id);
    l.stop().await;
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_the_events_is_read() {
    let (mut env, l) = env_with_listener(None).await;
    let spellings = [
        EventSpelling::Webhooks,
        EventSpelling::WebhooksLegacy,
        EventSpelling::StreamEvents,
    ];
    for (i, spelling) in spellings.into_iter().enumerate() {
        let n = env.change(80_010 + i as u64, &change_id_for(80_010 + i as u64));
        let event = env
            .world
            .gerrit_patchset_created_event(n, 1, spelling)
            .expect("event");
        assert_eq!(
            env.world.gerrit_webhook(&events_url(&l), &event).await,
            Ok(202),
            "{spelling:?}"
        );
    }
    await_builds(&env, 3).await;
    for b in env.expect_builds(3) {
        // Started, so that a retry is a new queue item (Jenkins folds identical waiting ones).
        env.world.jenkins_start(b.queue_id).expect("start");
    }
    // A comment's event in the old spelling runs its command.
    let n = 80_010;
    let message = env.world.gerrit_post_comment(
        n,
        1,
        env.dana,
        standins::CommentSpec {
            message: Some("bionicbb: retry".into()),
            ..Default::default()
        },
    );
    let event = env
        .world
        .gerrit_comment_added_event(n, &message, EventSpelling::StreamEvents)
        .expect("event");
    assert_eq!(
        env.world.gerrit_webhook(&events_url(&l), &event).await,
        Ok(202)
    );
    await_builds(&env, 4).await;
    env.expect_builds(1);
    l.stop().await;
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_plugin_on_patch_sets_and_commands_are_built_at_once_and_every_event_is_answered_2xx()
 {
    let (mut env, l) = env_with_listener(Some("s3cret")).await;
    let plugin = env.world.gerrit_webhooks(GerritWebhooks::new(format!(
        "{}?token=s3cret",
        events_url(&l)
    )));
    let n = env.change(80_020, &change_id_for(80_020));
    await_builds(&env, 1).await;
    let first = env.expect_builds(1).remove(0);
    env.world.jenkins_start(first.queue_id).expect("start");
    // A stranger's command is no command; Dana's is.
    let stranger = env
        .world
        .gerrit_add_account_named("mallory", "Mallory", "mallory@evil.example");
    env.world.gerrit_post_comment(
        n,
        1,
        stranger,
        standins::CommentSpec {
            message: Some("bionicbb: retry".into()),
            ..Default::default()
        },
    );
    env.world.gerrit_post_comment(
        n,
        1,
        env.dana,
        standins::CommentSpec {
            message: Some("bionicbb: retry".into()),
            ..Default::default()
        },
    );
    await_builds(&env, 2).await;
    env.expect_builds(1);
    // A new patch set: built at once too.
    env.world
        .gerrit_add_patch_set(n, "dev@google.com", vec!["libc/bionic/strlen.cpp".into()]);
    await_builds(&env, 3).await;
    let b = env.expect_builds(1).remove(0);
    assert!(
        b.params.get("REF").is_some_and(|r| r.ends_with("/2")),
        "{b:?}"
    );
    // The retry of patch set 1, still waiting in the queue, is cancelled (`cancel_superseded`).
    let world = env.world.clone();
    assert!(
        eventually(WAIT, || world.jenkins_queue().iter().any(
            |q| q.cancelled && q.params.get("REF").is_some_and(|r| r.ends_with("/1"))
        ))
        .await,
        "{:#?}",
        world.jenkins_queue()
    );
    assert!(
        eventually(WAIT, || world.gerrit_webhook_deliveries().len() >= 4).await,
        "{:?}",
        world.gerrit_webhook_deliveries()
    );
    for d in world.gerrit_webhook_deliveries() {
        assert!(d.delivered, "{d:?}");
        assert_eq!(d.attempts.len(), 1, "{d:?}");
    }
    plugin.abort();
    l.stop().await;
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_comment_event_builds_nothing_and_is_still_answered() {
    let (mut env, l) = env_with_listener(None).await;
    let n = env.change(80_030, &change_id_for(80_030));
    let message = env.world.gerrit_post_comment(
        n,
        1,
        env.dana,
        standins::CommentSpec {
            message: Some("Looks fine".into()),
            ..Default::default()
        },
    );
    let event = env
        .world
        .gerrit_comment_added_event(n, &message, EventSpelling::Webhooks)
        .expect("event");
    let mut forged = event.json.clone();
    forged["comment"] = "Patch Set 1:\n\nbionicbb: retry".into();
    let (status, body) = l.post("/gerrit-events", forged.to_string()).await;
    assert_eq!(status, 202, "{body}");
    // A comment nobody made on a change that is not there.
    let mut ghost = forged.clone();
    ghost["change"]["number"] = 99_999.into();
    let (status, body) = l.post("/gerrit-events", ghost.to_string()).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.expect_builds(0);
    env.expect_reviews(0);
    l.stop().await;
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_get_a_one_line_4xx_and_other_types_a_2xx() {
    let (mut env, l) = env_with_listener(Some("s3cret")).await;
    let n = env.change(80_040, &change_id_for(80_040));
    let event = env
        .world
        .gerrit_patchset_created_event(n, 1, EventSpelling::Webhooks)
        .expect("event");
    // No token, a wrong token: 401 before the body is read.
    let (status, _) = l.post("/gerrit-events", event.body.clone()).await;
    assert_eq!(status, 401);
    let (status, _) = l
        .post_with("/gerrit-events", event.body.clone(), Some("wrong"))
        .await;
    assert_eq!(status, 401);
    let post = |body: Vec<u8>| {
        let l = &l;
        async move { l.post_with("/gerrit-events", body, Some("s3cret")).await }
    };
    let truncated = event.body.as_bytes()[..event.body.len() / 2].to_vec();
    let mut mismatched = event.json.clone();
    mismatched["project"] = serde_json::json!({"name": "platform/other"});
    let mut latin1 = event.body.clone().into_bytes();
    latin1.extend_from_slice(b"\xe9");
    for (body, want) in [
        (Vec::new(), "empty"),
        (b"not json".to_vec(), "not UTF-8 JSON"),
        (truncated, "not UTF-8 JSON"),
        (latin1, "not UTF-8 JSON"),
        (b"{}".to_vec(), "no `type`"),
        (br#"{"type":"patchset-created"}"#.to_vec(), "no `change`"),
        (mismatched.to_string().into_bytes(), "`project`"),
    ] {
        let (status, body) = post(body).await;
        assert_eq!(status, 400, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(want), "{want}: {error}");
    }
    let huge = vec![b' '; 2 * 1024 * 1024];
    let (status, _) = post(huge).await;
    assert_eq!(status, 413);
    let (status, body) = post(br#"{"type":"ref-updated","project":{"name":"p"}}"#.to_vec()).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("ignored")));
    env.expect_builds(0);
    // The real one still works.
    let (status, _) = post(event.body.into_bytes()).await;
    assert_eq!(status, 202);
    await_builds(&env, 1).await;
    env.expect_builds(1);
    l.stop().await;
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gerrit_down_is_a_503_the_plugin_retries_and_jenkins_down_is_retried_here() {
    let (mut env, l) = env_with_listener(None).await;
    let n = env.change(80_050, &change_id_for(80_050));
    let event = env
        .world
        .gerrit_patchset_created_event(n, 1, EventSpelling::Webhooks)
        .expect("event");
    env.world.set_fault(Service::Gerrit, Fault::Down);
    let (status, body) = l.post("/gerrit-events", event.body.clone()).await;
    assert_eq!(status, 503, "{body}");
    env.world.set_fault(Service::Gerrit, Fault::None);
    // Recorded, then Jenkins refuses twice: the build still happens, once.
    env.world.set_fault(
        Service::Jenkins,
        Fault::FailNext {
            count: 2,
            status: 503,
        },
    );
    let (status, body) = l.post("/gerrit-events", event.body.clone()).await;
    assert_eq!(status, 202, "{body}");
    await_builds(&env, 1).await;
    env.expect_builds(1);
    l.stop().await;
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_plus_one_by_webhook_lifts_the_bots_rejection_once() {
    let (mut env, l) = env_with_listener(None).await;
    let n = env.change(80_060, &change_id_for(80_060));
    let bot = env.world.gerrit_bot_account_id();
    env.world.gerrit_set_vote(n, 1, bot, "Verified", -1);
    let message = env.world.gerrit_post_comment(
        n,
        1,
        env.dana,
        standins::CommentSpec {
            labels: [("Verified".to_string(), 1)].into_iter().collect(),
            ..Default::default()
        },
    );
    let mail = env.mail_of("Dana Whitfield", n, 1, "Verified+1", "", &message);
    let event = env
        .world
        .gerrit_comment_added_event(n, &message, EventSpelling::Webhooks)
        .expect("event");
    assert_eq!(
        env.world.gerrit_webhook(&events_url(&l), &event).await,
        Ok(202)
    );
    let world = env.world.clone();
    assert!(
        eventually(WAIT, || world
            .gerrit_votes(n, 1, "Verified")
            .get(&bot)
            .is_none_or(|v| *v == 0))
        .await
    );
    let dropped = env.expect_reviews(1);
    assert_eq!(dropped[0].labels.get("Verified"), Some(&0));
    // The mail of the same comment asks for nothing more.
    let id = env.deliver(&mail.render());
    let report = env.poll_once().await;
    assert_eq!(report.drop_rejections, 0);
    env.expect_trashed(&id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.expect_reviews(0);
    l.stop().await;
    env.finish();
}
