use std::collections::BTreeMap;

use super::*;
use crate::gerrit::ReviewInput;
use crate::record::{IntentKind, NewEvent, Planned};

#[test]
fn order_keys_name_the_change_number_when_the_id_has_one() {
    assert_eq!(order_key("123"), "change:123");
    assert_eq!(order_key("platform%2Fbionic~123"), "change:123");
    assert_eq!(order_key("p~main~I0123"), "change:p~main~I0123");
    assert_eq!(order_key("I0123"), "change:I0123");
}

#[test]
fn payloads_round_trip_through_the_journal_text() {
    let p = Payload {
        effect: Effect::Trigger {
            job: "bionic-presubmit".into(),
            params: [("REF".to_string(), "refs/changes/45/123445/3".to_string())].into(),
        },
        context: "newpatchset".into(),
        done: Some(NewEvent::new(
            crate::journal::EventKind::Build,
            "newpatchset",
            "x",
        )),
    };
    let planned = plan("k".into(), p.clone(), Some("p~1".into()), Some(3), "s");
    assert_eq!(planned.intent.kind, IntentKind::Trigger);
    assert_eq!(planned.intent.order_key, None);
    let back: Payload = serde_json::from_str(&planned.intent.payload).unwrap();
    assert_eq!(back, p);
    let review = plan(
        "r".into(),
        Payload {
            effect: Effect::DropRejection {
                change: "platform%2Fbionic~7".parse().unwrap(),
                revision: "2".into(),
            },
            context: "gerrit".into(),
            done: None,
        },
        None,
        None,
        "s",
    );
    assert_eq!(review.intent.order_key.as_deref(), Some("change:7"));
    let moved = plan(
        "m".into(),
        Payload {
            effect: Effect::MailMove {
                gmail_id: "1".into(),
                set_aside: None,
            },
            context: "mail".into(),
            done: None,
        },
        None,
        None,
        "s",
    );
    assert!(moved.repeatable);
}

#[test]
fn backoff_doubles_with_jitter_and_is_capped() {
    let b = Backoff {
        first: Duration::from_secs(2),
        max: Duration::from_secs(60),
    };
    for _ in 0..50 {
        let d1 = b.delay(1);
        assert!(
            d1 >= Duration::from_secs(1) && d1 <= Duration::from_secs(2),
            "{d1:?}"
        );
        let d3 = b.delay(3);
        assert!(
            d3 >= Duration::from_secs(4) && d3 <= Duration::from_secs(8),
            "{d3:?}"
        );
        let d40 = b.delay(40);
        assert!(
            d40 >= Duration::from_secs(30) && d40 <= Duration::from_secs(60),
            "{d40:?}"
        );
    }
    assert_eq!(Backoff::NONE.delay(7), Duration::ZERO);
}

/// Effectors wired to the stand-ins, over a fresh journal.
struct Rig {
    _dir: tempfile::TempDir,
    s: standins::Standins,
    fx: Effectors,
}

async fn rig() -> Rig {
    use crate::credentials::{Credentials, Secret};
    let s = standins::Standins::start().await;
    s.world.jenkins_add_job(
        "bionic-presubmit",
        &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"],
    );
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("s.db"), "test").unwrap();
    let (ju, jp) = s.world.jenkins_credentials();
    let (gu, gp) = s.world.gerrit_credentials();
    let mut fx = Effectors::new(journal, Owner::this_process(Duration::from_secs(15)));
    fx.jenkins = Some(
        Jenkins::new(
            &s.jenkins_url,
            Credentials {
                login: ju,
                password: Secret::new(jp),
            },
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    fx.gerrit = Some(
        Gerrit::new(
            &s.gerrit_url,
            Credentials {
                login: gu,
                password: Secret::new(gp),
            },
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    Rig { _dir: dir, s, fx }
}

fn trigger(key: &str, r: &str, target: Option<&str>) -> Planned {
    let mut params: BTreeMap<String, String> = [("REF".to_string(), r.to_string())].into();
    if let Some(t) = target {
        params.insert("LUNCH_TARGET".into(), t.into());
    }
    let mut p = plan(
        key.into(),
        Payload {
            effect: Effect::Trigger {
                job: "bionic-presubmit".into(),
                params,
            },
            context: "newchange".into(),
            done: None,
        },
        Some("platform/bionic~1".into()),
        Some(1),
        "test",
    );
    p.build = Some(crate::journal::NewBuild {
        kind: crate::journal::BuildKind::Presubmit,
        change: "platform/bionic~1".parse().unwrap(),
        patch_set: 1,
        job: "bionic-presubmit".into(),
        target: target.map(String::from),
        once: false,
    });
    p
}

/// Records `p`, and claims it as an owner that then "crashed": the next claim is in doubt.
async fn in_doubt(fx: &Effectors, p: Planned) -> Intent {
    let key = p.intent.key.clone();
    fx.journal.record(vec![p], vec![]).await.unwrap();
    let gone = Owner {
        id: "elsewhere/1/1/0".into(),
        lease: Duration::from_millis(1),
    };
    fx.journal
        .claim_keys(vec![key.clone()], &gone)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    match fx
        .journal
        .claim_keys(vec![key], &fx.owner)
        .await
        .unwrap()
        .remove(0)
    {
        crate::journal::Claim::Run(i) => {
            assert!(i.doubt);
            i
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_trigger_in_doubt_that_jenkins_has_is_not_repeated() {
    let r = rig().await;
    let jenkins = r.fx.jenkins.clone().unwrap();
    let rf = "refs/changes/01/1/1";
    // The crashed attempt: Jenkins queued the build, its answer was lost.
    let params: BTreeMap<String, String> = [("REF".to_string(), rf.to_string())].into();
    let q = jenkins
        .build_with_parameters("bionic-presubmit", &params)
        .await
        .unwrap();
    let intent = in_doubt(&r.fx, trigger("t1", rf, None)).await;
    let finish = r.fx.run(&intent).await.unwrap();
    assert_eq!(
        finish,
        Finish::Done {
            outcome: q.queue_id.unwrap().to_string(),
            effected: crate::journal::Effected {
                job: Some("bionic-presubmit".into()),
                ..Default::default()
            },
        }
    );
    assert_eq!(r.s.world.jenkins_queue().len(), 1, "triggered again");
    // Also once the build started (the item left the queue): found among the job's builds.
    r.s.world
        .jenkins_run(
            q.queue_id.unwrap(),
            "SUCCESS",
            "http://127.0.0.1:9/",
            standins::Events::Completed,
        )
        .await
        .ok();
    let again = in_doubt(&r.fx, trigger("t2", rf, None)).await;
    // t1 already accounts for that queue item, so t2 did not happen: it is triggered now.
    let finish = r.fx.run(&again).await.unwrap();
    assert!(matches!(finish, Finish::Done { .. }));
    assert_eq!(r.s.world.jenkins_queue().len(), 2);
}

#[tokio::test]
async fn a_trigger_in_doubt_for_another_target_or_ref_is_carried_out() {
    let r = rig().await;
    let jenkins = r.fx.jenkins.clone().unwrap();
    let rf = "refs/changes/01/1/1";
    let params: BTreeMap<String, String> = [
        ("REF".to_string(), rf.to_string()),
        ("LUNCH_TARGET".to_string(), "aosp_arm-eng".to_string()),
    ]
    .into();
    jenkins
        .build_with_parameters("bionic-presubmit", &params)
        .await
        .unwrap();
    let intent = in_doubt(&r.fx, trigger("t", rf, None)).await;
    r.fx.run(&intent).await.unwrap();
    let intent = in_doubt(
        &r.fx,
        trigger("u", "refs/changes/01/1/2", Some("aosp_arm-eng")),
    )
    .await;
    r.fx.run(&intent).await.unwrap();
    assert_eq!(r.s.world.jenkins_queue().len(), 3);
}

fn review(key: &str, change: u64, text: &str) -> Planned {
    plan(
        key.into(),
        Payload {
            effect: Effect::Review {
                change: change.to_string(),
                revision: "1".into(),
                review: ReviewInput::bot(Some(text.into()), [("Verified".to_string(), 1)].into()),
                verify: None,
                only_if_current: false,
            },
            context: "gerrit".into(),
            done: None,
        },
        Some(change.to_string()),
        Some(1),
        "test",
    )
}

#[tokio::test]
async fn a_review_in_doubt_that_gerrit_has_is_not_posted_again() {
    let r = rig().await;
    let change = r.s.world.gerrit_add_change(standins::NewChange::default());
    let text = "bionic-presubmit #4 checkbuild SUCCESS: http://j/4/";
    let gerrit = r.fx.gerrit.clone().unwrap();
    // The crashed attempt reached Gerrit.
    gerrit
        .post_review(
            &change.to_string(),
            "1",
            &ReviewInput::bot(Some(text.into()), [("Verified".to_string(), 1)].into()),
        )
        .await
        .unwrap();
    let intent = in_doubt(&r.fx, review("r1", change, text)).await;
    let finish = r.fx.run(&intent).await.unwrap();
    assert!(
        matches!(&finish, Finish::Done { outcome, .. } if outcome.starts_with("posted (found message")),
        "{finish:?}"
    );
    assert_eq!(r.s.world.gerrit_reviews().len(), 1, "posted twice");
    // Another text on the same patch set was never posted: it is posted now.
    let other = in_doubt(
        &r.fx,
        review("r2", change, "bionic-presubmit #5 checkbuild FAILURE: x"),
    )
    .await;
    assert_eq!(
        r.fx.run(&other).await.unwrap(),
        Finish::Done {
            outcome: "posted".into(),
            effected: crate::journal::Effected {
                vote: Some(1),
                ..Default::default()
            },
        }
    );
    assert_eq!(r.s.world.gerrit_reviews().len(), 2);
}

#[tokio::test]
async fn a_reconcile_the_service_cannot_answer_waits_in_doubt() {
    let r = rig().await;
    r.s.world
        .set_fault(standins::Service::Jenkins, standins::Fault::Down);
    let intent = in_doubt(&r.fx, trigger("t", "refs/changes/01/1/1", None)).await;
    match r.fx.run(&intent).await.unwrap() {
        Finish::Retry { doubt, error, .. } => {
            assert!(doubt);
            assert!(error.contains("reconcile"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    r.s.world
        .set_fault(standins::Service::Jenkins, standins::Fault::None);
    assert!(r.s.world.jenkins_queue().is_empty());
}

/// A drop-rejection intent for change 1 in a fresh journal, and a runner over it whose owner
/// cannot reach Gerrit (every attempt fails and is retried seconds later: one attempt to count).
async fn yielding_runner(
    foreground: Option<Foreground>,
) -> (tempfile::TempDir, crate::journal::Journal, Runner) {
    let dir = tempfile::tempdir().unwrap();
    let journal = crate::journal::Journal::open(&dir.path().join("s.db"), "test").unwrap();
    let planned = plan(
        "drop:x".into(),
        Payload {
            effect: Effect::DropRejection {
                change: "p~1".parse().unwrap(),
                revision: "1".into(),
            },
            context: "gerrit".into(),
            done: None,
        },
        Some("p~1".into()),
        Some(1),
        "test",
    );
    journal.record(vec![planned], vec![]).await.unwrap();
    let owner = crate::journal::Owner::this_process(Duration::from_secs(15));
    let runner = Runner {
        effectors: Effectors::new(journal.clone(), owner),
        kinds: vec![IntentKind::DropRejection],
        wake: Arc::new(tokio::sync::Notify::new()),
        give_up_after: None,
        shutdown_timeout: Duration::from_secs(1),
        yield_to: foreground,
    };
    (dir, journal, runner)
}

async fn attempts(journal: &crate::journal::Journal) -> u32 {
    journal
        .intent(&"drop:x".into())
        .await
        .unwrap()
        .map_or(0, |i| i.attempts)
}

#[tokio::test(start_paused = true)]
async fn the_runner_waits_while_the_foreground_is_busy_but_not_for_ever() {
    let busy = Foreground::new(2, Duration::from_millis(600));
    let held: Vec<_> = (0..3).map(|_| busy.enter()).collect();
    let (_dir, journal, runner) = yielding_runner(Some(busy.clone())).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(async {
        let _ = stopped.await;
    }));
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        attempts(&journal).await,
        0,
        "attempted while 3 > 2 requests were in flight"
    );
    // Still busy: after `max_wait` the runner goes ahead anyway.
    while attempts(&journal).await == 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(attempts(&journal).await, 1);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "went ahead after {:?}, before max_wait",
        started.elapsed()
    );
    drop(held);
    let _ = stop.send(());
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_runner_does_not_wait_for_a_quiet_foreground() {
    let quiet = Foreground::new(2, Duration::from_secs(60));
    let _two = (quiet.enter(), quiet.enter());
    let (_dir, journal, runner) = yielding_runner(Some(quiet)).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(async {
        let _ = stopped.await;
    }));
    let started = tokio::time::Instant::now();
    while attempts(&journal).await == 0 && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        attempts(&journal).await,
        1,
        "two in flight is not more than two"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "waited {:?}, as long as max_wait",
        started.elapsed()
    );
    let _ = stop.send(());
    run.await.unwrap();
}
