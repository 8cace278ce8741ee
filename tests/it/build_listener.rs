//! build-listener scenarios against the stand-ins: Jenkins sends plugin-shaped events to the
//! server started with `server::serve` on 127.0.0.1:0, and each test asserts exactly which
//! reviews the Gerrit stand-in received. Waits are bounded polls of the World and the journal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::harness::{self, Listener, WAIT};
use bionicbb::config::Config;
use bionicbb::credentials::Secret;
use serde_json::{Value, json};
use standins::{ChangeStatus, Events, Fault, NewChange, ReceivedReview, Service, Standins, World};

const PRESUBMIT: &str = "bionic-presubmit";
const CLEAN: &str = "clean-bionic-presubmit";
const PROJECT: &str = "platform/bionic";
const EXAMPLE: &str = include_str!("../../config.example.toml");

/// The stand-ins plus an operator's files (netrc, config) in a temporary directory.
struct Env {
    standins: Standins,
    world: World,
    jenkins_url: String,
    dir: tempfile::TempDir,
    config: Config,
    token: Option<String>,
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "config.example.toml lacks {from:?}");
    text.replacen(from, to, 1)
}

/// The example configuration pointed at the stand-ins, as an operator would edit it.
fn config_text(s: &Standins, bind: &str) -> String {
    let t = replace_once(
        EXAMPLE,
        "url = \"https://android-review.googlesource.com\"",
        &format!("url = \"{}\"", s.gerrit_url),
    );
    let t = replace_once(&t, "# netrc = \"/etc/bionicbb/netrc\"", "netrc = \"netrc\"");
    let t = replace_once(
        &t,
        "url = \"https://jenkins.example.com\"",
        &format!("url = \"{}\"", s.jenkins_url),
    );
    replace_once(
        &t,
        "bind = \"127.0.0.1:5000\"",
        &format!("bind = \"{bind}\""),
    )
}

impl Env {
    async fn new() -> Env {
        Env::with_token(None).await
    }

    async fn with_token(token: Option<&str>) -> Env {
        let standins = Standins::start().await;
        let world = standins.world.clone();
        world.jenkins_add_job(PRESUBMIT, &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"]);
        world.jenkins_add_job(CLEAN, &[]);
        world.jenkins_add_job("bionic-lint", &["REF", "CHANGE_ID", "PROJECT"]);
        world.jenkins_add_job("someone-elses-job", &["REF"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let (user, password) = world.gerrit_credentials();
        std::fs::write(
            dir.path().join("netrc"),
            format!("machine 127.0.0.1 login {user} password {password}\n"),
        )
        .expect("netrc");
        let path = dir.path().join("bionicbb.toml");
        std::fs::write(&path, config_text(&standins, "127.0.0.1:0")).expect("config");
        let config = Config::load(&path).expect("config loads");
        Env {
            jenkins_url: standins.jenkins_url.clone(),
            standins,
            world,
            dir,
            config,
            token: token.map(String::from),
        }
    }

    /// Starts build-listener the way `server::run` does, with a fast retry pace.
    async fn start(&self) -> Listener {
        harness::start_listener(self.config.clone(), self.token.clone().map(Secret::new)).await
    }

    /// A new change on platform/bionic; returns its number.
    fn change(&self) -> u64 {
        self.world.gerrit_add_change(NewChange::default())
    }

    /// Queues a Jenkins build through the stand-in's remote API, as gmail-listener does.
    async fn queue(&self, job: &str, params: &[(&str, String)]) -> u64 {
        let (user, token) = self.world.jenkins_credentials();
        let endpoint = if params.is_empty() {
            "build"
        } else {
            "buildWithParameters"
        };
        let response = reqwest::Client::new()
            .post(format!("{}/job/{job}/{endpoint}", self.jenkins_url))
            .basic_auth(user, Some(token))
            .form(params)
            .send()
            .await
            .expect("jenkins");
        assert_eq!(response.status(), 201, "queueing {job}");
        let location = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        location
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .expect("queue id")
    }

    /// Queues a presubmit build of patch set `ps` of change `number`.
    async fn presubmit(&self, number: u64, ps: u32) -> u64 {
        self.queue(
            PRESUBMIT,
            &[
                (
                    "REF",
                    format!("refs/changes/{:02}/{number}/{ps}", number % 100),
                ),
                ("CHANGE_ID", format!("I{number:040}")),
                ("PROJECT", "bionic".into()),
            ],
        )
        .await
    }

    /// The reviews Gerrit accepted, with the stand-in's port taken out of links.
    fn reviews(&self) -> Vec<ReceivedReview> {
        self.world.gerrit_reviews()
    }

    fn redact(&self, text: &str) -> String {
        text.replace(&self.jenkins_url, "http://JENKINS")
    }
}

/// Polls `cond` every 20 ms until it holds or `WAIT` passes.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn labels(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Runs one presubmit build of a new change to `status`; returns (change, its reviews).
async fn run_presubmit(env: &Env, l: &Listener, status: &str) -> (u64, Vec<ReceivedReview>) {
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    let codes = env
        .world
        .jenkins_run(q, status, &l.notify_url(), Events::All)
        .await
        .expect("callbacks delivered");
    assert!(codes.iter().all(|c| (200..300).contains(c)), "{codes:?}");
    l.settle().await;
    (change, env.reviews())
}

#[tokio::test]
async fn a_successful_build_gets_verified_plus_one() {
    let env = Env::new().await;
    let l = env.start().await;
    let (change, reviews) = run_presubmit(&env, &l, "SUCCESS").await;
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    let r = &reviews[0];
    assert_eq!((r.change, r.patch_set), (change, 1));
    assert_eq!(r.account_id, env.world.gerrit_bot_account_id());
    assert_eq!(r.labels, labels(&[("Verified", 1)]));
    assert_eq!(r.tag.as_deref(), Some("autogenerated:bionicbb"));
    assert_eq!(r.notify.as_deref(), Some("OWNER_REVIEWERS"));
    insta::assert_snapshot!(env.redact(r.message.as_deref().unwrap_or_default()));
    assert_eq!(
        env.world.gerrit_votes(change, 1, "Verified")[&r.account_id],
        1
    );
    l.stop().await;
}

#[tokio::test]
async fn a_failed_build_gets_verified_minus_one_and_the_hint() {
    let env = Env::new().await;
    let l = env.start().await;
    let (change, reviews) = run_presubmit(&env, &l, "FAILURE").await;
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    assert_eq!(reviews[0].labels, labels(&[("Verified", -1)]));
    insta::assert_snapshot!(env.redact(reviews[0].message.as_deref().unwrap_or_default()));
    let bot = env.world.gerrit_bot_account_id();
    assert_eq!(env.world.gerrit_votes(change, 1, "Verified")[&bot], -1);
    l.stop().await;
}

#[tokio::test]
async fn unstable_aborted_and_not_built_get_a_message_without_a_vote() {
    let env = Env::new().await;
    let l = env.start().await;
    let mut messages = Vec::new();
    for status in ["UNSTABLE", "ABORTED", "NOT_BUILT"] {
        let (change, reviews) = run_presubmit(&env, &l, status).await;
        let r = reviews.last().expect("a review");
        assert_eq!(r.change, change);
        assert!(r.labels.is_empty(), "{status}: {:?}", r.labels);
        assert!(
            !r.raw.as_object().is_some_and(|o| o.contains_key("labels")),
            "{status}"
        );
        messages.push(env.redact(r.message.as_deref().unwrap_or_default()));
    }
    assert_eq!(env.reviews().len(), 3);
    insta::assert_snapshot!(messages.join("\n"));
    l.stop().await;
}

#[tokio::test]
async fn queued_and_started_alone_post_nothing() {
    let env = Env::new().await;
    let l = env.start().await;
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    for phase in ["QUEUED", "STARTED"] {
        let body = env.world.jenkins_event_body(q, phase, None);
        let (status, answer) = l.post("/", body).await;
        assert_eq!((status, &answer["result"]), (200, &json!("recorded")));
    }
    l.settle().await;
    assert!(l.items().await.is_empty());
    assert!(env.reviews().is_empty());
    l.stop().await;
}

#[tokio::test]
async fn completed_and_finalized_vote_once() {
    let env = Env::new().await;
    let l = env.start().await;
    let (_, reviews) = run_presubmit(&env, &l, "SUCCESS").await;
    assert_eq!(reviews.len(), 1);
    let (phases, acted) = l
        .journal
        .callback_phases(PRESUBMIT, 1)
        .await
        .expect("state")
        .expect("build recorded");
    assert_eq!(phases, ["QUEUED", "STARTED", "COMPLETED", "FINALIZED"]);
    assert_eq!(acted.as_deref(), Some("COMPLETED"));
    l.stop().await;
}

#[tokio::test]
async fn an_endpoint_sending_only_finalized_votes_once() {
    let env = Env::new().await;
    let l = env.start().await;
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    let codes = env
        .world
        .jenkins_run(q, "FAILURE", &l.notify_url(), Events::Finalized)
        .await
        .expect("callbacks");
    assert_eq!(codes, [202]);
    l.settle().await;
    let reviews = env.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].labels, labels(&[("Verified", -1)]));
    l.stop().await;
}

#[tokio::test]
async fn a_resent_completed_event_is_a_duplicate() {
    let env = Env::new().await;
    let l = env.start().await;
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    env.world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::Completed)
        .await
        .expect("callbacks");
    l.settle().await;
    // The plugin re-sends every remaining retry once one attempt failed, even after a success.
    let again = env
        .world
        .jenkins_event_body(q, "COMPLETED", Some("SUCCESS"));
    for _ in 0..3 {
        let (status, answer) = l.post("/", again.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(answer["result"], "duplicate");
    }
    l.settle().await;
    assert_eq!(env.reviews().len(), 1);
    assert_eq!(l.items().await.len(), 1);
    l.stop().await;
}

#[tokio::test]
async fn a_clean_build_reports_on_the_change_that_asked() {
    let env = Env::new().await;
    let l = env.start().await;
    let change = env.change();
    let q = env.queue(CLEAN, &[]).await;
    harness::record_clean(&l.journal, CLEAN, q, &format!("{PROJECT}~{change}"), 1).await;
    let codes = env
        .world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    assert!(codes.iter().all(|c| (200..300).contains(c)), "{codes:?}");
    l.settle().await;
    let reviews = env.reviews();
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    assert_eq!((reviews[0].change, reviews[0].patch_set), (change, 1));
    assert!(reviews[0].labels.is_empty());
    insta::assert_snapshot!(reviews[0].message.as_deref().unwrap_or_default());
    l.stop().await;
}

#[tokio::test]
async fn a_clean_build_nobody_recorded_posts_nothing() {
    let env = Env::new().await;
    let l = env.start().await;
    let q = env.queue(CLEAN, &[]).await;
    let codes = env
        .world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::Completed)
        .await
        .expect("callbacks");
    assert_eq!(codes, [200]);
    l.settle().await;
    assert!(env.reviews().is_empty());
    l.stop().await;
}

#[tokio::test]
async fn ignored_and_unknown_jobs_get_2xx_and_post_nothing() {
    let env = Env::new().await;
    let l = env.start().await;
    let change = env.change();
    let r = format!("refs/changes/{:02}/{change}/1", change % 100);
    for (job, result) in [
        ("bionic-lint", "ignored job"),
        ("someone-elses-job", "unknown job"),
    ] {
        let q = env.queue(job, &[("REF", r.clone())]).await;
        let codes = env
            .world
            .jenkins_run(q, "FAILURE", &l.notify_url(), Events::All)
            .await
            .expect("callbacks");
        assert_eq!(codes, [200, 200, 200, 200], "{job}");
        let body = env
            .world
            .jenkins_event_body(q, "COMPLETED", Some("FAILURE"));
        assert_eq!(l.post("/", body).await.1["result"], result);
    }
    l.settle().await;
    assert!(l.items().await.is_empty());
    assert!(env.reviews().is_empty());
    l.stop().await;
}

#[tokio::test]
async fn without_a_jenkins_root_url_the_link_uses_the_configured_jenkins_url() {
    let env = Env::new().await;
    env.world.jenkins_set_root_url(None);
    let l = env.start().await;
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    let event = env.world.jenkins_event(q, "COMPLETED", Some("SUCCESS"));
    assert!(event["build"].get("full_url").is_none());
    env.world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::Completed)
        .await
        .expect("callbacks");
    l.settle().await;
    let message = env.reviews()[0].message.clone().unwrap_or_default();
    assert_eq!(
        env.redact(&message),
        "bionic-presubmit #1 checkbuild SUCCESS: http://JENKINS/job/bionic-presubmit/1/"
    );
    l.stop().await;
}

async fn drop_rejection(l: &Listener, change: u64, ps: u32) {
    let body = json!({"changeid": format!("{PROJECT}~{change}"), "patchset": ps}).to_string();
    let (status, answer) = l.post("/drop-rejection", body).await;
    assert_eq!(
        (status, &answer["result"]),
        (202, &json!("queued")),
        "{answer}"
    );
    l.settle().await;
}

#[tokio::test]
async fn drop_rejection_lifts_the_bots_minus_one() {
    let env = Env::new().await;
    let l = env.start().await;
    let bot = env.world.gerrit_bot_account_id();
    let change = env.change();
    env.world.gerrit_set_vote(change, 1, bot, "Verified", -1);
    drop_rejection(&l, change, 1).await;
    let reviews = env.reviews();
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    assert_eq!(reviews[0].labels, labels(&[("Verified", 0)]));
    assert_eq!(reviews[0].tag.as_deref(), Some("autogenerated:bionicbb"));
    assert_eq!(
        env.world
            .gerrit_votes(change, 1, "Verified")
            .get(&bot)
            .copied()
            .unwrap_or(0),
        0
    );
    l.stop().await;
}

#[tokio::test]
async fn drop_rejection_keeps_the_bots_plus_one() {
    let env = Env::new().await;
    let l = env.start().await;
    let bot = env.world.gerrit_bot_account_id();
    let change = env.change();
    env.world.gerrit_set_vote(change, 1, bot, "Verified", 1);
    drop_rejection(&l, change, 1).await;
    assert!(env.reviews().is_empty());
    assert_eq!(env.world.gerrit_votes(change, 1, "Verified")[&bot], 1);
    let items = l.items().await;
    assert_eq!(items[0].state, "done");
    l.stop().await;
}

#[tokio::test]
async fn drop_rejection_without_a_bot_vote_does_nothing() {
    let env = Env::new().await;
    let l = env.start().await;
    let human = env.world.gerrit_add_account("jdoe", "jdoe@google.com");
    let change = env.change();
    env.world.gerrit_set_vote(change, 1, human, "Verified", -1);
    drop_rejection(&l, change, 1).await;
    assert!(env.reviews().is_empty());
    assert_eq!(env.world.gerrit_votes(change, 1, "Verified")[&human], -1);
    l.stop().await;
}

#[tokio::test]
async fn drop_rejection_on_an_outdated_patch_set_decides_on_the_current_labels() {
    let env = Env::new().await;
    let l = env.start().await;
    let bot = env.world.gerrit_bot_account_id();
    let change = env.change();
    env.world.gerrit_set_vote(change, 1, bot, "Verified", -1);
    env.world
        .gerrit_add_patch_set(change, "a@google.com", vec!["libc/bar.cpp".into()]);
    // Gerrit reports patch set 2's labels, where the bot has not voted: nothing to drop.
    drop_rejection(&l, change, 1).await;
    assert!(env.reviews().is_empty());
    let items = l.items().await;
    assert_eq!(
        items[0].outcome.as_deref(),
        Some("the bot has no Verified vote: nothing to drop")
    );
    l.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_one_line_4xx_and_nothing_accepted_is_lost() {
    let env = Env::new().await;
    let l = env.start().await;
    // Something accepted first, kept pending while Gerrit is down.
    env.world.set_fault(Service::Gerrit, Fault::Down);
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    env.world
        .jenkins_run(q, "FAILURE", &l.notify_url(), Events::Completed)
        .await
        .expect("callbacks");
    let other = env.presubmit(change, 1).await;
    let event = env.world.jenkins_event(other, "COMPLETED", Some("SUCCESS"));
    let with = |path: &str, value: Value| {
        let mut e = event.clone();
        let mut target = &mut e;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            target = &mut target[*p];
        }
        match value {
            Value::Null => {
                target
                    .as_object_mut()
                    .expect("object")
                    .remove(parts[parts.len() - 1]);
            }
            v => target[parts[parts.len() - 1]] = v,
        }
        e.to_string()
    };
    let cases: Vec<(&str, &str, String)> = vec![
        ("POST /", "not JSON", "build finished".into()),
        (
            "POST /",
            "truncated JSON",
            r#"{"name":"bionic-presubmit","build":{"number":4"#.into(),
        ),
        ("POST /", "empty body", String::new()),
        ("POST /", "a JSON array", "[]".into()),
        (
            "POST /",
            "number is a string",
            with("build.number", json!("7")),
        ),
        ("POST /", "phase is a number", with("build.phase", json!(3))),
        ("POST /", "no build", with("build", Value::Null)),
        ("POST /", "no name", with("name", Value::Null)),
        (
            "POST /",
            "no REF",
            with("build.parameters.REF", Value::Null),
        ),
        (
            "POST /",
            "REF not a change ref",
            with("build.parameters.REF", json!("refs/heads/main")),
        ),
        (
            "POST /",
            "unknown phase",
            with("build.phase", json!("EXPLODED")),
        ),
        (
            "POST /",
            "finished without status",
            with("build.status", Value::Null),
        ),
        (
            "POST /",
            "oversized",
            format!("{{\"name\":\"{}\"}}", "x".repeat(1024 * 1024 + 1)),
        ),
        (
            "POST /drop-rejection",
            "no changeid",
            r#"{"patchset":1}"#.into(),
        ),
        (
            "POST /drop-rejection",
            "patchset zero",
            r#"{"changeid":"p~1","patchset":0}"#.into(),
        ),
        ("POST /drop-rejection", "not JSON", "changeid=1".into()),
    ];
    let mut rendered = Vec::new();
    for (endpoint, what, body) in cases {
        let path = endpoint.trim_start_matches("POST ");
        let (status, answer) = l.post(path, body).await;
        assert!((400..500).contains(&status), "{what}: {status} {answer}");
        rendered.push(format!("{endpoint} {what}: {status} {answer}"));
    }
    // GET / is the status board (SPEC §14); other methods on / are still refused.
    for (method, path) in [
        ("DELETE", "/"),
        ("GET", "/drop-rejection"),
        ("POST", "/other"),
    ] {
        let response = reqwest::Client::new()
            .request(method.parse().expect("method"), format!("{}{path}", l.url))
            .send()
            .await
            .expect("answer");
        let status = response.status().as_u16();
        let answer = response.text().await.expect("body");
        rendered.push(format!("{method} {path}: {status} {answer}"));
    }
    insta::assert_snapshot!(rendered.join("\n"));
    // Still serving, and the accepted -1 lands once Gerrit is back.
    let health = reqwest::get(format!("{}/healthz", l.url))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    env.world.set_fault(Service::Gerrit, Fault::None);
    l.settle().await;
    let reviews = env.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].labels, labels(&[("Verified", -1)]));
    l.stop().await;
}

#[tokio::test]
async fn a_gerrit_outage_loses_no_vote() {
    let env = Env::new().await;
    let l = env.start().await;
    env.world.set_fault(Service::Gerrit, Fault::Down);
    let (a, b) = (env.change(), env.change());
    for (change, status) in [(a, "SUCCESS"), (b, "FAILURE")] {
        let q = env.presubmit(change, 1).await;
        let codes = env
            .world
            .jenkins_run(q, status, &l.notify_url(), Events::All)
            .await
            .expect("callbacks");
        assert!(codes.iter().all(|c| (200..300).contains(c)), "{codes:?}");
    }
    // Both were tried and failed at least twice while Gerrit was down.
    let deadline = Instant::now() + WAIT;
    loop {
        let items = l.items().await;
        if items.len() == 2
            && items
                .iter()
                .all(|i| i.attempts >= 2 && i.state == "pending")
        {
            assert!(
                items[0]
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("503")),
                "{items:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{items:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(env.reviews().is_empty());
    env.world.set_fault(Service::Gerrit, Fault::None);
    l.settle().await;
    let reviews = env.reviews();
    // Different changes may land in any order (jitter); each lands once.
    let mut got: Vec<(u64, BTreeMap<String, i32>)> = reviews
        .iter()
        .map(|r| (r.change, r.labels.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (a, labels(&[("Verified", 1)])),
            (b, labels(&[("Verified", -1)]))
        ]
    );
    l.stop().await;
}

#[tokio::test]
async fn reviews_pending_at_shutdown_land_after_a_restart_once_each() {
    let env = Env::new().await;
    let first = env.start().await;
    env.world.set_fault(Service::Gerrit, Fault::Down);
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    env.world
        .jenkins_run(q, "FAILURE", &first.notify_url(), Events::All)
        .await
        .expect("callbacks");
    first.stop().await;
    env.world.set_fault(Service::Gerrit, Fault::None);
    let second = env.start().await;
    second.settle().await;
    // The plugin may re-send to the new process too: still one review.
    let again = env
        .world
        .jenkins_event_body(q, "FINALIZED", Some("FAILURE"));
    assert_eq!(second.post("/", again).await.1["result"], "duplicate");
    second.settle().await;
    let reviews = env.reviews();
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    assert_eq!(reviews[0].labels, labels(&[("Verified", -1)]));
    second.stop().await;
}

#[tokio::test]
async fn a_slow_gerrit_never_makes_jenkins_wait() {
    let env = Env::new().await;
    let l = env.start().await;
    env.world
        .set_fault(Service::Gerrit, Fault::Latency(Duration::from_millis(2500)));
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    let started = Instant::now();
    env.world
        .jenkins_run(q, "SUCCESS", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(env.reviews().is_empty());
    l.settle().await;
    assert_eq!(env.reviews().len(), 1);
    env.world.set_fault(Service::Gerrit, Fault::None);
    l.stop().await;
}

#[tokio::test]
async fn transient_gerrit_errors_are_retried() {
    let env = Env::new().await;
    let l = env.start().await;
    env.world.set_fault(
        Service::Gerrit,
        Fault::FailNext {
            count: 2,
            status: 429,
        },
    );
    let (_, reviews) = run_presubmit(&env, &l, "SUCCESS").await;
    assert_eq!(reviews.len(), 1);
    let items = l.items().await;
    assert_eq!((items[0].state.as_str(), items[0].attempts), ("done", 3));
    l.stop().await;
}

#[tokio::test]
async fn a_closed_change_is_logged_and_not_retried() {
    let env = Env::new().await;
    let l = env.start().await;
    let change = env.change();
    env.world.gerrit_set_status(change, ChangeStatus::Abandoned);
    let q = env.presubmit(change, 1).await;
    env.world
        .jenkins_run(q, "FAILURE", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    let items = l.settle().await;
    assert_eq!((items[0].state.as_str(), items[0].attempts), ("failed", 1));
    assert!(
        items[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("change is closed")),
        "{items:?}"
    );
    assert!(env.reviews().is_empty());
    l.stop().await;
}

#[tokio::test]
async fn lifting_a_minus_one_on_a_merged_change_is_not_retried() {
    let env = Env::new().await;
    let l = env.start().await;
    let bot = env.world.gerrit_bot_account_id();
    let change = env.change();
    env.world.gerrit_set_vote(change, 1, bot, "Verified", -1);
    env.world.gerrit_set_status(change, ChangeStatus::Merged);
    drop_rejection(&l, change, 1).await;
    let items = l.items().await;
    assert_eq!((items[0].state.as_str(), items[0].attempts), ("failed", 1));
    assert!(
        items[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("409") || e.contains("conflict"))
    );
    assert_eq!(env.world.gerrit_votes(change, 1, "Verified")[&bot], -1);
    l.stop().await;
}

#[tokio::test]
async fn a_restricted_label_is_logged_and_not_retried() {
    let env = Env::new().await;
    let l = env.start().await;
    env.world
        .gerrit_forbid_label(env.world.gerrit_bot_account_id(), "Verified");
    let (_, reviews) = run_presubmit(&env, &l, "FAILURE").await;
    assert!(reviews.is_empty());
    let items = l.items().await;
    assert_eq!((items[0].state.as_str(), items[0].attempts), ("failed", 1));
    assert!(
        items[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("is restricted")),
        "{items:?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_label_gerrit_silently_drops_is_reported() {
    let env = Env::new().await;
    let l = env.start().await;
    env.world.gerrit_remove_label(PROJECT, "Verified");
    let (_, reviews) = run_presubmit(&env, &l, "SUCCESS").await;
    assert_eq!(reviews.len(), 1);
    assert!(reviews[0].labels.is_empty());
    let items = l.items().await;
    assert_eq!(
        items[0].outcome.as_deref(),
        Some("posted; Gerrit dropped Verified")
    );
    l.stop().await;
}

#[tokio::test]
async fn a_minus_one_and_its_drop_land_in_order() {
    let env = Env::new().await;
    let l = env.start().await;
    env.world.set_fault(Service::Gerrit, Fault::Down);
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    env.world
        .jenkins_run(q, "FAILURE", &l.notify_url(), Events::Completed)
        .await
        .expect("callbacks");
    let body = json!({"changeid": format!("{PROJECT}~{change}"), "patchset": 1}).to_string();
    assert_eq!(l.post("/drop-rejection", body).await.0, 202);
    env.world.set_fault(Service::Gerrit, Fault::None);
    l.settle().await;
    let got: Vec<BTreeMap<String, i32>> = env.reviews().iter().map(|r| r.labels.clone()).collect();
    assert_eq!(
        got,
        vec![labels(&[("Verified", -1)]), labels(&[("Verified", 0)])]
    );
    let bot = env.world.gerrit_bot_account_id();
    assert_eq!(
        env.world
            .gerrit_votes(change, 1, "Verified")
            .get(&bot)
            .copied()
            .unwrap_or(0),
        0
    );
    l.stop().await;
}

#[tokio::test]
async fn the_token_is_required_accepted_and_rejected() {
    let env = Env::with_token(Some("s3cret-T0ken")).await;
    let l = env.start().await;
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    let event = env
        .world
        .jenkins_event_body(q, "COMPLETED", Some("SUCCESS"));
    let drop = json!({"changeid": format!("{PROJECT}~{change}"), "patchset": 1}).to_string();
    let mut rendered = Vec::new();
    for (path, bearer) in [
        ("/", None),
        ("/?token=wrong", None),
        ("/?token=s3cret-T0ke", None),
        ("/", Some("wrong")),
        ("/drop-rejection", None),
        ("/drop-rejection?token=", None),
    ] {
        let (status, answer) = l.post_with(path, event.clone(), bearer).await;
        assert_eq!(status, 401, "{path} {bearer:?}");
        rendered.push(format!("{path} bearer={bearer:?}: {status} {answer}"));
    }
    insta::assert_snapshot!(rendered.join("\n"));
    assert!(l.items().await.is_empty());
    let health = reqwest::get(format!("{}/healthz", l.url))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    // The plugin's URL carries the token; gmail-listener may send it as a Bearer header.
    let codes = env
        .world
        .jenkins_run(
            q,
            "SUCCESS",
            &format!("{}/?token=s3cret-T0ken", l.url),
            Events::All,
        )
        .await
        .expect("callbacks");
    assert_eq!(codes, [200, 200, 202, 200]);
    let (status, _) = l
        .post_with("/drop-rejection", drop, Some("s3cret-T0ken"))
        .await;
    assert_eq!(status, 202);
    l.settle().await;
    assert_eq!(env.reviews().len(), 1);
    l.stop().await;
}

/// The binary itself: serves until SIGTERM, then exits 0; a bad config exits 2.
#[tokio::test]
async fn the_binary_serves_until_sigterm_and_exits_0() {
    let env = Env::new().await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let config = env.dir.path().join("bin.toml");
    std::fs::write(
        &config,
        config_text(&env.standins, &format!("127.0.0.1:{port}")),
    )
    .expect("config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_build-listener"))
        .arg("--config")
        .arg(&config)
        .env("BIONICBB_LISTENER_TOKEN", "tok")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn build-listener");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    while reqwest::get(format!("{url}/healthz"))
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "build-listener did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let change = env.change();
    let q = env.presubmit(change, 1).await;
    env.world
        .jenkins_run(q, "SUCCESS", &format!("{url}/?token=tok"), Events::All)
        .await
        .expect("callbacks");
    eventually("the review", || env.reviews().len() == 1).await;
    let pid = child.id().expect("pid").to_string();
    // The shell's builtin `kill`: no dependency on procps being installed.
    let kill = std::process::Command::new("sh")
        .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert_eq!(status.code(), Some(0));

    std::fs::write(&config, config_text(&env.standins, "not-an-address")).expect("config");
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_build-listener"))
        .arg("--config")
        .arg(&config)
        .output()
        .await
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("build_listener.bind"), "{stderr}");
}
