//! build-listener: receives Jenkins Notification-plugin callbacks and posts Verified votes to
//! Gerrit (SPEC §7). Everything but the command line lives in `bionicbb::server`.

use std::process::ExitCode;

use clap::Parser;

use bionicbb::check::{self, Binary};
use bionicbb::cli::{self, ConfigArg};

/// Turns Jenkins build results into Gerrit reviews (Verified +1/-1) and drops the bot's -1 on
/// request. Serves until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "build-listener", version)]
struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Check the set-up (config, netrc, Gerrit, Jenkins, the bind address, the state
    /// database), print one line per check and exit: 0 only if all pass. Changes nothing.
    #[arg(long)]
    check: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_tracing();
    bionicbb::console::init();
    if args.check {
        let token = cli::listener_token().ok().flatten();
        let config = args.config.load();
        return check::main(Binary::BuildListener, &args.config.config, config, token).await;
    }
    let config = match args.config.load() {
        Ok(c) => c,
        Err(e) => return cli::config_error(&e),
    };
    let token = match cli::listener_token() {
        Ok(t) => t,
        Err(e) => return cli::fatal(&e),
    };
    match bionicbb::server::run(config, token, cli::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::fatal(&e),
    }
}
