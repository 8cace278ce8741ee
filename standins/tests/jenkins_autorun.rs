//! `World::jenkins_autorun` runs queued builds by itself and delivers the Notification plugin's
//! callbacks with the plugin's timeout and retry rules.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use standins::{AutoRun, Delivery, Events, Standins};

const PARAMS: &[&str] = &["REF", "CHANGE_ID", "PROJECT"];

/// What the fake endpoint does with the n-th POST (0-based).
type Behaviour = fn(usize) -> (Duration, StatusCode);

#[derive(Clone)]
struct Endpoint {
    bodies: Arc<Mutex<Vec<Value>>>,
    count: Arc<AtomicUsize>,
    behaviour: Behaviour,
}

async fn receive(State(e): State<Endpoint>, body: Bytes) -> StatusCode {
    let n = e.count.fetch_add(1, Ordering::SeqCst);
    let (delay, status) = (e.behaviour)(n);
    tokio::time::sleep(delay).await;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    e.bodies.lock().unwrap().push(value);
    status
}

async fn endpoint(behaviour: Behaviour) -> (String, Endpoint) {
    let e = Endpoint {
        bodies: Arc::default(),
        count: Arc::default(),
        behaviour,
    };
    let app = Router::new()
        .route("/", post(receive))
        .with_state(e.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, e)
}

fn ok(_: usize) -> (Duration, StatusCode) {
    (Duration::ZERO, StatusCode::OK)
}

fn fast(url: &str) -> AutoRun {
    let mut run = AutoRun::new(url);
    run.pick_interval = Duration::from_millis(10);
    run
}

async fn trigger(s: &Standins, job: &str, reference: &str) -> u64 {
    let (user, token) = s.world.jenkins_credentials();
    let r = reqwest::Client::new()
        .post(format!(
            "{}/job/{job}/buildWithParameters?REF={reference}",
            s.jenkins_url
        ))
        .basic_auth(user, Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.world.jenkins_queue().last().unwrap().queue_id
}

/// Waits until `n` deliveries are recorded (or fails after 10 s).
async fn deliveries(s: &Standins, n: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = s.world.jenkins_deliveries();
        if d.len() >= n {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "only {} deliveries: {d:?}",
            d.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn runs_waiting_items_in_order_and_skips_cancelled_ones() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    s.world.jenkins_add_job("bionic-lint", PARAMS);
    let first = trigger(&s, "bionic-presubmit", "r/1").await;
    let cancelled = trigger(&s, "bionic-presubmit", "r/2").await;
    let lint = trigger(&s, "bionic-lint", "r/3").await;
    s.world.jenkins_cancel(cancelled).unwrap();
    let (url, e) = endpoint(ok).await;
    let mut run = fast(&url);
    run.job_status
        .insert("bionic-presubmit".into(), "FAILURE".into());
    let runner = s.world.jenkins_autorun(run);

    let done = deliveries(&s, 8).await;
    let order: Vec<(u64, &str, Option<u16>)> = done
        .iter()
        .map(|d| (d.queue_id, d.phase.as_str(), d.status))
        .collect();
    assert_eq!(
        order,
        [
            (first, "QUEUED", Some(200)),
            (first, "STARTED", Some(200)),
            (first, "COMPLETED", Some(200)),
            (first, "FINALIZED", Some(200)),
            (lint, "QUEUED", Some(200)),
            (lint, "STARTED", Some(200)),
            (lint, "COMPLETED", Some(200)),
            (lint, "FINALIZED", Some(200)),
        ]
    );
    assert!(done.iter().all(Delivery::acknowledged));
    assert_eq!(
        (done[0].job.as_str(), done[0].number),
        ("bionic-presubmit", 1)
    );
    assert_eq!((done[4].job.as_str(), done[4].number), ("bionic-lint", 1));
    assert_eq!(
        s.world
            .jenkins_build_result("bionic-presubmit", 1)
            .as_deref(),
        Some("FAILURE")
    );
    assert_eq!(
        s.world.jenkins_build_result("bionic-lint", 1).as_deref(),
        Some("SUCCESS")
    );
    let bodies = e.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 8);
    assert_eq!(bodies[2]["build"]["status"], "FAILURE");
    assert_eq!(bodies[2]["build"]["parameters"]["REF"], "r/1");

    // A build queued later is picked up too; the cancelled one never runs.
    let later = trigger(&s, "bionic-lint", "r/4").await;
    let done = deliveries(&s, 12).await;
    assert!(done[8..].iter().all(|d| d.queue_id == later));
    runner.abort();
    let queue = s.world.jenkins_queue();
    assert!(
        queue
            .iter()
            .any(|q| q.queue_id == cancelled && q.cancelled && q.number.is_none())
    );
    assert!(done.iter().all(|d| d.queue_id != cancelled));
}

#[tokio::test]
async fn transport_failures_are_retried_http_errors_are_not() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    // A port nobody listens on: every attempt is refused.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let q = trigger(&s, "bionic-presubmit", "r/1").await;
    let mut run = fast(&refused);
    run.events = Events::Completed;
    run.retries = 2;
    let runner = s.world.jenkins_autorun(run);
    let done = deliveries(&s, 1).await;
    runner.abort();
    assert_eq!(done[0].queue_id, q);
    assert_eq!(done[0].phase, "COMPLETED");
    assert_eq!(done[0].status, None, "never answered");
    assert_eq!(done[0].attempts, [None, None, None], "1 try + 2 retries");
    assert!(!done[0].acknowledged());
    assert_eq!(
        s.world
            .jenkins_build_result("bionic-presubmit", 1)
            .as_deref(),
        Some("SUCCESS"),
        "the build finishes whatever the endpoint does"
    );

    // An HTTP error is an answer: sent once, never retried.
    fn error(_: usize) -> (Duration, StatusCode) {
        (Duration::ZERO, StatusCode::INTERNAL_SERVER_ERROR)
    }
    let (url, e) = endpoint(error).await;
    trigger(&s, "bionic-presubmit", "r/2").await;
    let mut run = fast(&url);
    run.events = Events::Completed;
    run.retries = 3;
    let runner = s.world.jenkins_autorun(run);
    let done = deliveries(&s, 2).await;
    runner.abort();
    assert_eq!(done[1].attempts, [Some(500)]);
    assert_eq!(done[1].status, Some(500));
    assert!(!done[1].acknowledged());
    assert_eq!(e.count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn after_one_timeout_every_retry_is_sent_as_the_plugin_does() {
    // The first POST is answered too late; the plugin counts that as failed and, since it never
    // resets its `failed` flag, also sends the remaining retries although the second got through.
    fn slow_first(n: usize) -> (Duration, StatusCode) {
        let delay = if n == 0 { 600 } else { 0 };
        (Duration::from_millis(delay), StatusCode::OK)
    }
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    let (url, e) = endpoint(slow_first).await;
    let q = trigger(&s, "bionic-presubmit", "r/1").await;
    let mut run = fast(&url);
    run.events = Events::Finalized;
    run.timeout = Duration::from_millis(200);
    run.retries = 2;
    run.retry_delay = Duration::from_millis(20);
    let runner = s.world.jenkins_autorun(run);
    let done = deliveries(&s, 1).await;
    runner.abort();
    assert_eq!(done[0].queue_id, q);
    assert_eq!(done[0].attempts, [None, Some(200), Some(200)]);
    assert_eq!(done[0].status, Some(200));
    assert!(done[0].acknowledged());
    assert_eq!(
        e.count.load(Ordering::SeqCst),
        3,
        "three POSTs reached the endpoint"
    );
}

#[tokio::test]
async fn executors_run_other_jobs_alongside_but_one_job_at_a_time() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    s.world.jenkins_add_job("bionic-lint", PARAMS);
    let a1 = trigger(&s, "bionic-presubmit", "r/1").await;
    let a2 = trigger(&s, "bionic-presubmit", "r/2").await;
    let b1 = trigger(&s, "bionic-lint", "r/3").await;
    let (url, _e) = endpoint(ok).await;
    let mut run = fast(&url);
    run.events = Events::Completed;
    run.parallel = 2;
    run.build_duration = Duration::from_millis(300);
    let runner = s.world.jenkins_autorun(run);

    tokio::time::sleep(Duration::from_millis(150)).await;
    let started: Vec<u64> = s
        .world
        .jenkins_queue()
        .iter()
        .filter(|q| q.number.is_some())
        .map(|q| q.queue_id)
        .collect();
    assert_eq!(
        started,
        [a1, b1],
        "a2 waits for a1, lint takes the other executor"
    );
    let done = deliveries(&s, 3).await;
    runner.abort();
    let order: Vec<u64> = done.iter().map(|d| d.queue_id).collect();
    assert_eq!(order.last(), Some(&a2));
    assert_eq!(done[2].number, 2);
}
