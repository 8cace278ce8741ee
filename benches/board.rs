//! `cargo bench --bench board`: the status views with 10,000 changes in the state database
//! (SPEC §14, issue 10's bar: `GET /` and `/api/v1/changes` in ≤ 50 ms, `/sse` serving 100
//! concurrent clients), against the real build-listener binary.
//!
//! The database gets 10,000 changes of two patch sets each (20,000 builds, their status
//! events, votes, and five decision events per change: 90,000 events), written through the
//! journal's own triggers. Then: latency of `GET /` and `/api/v1/changes` (p50/p99/max over
//! `BENCH_REQUESTS`, default 200), the same while 100 `/sse` clients are connected, and how
//! long those 100 clients take to receive each of 50 events another process appends.
//!
//! Wall-clock numbers on a shared 2-core machine: compare runs on the same machine only.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bionicbb::journal::{EventKind, Journal, NewEvent};
use standins::Standins;
use tokio::sync::Mutex;

const CHANGES: u64 = 10_000;
const SSE_CLIENTS: usize = 100;
const SSE_EVENTS: usize = 50;

/// Per client: the ids it received and when.
type Received = Arc<Mutex<Vec<Vec<(i64, Instant)>>>>;

/// Fills the database with `CHANGES` changes (the migrations' triggers keep the summaries).
fn populate(path: &std::path::Path) {
    let sql = format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CHANGES}),
              ps(p) AS (SELECT 1 UNION ALL SELECT 2)
         INSERT INTO builds (intent_key, kind, change, patch_set, job, queue_id, number, status,
                             url, created, started, finished)
         SELECT 'bench:' || i || ':' || p, 'presubmit', 'platform/bionic~' || (200000 + i), p,
                'bionic-presubmit', i * 2 + p, i * 2 + p, 'pending',
                'job/bionic-presubmit/' || (i * 2 + p) || '/',
                1700000000000 + i * 1000, NULL, NULL
         FROM n, ps;
         UPDATE builds SET status = CASE id % 5 WHEN 0 THEN 'failed' WHEN 1 THEN 'building'
                                                ELSE 'successful' END,
                           started = created + 1000, finished = created + 60000;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CHANGES}),
              k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < 5)
         INSERT INTO events (at, kind, context, change, patch_set, job, text, process)
         SELECT 1700000000000 + i * 1000 + j, 'build', 'newpatchset',
                'platform/bionic~' || (200000 + i), 1 + j % 2, 'bionic-presubmit',
                'platform/bionic~' || (200000 + i) || ' => bionic-presubmit', 'gmail-listener'
         FROM n, k;
         INSERT INTO votes (number, patch_set, vote, at)
         SELECT number, 1, CASE number % 3 WHEN 0 THEN -1 ELSE 1 END, updated FROM changes;
         COMMIT;"
    );
    bionicbb::journal::raw_sql_for_tests(path, &sql).expect("populate");
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    )
}

async fn latency(client: &reqwest::Client, url: &str, n: usize) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(url).send().await.expect("answer");
        assert!(r.status().is_success(), "{url}: {}", r.status());
        bytes = r.bytes().await.expect("body").len();
        times.push(t.elapsed());
    }
    (times, bytes)
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let standins = Standins::start().await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let config = standins::operator_files(&standins, dir.path(), &url).expect("files");
    let db = dir.path().join("bionicbb.db");
    let t = Instant::now();
    drop(Journal::open(&db, "bench").expect("journal"));
    populate(&db);
    let other = Journal::open(&db, "gmail-listener").expect("journal");
    let events = other.last_event_id().await.expect("events");
    println!(
        "database: {CHANGES} changes, {events} events, {} ms to write",
        t.elapsed().as_millis()
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_build-listener"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("build-listener");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "build-listener did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pages = [
        ("GET /", format!("{url}/")),
        ("GET /api/v1/changes", format!("{url}/api/v1/changes")),
        (
            "GET /api/v1/changes/{id}",
            format!("{url}/api/v1/changes/platform/bionic~205000"),
        ),
        (
            "GET /api/v1/events?after=0",
            format!("{url}/api/v1/events?after=0"),
        ),
        ("GET /metrics", format!("{url}/metrics")),
    ];
    println!("\nidle, {requests} sequential requests each (keep-alive):");
    for (name, u) in &pages {
        let (times, bytes) = latency(&client, u, requests).await;
        println!("  {name:<28} {}  ({bytes} bytes)", percentiles(times));
    }

    // 100 SSE clients, each on its own connection.
    let received: Received = Arc::new(Mutex::new(vec![Vec::new(); SSE_CLIENTS]));
    let mut tasks = Vec::new();
    let connected = Instant::now();
    for c in 0..SSE_CLIENTS {
        let (url, received) = (url.clone(), received.clone());
        let client = reqwest::Client::new();
        let mut r = client.get(format!("{url}/sse")).send().await.expect("sse");
        assert_eq!(r.status(), 200);
        tasks.push(tokio::spawn(async move {
            let mut buf = String::new();
            let mut got = 0;
            while got < SSE_EVENTS {
                let Ok(Ok(Some(chunk))) =
                    tokio::time::timeout(Duration::from_secs(30), r.chunk()).await
                else {
                    panic!("client {c}: stream ended after {got} events");
                };
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if let Some(id) = frame
                        .lines()
                        .find_map(|l| l.strip_prefix("id:"))
                        .and_then(|v| v.trim().parse::<i64>().ok())
                    {
                        received.lock().await[c].push((id, Instant::now()));
                        got += 1;
                    }
                }
            }
        }));
    }
    println!(
        "\n{SSE_CLIENTS} /sse clients connected in {} ms",
        connected.elapsed().as_millis()
    );
    println!("with {SSE_CLIENTS} /sse clients connected:");
    for (name, u) in &pages[..2] {
        let (times, _) = latency(&client, u, requests / 2).await;
        println!("  {name:<28} {}", percentiles(times));
    }
    let mut sent = Vec::new();
    for i in 0..SSE_EVENTS {
        let ids = other
            .append_events(vec![
                NewEvent::new(EventKind::Build, "newpatchset", format!("bench event {i}"))
                    .change(format!("platform/bionic~{}", 200_001 + i as u64), Some(3)),
            ])
            .await
            .expect("append");
        sent.push((ids[0], Instant::now()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        t.await.expect("client");
    }
    let received = received.lock().await;
    let mut delays = Vec::new();
    for (c, got) in received.iter().enumerate() {
        let ids: Vec<i64> = got.iter().map(|g| g.0).collect();
        let want: Vec<i64> = sent.iter().map(|s| s.0).collect();
        assert_eq!(ids, want, "client {c} missed or reordered events");
        for ((_, at), (_, sent_at)) in got.iter().zip(&sent) {
            delays.push(at.saturating_duration_since(*sent_at));
        }
    }
    println!(
        "  /sse: {SSE_EVENTS} events appended by another process, all {} received by each of \
         {SSE_CLIENTS} clients, in order; append-to-receipt {}",
        SSE_EVENTS,
        percentiles(delays)
    );
    let _ = child.kill().await;
}
