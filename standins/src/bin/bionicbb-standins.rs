//! `bionicbb-standins`: runs the Gmail (+OAuth), Gerrit and Jenkins stand-ins for the README
//! quickstart and for poking at bionicbb by hand, with a demo change and its notification mail.
//!
//! Flags (hand-parsed; clap is not a dependency of this crate):
//! `--gmail-port N --oauth-port N --gerrit-port N --jenkins-port N` (defaults 8401..8404, 0 = any),
//! `--write-config DIR` (writes bionicbb.toml, netrc, client_secret.json and oauth-token.json
//! there, for a build-listener at `--listener-url URL`, default http://127.0.0.1:5000),
//! `--notify-url URL` with `--build-status S` (run every queued build to S, default SUCCESS, and
//! POST the Notification-plugin events to URL, as Jenkins would), `--gerrit-events-url URL`
//! (POST every patch set upload and posted review to URL, as Gerrit's webhooks plugin would).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use standins::{AutoRun, GerritWebhooks, NewChange, Ports, Standins, World};

const USAGE: &str = "usage: bionicbb-standins [--gmail-port N] [--oauth-port N] [--gerrit-port N] \
[--jenkins-port N] [--write-config DIR] [--listener-url URL] [--notify-url URL] \
[--build-status STATUS] [--gerrit-events-url URL]";

struct Args {
    ports: Ports,
    write_config: Option<PathBuf>,
    notify_url: Option<String>,
    gerrit_events_url: Option<String>,
    build_status: String,
    listener_url: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ports: Ports {
            gmail: 8401,
            oauth: 8402,
            gerrit: 8403,
            jenkins: 8404,
        },
        write_config: None,
        notify_url: None,
        gerrit_events_url: None,
        build_status: "SUCCESS".into(),
        listener_url: "http://127.0.0.1:5000".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let port = || {
            value
                .parse::<u16>()
                .map_err(|_| format!("{flag}: not a port: {value}"))
        };
        match flag.as_str() {
            "--gmail-port" => args.ports.gmail = port()?,
            "--oauth-port" => args.ports.oauth = port()?,
            "--gerrit-port" => args.ports.gerrit = port()?,
            "--jenkins-port" => args.ports.jenkins = port()?,
            "--write-config" => args.write_config = Some(PathBuf::from(value)),
            "--notify-url" => args.notify_url = Some(value),
            "--gerrit-events-url" => args.gerrit_events_url = Some(value),
            "--build-status" => args.build_status = value,
            "--listener-url" => args.listener_url = value,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// A Gerrit `newchange` notification as Gerrit mails it (multipart, footers at the end).
fn demo_mail(world: &World, number: u64, change_id: &str) -> Vec<u8> {
    let address = world.gmail_address();
    format!(
        "From: Owner (Gerrit) <noreply-gerritcodereview@google.com>\r\n\
         To: {address}\r\n\
         Subject: Change in platform/bionic[main]: Fix the frobnicator\r\n\
         Message-ID: <gerrit.demo.{number}@android-review.googlesource.com>\r\n\
         X-Gerrit-MessageType: newchange\r\n\
         X-Gerrit-Change-Id: {change_id}\r\n\
         X-Gerrit-Change-Number: {number}\r\n\
         X-Gerrit-PatchSet: 1\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"demo-boundary\"\r\n\
         \r\n\
         --demo-boundary\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         a@google.com has uploaded this change for review.\r\n\
         \r\n\
         Change subject: Fix the frobnicator\r\n\
         \r\n\
         Gerrit-MessageType: newchange\r\n\
         Gerrit-Project: platform/bionic\r\n\
         Gerrit-Branch: main\r\n\
         Gerrit-Change-Id: {change_id}\r\n\
         Gerrit-Change-Number: {number}\r\n\
         Gerrit-PatchSet: 1\r\n\
         Gerrit-Owner: a@google.com\r\n\
         --demo-boundary\r\n\
         Content-Type: text/html; charset=UTF-8\r\n\
         \r\n\
         <p>a@google.com has uploaded this change for review.</p>\r\n\
         --demo-boundary--\r\n"
    )
    .into_bytes()
}

fn seed(world: &World) -> u64 {
    world.jenkins_add_job(
        "bionic-presubmit",
        &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"],
    );
    world.jenkins_add_job("clean-bionic-presubmit", &[]);
    world.jenkins_add_job("bionic-lint", &["REF", "CHANGE_ID", "PROJECT"]);
    let change = NewChange::default();
    let change_id = change.change_id.clone();
    let number = world.gerrit_add_change(change);
    world.gmail_deliver(
        &demo_mail(world, number, &change_id),
        &["INBOX", "UNREAD", "gerrit"],
    );
    number
}

/// Prints each Notification-plugin delivery once it is done, so a hand run shows the callbacks.
async fn report_deliveries(world: World) {
    let mut shown = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let deliveries = world.jenkins_deliveries();
        for d in deliveries.iter().skip(shown) {
            match d.status {
                Some(code) => println!(
                    "{} #{} (queue {}): {} -> HTTP {code}",
                    d.job, d.number, d.queue_id, d.phase
                ),
                None => eprintln!(
                    "{} #{} (queue {}): {} not delivered ({} attempts)",
                    d.job,
                    d.number,
                    d.queue_id,
                    d.phase,
                    d.attempts.len()
                ),
            }
        }
        shown = deliveries.len();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let world = World::new();
    let number = seed(&world);
    let s = match Standins::start_on(world, args.ports).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bionicbb-standins: cannot bind: {e}");
            return ExitCode::from(1);
        }
    };
    let t = s.world.gmail_tokens();
    let (gu, gp) = s.world.gerrit_credentials();
    let (ju, jt) = s.world.jenkins_credentials();
    println!("gmail api_url   {}", s.gmail_url);
    println!("oauth token_uri {}", s.token_url);
    println!(
        "gerrit url      {}   (user {gu}, HTTP password {gp})",
        s.gerrit_url
    );
    println!(
        "jenkins url     {}   (user {ju}, API token {jt})",
        s.jenkins_url
    );
    println!("oauth client    {} / {}", t.client_id, t.client_secret);
    println!(
        "refresh token   {}   access token {}",
        t.refresh_token, t.access_token
    );
    println!("demo change     platform/bionic~{number}, its newchange mail is in label 'gerrit'");
    if let Some(dir) = &args.write_config {
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| standins::operator_files(&s, dir, &args.listener_url));
        match written {
            Ok(config) => println!(
                "wrote {} and its netrc, client_secret.json, oauth-token.json",
                config.display()
            ),
            Err(e) => {
                eprintln!("bionicbb-standins: cannot write {}: {e}", dir.display());
                return ExitCode::from(1);
            }
        }
    }
    if let Some(url) = args.notify_url {
        let mut run = AutoRun::new(url);
        run.status = args.build_status;
        s.world.jenkins_autorun(run);
        tokio::spawn(report_deliveries(s.world.clone()));
    }
    if let Some(url) = args.gerrit_events_url {
        println!("gerrit events   POSTed to {url} (webhooks plugin)");
        s.world.gerrit_webhooks(GerritWebhooks::new(url));
    }
    println!("running; Ctrl-C stops");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("bionicbb-standins: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
