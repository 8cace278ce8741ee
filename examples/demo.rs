//! The README's first command: `cargo run --example demo`.
//!
//! Runs the whole job against the local stand-ins with the real binaries as subprocesses,
//! configured only through their config file, and prints the transcript: Gerrit mails arrive,
//! gmail-listener triggers builds, the stand-in Jenkins runs them and calls build-listener, and
//! Gerrit shows the votes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use standins::{Events, Standins};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const DOTS: &str = "......................................................................";
const SENDER: &str =
    "Dana Whitfield (Gerrit) <noreply-gerritcodereview-CtTy0igsBrnvL7dKoWEIEg@google.com>";

#[tokio::main]
async fn main() -> Result<()> {
    let bin_dir = build_binaries()?;
    let standins = Standins::start().await;
    let world = standins.world.clone();
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let listener_url = format!("http://127.0.0.1:{port}");
    let config = standins::operator_files(&standins, dir.path(), &listener_url)?;
    section(&format!(
        "Stand-ins up; config written to {}",
        config.display()
    ));
    println!(
        "  Gmail   {}\n  Gerrit  {}\n  Jenkins {}",
        standins.gmail_url, standins.gerrit_url, standins.jenkins_url
    );

    // Two changes: one by a trusted committer, one from outside.
    let good = world.gerrit_add_change(standins::NewChange {
        number: Some(123445),
        change_id: "I0123456789abcdef0123456789abcdef01234567".into(),
        committer_email: "dev@google.com".into(),
        ..standins::NewChange::default()
    });
    let stranger = world.gerrit_add_change(standins::NewChange {
        number: Some(123446),
        change_id: "I89abcdef0123456789abcdef0123456789abcdef".into(),
        committer_email: "someone@example.org".into(),
        ..standins::NewChange::default()
    });

    // The reviewer whose comments the mails announce; the bot reads each comment back from
    // Gerrit before acting on it, so it is posted there first.
    let dana =
        world.gerrit_add_account_named("dwhitfield", "Dana Whitfield", "dwhitfield@google.com");

    let mut listener = spawn(&bin_dir.join("build-listener"), &config, "build-listener")?;
    wait_healthy(&listener_url).await?;

    section("Gerrit mails arrive: a new change, a change by an untrusted committer, a stray mail");
    world.gmail_deliver(&mail("newchange", good, 1, ""), &["gerrit"]);
    world.gmail_deliver(&mail("newchange", stranger, 1, ""), &["gerrit"]);
    world.gmail_deliver(
        b"From: Bob <bob@example.com>\r\nSubject: lunch?\r\n\r\nAre you coming?\r\n",
        &["gerrit"],
    );
    run_once(&bin_dir, &config).await?;

    section("Jenkins runs the build: FAILURE; the Notification plugin calls build-listener");
    let queued = world.jenkins_queue();
    for q in &queued {
        println!("  queued #{} {} {:?}", q.queue_id, q.job, q.params);
        let statuses = world
            .jenkins_run(
                q.queue_id,
                "FAILURE",
                &format!("{listener_url}/"),
                Events::All,
            )
            .await?;
        println!("  plugin POSTs QUEUED, STARTED, COMPLETED, FINALIZED -> HTTP {statuses:?}");
    }
    wait_reviews(&world, 1).await;
    print_reviews(&world);

    section("The author knows better: votes Verified+1; the bot lifts its -1");
    world.gerrit_post_comment(
        good,
        1,
        dana,
        standins::CommentSpec {
            labels: vec![("Verified".into(), 1)],
            ..Default::default()
        },
    );
    world.gmail_deliver(&mail("comment", good, 1, "Verified+1"), &["gerrit"]);
    run_once(&bin_dir, &config).await?;
    wait_reviews(&world, 2).await;
    println!(
        "  Verified votes now: {:?}",
        world.gerrit_votes(good, 1, "Verified")
    );

    section("A reviewer asks for an arm build and a clean, and mistypes a third command");
    let comment = "bionicbb: arm\nbionicbb: clean\nbionicbb: x86-64";
    world.gerrit_post_comment(
        good,
        1,
        dana,
        standins::CommentSpec {
            message: Some(comment.into()),
            ..Default::default()
        },
    );
    world.gmail_deliver(&mail("comment", good, 1, comment), &["gerrit"]);
    run_once(&bin_dir, &config).await?;
    for q in world.jenkins_queue().iter().skip(queued.len()) {
        let notify = format!("{listener_url}/");
        world
            .jenkins_run(q.queue_id, "SUCCESS", &notify, Events::All)
            .await?;
        println!("  ran #{} {} -> SUCCESS", q.queue_id, q.job);
    }
    wait_reviews(&world, 5).await;
    print_reviews(&world);

    section("Where the mails went");
    for m in world.gmail_messages() {
        println!(
            "  {} {:?}{}",
            m.id,
            m.label_names,
            if m.trashed { " (trash)" } else { "" }
        );
    }
    section(&format!(
        "Verified votes on change {good}, patch set 1: {:?}",
        world.gerrit_votes(good, 1, "Verified")
    ));

    stop(&mut listener).await;
    // The story's end, checked: a demo that silently stops working helps nobody.
    let bot = world.gerrit_bot_account_id();
    if world.gerrit_votes(good, 1, "Verified").get(&bot) != Some(&1) {
        return Err("the bot's Verified vote did not end at +1: see the transcript above".into());
    }
    println!("\nDone. The same stand-ins back `cargo test --workspace --locked`.");
    Ok(())
}

/// Builds the two binaries with the same profile as this example and returns their directory.
fn build_binaries() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?;
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "--bin",
        "gmail-listener",
        "--bin",
        "build-listener",
    ]);
    if profile_dir.ends_with("release") {
        cmd.arg("--release");
    }
    let status = cmd.status()?;
    if !status.success() {
        return Err("cargo build of the binaries failed".into());
    }
    Ok(profile_dir.to_path_buf())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn section(title: &str) {
    println!("\n== {title}");
}

/// A Gerrit 2.16-style plain-text notification (the demo keeps mails readable).
fn mail(kind: &str, number: u64, ps: u32, comment: &str) -> Vec<u8> {
    let (change_id, intro) = if number == 123445 {
        (
            "I0123456789abcdef0123456789abcdef01234567",
            "Dana Whitfield",
        )
    } else {
        ("I89abcdef0123456789abcdef0123456789abcdef", "Someone Else")
    };
    let body = if kind == "comment" {
        let (votes, text) = if comment == "Verified+1" {
            (" Verified+1", "")
        } else {
            ("", comment)
        };
        format!(
            "{intro} has posted comments on this change.\n\nChange subject: Fix strlen\n{DOTS}\n\n\n\
             Patch Set {ps}:{votes}\n\n{text}\n\n"
        )
    } else {
        format!(
            "{intro} has uploaded a new change for review.\n\nChange subject: Fix strlen\n{DOTS}\n\n\
             Fix strlen\n\nChange-Id: {change_id}\n---\nM libc/bionic/strlen.cpp\n\
             1 file changed, 1 insertion(+)\n\n"
        )
    };
    let body = body.replace('\n', "\r\n");
    format!(
        "From: {SENDER}\r\nTo: bionicbb@android.com\r\nReply-To: dana@google.com\r\n\
         Message-ID: <{kind}-{number}-{ps}-{}@demo>\r\nSubject: Change in platform/bionic[main]: Fix strlen\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\r\n{body}-- \r\n\
         To view, visit https://review.example/{number}\r\n\r\n\
         Gerrit-MessageType: {kind}\r\nGerrit-Change-Id: {change_id}\r\nGerrit-Change-Number: {number}\r\n\
         Gerrit-PatchSet: {ps}\r\nGerrit-Project: platform/bionic\r\nGerrit-Branch: main\r\n",
        comment.len()
    )
    .into_bytes()
}

fn spawn(bin: &Path, config: &Path, name: &'static str) -> Result<Child> {
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(echo(out, name));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(echo(err, name));
    }
    Ok(child)
}

/// Copies a child's output to ours, each line tagged with the process name.
async fn echo(stream: impl tokio::io::AsyncRead + Unpin, name: &str) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        println!("  [{name}] {l}");
    }
}

async fn run_once(bin_dir: &Path, config: &Path) -> Result<()> {
    println!("  $ gmail-listener --config {} --once", config.display());
    let out = Command::new(bin_dir.join("gmail-listener"))
        .arg("--config")
        .arg(config)
        .arg("--once")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await?;
    for l in String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        println!("  [gmail-listener] {l}");
    }
    if !out.status.success() {
        return Err(format!("gmail-listener exited with {}", out.status).into());
    }
    Ok(())
}

async fn wait_healthy(url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{url}/healthz")).await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("build-listener did not come up".into())
}

/// Waits (up to 20 s) until the bot posted `n` reviews.
async fn wait_reviews(world: &standins::World, n: usize) {
    let bot = world.gerrit_bot_account_id();
    let posted = || {
        world
            .gerrit_reviews()
            .iter()
            .filter(|r| r.account_id == bot)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while posted() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_reviews(world: &standins::World) {
    println!("  Gerrit received:");
    for r in world.gerrit_reviews() {
        println!(
            "    change {} patch set {}: labels {:?} message {:?}",
            r.change,
            r.patch_set,
            r.labels,
            r.message.unwrap_or_default()
        );
    }
}

async fn stop(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) => println!("  [build-listener] exited: {status}"),
        _ => {
            let _ = child.kill().await;
        }
    }
}
