//! SPEC §15 reconcile: Gerrit is the truth and mail a hint, so a patch set whose mail was lost
//! is still built, once, within one `[gerrit] reconcile_interval`.

use std::time::Duration;

use bionicbb::intake::reconcile::{CURSOR, Reconciled};
use standins::{Fault, Service};

use crate::harness::{Env, MailSpec, WAIT, change_id_for, eventually};

fn change_in(env: &Env, project: &str, number: u64) -> u64 {
    env.world.gerrit_add_change(standins::NewChange {
        project: project.into(),
        branch: "main".into(),
        change_id: change_id_for(number),
        number: Some(number),
        committer_email: "dev@google.com".into(),
        files: vec!["libc/bionic/strlen.cpp".into()],
    })
}

fn queries(env: &Env) -> usize {
    env.world
        .requests(Service::Gerrit)
        .iter()
        .filter(|r| r.path == "/a/changes/" && r.query.contains("q="))
        .count()
}

#[tokio::test]
async fn the_first_pass_only_remembers_where_gerrit_is() {
    let mut env = Env::new().await;
    let old = env.change(81_001, &change_id_for(81_001));
    let poller = env.poller(false).await;
    let r = poller.reconcile_if_due().await.expect("pass");
    assert_eq!(
        r,
        Some(Reconciled {
            first: true,
            ..Reconciled::default()
        })
    );
    env.expect_builds(0);
    // Just past the newest change, plus the overlap the next query reaches back.
    let cursor = env.journal().cursor(CURSOR).await.expect("cursor");
    let updated = env.world.gerrit_updated(old).expect("updated");
    assert_eq!(cursor, Some((updated + 1 + 60_000).to_string()));
    // Not due again until the interval has passed.
    assert_eq!(poller.reconcile_if_due().await.expect("pass"), None);
    env.finish();
}

#[tokio::test]
async fn a_lost_mail_is_built_by_the_next_pass_once_and_its_late_mail_builds_nothing() {
    let mut env = Env::new().await;
    let n = env.change(81_010, &change_id_for(81_010));
    let first = env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_trashed(&first);
    let poller = env.poller(false).await;
    assert!(poller.intake.reconcile().await.expect("pass").first);
    // A new change and a new patch set whose mails never come.
    let lost = env.change(81_011, &change_id_for(81_011));
    env.world
        .gerrit_add_patch_set(n, "dev@google.com", vec!["libc/bionic/strlen.cpp".into()]);
    let r = poller.intake.reconcile().await.expect("pass");
    assert_eq!((r.unbuilt, r.builds, r.failed), (2, 2, 0), "{r:?}");
    let builds = env.expect_builds(2);
    let mut refs: Vec<String> = builds
        .iter()
        .map(|b| b.params.get("REF").cloned().unwrap_or_default())
        .collect();
    refs.sort();
    assert!(
        refs[0].ends_with("/81010/2") && refs[1].ends_with("/81011/1"),
        "{refs:?}"
    );
    // Again: nothing new to build (the overlap lists them again).
    let r = poller.intake.reconcile().await.expect("pass");
    assert_eq!((r.unbuilt, r.builds), (0, 0), "{r:?}");
    env.expect_builds(0);
    // The lost mails arrive after all: nothing is built twice.
    let late = env.deliver(&MailSpec::new("newchange", lost, 1).render());
    let late2 = env.deliver(&MailSpec::new("newpatchset", n, 2).render());
    env.poll_once().await;
    env.expect_builds(0);
    env.expect_trashed(&late);
    env.expect_trashed(&late2);
    env.finish();
}

#[tokio::test]
async fn the_cursor_survives_a_restart_and_a_gerrit_failure_keeps_it() {
    let mut env = Env::new().await;
    env.change(81_020, &change_id_for(81_020));
    {
        let first = env.poller(false).await;
        assert!(first.intake.reconcile().await.expect("pass").first);
    }
    let lost = env.change(81_021, &change_id_for(81_021));
    // A new process: it knows where it was, so the lost change is built, not remembered.
    let second = env.poller(false).await;
    env.world.set_fault(
        Service::Gerrit,
        Fault::FailNext {
            count: 1,
            status: 503,
        },
    );
    let e = second.intake.reconcile().await.expect_err("Gerrit failed");
    assert!(e.to_string().contains("open changes"), "{e}");
    let r = second.intake.reconcile().await.expect("pass");
    assert!(!r.first);
    assert_eq!(r.builds, 1, "{r:?}");
    let b = env.expect_builds(1).remove(0);
    assert_eq!(b.params.get("CHANGE_ID"), Some(&change_id_for(lost)));
    let cursor: i64 = env
        .journal()
        .cursor(CURSOR)
        .await
        .expect("cursor")
        .and_then(|v| v.parse().ok())
        .expect("a cursor");
    assert!(cursor >= env.world.gerrit_updated(lost).unwrap_or(i64::MAX));
    env.finish();
}

#[tokio::test]
async fn pages_are_followed_and_unmapped_projects_are_not_asked_about() {
    let mut env = Env::new().await;
    let poller = env.poller(false).await;
    assert!(poller.intake.reconcile().await.expect("pass").first);
    for i in 0..130 {
        env.change(81_100 + i, &change_id_for(81_100 + i));
    }
    change_in(&env, "platform/unmapped", 81_999);
    let before = queries(&env);
    let r = poller.intake.reconcile().await.expect("pass");
    assert_eq!((r.listed, r.builds), (130, 130), "{r:?}");
    assert_eq!(queries(&env) - before, 2, "two pages of 100");
    env.expect_builds(130);
    let q = env
        .world
        .requests(Service::Gerrit)
        .into_iter()
        .rev()
        .find(|r| r.query.contains("q="))
        .expect("a query");
    assert!(q.query.contains("o=CURRENT_REVISION"), "{q:?}");
    assert!(
        q.query.contains("project%3A%22platform%2Fbionic%22"),
        "{q:?}"
    );
    assert!(q.query.contains("after%3A"), "{q:?}");
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_listener_builds_a_lost_patch_set_within_one_interval() {
    let mut env = Env::new().await;
    env.set("gerrit", "reconcile_interval = \"1s\"");
    env.set("gmail", "poll_interval = \"1h\"");
    let poller = env.poller(false).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let journal = env.journal();
    let world = env.world.clone();
    // The listener runs on this task (its poll future is not Send); the scenario beside it.
    let scenario = async {
        let deadline = std::time::Instant::now() + WAIT;
        while journal.cursor(CURSOR).await.expect("cursor").is_none() {
            assert!(std::time::Instant::now() < deadline, "no first pass");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let started = std::time::Instant::now();
        env.change(81_200, &change_id_for(81_200));
        assert!(eventually(Duration::from_secs(5), || !world.jenkins_queue().is_empty()).await);
        let took = started.elapsed();
        let _ = tx.send(());
        took
    };
    let ((), took) = tokio::join!(
        poller.run(async move {
            let _ = rx.await;
        }),
        scenario
    );
    assert!(took < Duration::from_secs(3), "built after {took:?}");
    env.expect_builds(1);
    env.finish();
}

#[tokio::test]
async fn zero_turns_it_off() {
    let env = Env::new().await;
    env.set("gerrit", "reconcile_interval = \"0s\"");
    env.change(81_300, &change_id_for(81_300));
    let poller = env.poller(false).await;
    assert_eq!(poller.reconcile_if_due().await.expect("pass"), None);
    assert_eq!(queries(&env), 0);
    env.finish();
}
