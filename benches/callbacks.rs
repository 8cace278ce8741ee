//! `cargo bench --bench callbacks`: how many Notification-plugin callbacks the real
//! build-listener binary accepts *durably* (each answered only after its transaction is
//! fsynced) per second, from 32 concurrent keep-alive clients sending the plugin's four phases
//! per build, with the answer latency (p50/p99), once with Gerrit answering in 20 ms and once
//! in 1 s (reviews are posted in the background: a slow Gerrit must not slow the answers).
//! These runs interleave the builds over 100 changes. A third run is a burst on one patch set:
//! every callback is of a different build of the same patch set (one change, one patch set,
//! many builds of the presubmit job), the load under which the journal's per-patch-set work
//! (the newest build of each job, the vote over them) grows with every build.
//!
//! Wall-clock numbers on a shared 2-core machine: compare runs on the same machine only.
//! `BENCH_BUILDS_PER_CLIENT` (default 500) sets the load. Also prints build-listener's RSS
//! when idle (started, its first status-feed and checkpoint passes done, no callback yet).

use std::process::Stdio;
use std::time::{Duration, Instant};

use standins::{Fault, NewChange, Service, Standins};

const CLIENTS: u64 = 32;

#[tokio::main]
async fn main() {
    let per_client: u64 = std::env::var("BENCH_BUILDS_PER_CLIENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    for gerrit in [Duration::from_millis(20), Duration::from_secs(1)] {
        run(gerrit, per_client, 100).await;
    }
    run(Duration::from_millis(20), per_client, 1).await;
}

/// Queues, runs and finishes `per_client` builds per client in the Jenkins stand-in (half
/// SUCCESS, half FAILURE, each on one of `changes`); returns each client's builds as the
/// plugin's four phase bodies.
async fn seed_builds(
    standins: &Standins,
    changes: &[u64],
    per_client: u64,
) -> Vec<Vec<[String; 4]>> {
    let world = &standins.world;
    let (user, token) = world.jenkins_credentials();
    let http = reqwest::Client::new();
    let mut out: Vec<Vec<[String; 4]>> = (0..CLIENTS).map(|_| Vec::new()).collect();
    // Build n goes to client n % 32, so the callbacks arriving together are of builds started
    // together, as on a real Jenkins (numbers close to each other).
    for i in 0..per_client {
        for c in 0..CLIENTS {
            let n = i * CLIENTS + c;
            let change = changes[(n % changes.len() as u64) as usize];
            let params = [
                (
                    "REF",
                    format!("refs/changes/{:02}/{change}/1", change % 100),
                ),
                ("CHANGE_ID", format!("I{n:040x}")),
                ("PROJECT", "bionic".to_string()),
                ("LUNCH_TARGET", String::new()),
            ];
            let response = http
                .post(format!(
                    "{}/job/bionic-presubmit/buildWithParameters",
                    standins.jenkins_url
                ))
                .basic_auth(&user, Some(&token))
                .form(&params)
                .send()
                .await
                .expect("jenkins");
            let queue_id: u64 = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.trim_end_matches('/').rsplit('/').next()?.parse().ok())
                .expect("queue id");
            let status = if n.is_multiple_of(2) {
                "SUCCESS"
            } else {
                "FAILURE"
            };
            let queued = world.jenkins_event_body(queue_id, "QUEUED", None);
            world.jenkins_start(queue_id).expect("start");
            let started = world.jenkins_event_body(queue_id, "STARTED", None);
            world.jenkins_finish(queue_id, status).expect("finish");
            out[c as usize].push([
                queued,
                started,
                world.jenkins_event_body(queue_id, "COMPLETED", Some(status)),
                world.jenkins_event_body(queue_id, "FINALIZED", Some(status)),
            ]);
        }
    }
    out
}

/// One run over `change_count` changes (1: the one-patch-set burst).
async fn run(gerrit_latency: Duration, per_client: u64, change_count: usize) {
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
    let changes: Vec<u64> = (0..change_count)
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
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = status_kb(child.id(), "VmRSS:");
    // Real builds in the Jenkins stand-in, so that build-listener's check of each finished
    // build (`[jenkins] verify_callbacks`, on by default) finds what the callback says; the
    // bodies are the plugin's own bytes for each phase.
    let bodies = seed_builds(&standins, &changes, per_client).await;
    let pid = child.id().expect("pid");
    let (listener_cpu0, bench_cpu0) = (cpu_ms(&pid.to_string()), cpu_ms("self"));
    let start = Instant::now();
    let addr = format!("127.0.0.1:{port}");
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|builds| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut client = Client::connect(&addr).await;
                let mut latencies = Vec::with_capacity(builds.len() * 4);
                for phases in builds {
                    for body in phases {
                        let request = format!(
                            "POST /?token=tok HTTP/1.1\r\nhost: {addr}\r\n\
                             content-type: application/json;charset=UTF-8\r\n\
                             content-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let t = Instant::now();
                        let status = client.send(request.as_bytes()).await;
                        latencies.push(t.elapsed());
                        assert!((200..300).contains(&status), "{status}");
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
    let listener_cpu = cpu_ms(&pid.to_string()) - listener_cpu0;
    let bench_cpu = cpu_ms("self") - bench_cpu0;
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let rss = status_kb(child.id(), "VmHWM:");
    let load = if change_count == 1 {
        "one-patch-set burst".to_string()
    } else {
        format!("interleaved over {change_count} changes")
    };
    println!(
        "build-listener, {load}, Gerrit at {gerrit_latency:?}: {} callbacks ({CLIENTS} clients x \
         {per_client} builds x 4 phases) accepted durably in {elapsed:.2} s = {:.0}/s; answer \
         p50 {:?} p99 {:?} max {:?}; RSS idle {idle_rss} kB, peak {rss} kB; reviews posted meanwhile: {}; CPU per \
         callback: build-listener {:.0} µs, load generator and stand-ins {:.0} µs",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(50),
        pct(99),
        latencies.last().copied().unwrap_or_default(),
        world.gerrit_reviews().len(),
        listener_cpu * 1000.0 / latencies.len() as f64,
        bench_cpu * 1000.0 / latencies.len() as f64,
    );
    let _ = child.kill().await;
}

/// One keep-alive HTTP/1.1 connection speaking just enough of the protocol for the bench:
/// requests are written whole, answers read up to their `content-length`. A general client
/// (reqwest) costs about as much CPU per request as build-listener's own HTTP layer, and the
/// two share the machine's cores.
struct Client {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: &str) -> Client {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends one request and reads its answer; returns the status code.
    async fn send(&mut self, request: &[u8]) -> u16 {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(request).await.expect("write");
        self.buf.clear();
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).expect("head");
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("status");
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .expect("content-length");
                while self.buf.len() < end + 4 + length {
                    self.read_more().await;
                }
                return status;
            }
            self.read_more().await;
        }
    }

    async fn read_more(&mut self) {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "build-listener closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

/// A `/proc/<pid>/status` figure in kB (`VmRSS:`, `VmHWM:`), or `?`.
fn status_kb(pid: Option<u32>, field: &str) -> String {
    pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).map(String::from))
        })
        .unwrap_or_else(|| "?".into())
}

/// User + system CPU time of a process (`self` or a pid) so far, in milliseconds.
fn cpu_ms(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last `)`.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the stat line: 12 and 13 after the state.
    (ticks(11) + ticks(12)) * 10.0
}
