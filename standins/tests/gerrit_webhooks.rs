//! Gerrit's `patchset-created` and `comment-added` events in the webhooks plugin's shape, and
//! their delivery: one POST by hand, or every event as it fires, with the plugin's retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use standins::{
    ChangeStatus, CommentSpec, EventSpelling, GerritWebhooks, NewChange, Standins, WebhookDelivery,
};

/// What the fake endpoint answers to the n-th POST (0-based).
type Behaviour = fn(usize) -> StatusCode;

#[derive(Clone)]
struct Endpoint {
    /// (headers, body) of every POST, in arrival order.
    seen: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    count: Arc<AtomicUsize>,
    behaviour: Behaviour,
}

impl Endpoint {
    fn bodies(&self) -> Vec<Value> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|(_, b)| serde_json::from_str(b).expect("json body"))
            .collect()
    }
}

async fn receive(State(e): State<Endpoint>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = e.count.fetch_add(1, Ordering::SeqCst);
    let text = String::from_utf8_lossy(&body).into_owned();
    e.seen.lock().unwrap().push((headers, text));
    (e.behaviour)(n)
}

async fn endpoint(behaviour: Behaviour) -> (String, Endpoint) {
    let e = Endpoint {
        seen: Arc::default(),
        count: Arc::default(),
        behaviour,
    };
    let app = Router::new()
        .route("/gerrit-events", post(receive))
        .with_state(e.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/gerrit-events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, e)
}

fn ok(_: usize) -> StatusCode {
    StatusCode::OK
}

/// Waits until `n` deliveries are recorded.
async fn deliveries(s: &Standins, n: usize) -> Vec<WebhookDelivery> {
    for _ in 0..400 {
        let d = s.world.gerrit_webhook_deliveries();
        if d.len() >= n {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {n} deliveries, got {:?}",
        s.world.gerrit_webhook_deliveries()
    );
}

fn fast(url: &str) -> GerritWebhooks {
    let mut cfg = GerritWebhooks::new(url);
    cfg.retry_interval = Duration::from_millis(10);
    cfg.client_retry_interval = Duration::from_millis(10);
    cfg
}

#[tokio::test]
async fn patchset_created_has_the_plugins_shape() {
    let s = Standins::start().await;
    let w = &s.world;
    let owner = w.gerrit_add_account_named("alice", "Alice Doe", "alice@example.com");
    let n = w.gerrit_add_change_by(
        NewChange {
            committer_email: "ghost@elsewhere.org".into(),
            ..NewChange::default()
        },
        "alice@example.com",
    );
    let e = w
        .gerrit_patchset_created_event(n, 1, EventSpelling::Webhooks)
        .expect("event");
    let v = &e.json;
    let sha = w.gerrit_revision(n, 1).unwrap();
    let alice = json!({"name": "Alice Doe", "email": "alice@example.com", "username": "alice"});
    assert_eq!(v["type"], "patchset-created");
    assert_eq!(v["uploader"], alice);
    assert_eq!(v["project"], json!({"name": "platform/bionic"}));
    assert_eq!(v["refName"], "refs/heads/main");
    let change = &v["change"];
    assert_eq!(change["project"], "platform/bionic");
    assert_eq!(change["branch"], "main");
    assert_eq!(v["changeKey"], json!({"key": change["id"]}));
    assert_eq!(change["number"], n);
    assert_eq!(change["status"], "NEW");
    assert_eq!(change["owner"], alice);
    assert_eq!(
        change["url"],
        format!("{}/c/platform/bionic/+/{n}", s.gerrit_url)
    );
    assert!(
        change["commitMessage"]
            .as_str()
            .unwrap()
            .contains("Change-Id: I")
    );
    let ps = &v["patchSet"];
    assert_eq!(ps["number"], 1);
    assert_eq!(ps["revision"], sha);
    assert_eq!(ps["ref"], format!("refs/changes/{:02}/{n}/1", n % 100));
    assert_eq!(ps["uploader"], alice);
    assert_eq!(ps["kind"], "REWORK");
    assert!(ps["createdOn"].is_i64() && ps["sizeInsertions"].is_i64());
    // An author without an account: the commit's identity and an empty username.
    assert_eq!(
        ps["author"],
        json!({"name": "ghost", "email": "ghost@elsewhere.org", "username": ""})
    );
    // No numeric account id anywhere in an event.
    assert!(!e.body.contains("_account_id"));
    // What a receiver matches an event's account by.
    let account = w.gerrit_account(owner).expect("account");
    assert_eq!(
        (account.name, account.email, account.username),
        (
            "Alice Doe".into(),
            "alice@example.com".into(),
            "alice".into()
        )
    );
    // Gson's field order: the subclass's fields first, `type` and `eventCreatedOn` last.
    assert!(e.body.starts_with("{\"uploader\":{\"name\":\"Alice Doe\""));
    assert!(
        e.body
            .contains("\"change\":{\"project\":\"platform/bionic\",\"branch\":\"main\"")
    );
    let tail = format!(
        "\"refName\":\"refs/heads/main\",\"changeKey\":{{\"key\":\"{}\"}},\"type\":\"patchset-created\",\"eventCreatedOn\":",
        change["id"].as_str().unwrap()
    );
    assert!(e.body.contains(&tail), "{}", e.body);

    // The other spellings of `project` and `changeKey`.
    let legacy = w
        .gerrit_patchset_created_event(n, 1, EventSpelling::WebhooksLegacy)
        .unwrap();
    assert_eq!(legacy.json["project"], json!({"name": "platform/bionic"}));
    assert_eq!(legacy.json["changeKey"], json!({"id": change["id"]}));
    let stream = w
        .gerrit_patchset_created_event(n, 1, EventSpelling::StreamEvents)
        .unwrap();
    assert_eq!(stream.json["project"], "platform/bionic");
    assert_eq!(stream.json["changeKey"], json!({"id": change["id"]}));
}

#[tokio::test]
async fn comment_added_carries_votes_like_post_review() {
    let s = Standins::start().await;
    let w = &s.world;
    let n = w.gerrit_add_change(NewChange::default());
    let bob = w.gerrit_add_account_named("bob", "Bob Roe", "bob@example.com");
    let first = w.gerrit_post_comment(
        n,
        1,
        bob,
        CommentSpec {
            message: Some("x=1 & <ok>".into()),
            labels: vec![("Code-Review".into(), 1)],
            ..CommentSpec::default()
        },
    );
    let e = w
        .gerrit_comment_added_event(n, &first, EventSpelling::Webhooks)
        .expect("event");
    assert_eq!(e.kind, "comment-added");
    assert_eq!(e.message_id.as_deref(), Some(first.as_str()));
    let v = &e.json;
    assert_eq!(
        v["author"],
        json!({"name": "Bob Roe", "email": "bob@example.com", "username": "bob"})
    );
    assert_eq!(v["comment"], "Patch Set 1: Code-Review+1\n\nx=1 & <ok>");
    // Every label of the project, in Java HashMap order; oldValue only where this review
    // changed the vote.
    assert_eq!(
        v["approvals"],
        json!([
            {"type": "Verified", "description": "Verified", "value": "0"},
            {"type": "Code-Review", "description": "Code-Review", "value": "1", "oldValue": "0"},
        ])
    );
    // Gson's HTML-safe escaping in the bytes sent.
    assert!(
        e.body.contains("x\\u003d1 \\u0026 \\u003cok\\u003e"),
        "{}",
        e.body
    );
    assert!(e.body.starts_with("{\"author\":"));

    // A message alone: the votes held, no oldValue.
    let second = w.gerrit_post_comment(
        n,
        1,
        bob,
        CommentSpec {
            message: Some("still fine".into()),
            ..CommentSpec::default()
        },
    );
    let v = w
        .gerrit_comment_added_event(n, &second, EventSpelling::Webhooks)
        .unwrap()
        .json;
    assert_eq!(
        v["approvals"][1],
        json!({"type": "Code-Review", "description": "Code-Review", "value": "1"})
    );
    // A review of a closed change without labels does no label work: no approvals.
    w.gerrit_set_status(n, ChangeStatus::Merged);
    let third = w.gerrit_post_comment(
        n,
        1,
        bob,
        CommentSpec {
            message: Some("after the fact".into()),
            ..CommentSpec::default()
        },
    );
    let v = w
        .gerrit_comment_added_event(n, &third, EventSpelling::Webhooks)
        .unwrap()
        .json;
    assert!(v.get("approvals").is_none());
    assert_eq!(v["change"]["status"], "MERGED");
    let kinds: Vec<String> = w
        .gerrit_events(EventSpelling::Webhooks)
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "patchset-created",
            "comment-added",
            "comment-added",
            "comment-added"
        ]
    );
}

#[tokio::test]
async fn one_post_by_hand_is_sent_as_the_plugin_sends_it() {
    let s = Standins::start().await;
    let (url, e) = endpoint(|_| StatusCode::ACCEPTED).await;
    let n = s.world.gerrit_add_change(NewChange::default());
    let event = s
        .world
        .gerrit_patchset_created_event(n, 1, EventSpelling::Webhooks)
        .unwrap();
    assert_eq!(s.world.gerrit_webhook(&url, &event).await, Ok(202));
    let seen = e.seen.lock().unwrap().clone();
    let (headers, body) = &seen[0];
    assert_eq!(body, &event.body);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["x-origin-url"], format!("{}/", s.gerrit_url));
    assert!(headers.get("authorization").is_none());
    // Nothing listening: an I/O error.
    let dead = "http://127.0.0.1:9/gerrit-events";
    assert!(s.world.gerrit_webhook(dead, &event).await.is_err());
}

#[tokio::test]
async fn automatic_mode_posts_uploads_and_reviews() {
    let s = Standins::start().await;
    let w = &s.world;
    let (url, e) = endpoint(ok).await;
    let mut cfg = fast(&url);
    cfg.thread_pool_size = 1;
    let hook = w.gerrit_webhooks(cfg);
    let n = w.gerrit_add_change(NewChange::default());
    w.gerrit_add_patch_set(n, "a@google.com", vec!["libc/bar.cpp".into()]);
    let carol = w.gerrit_add_account("carol", "carol@example.com");
    let msg = w.gerrit_post_comment(
        n,
        2,
        carol,
        CommentSpec {
            patchset_level: Some("retry".into()),
            ..CommentSpec::default()
        },
    );
    // The bot's own review through REST fires too.
    let (user, pw) = w.gerrit_credentials();
    let r = reqwest::Client::new()
        .post(format!("{}/a/changes/{n}/revisions/2/review", s.gerrit_url))
        .basic_auth(user, Some(pw))
        .header("Content-Type", "application/json")
        .body(json!({"labels": {"Verified": 1}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let d = deliveries(&s, 4).await;
    assert!(
        d.iter()
            .all(|d| d.delivered && d.attempts == vec![Some(200)])
    );
    let bodies = e.bodies();
    let kinds: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "patchset-created",
            "patchset-created",
            "comment-added",
            "comment-added"
        ]
    );
    assert_eq!(bodies[1]["patchSet"]["number"], 2);
    assert_eq!(bodies[2]["comment"], "Patch Set 2:\n\n(1 comment)");
    assert_eq!(d[2].message_id.as_deref(), Some(msg.as_str()));
    assert_eq!(bodies[3]["author"]["username"], "bionicbb");
    assert_eq!(bodies[3]["approvals"][0]["oldValue"], "0");
    hook.abort();
}

#[tokio::test]
async fn only_configured_events_are_sent() {
    let s = Standins::start().await;
    let (url, e) = endpoint(ok).await;
    let mut cfg = fast(&url);
    cfg.events = vec!["comment-added".into()];
    cfg.spelling = EventSpelling::StreamEvents;
    let hook = s.world.gerrit_webhooks(cfg);
    let n = s.world.gerrit_add_change(NewChange::default());
    s.world.gerrit_post_comment(
        n,
        1,
        s.world.gerrit_bot_account_id(),
        CommentSpec {
            message: Some("hello".into()),
            ..CommentSpec::default()
        },
    );
    let d = deliveries(&s, 1).await;
    assert_eq!(d[0].kind, "comment-added");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let bodies = e.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["project"], "platform/bionic");
    hook.abort();
}

#[tokio::test]
async fn server_errors_are_repeated_by_the_client_then_the_task_retries() {
    let s = Standins::start().await;
    // 500, 500, 500 (the client repeats while its count <= 2), then 404 (the task reruns),
    // then 200.
    let (url, e) = endpoint(|n| match n {
        0..=2 => StatusCode::INTERNAL_SERVER_ERROR,
        3 => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    })
    .await;
    let mut cfg = fast(&url);
    cfg.client_max_tries = 2;
    let hook = s.world.gerrit_webhooks(cfg);
    s.world.gerrit_add_change(NewChange::default());
    let d = deliveries(&s, 1).await;
    assert_eq!(
        d[0].attempts,
        vec![Some(500), Some(500), Some(500), Some(404), Some(200)]
    );
    assert!(d[0].delivered);
    assert_eq!(e.count.load(Ordering::SeqCst), 5);
    hook.abort();
}

#[tokio::test]
async fn the_task_gives_up_after_max_tries() {
    let s = Standins::start().await;
    let (url, _e) = endpoint(|_| StatusCode::FORBIDDEN).await;
    let mut cfg = fast(&url);
    cfg.max_tries = 3;
    let hook = s.world.gerrit_webhooks(cfg);
    s.world.gerrit_add_change(NewChange::default());
    let d = deliveries(&s, 1).await;
    assert_eq!(d[0].attempts, vec![Some(403); 3]);
    assert!(!d[0].delivered);

    // maxTries 0 still makes the one run; an unreachable endpoint is an I/O failure.
    let mut cfg = fast("http://127.0.0.1:9/gerrit-events");
    cfg.max_tries = 0;
    let hook2 = s.world.gerrit_webhooks(cfg);
    s.world.gerrit_add_change(NewChange::default());
    let d = deliveries(&s, 2).await;
    assert_eq!(d[1].attempts, vec![None]);
    assert!(!d[1].delivered);
    hook.abort();
    hook2.abort();
}

/// (Authorization header, query string) of each POST.
type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// Answers 401 with a Basic challenge to a POST without credentials; records what it saw.
async fn guarded(
    State(seen): State<Seen>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    let query = uri.query().unwrap_or_default().to_owned();
    seen.lock().unwrap().push((auth.clone(), query));
    match auth {
        Some(_) => (StatusCode::NO_CONTENT, [("x-ok", "1")]),
        None => (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"bot\"")],
        ),
    }
}

#[tokio::test]
async fn credentials_in_the_url_only_answer_a_challenge() {
    let s = Standins::start().await;
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/gerrit-events", post(guarded))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let n = s.world.gerrit_add_change(NewChange::default());
    let event = s
        .world
        .gerrit_patchset_created_event(n, 1, EventSpelling::Webhooks)
        .unwrap();
    let url = format!("http://bot:s%3Acret@{addr}/gerrit-events?token=t1");
    assert_eq!(s.world.gerrit_webhook(&url, &event).await, Ok(204));
    let seen = seen.lock().unwrap().clone();
    // base64("bot:s:cret")
    assert_eq!(
        seen,
        vec![
            (None, "token=t1".to_owned()),
            (
                Some("Basic Ym90OnM6Y3JldA==".to_owned()),
                "token=t1".to_owned()
            ),
        ]
    );
}
