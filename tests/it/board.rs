//! SPEC §14 over the stand-ins: a scripted story (mails polled by gmail-listener, builds run
//! by the stand-in Jenkins calling the real build-listener back), then every read endpoint's
//! shape and order, `/sse` and its resume, `/metrics` against what the stand-ins received,
//! and the webhook, including a receiver that never answers.

use std::time::{Duration, Instant};

use serde_json::Value;
use standins::{Events, Service};

use crate::harness::{self, Env, Listener, MailSpec, PROJECT, WAIT, change_id_for};

/// Changes of the story.
pub const DONE: u64 = 7001;
pub const FAILED: u64 = 7002;
pub const QUEUED: u64 = 7003;

/// What the story left running: the queue item of `DONE`'s patch set 2 (building).
pub struct Story {
    pub building: u64,
}

/// `DONE`: PS1 built SUCCESS (+1), PS2 building; `FAILED`: PS1 FAILURE (-1); `QUEUED`: PS1
/// triggered, not started. Activity, newest first: QUEUED, DONE, FAILED.
pub async fn story(env: &mut Env, l: &Listener) -> Story {
    for n in [DONE, FAILED, QUEUED] {
        env.change(n, &change_id_for(n));
    }
    env.deliver(&MailSpec::new("newchange", FAILED, 1).render());
    env.deliver(&MailSpec::new("newchange", DONE, 1).render());
    env.poll_once().await;
    let builds = env.expect_builds(2);
    for b in &builds {
        // Mails of different changes are handled concurrently: find each by its REF.
        let failed = b.params["REF"].contains(&format!("/{FAILED}/"));
        let status = if failed { "FAILURE" } else { "SUCCESS" };
        env.world
            .jenkins_run(b.queue_id, status, &l.notify_url(), Events::All)
            .await
            .expect("callbacks");
        l.settle().await;
    }
    env.expect_reviews(2);
    env.world.gerrit_add_patch_set(
        DONE,
        "dev@google.com",
        vec!["libc/bionic/strlen.cpp".into()],
    );
    env.deliver(&MailSpec::new("newpatchset", DONE, 2).render());
    env.poll_once().await;
    let building = env.expect_builds(1).remove(0).queue_id;
    for phase in ["QUEUED", "STARTED"] {
        let body = env.world.jenkins_event_body(building, phase, None);
        assert_eq!(l.post("/", body).await.0, 200);
    }
    env.deliver(&MailSpec::new("newchange", QUEUED, 1).render());
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();
    Story { building }
}

pub async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("build-listener answers");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

pub async fn get_json(url: &str) -> Value {
    let (status, text) = get(url).await;
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 24
            && s.ends_with('Z')
            && s.as_bytes()[10] == b'T'
            && s[..4].parse::<u32>().is_ok()
    })
}

fn key(n: u64) -> String {
    format!("{PROJECT}~{n}")
}

#[tokio::test]
async fn the_api_lists_changes_newest_activity_first_with_their_builds_and_votes() {
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    story(&mut env, &l).await;

    let list = get_json(&format!("{}/api/v1/changes", l.url)).await;
    let changes = list["changes"].as_array().expect("changes");
    let names: Vec<&str> = changes
        .iter()
        .map(|c| c["change"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, [key(QUEUED), key(DONE), key(FAILED)]);
    let updated: Vec<&str> = changes
        .iter()
        .map(|c| c["updated"].as_str().unwrap_or(""))
        .collect();
    assert!(updated.windows(2).all(|w| w[0] >= w[1]), "{updated:?}");

    let done = &changes[1];
    assert_eq!(done["project"], PROJECT);
    assert_eq!(done["number"], DONE);
    assert_eq!(done["change_id"], change_id_for(DONE));
    assert!(done["subject"].is_string(), "{done:#}");
    assert!(is_rfc3339_utc(&done["updated"]), "{done:#}");
    let mut fields: Vec<&String> = done.as_object().expect("object").keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "change",
            "change_id",
            "number",
            "patch_sets",
            "project",
            "subject",
            "updated"
        ]
    );
    let sets = done["patch_sets"].as_array().expect("patch sets");
    assert_eq!(
        sets.iter().map(|p| p["number"].clone()).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(sets[0]["vote"], Value::Null);
    assert_eq!(sets[1]["vote"], 1);
    let b = &sets[0]["builds"][0];
    assert_eq!(b["job"], "bionic-presubmit");
    assert_eq!(b["status"], "building");
    assert_eq!(b["target"], Value::Null);
    assert!(b["queue_id"].is_u64() && b["number"].is_u64(), "{b:#}");
    assert!(is_rfc3339_utc(&b["started"]), "{b:#}");
    assert_eq!(b["finished"], Value::Null);
    let mut fields: Vec<&String> = b.as_object().expect("object").keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "finished", "job", "number", "queue_id", "started", "status", "target", "url"
        ]
    );
    let ok = &sets[1]["builds"][0];
    assert_eq!(ok["status"], "successful");
    assert!(is_rfc3339_utc(&ok["finished"]), "{ok:#}");
    assert!(
        ok["url"].as_str().is_some_and(|u| u
            == format!(
                "{}/job/bionic-presubmit/{}/",
                env.standins.jenkins_url, ok["number"]
            )),
        "{ok:#}"
    );
    assert_eq!(changes[2]["patch_sets"][0]["vote"], -1);
    assert_eq!(changes[2]["patch_sets"][0]["builds"][0]["status"], "failed");
    let pending = &changes[0]["patch_sets"][0]["builds"][0];
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["number"], Value::Null);

    let one = get_json(&format!("{}/api/v1/changes?limit=1", l.url)).await;
    assert_eq!(one["changes"].as_array().map(Vec::len), Some(1));
    let (status, body) = get(&format!("{}/api/v1/changes?limit=x", l.url)).await;
    assert_eq!(status, 400, "{body}");
    env.finish();
}

#[tokio::test]
async fn one_change_by_raw_or_encoded_name_has_its_events_oldest_first() {
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    story(&mut env, &l).await;
    let raw = get_json(&format!("{}/api/v1/changes/{}", l.url, key(DONE))).await;
    let encoded = get_json(&format!(
        "{}/api/v1/changes/{}",
        l.url,
        key(DONE).replace('/', "%2F")
    ))
    .await;
    assert_eq!(raw, encoded);
    assert_eq!(raw["change"], key(DONE));
    assert_eq!(raw["patch_sets"].as_array().map(Vec::len), Some(2));
    let events = raw["events"].as_array().expect("events");
    let ids: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(
        events.iter().all(|e| e["change"] == key(DONE)),
        "{events:#?}"
    );
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    // A trigger's `build` line and its `pending` status are one transaction.
    assert!(
        kinds[..2].contains(&"build") && kinds[..2].contains(&"status"),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"check"), "{kinds:?}");
    // The callback's review names the change by number only; it is still this change's.
    assert!(
        events
            .iter()
            .any(|e| e["context"] == "gerrit" && e["patch_set"] == 1),
        "{events:#?}"
    );
    for missing in ["platform/bionic~999", "platform/other~7001", "999"] {
        let (status, body) = get(&format!("{}/api/v1/changes/{missing}", l.url)).await;
        assert_eq!(status, 404, "{missing}: {body}");
        assert!(!body.trim_end().contains('\n'));
        let v: Value = serde_json::from_str(&body).expect("JSON");
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains(missing)),
            "{body}"
        );
    }
    let (status, _) = get(&format!("{}/api/v1/changes/bionic~x", l.url)).await;
    assert_eq!(status, 400);
    env.finish();
}

#[tokio::test]
async fn events_page_oldest_first_after_an_id() {
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    story(&mut env, &l).await;
    let all = get_json(&format!("{}/api/v1/events?limit=1000", l.url)).await;
    let all = all["events"].as_array().expect("events").clone();
    assert!(all.len() > 10, "{all:#?}");
    let ids: Vec<i64> = all.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    for e in &all {
        assert!(is_rfc3339_utc(&e["at"]), "{e:#}");
        assert!(e["kind"].is_string() && e["text"].is_string(), "{e:#}");
        if let Some(change) = e["change"].as_str() {
            assert!(change.starts_with("platform/bionic~"), "{e:#}");
            assert!(e["number"].is_u64() && e["project"] == PROJECT, "{e:#}");
        }
        assert!(
            e.as_object()
                .expect("object")
                .values()
                .all(|v| !v.is_null()),
            "{e:#}"
        );
    }
    let default = get_json(&format!("{}/api/v1/events", l.url)).await;
    assert_eq!(
        default["events"].as_array().map(Vec::len),
        Some(all.len().min(100))
    );
    let page = get_json(&format!("{}/api/v1/events?after={}&limit=3", l.url, ids[4])).await;
    let page_ids: Vec<i64> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect();
    assert_eq!(page_ids, ids[5..8]);
    let (status, _) = get(&format!("{}/api/v1/events?after=-1", l.url)).await;
    assert_eq!(status, 400);
    env.finish();
}

#[tokio::test]
async fn the_board_is_complete_without_javascript() {
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    story(&mut env, &l).await;
    let (status, html) = get(&format!("{}/", l.url)).await;
    assert_eq!(status, 200);
    let at = |s: &str| {
        html.find(s)
            .unwrap_or_else(|| panic!("no {s:?} in the board"))
    };
    // Newest activity first, and each change links to Gerrit.
    assert!(at(&format!("id=\"c-{QUEUED}\"")) < at(&format!("id=\"c-{DONE}\"")));
    assert!(at(&format!("id=\"c-{DONE}\"")) < at(&format!("id=\"c-{FAILED}\"")));
    let gerrit = &env.standins.gerrit_url;
    at(&format!("href=\"{gerrit}/c/{PROJECT}/+/{DONE}\""));
    for class in [
        "build successful",
        "build failed",
        "build building",
        "build pending",
    ] {
        at(&format!("class=\"{class}\""));
    }
    at("vote up");
    at("vote down");
    at(&format!(
        "href=\"{}/job/bionic-presubmit/1/\"",
        env.standins.jenkins_url
    ));
    at("<noscript><meta http-equiv=\"refresh\"");
    env.finish();
}

/// Reads SSE frames until `n` events arrived (or `WAIT` passed): (id, event, data) each.
async fn read_events(r: &mut reqwest::Response, n: usize) -> Vec<(i64, String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, r.chunk())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events: {out:#?}", out.len()))
            .expect("stream")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ").or(line.strip_prefix("event:"))
                {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                    data.push_str(v);
                }
            }
            if let Some(id) = id {
                out.push((
                    id,
                    event,
                    serde_json::from_str(&data).expect("data is JSON"),
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn sse_streams_new_events_and_resumes_from_last_event_id() {
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    let client = reqwest::Client::new();
    let mut live = client
        .get(format!("{}/sse", l.url))
        .send()
        .await
        .expect("sse");
    assert_eq!(live.status(), 200);
    assert!(
        live.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    env.change(DONE, &change_id_for(DONE));
    env.deliver(&MailSpec::new("newchange", DONE, 1).render());
    env.poll_once().await;
    let q = env.expect_builds(1).remove(0).queue_id;
    // A build event (gmail-listener) and the pending status, both from the other process.
    let first = read_events(&mut live, 2).await;
    let mut kinds: Vec<&str> = first.iter().map(|e| e.1.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["build", "status"], "{first:#?}");
    let status = first.iter().find(|e| e.1 == "status").expect("status");
    assert_eq!(status.2["status"], "pending");
    assert_eq!(status.2["change"], key(DONE));
    assert_eq!(first[0].2["id"], first[0].0);
    assert!(first[0].0 < first[1].0);
    let last_seen = first[1].0;
    drop(live);

    // While nobody listens, the build runs.
    env.world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    l.settle().await;
    env.expect_reviews(1);
    let missed = get_json(&format!("{}/api/v1/events?after={last_seen}", l.url)).await;
    let missed: Vec<i64> = missed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect();
    assert!(missed.len() >= 3, "{missed:?}");
    let mut resumed = client
        .get(format!("{}/sse", l.url))
        .header("Last-Event-ID", last_seen.to_string())
        .send()
        .await
        .expect("sse");
    let got = read_events(&mut resumed, missed.len()).await;
    assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), missed);
    let statuses: Vec<&str> = got
        .iter()
        .filter(|e| e.1 == "status")
        .filter_map(|e| e.2["status"].as_str())
        .collect();
    assert_eq!(statuses, ["building", "successful"]);
    env.expect_all_trashed();
    env.finish();
}

#[tokio::test]
async fn an_idle_sse_stream_gets_a_comment_every_15_seconds() {
    let env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    let mut r = reqwest::get(format!("{}/sse", l.url)).await.expect("sse");
    let started = Instant::now();
    let chunk = tokio::time::timeout(Duration::from_secs(20), r.chunk())
        .await
        .expect("a comment within 20 s")
        .expect("stream")
        .expect("open");
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.starts_with(':'), "{text:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );
    env.finish();
}

/// `name{labels} value` from the exposition, or 0 when absent.
pub fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap_or(f64::NAN))
}

#[tokio::test]
async fn metrics_agree_with_what_the_standins_received() {
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    let story = story(&mut env, &l).await;
    let r = reqwest::get(format!("{}/metrics", l.url))
        .await
        .expect("metrics");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.contains("openmetrics-text")),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.expect("body");
    let jobs = env.world.jenkins_queue();
    assert_eq!(
        sample(
            &text,
            "bionicbb_builds_triggered_total{job=\"bionic-presubmit\"}"
        ),
        jobs.len() as f64,
        "{text}"
    );
    let reviews = env.world.gerrit_reviews().len() as f64;
    assert_eq!(
        sample(&text, "bionicbb_reviews_total{result=\"posted\"}"),
        reviews
    );
    let trashed = env
        .world
        .gmail_messages()
        .iter()
        .filter(|m| m.trashed)
        .count();
    assert_eq!(
        sample(&text, "bionicbb_mails_total{outcome=\"trashed\"}"),
        trashed as f64
    );
    assert!(sample(&text, "bionicbb_mail_last_handled_timestamp_seconds") > 1.7e9);
    let deliveries = env.world.jenkins_deliveries();
    let completed = deliveries.iter().filter(|d| d.phase == "COMPLETED").count();
    assert_eq!(
        sample(&text, "bionicbb_callbacks_total{phase=\"COMPLETED\"}"),
        completed as f64
    );
    // The story posted QUEUED and STARTED of the build still running by hand.
    assert_eq!(
        sample(&text, "bionicbb_callbacks_total{phase=\"STARTED\"}"),
        (deliveries.iter().filter(|d| d.phase == "STARTED").count() + 1) as f64
    );
    assert_eq!(
        sample(&text, "bionicbb_outbox_pending{kind=\"review\"}"),
        0.0
    );
    // A kind with nothing waiting has a sample of 0, not no sample: an alert needs a series.
    for kind in [
        "trigger",
        "review",
        "drop_rejection",
        "drop_request",
        "mail_move",
        "cancel",
    ] {
        for name in [
            "bionicbb_outbox_pending",
            "bionicbb_outbox_oldest_age_seconds",
        ] {
            let series = format!("{name}{{kind=\"{kind}\"}} ");
            assert!(
                text.lines().any(|l| l.starts_with(&series)),
                "no {series:?} in\n{text}"
            );
        }
    }
    assert_eq!(
        sample(&text, "bionicbb_outbox_oldest_age_seconds{kind=\"review\"}"),
        0.0
    );
    for (service, standin) in [
        ("gerrit", Service::Gerrit),
        ("jenkins", Service::Jenkins),
        ("gmail", Service::Gmail),
    ] {
        let received = env.world.requests(standin).len() as f64;
        assert!(received > 0.0);
        assert_eq!(
            sample(
                &text,
                &format!("bionicbb_request_duration_seconds_count{{service=\"{service}\"}}")
            ),
            received,
            "{service}: {text}"
        );
        assert_eq!(
            sample(
                &text,
                &format!(
                    "bionicbb_request_duration_seconds_bucket{{le=\"+Inf\",service=\"{service}\"}}"
                )
            ),
            received
        );
    }
    // Finishing the running build moves the counters on.
    env.world
        .jenkins_run(story.building, "SUCCESS", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    l.settle().await;
    env.expect_reviews(1);
    let text = get(&format!("{}/metrics", l.url)).await.1;
    assert_eq!(
        sample(&text, "bionicbb_reviews_total{result=\"posted\"}"),
        reviews + 1.0
    );
    env.finish();
}

#[tokio::test]
async fn the_views_are_read_without_a_token_while_posts_still_need_it() {
    let env = Env::new().await;
    let token = bionicbb::credentials::Secret::new("s3cret".to_string());
    let l = harness::start_listener(env.config(), Some(token)).await;
    for path in [
        "/",
        "/api/v1/changes",
        "/api/v1/events",
        "/metrics",
        "/healthz",
    ] {
        let (status, text) = get(&format!("{}{path}", l.url)).await;
        assert_eq!(status, 200, "{path}: {text}");
    }
    let sse = reqwest::get(format!("{}/sse", l.url)).await.expect("sse");
    assert_eq!(sse.status(), 200);
    drop(sse);
    for path in ["/", "/drop-rejection", "/gerrit-events"] {
        let (status, _) = l.post(path, "{}").await;
        assert_eq!(status, 401, "POST {path}");
    }
    l.stop().await;
    env.finish();
}

#[tokio::test]
async fn the_lists_default_to_fifty_changes_and_events_from_the_first() {
    let env = Env::new().await;
    let journal = env.journal();
    let events: Vec<bionicbb::journal::NewEvent> = (1..=55)
        .map(|n| {
            bionicbb::journal::NewEvent::new(
                bionicbb::console::Kind::Skip,
                "test",
                format!("change {n}"),
            )
            .change(format!("{PROJECT}~{n}"), Some(1))
        })
        .collect();
    journal.append_events(events).await.expect("events");
    let l = harness::start_listener(env.config(), None).await;
    let changes = get_json(&format!("{}/api/v1/changes", l.url)).await;
    assert_eq!(changes["changes"].as_array().map(Vec::len), Some(50));
    let page = get_json(&format!("{}/api/v1/events", l.url)).await;
    let first = page["events"]
        .as_array()
        .and_then(|a| a.first())
        .expect("events");
    assert_eq!(first["text"], "change 1", "{first}");
    l.stop().await;
    env.finish();
}

/// Every build status of SPEC §14 as the API shows it: a QUEUED phase alone makes a build
/// `building`; UNSTABLE and ABORTED results; a waiting build cancelled by a newer patch set
/// (`cancelled`, the newer one `pending`).
#[tokio::test]
async fn every_build_status_reaches_the_api() {
    const QUEUED_ONLY: u64 = 7101;
    const UNSTABLE: u64 = 7102;
    const ABORTED: u64 = 7103;
    const SUPERSEDED: u64 = 7104;
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    let all = [QUEUED_ONLY, UNSTABLE, ABORTED, SUPERSEDED];
    for n in all {
        env.change(n, &change_id_for(n));
        env.deliver(&MailSpec::new("newchange", n, 1).render());
    }
    env.poll_once().await;
    let builds = env.expect_builds(4);
    let queue_id = |n: u64| {
        builds
            .iter()
            .find(|b| b.params["REF"].contains(&format!("/{n}/")))
            .map(|b| b.queue_id)
            .expect("a build of each change")
    };
    let queued = env
        .world
        .jenkins_event_body(queue_id(QUEUED_ONLY), "QUEUED", None);
    assert_eq!(l.post("/", queued).await.0, 200);
    for (n, status) in [(UNSTABLE, "UNSTABLE"), (ABORTED, "ABORTED")] {
        env.world
            .jenkins_run(queue_id(n), status, &l.notify_url(), Events::All)
            .await
            .expect("callbacks");
    }
    l.settle().await;
    // Neither an unstable nor an aborted build votes; each still says what happened.
    let reviews = env.expect_reviews(2);
    assert!(reviews.iter().all(|r| r.labels.is_empty()), "{reviews:#?}");
    env.world.gerrit_add_patch_set(
        SUPERSEDED,
        "dev@google.com",
        vec!["libc/bionic/strlen.cpp".into()],
    );
    env.deliver(&MailSpec::new("newpatchset", SUPERSEDED, 2).render());
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();

    let api = get_json(&format!("{}/api/v1/changes", l.url)).await;
    let status_of = |n: u64, patch_set: u64| {
        api["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["number"] == n)
            .and_then(|c| {
                c["patch_sets"]
                    .as_array()?
                    .iter()
                    .find(|p| p["number"] == patch_set)
                    .cloned()
            })
            .map(|p| (p["builds"][0]["status"].clone(), p["builds"][0].clone()))
            .unwrap_or_else(|| panic!("no patch set {patch_set} of {n}: {api:#}"))
    };
    let (status, build) = status_of(QUEUED_ONLY, 1);
    assert_eq!(status, "building", "{build:#}");
    assert!(is_rfc3339_utc(&build["started"]), "{build:#}");
    assert_eq!(status_of(UNSTABLE, 1).0, "unstable");
    assert_eq!(status_of(ABORTED, 1).0, "aborted");
    let (status, build) = status_of(SUPERSEDED, 1);
    assert_eq!(status, "cancelled", "{build:#}");
    assert_eq!(build["number"], Value::Null, "{build:#}");
    assert_eq!(status_of(SUPERSEDED, 2).0, "pending");
    env.finish();
}
