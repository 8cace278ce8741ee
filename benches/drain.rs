//! `cargo bench --bench drain`: how fast the real gmail-listener drains a backlog, and what an
//! idle poll costs (SPEC §13), against the stand-ins answering every request after 20 ms.
//!
//! 1. Drain: N new-change mails (N = 1,000, then 10,000 for memory; `BENCH_MAILS` sets one
//!    size), `gmail-listener --once` with `[gmail] concurrency = 32` (`BENCH_CONCURRENCY`).
//!    Prints drain seconds, mails/s, requests per mail by service, Gmail quota units per mail,
//!    peak RSS, and the ratio to the floor: N × 3 requests × latency ÷ concurrency.
//! 2. Idle and detection: the daemon polling every second; Gmail requests and quota units per
//!    idle poll, idle RSS, and how long a delivered mail waits for its Jenkins build (p50/p90).
//!
//! Wall-clock numbers on a shared 2-core machine: compare runs on the same machine only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use standins::{Fault, NewChange, RecordedRequest, Service, Standins, World};

const LATENCY: Duration = Duration::from_millis(20);

#[tokio::main]
async fn main() {
    let concurrency: usize = env_number("BENCH_CONCURRENCY").unwrap_or(32);
    let sizes: Vec<usize> = match env_number("BENCH_MAILS") {
        Some(n) => vec![n],
        None => vec![1_000, 10_000],
    };
    for n in sizes {
        drain(n, concurrency).await;
    }
    idle_and_detection().await;
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

struct Rig {
    standins: Standins,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

async fn rig(extra_gmail: &str) -> Rig {
    let standins = Standins::start().await;
    // On the project's disk, not a tmpfs: the journal's fsyncs must cost what they cost.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let config =
        standins::operator_files(&standins, dir.path(), "http://127.0.0.1:9").expect("files");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replacen("[gmail]\n", &format!("[gmail]\n{extra_gmail}\n"), 1),
    )
    .expect("config");
    Rig {
        standins,
        _dir: dir,
        config,
    }
}

fn add_change(world: &World, number: u64) -> Vec<u8> {
    let change_id = format!("I{number:040}");
    world.gerrit_add_change(NewChange {
        number: Some(number),
        change_id: change_id.clone(),
        committer_email: "dev@google.com".into(),
        ..NewChange::default()
    });
    format!(
        "From: noreply-gerritcodereview-x@google.com\r\nMessage-ID: <{number}@bench>\r\n\
         Subject: bench\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n\
         Dev has uploaded a new change for review.\r\n\r\n-- \r\n\
         Gerrit-MessageType: newchange\r\nGerrit-Change-Id: {change_id}\r\n\
         Gerrit-Change-Number: {number}\r\nGerrit-PatchSet: 1\r\n\
         Gerrit-Project: platform/bionic\r\nGerrit-Branch: main\r\n"
    )
    .into_bytes()
}

fn slow_everything(world: &World) {
    for s in [
        Service::Gmail,
        Service::OAuth,
        Service::Gerrit,
        Service::Jenkins,
    ] {
        world.set_fault(s, Fault::Latency(LATENCY));
    }
}

/// Gmail quota units of one request (developers.google.com/gmail/api/reference/quota).
fn quota_units(r: &RecordedRequest) -> u64 {
    let path = r.path.rsplit("/me/").next().unwrap_or(&r.path);
    match (r.method.as_str(), path) {
        ("GET", "history") => 2,
        ("GET", "profile") | ("GET", "labels") => 1,
        ("POST", "messages/batchModify") => 50,
        ("GET", _) | ("POST", _) => 5,
        _ => 0,
    }
}

fn counts(world: &World) -> [usize; 3] {
    [Service::Gmail, Service::Gerrit, Service::Jenkins].map(|s| world.requests(s).len())
}

/// Peak (VmHWM) and current (VmRSS) resident memory of a process, in kB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn gmail_listener(config: &Path, once: bool) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gmail-listener"));
    cmd.arg("--config").arg(config);
    if once {
        cmd.arg("--once");
    }
    cmd.env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("gmail-listener")
}

async fn drain(n: usize, concurrency: usize) {
    let rig = rig(&format!("concurrency = {concurrency}")).await;
    let world = rig.standins.world.clone();
    for i in 0..n {
        let mail = add_change(&world, 100_000 + i as u64);
        world.gmail_deliver(&mail, &["gerrit"]);
    }
    slow_everything(&world);
    let before = counts(&world);
    let gmail_before = world.gmail_requests().len();
    let start = Instant::now();
    let mut child = gmail_listener(&rig.config, true);
    let pid = child.id().expect("pid");
    let mut peak = 0;
    let status = loop {
        if let Some((hwm, _)) = memory(pid) {
            peak = peak.max(hwm);
        }
        match tokio::time::timeout(Duration::from_millis(20), child.wait()).await {
            Ok(status) => break status.expect("wait"),
            Err(_) => continue,
        }
    };
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "gmail-listener failed: {status:?}");
    let queued = world.jenkins_queue().len();
    assert_eq!(queued, n, "every mail built once");
    assert!(
        world.gmail_messages().iter().all(|m| m.trashed),
        "every mail trashed"
    );
    let after = counts(&world);
    let per_mail = |i: usize| (after[i] - before[i]) as f64 / n as f64;
    let quota: u64 = world.gmail_requests()[gmail_before..]
        .iter()
        .map(quota_units)
        .sum();
    let floor = n as f64 * 3.0 * LATENCY.as_secs_f64() / concurrency as f64;
    println!(
        "drain {n} mails, concurrency {concurrency}, every request {LATENCY:?}: {secs:.2} s = \
         {:.0} mails/s; requests per mail: Gmail {:.3}, Gerrit {:.3}, Jenkins {:.3} (total \
         {:.3}); Gmail quota units per mail {:.2}; peak RSS {} kB; floor {floor:.2} s, ratio {:.2}",
        n as f64 / secs,
        per_mail(0),
        per_mail(1),
        per_mail(2),
        per_mail(0) + per_mail(1) + per_mail(2),
        quota as f64 / n as f64,
        peak,
        secs / floor
    );
}

async fn idle_and_detection() {
    // The operator files already poll every second.
    let rig = rig("").await;
    let world = rig.standins.world.clone();
    slow_everything(&world);
    let mut child = gmail_listener(&rig.config, false);
    let pid = child.id().expect("pid");
    // Let the first (full) poll happen, then watch five idle polls.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before: Vec<RecordedRequest> = world.gmail_requests();
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let idle: Vec<RecordedRequest> = world.gmail_requests()[before.len()..].to_vec();
    let polls = idle
        .iter()
        .filter(|r| r.path.ends_with("/history"))
        .count()
        .max(1);
    let units: u64 = idle.iter().map(quota_units).sum();
    let (_, idle_rss) = memory(pid).unwrap_or_default();
    println!(
        "idle daemon (poll every 1 s): {polls} polls, {:.2} Gmail requests and {:.2} quota units \
         per idle poll; RSS {idle_rss} kB",
        idle.len() as f64 / polls as f64,
        units as f64 / polls as f64
    );
    // Detection: each mail is delivered at a random moment of the poll cycle.
    let mut waits = Vec::new();
    for i in 0..20u64 {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..1000))).await;
        let number = 200_000 + i;
        let mail = add_change(&world, number);
        let queued = world.jenkins_queue().len();
        let t = Instant::now();
        world.gmail_deliver(&mail, &["gerrit"]);
        while world.jenkins_queue().len() == queued {
            assert!(t.elapsed() < Duration::from_secs(30), "never built");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        waits.push(t.elapsed());
    }
    waits.sort();
    println!(
        "detection (mail delivered -> Jenkins trigger), daemon polling every 1 s: p50 {:?}, p90 \
         {:?}, max {:?} over {} mails",
        waits[waits.len() / 2],
        waits[waits.len() * 9 / 10],
        waits[waits.len() - 1],
        waits.len()
    );
    let _ = child.kill().await;
}
