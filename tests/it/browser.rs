//! The status board in a real headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol by `tests/browser/cdp_driver.py` (Python's standard library only): the
//! page renders the builds of a scripted story, and a build that finishes after the page
//! loaded appears without a reload. It also saves the screenshot the README shows
//! (`BIONICBB_BOARD_SCREENSHOT=docs/board.png` to refresh it).
//!
//! Without Chromium the test says so and passes, except under CI (`CI` set), where
//! `.ci/run` installs it and its absence is a failure.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use standins::Events;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::board::{DONE, FAILED, QUEUED, story};
use crate::harness::{self, Env, Listener, MailSpec, change_id_for};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BIONICBB_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// The driver process and its line protocol.
struct Driver {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Driver {
    async fn start(chromium: &std::path::Path) -> Driver {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/cdp_driver.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .arg(chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the driver");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let mut d = Driver {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        assert_eq!(d.answer().await["ready"], true);
        d
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("the driver answers within 60 s")
            .expect("driver output")
            .expect("the driver is running");
        serde_json::from_str(&line).expect("JSON from the driver")
    }

    async fn send(&mut self, cmd: Value) -> Value {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("driver stdin");
        let a = self.answer().await;
        assert!(a.get("error").is_none(), "{cmd}: {a}");
        a
    }

    async fn eval(&mut self, expr: &str) -> Value {
        self.send(json!({"cmd": "eval", "expr": expr})).await["value"].clone()
    }

    async fn wait(&mut self, expr: &str) -> bool {
        self.send(json!({"cmd": "wait", "expr": expr, "timeout": 10}))
            .await["ok"]
            .as_bool()
            .unwrap_or(false)
    }

    async fn quit(mut self) {
        self.send(json!({"cmd": "quit"})).await;
        let _ = self.child.wait().await;
    }
}

/// More of a working day for the screenshot: an unstable, an aborted and a target build.
async fn busier_day(env: &mut Env, l: &Listener) {
    for (n, status) in [(7004, "UNSTABLE"), (7005, "ABORTED"), (7006, "SUCCESS")] {
        env.change(n, &change_id_for(n));
        env.deliver(&MailSpec::new("newchange", n, 1).render());
        env.poll_once().await;
        let q = env.expect_builds(1).remove(0).queue_id;
        env.world
            .jenkins_run(q, status, &l.notify_url(), Events::All)
            .await
            .expect("callbacks");
        l.settle().await;
    }
    env.expect_reviews(3);
    // A target build, left waiting in the queue (a build started by hand here would take the
    // number Jenkins gives the story's next build).
    env.comment(7006, 1, "", "bionicbb: arm");
    env.poll_once().await;
    env.expect_builds(1);
    env.expect_all_trashed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_renders_the_story_and_follows_a_build_live_in_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium is missing under CI: .ci/run installs Debian's `chromium`"
        );
        eprintln!("SKIPPED: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let mut env = Env::new().await;
    let l = harness::start_listener(env.config(), None).await;
    busier_day(&mut env, &l).await;
    let story = story(&mut env, &l).await;
    let mut d = Driver::start(&chromium).await;
    d.send(json!({"cmd": "open", "url": format!("{}/", l.url)}))
        .await;
    assert!(
        d.wait("document.body.dataset.live === '1'").await,
        "the page never went live"
    );

    let order = d
        .eval("[...document.querySelectorAll('article.change')].map(a => a.id).join(' ')")
        .await;
    assert!(
        order
            .as_str()
            .is_some_and(|o| o.starts_with(&format!("c-{QUEUED} c-{DONE} c-{FAILED} "))),
        "{order}"
    );
    let boxes = |n: u64| {
        format!("[...document.querySelectorAll('#c-{n} .build')].map(b => b.className).join(',')")
    };
    assert_eq!(
        d.eval(&boxes(DONE)).await,
        "build building,build successful"
    );
    assert_eq!(d.eval(&boxes(FAILED)).await, "build failed");
    assert_eq!(d.eval(&boxes(QUEUED)).await, "build pending");
    assert_eq!(
        d.eval(&format!(
            "document.querySelector('#c-{FAILED} .vote').textContent"
        ))
        .await,
        "V\u{2212}1"
    );
    assert_eq!(
        d.eval("document.querySelector('#c-7006 .build .target').textContent")
            .await,
        "aosp_arm-eng"
    );

    // The README's picture, with a build still running.
    let shot = std::env::var_os("BIONICBB_BOARD_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("board.png"));
    d.send(json!({"cmd": "screenshot", "path": shot})).await;
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");

    // The build finishes after the page loaded.
    env.world
        .jenkins_run(story.building, "SUCCESS", &l.notify_url(), Events::All)
        .await
        .expect("callbacks");
    l.settle().await;
    env.expect_reviews(1);
    let live = format!(
        "window.__bionicbbLoaded === true \
         && document.querySelector('#c-{DONE} .ps .build').className === 'build successful' \
         && document.querySelector('#c-{DONE} .ps .vote').textContent === 'V+1' \
         && document.querySelector('article.change').id === 'c-{DONE}'"
    );
    assert!(
        d.wait(&live).await,
        "{}",
        d.eval("document.body.innerHTML").await
    );
    assert!(d.eval("Number(document.body.dataset.updates) > 0").await == true);

    d.quit().await;
    l.stop().await;
    env.finish();
}
