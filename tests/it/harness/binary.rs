//! The real binaries, started, killed and restarted as an operator or a crash would.

use std::path::PathBuf;
use std::time::Duration;

/// One real binary, restartable, its stdout and stderr appended to a log file.
pub struct Binary {
    pub name: &'static str,
    path: &'static str,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log: PathBuf,
    child: Option<tokio::process::Child>,
    pub starts: u32,
}

impl Binary {
    pub fn new(name: &'static str, path: &'static str, args: &[&str], log: PathBuf) -> Binary {
        Binary {
            name,
            path,
            args: args.iter().map(|a| (*a).to_string()).collect(),
            envs: vec![
                ("NO_COLOR".into(), "1".into()),
                ("RUST_LOG".into(), "warn".into()),
            ],
            log,
            child: None,
            starts: 0,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Binary {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = log.try_clone().expect("log file");
        let mut cmd = tokio::process::Command::new(self.path);
        cmd.args(&self.args)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn"));
        self.starts += 1;
    }

    /// Restarts the process if it exited by itself (as systemd's `Restart=always` would);
    /// returns whether it had.
    pub fn revive(&mut self) -> bool {
        let exited = match self.child.as_mut().map(tokio::process::Child::try_wait) {
            Some(Ok(Some(_))) | Some(Err(_)) => true,
            Some(Ok(None)) | None => false,
        };
        if exited {
            self.start();
        }
        exited
    }

    /// SIGKILL, and reap the process (so that its pid is gone from /proc).
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// SIGTERM; returns the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().expect("pid").to_string();
        // The shell's builtin `kill`: no dependency on procps being installed.
        let sent = std::process::Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(20), c.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop on SIGTERM", self.name))
            .expect("wait")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A free port on 127.0.0.1 (bound once and released).
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr").port()
}
