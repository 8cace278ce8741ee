//! `cargo bench --bench callbacks`: how many Notification-plugin callbacks the real
//! build-listener binary accepts *durably* (each answered only after its transaction is
//! fsynced) per second, from 32 concurrent keep-alive clients sending the plugin's four phases
//! per build, with the answer latency (p50/p99), once with Gerrit answering in 20 ms and once
//! in 1 s (reviews are posted in the background: a slow Gerrit must not slow the answers).
//!
//! Wall-clock numbers on a shared 2-core machine: compare runs on the same machine only.
//! `BENCH_BUILDS_PER_CLIENT` (default 250) sets the load.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use standins::{Fault, NewChange, Service, Standins};

const CLIENTS: u64 = 32;
const PHASES: [&str; 4] = ["QUEUED", "STARTED", "COMPLETED", "FINALIZED"];

#[tokio::main]
async fn main() {
    let per_client: u64 = std::env::var("BENCH_BUILDS_PER_CLIENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    for gerrit in [Duration::from_millis(20), Duration::from_secs(1)] {
        run(gerrit, per_client).await;
    }
}

async fn run(gerrit_latency: Duration, per_client: u64) {
    let standins = Standins::start().await;
    let world = standins.world.clone();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    // On the project's disk, not a tmpfs: fsync must cost what it costs.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let config = standins::operator_files(&standins, dir.path(), &url).expect("files");
    let changes: Vec<u64> = (0..100)
        .map(|_| {
            world.gerrit_add_change(NewChange {
                committer_email: "dev@google.com".into(),
                ..NewChange::default()
            })
        })
        .collect();
    world.set_fault(Service::Gerrit, Fault::Latency(gerrit_latency));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_build-listener"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "error")
        .env("BIONICBB_LISTENER_TOKEN", "tok")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("build-listener");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "build-listener did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let url = format!("{url}/?token=tok");
            let changes = changes.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::with_capacity((per_client * 4) as usize);
                for i in 0..per_client {
                    let number = c * 1_000_000 + i + 1;
                    let change = changes[(number % changes.len() as u64) as usize];
                    for phase in PHASES {
                        let mut build = json!({"number": number, "queue_id": number,
                            "phase": phase, "url": format!("job/bionic-presubmit/{number}/"),
                            "parameters": {"REF": format!("refs/changes/{:02}/{change}/1", change % 100),
                                           "CHANGE_ID": "I0", "PROJECT": "bionic", "LUNCH_TARGET": ""}});
                        if matches!(phase, "COMPLETED" | "FINALIZED") {
                            build["status"] = json!(if number % 2 == 0 { "SUCCESS" } else { "FAILURE" });
                        }
                        let body = json!({"name": "bionic-presubmit", "url": "job/bionic-presubmit/",
                                          "build": build})
                        .to_string();
                        let t = Instant::now();
                        let r = client
                            .post(&url)
                            .header("content-type", "application/json;charset=UTF-8")
                            .body(body)
                            .send()
                            .await
                            .expect("answer");
                        assert!(r.status().is_success(), "{}", r.status());
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let rss = child
        .id()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into());
    println!(
        "build-listener, Gerrit at {gerrit_latency:?}: {} callbacks ({CLIENTS} clients x \
         {per_client} builds x 4 phases) accepted durably in {elapsed:.2} s = {:.0}/s; answer \
         p50 {:?} p99 {:?} max {:?}; peak RSS {rss} kB; reviews posted meanwhile: {}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(50),
        pct(99),
        latencies.last().copied().unwrap_or_default(),
        world.gerrit_reviews().len()
    );
    let _ = child.kill().await;
}
