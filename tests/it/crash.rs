//! SPEC §12's measure: SIGKILL either process at any moment, any number of times, while mail
//! drains and callbacks arrive; after restarts, every mail is handled, every build triggered
//! once, every finished build voted once.
//!
//! The real binaries run against the stand-ins, which answer Gerrit and Jenkins requests after
//! 100–200 ms *in flight* (half before the effect, half after), so kills land between a
//! request taking effect and its answer. Jenkins runs every queued build and sends the
//! Notification plugin's callbacks by itself. The kill moments come from a seeded generator
//! (`BIONICBB_CRASH_SEED`, printed), so a failing run can be replayed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use standins::{AutoRun, Fault, Service};

use crate::harness::{Binary, Env, MailSpec, Setup, change_id_for, free_port};

const CHANGES: u64 = 200;
/// Changes 1..=AUTO get a newchange mail; the rest only a `bionicbb: retry` comment.
const AUTO: u64 = 180;
const KILLS_EACH: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_doubles_nothing() {
    let seed: u64 = std::env::var("BIONICBB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261126);
    let mut rng = fastrand::Rng::with_seed(seed);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut env = Env::with(Setup {
        build_listener_url: url.clone(),
        ..Setup::default()
    })
    .await;
    let world = env.world.clone();
    world.set_seed(seed);
    for n in 1..=CHANGES {
        env.change(10_000 + n, &change_id_for(10_000 + n));
    }
    for n in 1..=CHANGES {
        let number = 10_000 + n;
        if n <= AUTO {
            env.deliver(&MailSpec::new("newchange", number, 1).render());
        } else {
            env.comment(number, 1, "", "bionicbb: retry");
        }
    }
    let in_flight = Fault::InFlight {
        min: Duration::from_millis(100),
        max: Duration::from_millis(200),
    };
    world.set_fault(Service::Gerrit, in_flight.clone());
    world.set_fault(Service::Jenkins, in_flight);
    let mut autorun = AutoRun::new(format!("{url}/?token=tok"));
    autorun.pick_interval = Duration::from_millis(50);
    autorun.parallel = 8;
    autorun.concurrent_builds = true;
    // A plugin endpoint with retries; the pause lets a restarting build-listener come back.
    autorun.retries = 20;
    autorun.retry_delay = Duration::from_millis(250);
    let runner = world.jenkins_autorun(autorun);

    let config = env.config_path.to_str().expect("path").to_string();
    let args = ["--config", config.as_str()];
    let dir = env.dir.path();
    let mut gmail = Binary::new(
        "gmail-listener",
        env!("CARGO_BIN_EXE_gmail-listener"),
        &args,
        dir.join("gmail-listener.log"),
    )
    .env("BIONICBB_LISTENER_TOKEN", "tok");
    let mut build = Binary::new(
        "build-listener",
        env!("CARGO_BIN_EXE_build-listener"),
        &args,
        dir.join("build-listener.log"),
    )
    .env("BIONICBB_LISTENER_TOKEN", "tok");
    build.start();
    gmail.start();

    let started = Instant::now();
    let mut revived = 0;
    let mut kills_mid_work = 0;
    for kill in 0..2 * KILLS_EACH {
        tokio::time::sleep(Duration::from_millis(rng.u64(100..900))).await;
        revived += u32::from(gmail.revive()) + u32::from(build.revive());
        let busy = if kill % 2 == 0 {
            world.gmail_messages().iter().any(|m| !m.trashed)
        } else {
            !callbacks_settled(&world) || world.jenkins_queue().iter().any(|q| q.number.is_none())
        };
        kills_mid_work += u32::from(busy);
        let victim = if kill % 2 == 0 {
            &mut gmail
        } else {
            &mut build
        };
        victim.kill().await;
        tokio::time::sleep(Duration::from_millis(rng.u64(0..300))).await;
        victim.start();
    }
    let kills_done = started.elapsed();

    // Let both drain: every mail filed, every build finished and voted on.
    let deadline = Instant::now() + Duration::from_secs(240);
    let journal_path = env.config().state.path;
    loop {
        let mails_left = world.gmail_messages().iter().filter(|m| !m.trashed).count();
        let builds_open = world
            .jenkins_queue()
            .iter()
            .filter(|q| q.number.is_none() && !q.cancelled)
            .count();
        let pending = pending_intents(&journal_path).await;
        if mails_left == 0 && builds_open == 0 && pending.is_empty() && callbacks_settled(&world) {
            break;
        }
        revived += u32::from(gmail.revive()) + u32::from(build.revive());
        assert!(
            Instant::now() < deadline,
            "did not settle: {mails_left} mails, {builds_open} builds, intents left: {pending:#?}\n\
             gmail-listener:\n{}\nbuild-listener:\n{}",
            tail(&gmail.log_text()),
            tail(&build.log_text())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settled = started.elapsed();
    assert!(gmail.terminate().await.success());
    assert!(build.terminate().await.success());
    runner.abort();

    // Every mail handled: trashed, none set aside or left.
    let mails = world.gmail_messages();
    let lost = mails.iter().filter(|m| !m.trashed).count();
    // Every change built exactly once.
    let mut builds: BTreeMap<String, u32> = BTreeMap::new();
    for q in world
        .jenkins_queue()
        .iter()
        .filter(|q| q.job == "bionic-presubmit")
    {
        *builds.entry(q.params["REF"].clone()).or_default() += 1;
    }
    let doubled_builds = builds.values().filter(|&&n| n > 1).count();
    let unbuilt = (1..=CHANGES)
        .filter(|n| {
            let number = 10_000 + n;
            !builds.contains_key(&format!("refs/changes/{:02}/{number}/1", number % 100))
        })
        .count();
    // Every acknowledged finished build voted exactly once; no review doubled.
    let mut reviews: BTreeMap<u64, u32> = BTreeMap::new();
    for r in world.gerrit_reviews() {
        if r.message
            .as_deref()
            .is_some_and(|m| m.contains("checkbuild"))
        {
            *reviews.entry(r.change).or_default() += 1;
        }
    }
    let doubled_reviews = reviews.values().filter(|&&n| n > 1).count();
    let acknowledged = acknowledged_changes(&world);
    let votes_lost = acknowledged
        .iter()
        .filter(|c| reviews.get(c).copied().unwrap_or(0) != 1)
        .count();
    let journal = bionicbb::journal::Journal::open(&journal_path, "test").expect("journal");
    let taken_over = journal
        .intents()
        .await
        .expect("intents")
        .iter()
        .filter(|i| i.attempts > 1)
        .count();
    let mut answers: BTreeMap<String, u32> = BTreeMap::new();
    for d in world.jenkins_deliveries() {
        let key = d
            .status
            .map_or_else(|| "none".to_string(), |s| s.to_string());
        *answers.entry(key).or_default() += 1;
    }
    println!(
        "crash test (seed {seed}): {} SIGKILLs of gmail-listener and {} of build-listener in \
         {:.1} s ({} and {} starts; {kills_mid_work} kills while the victim had work left; \
         {taken_over} intents attempted again after a kill); settled after {:.1} s. {} mails: {lost} lost. {} changes: \
         {unbuilt} unbuilt, {doubled_builds} built twice. {} finished builds acknowledged: \
         {votes_lost} votes lost, {doubled_reviews} reviews doubled. Callback answers \
         {answers:?}; processes that exited by themselves: {revived}.",
        KILLS_EACH,
        KILLS_EACH,
        kills_done.as_secs_f64(),
        gmail.starts,
        build.starts,
        settled.as_secs_f64(),
        mails.len(),
        CHANGES,
        acknowledged.len(),
    );
    assert_eq!(
        (lost, unbuilt, doubled_builds, votes_lost, doubled_reviews),
        (0, 0, 0, 0, 0)
    );
    // What the harness's final check is told to expect: exactly what was counted above.
    env.expect_builds(CHANGES as usize);
    let bot = world.gerrit_bot_account_id();
    env.expect_reviews(
        world
            .gerrit_reviews()
            .iter()
            .filter(|r| r.account_id == bot)
            .count(),
    );
    env.expect_all_trashed();
    assert!(kills_mid_work >= KILLS_EACH, "the kills missed the work");
    assert_eq!(
        revived,
        0,
        "a binary exited by itself:\n{}\n{}",
        tail(&gmail.log_text()),
        tail(&build.log_text())
    );
    assert!(
        acknowledged.len() as u64 >= CHANGES * 9 / 10,
        "too few callbacks got through: {answers:?}\n{}",
        tail(&build.log_text())
    );
}

/// Intents not yet ended, read the way an operator would (a second handle on the file).
async fn pending_intents(path: &std::path::Path) -> Vec<String> {
    let j = bionicbb::journal::Journal::open(path, "test").expect("journal");
    j.intents()
        .await
        .expect("intents")
        .iter()
        .filter(|i| {
            matches!(
                i.state,
                bionicbb::journal::IntentState::Pending | bionicbb::journal::IntentState::Running
            )
        })
        .map(|i| {
            format!(
                "{} {:?} {:?} attempts {} {:?}",
                i.key, i.state, i.owner, i.attempts, i.last_error
            )
        })
        .collect()
}

/// Whether every started build has had all its callbacks tried.
fn callbacks_settled(world: &standins::World) -> bool {
    let started = world
        .jenkins_queue()
        .iter()
        .filter(|q| q.number.is_some())
        .count();
    let finalized = world
        .jenkins_deliveries()
        .iter()
        .filter(|d| d.phase == "FINALIZED")
        .count();
    finalized >= started
}

/// The changes whose build's COMPLETED or FINALIZED callback build-listener acknowledged.
fn acknowledged_changes(world: &standins::World) -> Vec<u64> {
    let refs: BTreeMap<u64, String> = world
        .jenkins_queue()
        .into_iter()
        .filter_map(|q| Some((q.queue_id, q.params.get("REF")?.clone())))
        .collect();
    let mut out: Vec<u64> = world
        .jenkins_deliveries()
        .iter()
        .filter(|d| matches!(d.phase.as_str(), "COMPLETED" | "FINALIZED") && d.acknowledged())
        .filter_map(|d| refs.get(&d.queue_id)?.split('/').nth(3)?.parse().ok())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
