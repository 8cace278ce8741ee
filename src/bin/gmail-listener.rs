//! gmail-listener: polls the mailbox for Gerrit notifications and acts on them.

use std::process::ExitCode;

use bionicbb::check::{self, Binary};
use bionicbb::cli::{self, ConfigArg, MailListener};
use clap::Parser;

/// Polls a Gmail label for Gerrit notification mails, triggers Jenkins presubmit builds and runs
/// `bionicbb:` commands from review comments.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: ConfigArg,
    /// Decide and print, but trigger nothing, post nothing, trash nothing.
    #[arg(long)]
    dry_run: bool,
    /// Poll once, then exit (for cron and tests).
    #[arg(long)]
    once: bool,
    /// Authorise Gmail access now: print the consent URL, read the redirected URL from standard
    /// input, store the token in `token_cache`, and exit.
    #[arg(long)]
    authorize: bool,
    /// With --authorize: instead of pasting, wait for the browser's redirect on this local port
    /// (use `ssh -L PORT:localhost:PORT server` from a workstation).
    #[arg(long, value_name = "PORT", requires = "authorize")]
    listen: Option<u16>,
    /// Check the set-up (config, netrc, Gerrit, Jenkins, Gmail token and labels,
    /// build-listener and its token, the state database), print one line per check and exit:
    /// 0 only if all pass. Changes nothing.
    #[arg(long, conflicts_with_all = ["authorize", "once", "dry_run"])]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing();
    bionicbb::console::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return cli::fatal(&anyhow::Error::new(e).context("cannot start the runtime")),
    };
    if cli.check {
        let token = cli::listener_token().ok().flatten();
        let config = cli.config.load();
        return runtime.block_on(check::main(
            Binary::GmailListener,
            &cli.config.config,
            config,
            token,
        ));
    }
    let config = match cli.config.load() {
        Ok(c) => c,
        Err(e) => return cli::config_error(&e),
    };
    match runtime.block_on(cli::mail_listener(config, cli.mode())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::fatal(&e),
    }
}

impl Cli {
    fn mode(&self) -> MailListener {
        if self.authorize {
            MailListener::Authorize {
                listen: self.listen,
            }
        } else if self.once {
            MailListener::Once {
                dry_run: self.dry_run,
            }
        } else {
            MailListener::Serve {
                dry_run: self.dry_run,
            }
        }
    }
}
