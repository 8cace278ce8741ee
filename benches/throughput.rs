//! `cargo bench --bench throughput`: the numbers later performance work starts from.
//!
//! - mail parsing: every fixture in tests/data/mail, many times (mails/s, MB/s);
//! - one gmail-listener poll of N new-change mails against the stand-ins (mails/s);
//! - build-listener: time from a Notification-plugin POST to its answer (p50/p99), and until
//!   all reviews landed in the Gerrit stand-in.
//!
//! Wall-clock numbers on a shared 2-core machine: compare runs on the same machine only.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bionicbb::config::Config;
use standins::{Events, NewChange, Standins};

const POLL_MAILS: u64 = 300;
const CALLBACKS: u64 = 300;

#[tokio::main]
async fn main() {
    parse_fixtures();
    poll().await;
    callbacks().await;
}

fn parse_fixtures() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mail");
    let mut mails = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures").flatten() {
        if entry.path().extension().is_some_and(|e| e == "eml") {
            mails.push(std::fs::read(entry.path()).expect("read"));
        }
    }
    let senders = vec!["noreply-gerritcodereview*@google.com".to_string()];
    let rounds = 200;
    let bytes: usize = mails.iter().map(Vec::len).sum::<usize>() * rounds;
    let start = Instant::now();
    let mut parsed = 0usize;
    for _ in 0..rounds {
        for m in &mails {
            parsed += usize::from(bionicbb::intake::mail::parse(m, &senders).is_ok());
        }
    }
    let t = start.elapsed().as_secs_f64();
    let n = mails.len() * rounds;
    println!(
        "mail::parse: {n} mails ({parsed} notifications) in {t:.3} s = {:.0} mails/s, {:.1} MB/s",
        n as f64 / t,
        bytes as f64 / t / 1e6
    );
}

async fn setup(listener_url: &str) -> (Standins, tempfile::TempDir, Config) {
    let standins = Standins::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = standins::operator_files(&standins, dir.path(), listener_url).expect("files");
    let config = Config::load(&path).expect("config");
    (standins, dir, config)
}

async fn poll() {
    let (standins, _dir, config) = setup("http://127.0.0.1:9").await;
    let world = &standins.world;
    for i in 0..POLL_MAILS {
        let number = 10_000 + i;
        let change_id = format!("I{number:040}");
        world.gerrit_add_change(NewChange {
            number: Some(number),
            change_id: change_id.clone(),
            committer_email: "dev@google.com".into(),
            ..NewChange::default()
        });
        let mail = format!(
            "From: noreply-gerritcodereview-x@google.com\r\nMessage-ID: <{number}@bench>\r\n\
             Subject: bench\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n\
             Dev has uploaded a new change for review.\r\n\r\n-- \r\n\
             Gerrit-MessageType: newchange\r\nGerrit-Change-Id: {change_id}\r\n\
             Gerrit-Change-Number: {number}\r\nGerrit-PatchSet: 1\r\n\
             Gerrit-Project: platform/bionic\r\nGerrit-Branch: main\r\n"
        );
        world.gmail_deliver(mail.as_bytes(), &["gerrit"]);
    }
    let poller = bionicbb::poller::build(config, None, false)
        .await
        .expect("poller");
    let start = Instant::now();
    let report = poller.poll_once().await.expect("poll");
    let t = start.elapsed().as_secs_f64();
    assert_eq!(report.builds as u64, POLL_MAILS, "{report:?}");
    println!(
        "poll_once: {POLL_MAILS} newchange mails -> {} builds in {t:.2} s = {:.0} mails/s",
        report.builds,
        POLL_MAILS as f64 / t
    );
}

async fn callbacks() {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", socket.local_addr().expect("addr"));
    let (standins, _dir, config) = setup(&url).await;
    let world = standins.world.clone();
    let app = bionicbb::server::app_state(config, None).expect("build-listener");
    let server = tokio::spawn(bionicbb::server::serve(socket, app, std::future::pending()));
    let jenkins = reqwest::Client::new();
    let (user, token) = world.jenkins_credentials();
    let mut latencies = Vec::new();
    let start = Instant::now();
    for i in 0..CALLBACKS {
        let number = world.gerrit_add_change(NewChange::default());
        let r = jenkins
            .post(format!(
                "{}/job/bionic-presubmit/buildWithParameters",
                standins.jenkins_url
            ))
            .basic_auth(&user, Some(&token))
            .form(&[(
                "REF",
                format!("refs/changes/{:02}/{number}/1", number % 100),
            )])
            .send()
            .await
            .expect("queue");
        let queue_id = bionicbb::jenkins::queue_id_from_location(
            r.headers()["location"].to_str().expect("location"),
        )
        .expect("queue id");
        let status = if i % 2 == 0 { "SUCCESS" } else { "FAILURE" };
        let t = Instant::now();
        world
            .jenkins_run(queue_id, status, &format!("{url}/"), Events::Completed)
            .await
            .expect("run");
        latencies.push(t.elapsed());
    }
    let accepted = start.elapsed();
    while (world.gerrit_reviews().len() as u64) < CALLBACKS {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "reviews did not land"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let landed = start.elapsed();
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "build-listener: {CALLBACKS} COMPLETED callbacks answered p50 {:?} p99 {:?}; all posted \
         {:.2} s (accepting took {:.2} s)",
        pct(50),
        pct(99),
        landed.as_secs_f64(),
        accepted.as_secs_f64()
    );
    server.abort();
}
