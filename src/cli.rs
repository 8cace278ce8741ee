//! What both binaries share on the command line (SPEC §1): `--config PATH` (default
//! `bionicbb.toml`, env `BIONICBB_CONFIG`), structured logs to stderr honouring `RUST_LOG`, and
//! the exit codes: 0 normal end, 2 bad command line or invalid config, 1 any other fatal error
//! with a one-line cause. Bad command lines are clap's: it prints usage and exits 2 itself.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{Config, ConfigError};
use crate::credentials::Secret;
use crate::gmail::Authorize;
use crate::poller::Poller;

/// The `--config` argument; `#[command(flatten)]` it into a binary's clap struct.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(
        long,
        value_name = "PATH",
        env = "BIONICBB_CONFIG",
        default_value = "bionicbb.toml"
    )]
    pub config: PathBuf,
}

impl ConfigArg {
    /// Loads and validates the file.
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load(&self.config)
    }
}

/// Structured logs to stderr; `RUST_LOG` filters them (default `info`). Stdout stays free for
/// the coloured decision lines.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_colour_on_stderr())
        .try_init();
}

fn use_colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Exit code 2 for a configuration error (the message names file, key and problem).
pub fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// Prints a fatal error as one line (its causes joined by `: `) and gives its exit code:
/// 2 if a [`ConfigError`] is among the causes, else 1.
pub fn fatal(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(e));
    ExitCode::from(exit_code(e))
}

/// The exit code for a fatal error; see [`fatal`].
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<ConfigError>()) {
        2
    } else {
        1
    }
}

/// `{:#}` joins the cause chain with `: `; newlines inside a cause would still break the line.
pub fn one_line(e: &anyhow::Error) -> String {
    crate::text::one_line(&format!("{e:#}"), usize::MAX)
}

/// `BIONICBB_LISTENER_TOKEN`: the shared secret of build-listener's POST endpoints, which
/// gmail-listener sends on `/drop-rejection`. Unset or empty means no token.
pub fn listener_token() -> anyhow::Result<Option<Secret>> {
    match std::env::var(crate::server::TOKEN_ENV) {
        Ok(t) if t.trim().is_empty() => Ok(None),
        Ok(t) => Ok(Some(Secret::new(t.trim()))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("{} is not valid UTF-8", crate::server::TOKEN_ENV)
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop).
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still works");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
        () = terminate => {}
    }
}

/// What gmail-listener does once its configuration is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailListener {
    /// Authorise Gmail access (paste the redirected URL, or wait for it on `listen`), then exit.
    Authorize { listen: Option<u16> },
    /// Poll once, and reconcile if it is due, then exit (for cron and tests).
    Once { dry_run: bool },
    /// Poll until SIGINT or SIGTERM.
    Serve { dry_run: bool },
}

/// Runs gmail-listener in `mode`.
pub async fn mail_listener(config: Config, mode: MailListener) -> anyhow::Result<()> {
    match mode {
        MailListener::Authorize { listen } => authorize_gmail(&config, listen).await,
        MailListener::Once { dry_run } => poll_once(&start_poller(config, dry_run).await?).await,
        MailListener::Serve { dry_run } => {
            let poller = start_poller(config, dry_run).await?;
            poller.run(shutdown_signal()).await;
            Ok(())
        }
    }
}

/// The poller, given build-listener's token from the environment.
async fn start_poller(config: Config, dry_run: bool) -> anyhow::Result<Poller> {
    let token = listener_token()?;
    crate::poller::build(config, token, dry_run).await
}

async fn authorize_gmail(config: &Config, listen: Option<u16>) -> anyhow::Result<()> {
    let how = match listen {
        Some(port) => Authorize::Loopback { port },
        None => Authorize::Paste { port: 8085 },
    };
    crate::gmail::authorize_now(&config.gmail, how)
        .await
        .context("Gmail authorisation failed")?;
    println!(
        "Authorised; token stored in {}",
        config.gmail.token_cache.display()
    );
    Ok(())
}

async fn poll_once(poller: &Poller) -> anyhow::Result<()> {
    let report = poller.poll_once().await.context("poll failed")?;
    tracing::info!(?report, "poll finished");
    // Cron runs catch lost mail too, once per `[gerrit] reconcile_interval`.
    let reconciled = poller
        .reconcile_if_due()
        .await
        .context("reconcile pass failed")?;
    if let Some(r) = reconciled {
        tracing::info!(?r, "reconcile pass finished");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn config_errors_exit_2_and_others_exit_1() {
        let config = ConfigError {
            file: "b.toml".into(),
            key: "gerrit.url".into(),
            message: "bad".into(),
        };
        let wrapped = Err::<(), _>(config).context("cannot start").unwrap_err();
        assert_eq!(exit_code(&wrapped), 2);
        let other = anyhow::anyhow!("boom").context("cannot listen on 127.0.0.1:5000");
        assert_eq!(exit_code(&other), 1);
    }

    #[test]
    fn fatal_errors_print_as_one_line() {
        let e = anyhow::anyhow!("first\nsecond").context("cannot start");
        assert_eq!(one_line(&e), "cannot start: first second");
    }

    #[test]
    fn the_config_argument_defaults_and_reads_the_environment_name() {
        use clap::{CommandFactory, Parser};
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            config: ConfigArg,
        }
        let a = Args::try_parse_from(["x", "--config", "/etc/b.toml"]).unwrap();
        assert_eq!(a.config.config, PathBuf::from("/etc/b.toml"));
        let command = Args::command();
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == "config")
            .unwrap();
        assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new("BIONICBB_CONFIG")));
        let default: Vec<_> = arg.get_default_values().to_vec();
        assert_eq!(default, ["bionicbb.toml"]);
    }
}
