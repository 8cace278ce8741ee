//! `[status] webhook_url` (SPEC §14): one POST per build status change, with the change as
//! `/api/v1/changes` shows it; a receiver that never answers delays nothing, and each POST to it
//! is given up after 10 s and never sent again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use serde_json::Value;
use standins::Events;

use crate::board::get_json;
use crate::harness::{self, Env, MailSpec, PROJECT, change_id_for, eventually};

/// A receiver recording every body it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(got): State<Arc<Mutex<Vec<Value>>>>, body: axum::body::Bytes| async move {
                    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    got.lock().unwrap_or_else(|p| p.into_inner()).push(v);
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

/// A receiver that records every body and answers 500.
async fn failing_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(got): State<Arc<Mutex<Vec<Value>>>>, body: axum::body::Bytes| async move {
                    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    got.lock().unwrap_or_else(|p| p.into_inner()).push(v);
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no")
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

/// A receiver that accepts connections and never answers; returns, per connection, how long
/// after it was accepted the sender gave up on it (`None` while it is still open).
async fn black_hole() -> (String, Arc<Mutex<Vec<Option<Duration>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let connections: Arc<Mutex<Vec<Option<Duration>>>> = Arc::default();
    let all = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let accepted = Instant::now();
            let slot = {
                let mut all = all.lock().unwrap_or_else(|p| p.into_inner());
                all.push(None);
                all.len() - 1
            };
            let all = all.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 4096];
                // Read the request and whatever follows, until the sender closes.
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                all.lock().unwrap_or_else(|p| p.into_inner())[slot] = Some(accepted.elapsed());
            });
        }
    });
    (url, connections)
}

fn with_webhook(env: &Env, url: &str) {
    let mut text = std::fs::read_to_string(&env.config_path).expect("config");
    text.push_str(&format!("\n[status]\nwebhook_url = \"{url}\"\n"));
    std::fs::write(&env.config_path, text).expect("config");
}

fn statuses(got: &Mutex<Vec<Value>>) -> Vec<String> {
    got.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|v| v["payload"]["patch_sets"][0]["builds"][0]["status"].to_string())
        .collect()
}

#[tokio::test]
async fn every_status_change_is_posted_with_the_change_as_the_api_shows_it() {
    let mut env = Env::new().await;
    let (url, got) = receiver().await;
    with_webhook(&env, &url);
    let l = harness::start_listener(env.config(), None).await;
    let n = env.change(8001, &change_id_for(8001));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    let q = env.expect_builds(1).remove(0).queue_id;
    assert!(eventually(harness::WAIT, || statuses(&got).len() == 1).await);
    for phase in ["QUEUED", "STARTED"] {
        let body = env.world.jenkins_event_body(q, phase, None);
        assert_eq!(l.post("/", body).await.0, 200);
    }
    assert!(eventually(harness::WAIT, || statuses(&got).len() == 2).await);
    env.world
        .jenkins_run(q, "FAILURE", &l.notify_url(), Events::Completed)
        .await
        .expect("callbacks");
    l.settle().await;
    env.expect_reviews(1);
    assert!(eventually(harness::WAIT, || statuses(&got).len() >= 3).await);
    // Long enough for a fourth POST to show up, were one sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        statuses(&got),
        ["\"pending\"", "\"building\"", "\"failed\""]
    );
    let last = got.lock().unwrap_or_else(|p| p.into_inner())[2].clone();
    let api = get_json(&format!("{}/api/v1/changes/{PROJECT}~{n}", l.url)).await;
    let payload = &last["payload"];
    assert_eq!(payload["change"], format!("{PROJECT}~{n}"));
    let mut keys: Vec<&String> = payload.as_object().expect("object").keys().collect();
    let mut api_keys: Vec<&String> = api
        .as_object()
        .expect("object")
        .keys()
        .filter(|k| *k != "events")
        .collect();
    keys.sort();
    api_keys.sort();
    assert_eq!(keys, api_keys);
    assert_eq!(
        payload["patch_sets"][0]["builds"],
        api["patch_sets"][0]["builds"]
    );
    l.stop().await;
    env.expect_all_trashed();
    env.finish();
}

/// The one build of the first patch set in each payload received.
fn builds(got: &Mutex<Vec<Value>>) -> Vec<Value> {
    got.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|v| v["payload"]["patch_sets"][0]["builds"][0].clone())
        .collect()
}

#[tokio::test]
async fn fast_status_changes_are_each_posted_with_the_build_as_it_was_then() {
    let mut env = Env::new().await;
    let (url, got) = receiver().await;
    with_webhook(&env, &url);
    let l = harness::start_listener(env.config(), None).await;
    let n = env.change(8004, &change_id_for(8004));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    let q = env.expect_builds(1).remove(0).queue_id;
    // No wait between the changes: all three are usually in the feed before the webhook
    // reads the first, and each must still be posted as it was.
    for phase in ["QUEUED", "STARTED"] {
        let body = env.world.jenkins_event_body(q, phase, None);
        assert_eq!(l.post("/", body).await.0, 200);
    }
    env.world
        .jenkins_run(q, "FAILURE", &l.notify_url(), Events::Completed)
        .await
        .expect("callbacks");
    l.settle().await;
    env.expect_reviews(1);
    assert!(eventually(harness::WAIT, || statuses(&got).len() >= 3).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        statuses(&got),
        ["\"pending\"", "\"building\"", "\"failed\""]
    );
    let [pending, building, failed]: [Value; 3] = builds(&got).try_into().expect("three");
    for field in ["number", "url", "started", "finished"] {
        assert_eq!(pending[field], Value::Null, "pending {field}: {pending}");
    }
    assert!(building["number"].is_u64(), "{building}");
    assert!(building["url"].is_string(), "{building}");
    assert!(building["started"].is_string(), "{building}");
    assert_eq!(building["finished"], Value::Null, "{building}");
    assert!(failed["finished"].is_string(), "{failed}");
    assert_eq!(building["started"], failed["started"]);
    // The result is posted as the API shows the build now; the vote the review cast after it
    // is not in that POST: it was not there at that change.
    let api = get_json(&format!("{}/api/v1/changes/{PROJECT}~{n}", l.url)).await;
    assert_eq!(failed, api["patch_sets"][0]["builds"][0]);
    let last = got.lock().unwrap_or_else(|p| p.into_inner())[2].clone();
    assert_eq!(last["payload"]["patch_sets"][0]["vote"], Value::Null);
    assert_eq!(api["patch_sets"][0]["vote"], -1);
    l.stop().await;
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_delays_nothing() {
    let mut env = Env::new().await;
    let (url, accepted) = black_hole().await;
    with_webhook(&env, &url);
    let l = harness::start_listener(env.config(), None).await;
    let n = env.change(8002, &change_id_for(8002));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    let started = Instant::now();
    env.poll_once().await;
    let q = env.expect_builds(1).remove(0).queue_id;
    let codes = env
        .world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    assert!(codes.iter().all(|c| (200..300).contains(c)), "{codes:?}");
    l.settle().await;
    env.expect_reviews(1);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "the story took {took:?}");
    // The webhook did try, and its POSTs are still hanging.
    let count =
        |c: &Mutex<Vec<Option<Duration>>>| c.lock().unwrap_or_else(|p| p.into_inner()).len();
    assert!(eventually(harness::WAIT, || count(&accepted) >= 2).await);
    let health = Instant::now();
    assert_eq!(
        reqwest::get(format!("{}/healthz", l.url))
            .await
            .expect("healthz")
            .status(),
        200
    );
    assert!(health.elapsed() < Duration::from_secs(1));
    // Each POST gives up after 10 s, and is never sent again: one connection for each of the
    // three status changes (pending, building, successful).
    assert!(eventually(harness::WAIT, || count(&accepted) >= 3).await);
    let tried = count(&accepted);
    assert_eq!(tried, 3);
    let closed = |c: &Mutex<Vec<Option<Duration>>>| {
        c.lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .all(Option::is_some)
    };
    assert!(eventually(Duration::from_secs(15), || closed(&accepted)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waited: Vec<Duration> = accepted
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flatten()
        .copied()
        .collect();
    assert_eq!(waited.len(), tried, "a POST was sent again: {waited:?}");
    assert!(
        waited
            .iter()
            .all(|w| *w >= Duration::from_millis(9_500) && *w < Duration::from_secs(12)),
        "{waited:?}"
    );
    let stop = Instant::now();
    l.stop().await;
    assert!(
        stop.elapsed() < Duration::from_secs(3),
        "{:?}",
        stop.elapsed()
    );
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn a_failing_receiver_gets_each_change_once_and_no_retry() {
    let mut env = Env::new().await;
    let (url, got) = failing_receiver().await;
    with_webhook(&env, &url);
    let l = harness::start_listener(env.config(), None).await;
    let n = env.change(8003, &change_id_for(8003));
    env.deliver(&MailSpec::new("newchange", n, 1).render());
    env.poll_once().await;
    let q = env.expect_builds(1).remove(0).queue_id;
    env.world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    l.settle().await;
    env.expect_reviews(1);
    assert!(eventually(harness::WAIT, || statuses(&got).len() >= 3).await);
    // Long enough for any retry to have shown up: three changes (pending, building,
    // successful), three POSTs, each refused once and never sent again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(statuses(&got).len(), 3, "{:?}", statuses(&got));
    l.stop().await;
    env.expect_all_trashed();
    env.finish();
}
