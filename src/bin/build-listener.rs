//! build-listener: receives Jenkins Notification-plugin callbacks and posts Verified votes to
//! Gerrit (SPEC §7). Everything but the command line lives in `bionicbb::server`.

use std::process::ExitCode;

use clap::Parser;

use bionicbb::cli::{self, ConfigArg};

/// Turns Jenkins build results into Gerrit reviews (Verified +1/-1) and drops the bot's -1 on
/// request. Serves until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "build-listener", version)]
struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_tracing();
    bionicbb::console::init();
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
