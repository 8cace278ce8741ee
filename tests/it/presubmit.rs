//! SPEC §15 scenarios: several jobs and one vote, non-voting jobs, start messages, superseded
//! patch sets and cancelling their queued builds.

use standins::Events;

use crate::harness::{Env, MailSpec, Setup, change_id_for, free_port, start_listener_on};

const JOBS: &str =
    "\"platform/bionic\" = [\"bionic-presubmit\", \"bionic-tests\", \"bionic-style\"]";

async fn three_jobs() -> (Env, u16) {
    let port = free_port();
    let env = Env::with(Setup {
        build_listener_url: format!("http://127.0.0.1:{port}"),
        ..Setup::default()
    })
    .await;
    env.set("presubmit.projects", JOBS);
    env.set("presubmit", "non_voting_jobs = [\"bionic-style\"]");
    for job in ["bionic-tests", "bionic-style"] {
        env.world
            .jenkins_add_job(job, &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"]);
    }
    (env, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_jobs_build_each_patch_set_and_the_last_voting_one_votes_once() {
    let (mut env, port) = three_jobs().await;
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let l = start_listener_on(socket, env.config(), None).await;
    let n = env.change(70_001, &change_id_for(70_001));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    let builds = env.expect_builds(3);
    let jobs: Vec<&str> = builds.iter().map(|b| b.job.as_str()).collect();
    assert_eq!(jobs, ["bionic-presubmit", "bionic-tests", "bionic-style"]);
    let url = l.notify_url();
    let world = env.world.clone();
    let run = |i: usize, status: &'static str| {
        let (world, q, url) = (world.clone(), builds[i].queue_id, url.clone());
        async move {
            world
                .jenkins_run(q, status, &url, Events::All)
                .await
                .expect("callbacks")
        }
    };
    run(0, "SUCCESS").await;
    let first = env.await_reviews(1).await;
    assert!(first[0].labels.is_empty(), "{first:?}");
    run(2, "FAILURE").await; // non-voting: its own message, never a label, not waited for
    let lint = env.await_reviews(1).await;
    assert!(lint[0].labels.is_empty(), "{lint:?}");
    assert!(
        lint[0]
            .message
            .as_deref()
            .unwrap_or("")
            .starts_with("bionic-style #1 checkbuild FAILURE")
    );
    run(1, "SUCCESS").await;
    let last = env.await_reviews(1).await;
    assert_eq!(last[0].labels.get("Verified"), Some(&1), "{last:?}");
    let lines: Vec<&str> = last[0].message.as_deref().unwrap_or("").lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("bionic-presubmit #1 checkbuild SUCCESS"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("bionic-tests #1 checkbuild SUCCESS"),
        "{lines:?}"
    );
    env.expect_all_trashed();
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_rebuilds_every_job_and_a_target_the_first() {
    let (mut env, _port) = three_jobs().await;
    let n = env.change(70_002, &change_id_for(70_002));
    env.comment(n, 1, "", "bionicbb: retry");
    env.poll_once().await;
    assert_eq!(env.expect_builds(3).len(), 3);
    env.comment(n, 1, "", "bionicbb: arm");
    env.poll_once().await;
    let arm = env.expect_builds(1);
    assert_eq!(
        (arm[0].job.as_str(), arm[0].params["LUNCH_TARGET"].as_str()),
        ("bionic-presubmit", "aosp_arm-eng")
    );
    env.expect_all_trashed();
}

#[tokio::test]
async fn start_messages_are_posted_once_per_build_when_asked_for() {
    let mut env = Env::new().await;
    env.set("presubmit", "start_message = true");
    let l = env.start_listener().await;
    let n = env.new_change();
    let q = env.presubmit(n, 1).await;
    env.run_build(q, "SUCCESS", &l.notify_url(), Events::All)
        .await;
    let r = env.await_reviews(2).await;
    assert!(
        r[0].message
            .as_deref()
            .unwrap_or("")
            .contains("#1 started: "),
        "{r:?}"
    );
    assert!(r[0].labels.is_empty());
    assert_eq!(r[1].labels.get("Verified"), Some(&1));
    // The plugin's re-send of STARTED posts nothing new.
    let started = env.world.jenkins_event_body(q, "STARTED", None);
    assert_eq!(l.post("/", started).await.0, 200);
    l.settle().await;
    env.expect_reviews(0);
    l.stop().await;
}

#[tokio::test]
async fn a_result_for_a_superseded_patch_set_is_posted_there_without_a_vote() {
    let mut env = Env::new().await;
    let l = env.start_listener().await;
    let n = env.new_change();
    let q = env.presubmit(n, 1).await;
    env.world
        .gerrit_add_patch_set(n, "a@google.com", vec!["libc/x.c".into()]);
    env.run_build(q, "FAILURE", &l.notify_url(), Events::Completed)
        .await;
    let r = env.await_reviews(1).await;
    assert_eq!((r[0].patch_set, r[0].labels.is_empty()), (1, true), "{r:?}");
    let items = l.settle().await;
    assert!(
        items[0]
            .outcome
            .as_deref()
            .unwrap_or("")
            .contains("superseded"),
        "{items:?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_newer_patch_set_cancels_the_older_ones_builds_still_waiting() {
    let mut env = Env::new().await;
    let n = env.change(70_010, &change_id_for(70_010));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    let old = env.expect_builds(1);
    env.world
        .gerrit_add_patch_set(n, "dev@google.com", vec!["libc/bionic/strlen.cpp".into()]);
    env.deliver(&MailSpec::new("newpatchset", n, 2).render());
    env.poll_once().await;
    let new = env.expect_builds(1);
    assert_eq!(new[0].params["REF"], format!("refs/changes/10/{n}/2"));
    let queue = env.world.jenkins_queue();
    let cancelled = queue
        .iter()
        .find(|b| b.queue_id == old[0].queue_id)
        .expect("old item");
    assert!(cancelled.cancelled, "{queue:#?}");
    let builds = env.journal().builds().await.expect("builds");
    assert_eq!(
        builds
            .iter()
            .find(|b| b.queue_id == Some(old[0].queue_id))
            .and_then(|b| b.status),
        Some(bionicbb::journal::BuildStatus::Cancelled)
    );
    env.expect_all_trashed();
}

#[tokio::test]
async fn cancel_superseded_can_be_turned_off_and_running_builds_are_left_alone() {
    let mut env = Env::new().await;
    env.set("presubmit", "cancel_superseded = false");
    let n = env.change(70_020, &change_id_for(70_020));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    let old = env.expect_builds(1);
    env.world
        .gerrit_add_patch_set(n, "dev@google.com", vec!["libc/bionic/strlen.cpp".into()]);
    env.deliver(&MailSpec::new("newpatchset", n, 2).render());
    env.poll_once().await;
    env.expect_builds(1);
    assert!(!env.world.jenkins_queue().iter().any(|b| b.cancelled));
    let _ = old;
    env.expect_all_trashed();
}
