//! SPEC §13 scenarios (behaviour, not timings): an idle poll is one Gmail request, a history too
//! old falls back to a full listing, mails of one change are handled in order while different
//! changes overlap, `concurrency = 1` is sequential, and handled mail is moved in batches.

use std::time::Duration;

use bionicbb::effects;
use bionicbb::journal::Owner;
use standins::{Fault, Service};

use crate::harness::{Env, MailSpec, change_id_for};

fn gmail_calls(env: &Env) -> Vec<String> {
    env.world
        .gmail_requests()
        .into_iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path.rsplit("/me/").next().unwrap_or(&r.path)
            )
        })
        .collect()
}

#[tokio::test]
async fn an_idle_poll_is_one_history_request() {
    let mut env = Env::new().await;
    let n = env.change(60_001, &change_id_for(60_001));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    let poller = env.poller(false).await;
    poller.poll_once().await.expect("poll");
    env.expect_builds(1);
    let before = env.world.gmail_requests().len();
    for _ in 0..5 {
        let r = poller.poll_once().await.expect("poll");
        assert_eq!(r.seen, 0);
    }
    let idle: Vec<String> = gmail_calls(&env)[before..].to_vec();
    assert_eq!(idle, vec!["GET history".to_string(); 5], "{idle:#?}");
    // New mail is found by the history alone.
    env.deliver(&MailSpec::new("newpatchset", n, 1).render());
    let n2 = env.change(60_002, &change_id_for(60_002));
    env.deliver(&MailSpec::new("newchange", n2, 1).render());
    let r = poller.poll_once().await.expect("poll");
    assert_eq!((r.seen, r.trashed), (2, 2));
    env.expect_builds(1);
    env.expect_all_trashed();
}

#[tokio::test]
async fn a_history_too_old_falls_back_to_a_full_listing() {
    let mut env = Env::new().await;
    let poller = env.poller(false).await;
    poller.poll_once().await.expect("poll");
    let n = env.change(60_010, &change_id_for(60_010));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.world.gmail_expire_history();
    let before = env.world.gmail_requests().len();
    let r = poller.poll_once().await.expect("poll");
    assert_eq!(r.trashed, 1);
    let calls = gmail_calls(&env)[before..].to_vec();
    assert_eq!(calls[0], "GET history", "{calls:#?}");
    assert!(calls.iter().any(|c| c == "GET messages"), "{calls:#?}");
    env.expect_builds(1);
    env.expect_all_trashed();
}

#[tokio::test]
async fn handled_mail_is_moved_in_one_batch() {
    let mut env = Env::new().await;
    for n in 0..30 {
        let number = 60_100 + n;
        env.change(number, &change_id_for(number));
        env.deliver(&MailSpec::new("newchange", number, 1).render());
    }
    env.deliver(b"From: someone@example.com\r\nSubject: hi\r\n\r\nhello\r\n");
    env.poll_once().await;
    env.expect_builds(30);
    // One Gerrit request for each mail's facts (and, once per process, who the bot is), one
    // Jenkins request for each build.
    let gerrit = env.world.requests(Service::Gerrit);
    let facts = gerrit.iter().filter(|r| r.path.starts_with("/a/changes/"));
    assert_eq!(facts.count(), 30, "{gerrit:#?}");
    assert_eq!(gerrit.len(), 31, "{gerrit:#?}");
    let jenkins = env.world.requests(Service::Jenkins);
    assert_eq!(jenkins.len(), 30, "{jenkins:#?}");
    let calls = gmail_calls(&env);
    let moves: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains("trash") || c.contains("modify") || c.contains("batchModify"))
        .collect();
    // 31 mails in one window of 64: one batch to the trash, one to the set-aside label.
    assert_eq!(moves.len(), 2, "{moves:#?}");
    assert!(
        moves.iter().all(|c| c.ends_with("messages/batchModify")),
        "{moves:#?}"
    );
    for m in env.world.gmail_messages() {
        if m.trashed {
            env.expect_trashed(&m.id);
        } else {
            env.expect_set_aside(&m.id);
        }
    }
}

/// The mail-move effector is one: a move a stopped process left (it crashed after moving the
/// mail, before recording that) is carried out alone by the same `batchModify`, a batch of one.
#[tokio::test]
async fn a_move_a_stopped_process_left_is_a_batch_of_one() {
    let env = Env::new().await;
    env.world.gmail_label("gerrit");
    // The mail is no longer under the watch label: only the orphaned intent brings it back.
    let id = env
        .world
        .gmail_deliver(b"From: someone@example.com\r\n\r\nx\r\n", &["INBOX"]);
    let journal = env.journal();
    journal
        .record(vec![effects::plan_move(&id, None, "mail")], Vec::new())
        .await
        .expect("record");
    // Its owner is gone: a lease of zero has run out by the next poll.
    let gone = Owner {
        id: "elsewhere/1/1/0".into(),
        lease: Duration::ZERO,
    };
    journal
        .claim_keys(vec![effects::move_key(&id)], &gone)
        .await
        .expect("claim");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before = env.world.gmail_requests().len();
    env.poll_once().await;
    let calls = gmail_calls(&env)[before..].to_vec();
    let moves: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains("trash") || c.contains("modify") || c.contains("batchModify"))
        .collect();
    assert_eq!(moves, ["POST messages/batchModify"], "{calls:#?}");
    env.expect_trashed(&id);
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_changes_overlap_while_one_changes_mails_keep_their_order() {
    let mut env = Env::new().await;
    env.world
        .set_fault(Service::Jenkins, Fault::Latency(Duration::from_millis(100)));
    let one = env.change(60_200, &change_id_for(60_200));
    // Three commands for one change, in three mails: they must build in this order.
    for target in ["arm", "x86_64", "retry"] {
        env.comment(one, 1, "", &format!("bionicbb: {target}"));
    }
    for n in 1..=6 {
        let number = 60_200 + n;
        env.change(number, &change_id_for(number));
        env.deliver(&MailSpec::new("newchange", number, 1).render());
    }
    env.poll_once().await;
    assert!(env.world.max_in_flight(Service::Jenkins) >= 2, "no overlap");
    let builds = env.expect_builds(9);
    let ours: Vec<String> = builds
        .iter()
        .filter(|b| b.params["REF"].ends_with(&format!("/{one}/1")))
        .map(|b| b.params["LUNCH_TARGET"].clone())
        .collect();
    assert_eq!(ours, ["aosp_arm-eng", "aosp_x86_64-eng", ""]);
    env.expect_all_trashed();
}

#[tokio::test]
async fn concurrency_one_handles_one_mail_at_a_time() {
    let mut env = Env::new().await;
    env.set("gmail", "concurrency = 1");
    env.world
        .set_fault(Service::Jenkins, Fault::Latency(Duration::from_millis(50)));
    env.world
        .set_fault(Service::Gerrit, Fault::Latency(Duration::from_millis(50)));
    for n in 1..=5 {
        let number = 60_300 + n;
        env.change(number, &change_id_for(number));
        env.deliver(&MailSpec::new("newchange", number, 1).render());
    }
    env.poll_once().await;
    env.expect_builds(5);
    assert_eq!(env.world.max_in_flight(Service::Jenkins), 1);
    assert_eq!(env.world.max_in_flight(Service::Gerrit), 1);
    env.expect_all_trashed();
}

#[tokio::test]
async fn history_asks_for_added_mail_on_the_label_and_full_scan_interval_lists_it_all_again() {
    let env = Env::new().await;
    env.set("gmail", "full_scan_interval = \"400ms\"");
    let poller = env.poller(false).await;
    poller
        .poll_once()
        .await
        .expect("first poll: a full listing");
    let before = env.world.gmail_requests().len();
    poller.poll_once().await.expect("poll");
    let history: Vec<_> = env.world.gmail_requests()[before..].to_vec();
    assert_eq!(history.len(), 1, "{history:#?}");
    let q = &history[0].query;
    assert!(history[0].path.ends_with("/history"), "{history:#?}");
    for wanted in [
        "historyTypes=messageAdded",
        "historyTypes=labelAdded",
        "labelId=",
        "startHistoryId=",
    ] {
        assert!(q.contains(wanted), "{wanted} not in {q}");
    }
    // `full_scan_interval` after the last full listing, the label is listed whole again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.world.gmail_requests().len();
    poller.poll_once().await.expect("poll");
    let calls = gmail_calls(&env)[before..].to_vec();
    assert!(calls.iter().any(|c| c == "GET messages"), "{calls:#?}");
    assert!(!calls.iter().any(|c| c == "GET history"), "{calls:#?}");
    env.finish();
}
