//! SPEC §12 scenarios other than the SIGKILL test (`crash.rs`): two instances on one database,
//! callbacks flooding while gmail-listener writes, a database from the first release, poison
//! mail, a refused drop-rejection, `give_up_after`, and graceful stops.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bionicbb::journal::{EventKind, IntentKind, IntentState};
use serde_json::json;
use standins::{Fault, Service};

use crate::harness::{
    self, Binary, Env, MailSpec, Setup, WAIT, change_id_for, eventually, free_port, start_listener,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gmail_listeners_on_one_database_build_each_change_once() {
    let mut env = Env::new().await;
    env.world.set_fault(
        Service::Jenkins,
        Fault::InFlight {
            min: Duration::from_millis(5),
            max: Duration::from_millis(30),
        },
    );
    for n in 1..=40 {
        let number = 20_000 + n;
        env.change(number, &change_id_for(number));
        if n <= 30 {
            env.deliver(&MailSpec::new("newchange", number, 1).render());
        } else {
            env.comment(number, 1, "", "bionicbb: retry");
        }
        // The same newchange again (Gerrit re-sends it when a reviewer is added).
        if n % 5 == 0 && n <= 30 {
            env.deliver(&MailSpec::new("newchange", number, 1).render());
        }
    }
    let (a, b) = (env.poller(false).await, env.poller(false).await);
    for _ in 0..10 {
        let (ra, rb) = tokio::join!(a.poll_once(), b.poll_once());
        ra.expect("poll a");
        rb.expect("poll b");
        if env.world.gmail_messages().iter().all(|m| m.trashed) {
            break;
        }
    }
    env.expect_all_trashed();
    let builds = env.expect_builds(40);
    let mut per_ref: BTreeMap<String, u32> = BTreeMap::new();
    for b in &builds {
        *per_ref.entry(b.params["REF"].clone()).or_default() += 1;
    }
    assert_eq!(per_ref.len(), 40, "{per_ref:?}");
    assert!(per_ref.values().all(|&n| n == 1), "{per_ref:?}");
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_flooding_while_gmail_listener_writes_are_all_accepted() {
    let port = free_port();
    let mut env = Env::with(Setup {
        build_listener_url: format!("http://127.0.0.1:{port}"),
        ..Setup::default()
    })
    .await;
    // Raw callbacks for builds Jenkins never ran: this scenario is about the database.
    env.set("jenkins", "verify_callbacks = false");
    for n in 1..=100 {
        let number = 30_000 + n;
        env.change(number, &change_id_for(number));
        env.deliver(&MailSpec::new("newchange", number, 1).render());
    }
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let l = harness::start_listener_on(socket, env.config(), None).await;
    let poller = env.poller(false).await;
    let drain = async {
        for _ in 0..5 {
            poller.poll_once().await.expect("poll");
        }
    };
    // 32 clients, 25 callbacks each, for builds of the changes above.
    let flood = async {
        let client = reqwest::Client::new();
        let tasks: Vec<_> = (0..32u64)
            .map(|c| {
                let client = client.clone();
                let url = l.notify_url();
                tokio::spawn(async move {
                    let mut codes = Vec::new();
                    for i in 0..25u64 {
                        let number = c * 25 + i + 1;
                        let change = 30_001 + number % 100;
                        let body = json!({"name": "bionic-presubmit", "url": "job/bionic-presubmit/",
                            "build": {"number": number, "phase": "COMPLETED", "status": "SUCCESS",
                                      "url": format!("job/bionic-presubmit/{number}/"),
                                      "parameters": {"REF": format!("refs/changes/{:02}/{change}/1", change % 100)}}});
                        let r = client.post(&url).json(&body).send().await.expect("answer");
                        codes.push(r.status().as_u16());
                    }
                    codes
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client"));
        }
        all
    };
    let ((), codes) = tokio::join!(drain, flood);
    assert_eq!(codes.len(), 800);
    assert!(
        codes.iter().all(|&c| c == 202),
        "{:?}",
        codes.iter().filter(|&&c| c != 202).collect::<Vec<_>>()
    );
    let items = l.settle().await;
    assert_eq!(items.len(), 800);
    assert!(items.iter().all(|i| i.state == "done"), "{items:#?}");
    env.expect_reviews(800);
    env.expect_builds(100);
    env.expect_all_trashed();
    l.stop().await;
    env.finish();
}

/// The first release's schema with a review waiting in its outbox and a change already built.
const FIRST_RELEASE: &str = "
CREATE TABLE built (change_key TEXT NOT NULL, patch_set INTEGER NOT NULL, job TEXT NOT NULL,
    queue_id INTEGER, at INTEGER NOT NULL, PRIMARY KEY (change_key, patch_set, job));
CREATE TABLE triggered (queue_id INTEGER PRIMARY KEY, job TEXT NOT NULL, change_key TEXT NOT NULL,
    patch_set INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE TABLE answered (mail_key TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE callbacks (job TEXT NOT NULL, number INTEGER NOT NULL, phases TEXT NOT NULL,
    deliveries INTEGER NOT NULL, acted_phase TEXT, status TEXT, item INTEGER,
    first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, PRIMARY KEY (job, number));
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
    change TEXT NOT NULL, revision TEXT NOT NULL, order_key TEXT NOT NULL, review TEXT,
    source TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL, last_error TEXT,
    outcome TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL);
";

#[tokio::test]
async fn a_database_from_the_first_release_keeps_its_memory_and_its_waiting_reviews() {
    let mut env = Env::new().await;
    let built = env.change(40_001, &change_id_for(40_001));
    let waiting = env.change(40_002, &change_id_for(40_002));
    let path = env.config().state.path;
    drop(std::fs::File::create(&path).expect("create"));
    let review = json!({"message": "bionic-presubmit #7 checkbuild SUCCESS: http://j/7/",
        "labels": {"Verified": 1}, "tag": "autogenerated:bionicbb", "notify": "OWNER_REVIEWERS"});
    // The first release kept seconds in `built`, milliseconds in `outbox`.
    let ms = bionicbb::journal::now_ms();
    let secs = ms / 1000;
    let sql = format!(
        "{FIRST_RELEASE}
         INSERT INTO built VALUES ('platform/bionic~{built}', 1, 'bionic-presubmit', 5, {secs});
         INSERT INTO outbox (kind, change, revision, order_key, review, source, next_attempt, created, updated)
             VALUES ('review', '{waiting}', '1', '{waiting}', '{review}', 'bionic-presubmit #7', 0, {ms}, {ms});"
    );
    sqlite3(&path, &sql);
    // gmail-listener remembers the build; build-listener posts the waiting review.
    env.deliver(&MailSpec::new("newchange", built, 1).render());
    env.poll_once().await;
    env.expect_builds(0);
    env.expect_all_trashed();
    let l = start_listener(env.config(), None).await;
    l.settle().await;
    let reviews = env.expect_reviews(1);
    assert_eq!(
        (reviews[0].change, reviews[0].labels["Verified"]),
        (waiting, 1)
    );
    l.stop().await;
    env.finish();
}

/// Runs SQL on the file through the journal's own SQLite (no sqlite3 binary needed): the
/// journal is not opened, so no migration runs.
fn sqlite3(path: &std::path::Path, sql: &str) {
    bionicbb::journal::raw_sql_for_tests(path, sql).expect("sql");
}

#[tokio::test]
async fn a_mail_that_keeps_failing_is_set_aside_with_its_last_failure() {
    let env = Env::new().await;
    env.set("gmail", "max_attempts = 3");
    let n = env.change(40_101, &change_id_for(40_101));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.world.set_fault(Service::Gerrit, Fault::Down);
    for _ in 0..3 {
        assert_eq!(env.poll_once().await.left, 1);
        env.expect_left(&id);
    }
    let report = env.poll_once().await;
    assert_eq!(report.set_aside, 1);
    env.expect_set_aside(&id);
    let events = env.journal().events_after(0, 100).await.expect("events");
    let poison = events
        .iter()
        .find(|e| e.event.kind == EventKind::Error && e.event.text.contains("max_attempts"))
        .expect("an ERROR event");
    assert!(poison.event.text.contains("failed 3 times"), "{poison:?}");
    assert!(poison.event.text.contains("Gerrit: HTTP 503"), "{poison:?}");
    env.world.set_fault(Service::Gerrit, Fault::None);
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_drop_rejection_keeps_the_mail_and_counts_it() {
    let port = free_port();
    let env = Env::with(Setup {
        build_listener_url: format!("http://127.0.0.1:{port}"),
        ..Setup::default()
    })
    .await;
    env.set("gmail", "max_attempts = 2");
    let n = env.change(40_201, &change_id_for(40_201));
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let l = harness::start_listener_on(
        socket,
        env.config(),
        Some(bionicbb::credentials::Secret::new("right")),
    )
    .await;
    let id = env.comment(n, 1, "Verified+1", "");
    let poller = env.poller_with_token("wrong").await;
    for _ in 0..2 {
        assert_eq!(poller.poll_once().await.expect("poll").left, 1);
        env.expect_left(&id);
    }
    assert_eq!(poller.poll_once().await.expect("poll").set_aside, 1);
    env.expect_set_aside(&id);
    let events = env.journal().events_after(0, 100).await.expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.event.text.contains("401") && e.event.text.contains("max_attempts")),
        "{events:#?}"
    );
    assert!(l.items().await.is_empty(), "build-listener queued a drop");
    // The drop request was given up with its mail.
    let given_up = env.journal().intents().await.expect("intents");
    let drops: Vec<_> = given_up
        .iter()
        .filter(|i| i.kind == IntentKind::DropRequest)
        .collect();
    assert_eq!(drops.len(), 1, "{given_up:#?}");
    assert_eq!(drops[0].state, IntentState::Failed);
    l.stop().await;
}

#[tokio::test]
async fn a_review_past_give_up_after_fails_and_no_longer_holds_back_its_change() {
    let mut env = Env::new().await;
    env.set("build_listener", "give_up_after = \"1s\"");
    // Raw callbacks for builds Jenkins never ran: this scenario is about Gerrit.
    env.set("jenkins", "verify_callbacks = false");
    let n = env.change(40_301, &change_id_for(40_301));
    let l = start_listener(env.config(), None).await;
    let callback = |number: u64, status: &str| {
        json!({"name": "bionic-presubmit", "url": "job/bionic-presubmit/",
            "build": {"number": number, "phase": "COMPLETED", "status": status,
                      "parameters": {"REF": format!("refs/changes/01/{n}/1")}}})
        .to_string()
    };
    env.world.set_fault(Service::Gerrit, Fault::Down);
    assert_eq!(l.post("/", callback(1, "FAILURE")).await.0, 202);
    let deadline = Instant::now() + WAIT;
    loop {
        let items = l.items().await;
        if items.iter().any(|i| i.state == "failed") {
            assert!(
                items[0]
                    .last_error
                    .as_deref()
                    .unwrap_or("")
                    .contains("give_up_after"),
                "{items:#?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never gave up: {items:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.world.set_fault(Service::Gerrit, Fault::None);
    assert_eq!(l.post("/", callback(2, "SUCCESS")).await.0, 202);
    l.settle().await;
    let reviews = env.expect_reviews(1);
    assert_eq!(reviews[0].labels["Verified"], 1);
    let events = l.journal.events_after(0, 100).await.expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.event.kind == EventKind::Error && e.event.text.contains("gave up"))
    );
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_mail_in_hand_finish_then_exits_0() {
    let mut env = Env::new().await;
    let n = env.change(40_401, &change_id_for(40_401));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.world
        .set_fault(Service::Jenkins, Fault::Latency(Duration::from_secs(2)));
    let config = env.config_path.to_str().expect("path").to_string();
    let mut gmail = Binary::new(
        "gmail-listener",
        env!("CARGO_BIN_EXE_gmail-listener"),
        &["--config", &config],
        env.dir.path().join("g.log"),
    );
    gmail.start();
    assert!(
        eventually(WAIT, || !env.world.requests(Service::Jenkins).is_empty()).await,
        "never asked Jenkins"
    );
    let t = Instant::now();
    assert!(gmail.terminate().await.success(), "{}", gmail.log_text());
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    env.expect_builds(1);
    env.expect_trashed(&id);
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_shutdown_timeout_gives_the_intent_back_and_the_next_start_does_not_double() {
    let mut env = Env::new().await;
    env.set("gmail", "shutdown_timeout = \"300ms\"");
    let n = env.change(40_501, &change_id_for(40_501));
    let id = env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.world.set_fault(
        Service::Jenkins,
        Fault::InFlight {
            min: Duration::from_secs(3),
            max: Duration::from_secs(3),
        },
    );
    let config = env.config_path.to_str().expect("path").to_string();
    let mut gmail = Binary::new(
        "gmail-listener",
        env!("CARGO_BIN_EXE_gmail-listener"),
        &["--config", &config],
        env.dir.path().join("g.log"),
    );
    gmail.start();
    assert!(
        eventually(WAIT, || !env.world.requests(Service::Jenkins).is_empty()).await,
        "never asked Jenkins"
    );
    let t = Instant::now();
    assert!(gmail.terminate().await.success(), "{}", gmail.log_text());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let given_back = env.journal().intents().await.expect("intents");
    let trigger = given_back
        .iter()
        .find(|i| i.kind == IntentKind::Trigger)
        .expect("the trigger intent");
    assert_eq!(trigger.state, IntentState::Pending);
    assert!(trigger.doubt, "{trigger:?}");
    // Jenkins still queues the build it was sent; the next start finds it instead of
    // triggering again.
    assert!(eventually(WAIT, || env.world.jenkins_queue().len() == 1).await);
    env.world.set_fault(Service::Jenkins, Fault::None);
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_trashed(&id);
    env.finish();
}
