//! The Jenkins stand-in queues builds like Jenkins and calls back like the Notification plugin.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use standins::{Events, Fault, Service, Standins};

const PARAMS: &[&str] = &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn trigger(s: &Standins, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let (user, token) = s.world.jenkins_credentials();
    client()
        .post(format!("{}{path}", s.jenkins_url))
        .basic_auth(user, Some(token))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn build_with_parameters_answers_201_with_the_queue_location() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    let r = trigger(
        &s,
        "/job/bionic-presubmit/buildWithParameters",
        &[
            ("REF", "refs/changes/56/123456/1"),
            ("CHANGE_ID", "I1"),
            ("PROJECT", "bionic"),
            ("UNDECLARED", "x"),
        ],
    )
    .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(r.text().await.unwrap().is_empty());
    let queue = s.world.jenkins_queue();
    assert_eq!(queue.len(), 1);
    let q = &queue[0];
    assert!(q.queue_id > 1);
    assert_eq!(
        location,
        format!("{}/queue/item/{}/", s.jenkins_url, q.queue_id)
    );
    assert_eq!(q.job, "bionic-presubmit");
    assert_eq!(q.number, None);
    let expected: Vec<(&str, &str)> = vec![
        ("CHANGE_ID", "I1"),
        ("LUNCH_TARGET", ""),
        ("PROJECT", "bionic"),
        ("REF", "refs/changes/56/123456/1"),
    ];
    let got: Vec<(&str, &str)> = q
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, expected);

    let second = trigger(
        &s,
        "/job/bionic-presubmit/buildWithParameters",
        &[("REF", "r")],
    )
    .await;
    assert_eq!(second.status(), 201);
    assert!(s.world.jenkins_queue()[1].queue_id > q.queue_id);
}

#[tokio::test]
async fn build_endpoints_reject_what_jenkins_rejects() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("clean-bionic-presubmit", &[]);
    s.world.jenkins_add_job("folder/bionic-presubmit", PARAMS);
    let r = trigger(
        &s,
        "/job/clean-bionic-presubmit/buildWithParameters",
        &[("REF", "x")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = trigger(&s, "/job/clean-bionic-presubmit/build", &[]).await;
    assert_eq!(r.status(), 201);
    let r = trigger(&s, "/job/nope/buildWithParameters", &[]).await;
    assert_eq!(r.status(), 404);
    let r = trigger(
        &s,
        "/job/folder/job/bionic-presubmit/buildWithParameters",
        &[("REF", "x")],
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(s.world.jenkins_queue()[1].job, "folder/bionic-presubmit");

    let anonymous = client()
        .post(format!(
            "{}/job/clean-bionic-presubmit/build",
            s.jenkins_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    let bad = client()
        .post(format!(
            "{}/job/clean-bionic-presubmit/build",
            s.jenkins_url
        ))
        .basic_auth("bionicbb", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.headers()["www-authenticate"], "Basic realm=\"Jenkins\"");

    s.world.set_fault(Service::Jenkins, Fault::Down);
    let r = trigger(&s, "/job/clean-bionic-presubmit/build", &[]).await;
    assert_eq!(r.status(), 503);
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, String)>>>);

async fn receive(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> &'static str {
    let ct = headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    r.0.lock()
        .unwrap()
        .push((ct, String::from_utf8_lossy(&body).into_owned()));
    "ok"
}

async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn jenkins_run_posts_the_notification_plugin_events() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    trigger(
        &s,
        "/job/bionic-presubmit/buildWithParameters",
        &[("REF", "refs/changes/56/123456/2")],
    )
    .await;
    let queue_id = s.world.jenkins_queue()[0].queue_id;
    let (url, received) = receiver().await;

    let statuses = s
        .world
        .jenkins_run(queue_id, "FAILURE", &url, Events::All)
        .await
        .unwrap();
    assert_eq!(statuses, vec![200, 200, 200, 200]);
    let got = received.0.lock().unwrap().clone();
    let phases: Vec<Value> = got
        .iter()
        .map(|(ct, body)| {
            assert_eq!(ct, "application/json;charset=UTF-8");
            serde_json::from_str(body).unwrap()
        })
        .collect();
    let names: Vec<&str> = phases
        .iter()
        .map(|p| p["build"]["phase"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["QUEUED", "STARTED", "COMPLETED", "FINALIZED"]);
    assert!(phases[0]["build"].get("status").is_none());
    assert!(phases[1]["build"].get("status").is_none());
    assert_eq!(phases[2]["build"]["status"], "FAILURE");
    let completed = &phases[2];
    assert_eq!(completed["name"], "bionic-presubmit");
    assert_eq!(completed["display_name"], "bionic-presubmit");
    assert_eq!(completed["url"], "job/bionic-presubmit/");
    let b = &completed["build"];
    assert_eq!(b["number"], 1);
    assert_eq!(b["queue_id"], queue_id);
    assert_eq!(b["url"], "job/bionic-presubmit/1/");
    assert_eq!(
        b["full_url"],
        format!("{}/job/bionic-presubmit/1/", s.jenkins_url)
    );
    assert_eq!(b["scm"], json!({"changes": [], "culprits": []}));
    assert_eq!(b["parameters"]["REF"], "refs/changes/56/123456/2");
    assert_eq!(b["parameters"]["LUNCH_TARGET"], "");
    assert_eq!(b["log"], "");
    assert_eq!(b["notes"], "");
    assert_eq!(b["artifacts"], json!({}));
    assert!(b["duration"].as_i64().unwrap() > 0);
    // The wire order is the plugin's field order.
    let raw = &got[2].1;
    assert!(raw.starts_with("{\"name\":\"bionic-presubmit\",\"display_name\""));
    assert!(raw.find("\"phase\"").unwrap() < raw.find("\"status\"").unwrap());

    assert_eq!(s.world.jenkins_queue()[0].number, Some(1));
    assert_eq!(
        s.world
            .jenkins_build_result("bionic-presubmit", 1)
            .as_deref(),
        Some("FAILURE")
    );
    let err = s
        .world
        .jenkins_run(queue_id, "SUCCESS", &url, Events::All)
        .await;
    assert!(err.is_err(), "a queue item runs once");
}

#[tokio::test]
async fn events_follow_the_root_url_and_folders() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("ci/bionic-presubmit", PARAMS);
    s.world.jenkins_add_job("clean-bionic-presubmit", &[]);
    trigger(
        &s,
        "/job/ci/job/bionic-presubmit/buildWithParameters",
        &[("REF", "a=b")],
    )
    .await;
    trigger(&s, "/job/clean-bionic-presubmit/build", &[]).await;
    let q = s.world.jenkins_queue();
    s.world.jenkins_set_root_url(None);
    let e = s.world.jenkins_event(q[0].queue_id, "STARTED", None);
    assert_eq!(e["name"], "bionic-presubmit");
    assert_eq!(e["url"], "job/ci/job/bionic-presubmit/");
    assert!(e["build"].get("full_url").is_none());
    assert!(e["build"].get("status").is_none());
    // Gson escapes '=' on the wire.
    assert!(
        s.world
            .jenkins_event_body(q[0].queue_id, "STARTED", None)
            .contains("a\\u003db")
    );
    let clean = s
        .world
        .jenkins_event(q[1].queue_id, "COMPLETED", Some("SUCCESS"));
    assert!(
        clean["build"].get("parameters").is_none(),
        "no ParametersAction on /build"
    );

    let (url, _received) = receiver().await;
    s.world
        .jenkins_run(q[1].queue_id, "SUCCESS", &url, Events::Completed)
        .await
        .unwrap();
    let (user, token) = s.world.jenkins_credentials();
    let item: Value = client()
        .get(format!(
            "{}/queue/item/{}/api/json",
            s.jenkins_url, q[1].queue_id
        ))
        .basic_auth(&user, Some(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(item["_class"], "hudson.model.Queue$LeftItem");
    assert_eq!(item["executable"]["number"], 1);
    let build: Value = client()
        .get(format!(
            "{}/job/clean-bionic-presubmit/1/api/json",
            s.jenkins_url
        ))
        .basic_auth(&user, Some(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(build["result"], "SUCCESS");
    assert_eq!(build["queueId"], q[1].queue_id);
}
