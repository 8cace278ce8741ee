//! The files an operator writes to point bionicbb at a set of services, written for the
//! stand-ins: `bionicbb.toml`, `netrc`, the OAuth `client_secret.json` and an authorised
//! `oauth-token.json`. The tests and the README's demo share this, so both run the bot exactly
//! as a user configures it.

use std::io;
use std::path::{Path, PathBuf};

use crate::Standins;

/// Writes the operator's files into `dir` and returns the config file's path.
/// `listener_url` is `[build_listener] url` (and its port is bound by `bind`).
pub fn operator_files(standins: &Standins, dir: &Path, listener_url: &str) -> io::Result<PathBuf> {
    let world = &standins.world;
    std::fs::write(
        dir.join("client_secret.json"),
        world.client_secret_json(&standins.token_url),
    )?;
    write_token_cache(standins, dir, false)?;
    let (gu, gp) = world.gerrit_credentials();
    let (ju, jp) = world.jenkins_credentials();
    // Every stand-in listens on 127.0.0.1, so the netrc entries are told apart by port.
    let netrc = format!(
        "machine 127.0.0.1 login {gu} password {gp} port {}\n\
         machine 127.0.0.1 login {ju} password {jp} port {}\n",
        port(&standins.gerrit_url)?,
        port(&standins.jenkins_url)?
    );
    std::fs::write(dir.join("netrc"), netrc)?;
    let bind = listener_url
        .strip_prefix("http://")
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| h.parse::<std::net::SocketAddr>().is_ok())
        .unwrap_or("127.0.0.1:0");
    let config = format!(
        r#"# Written for the local stand-ins; see config.example.toml for every key.
[gerrit]
url = "{gerrit}"
bot_account = "bionicbb@android.com"
netrc = "netrc"
timeout = "5s"

[jenkins]
url = "{jenkins}"
netrc = "netrc"
timeout = "5s"

[gmail]
client_secret = "client_secret.json"
token_cache = "oauth-token.json"
senders = ["noreply-gerritcodereview*@google.com"]
poll_interval = "1s"
api_url = "{gmail}"
timeout = "5s"

[build_listener]
bind = "{bind}"
url = "{listener_url}"
build_link = "{{full_url}}"

[state]
path = "bionicbb.db"

[presubmit]
default_job = "bionic-presubmit"
clean_job = "clean-bionic-presubmit"
ignored_jobs = ["bionic-lint"]
trusted_domains = ["google.com"]
skip_file_names = ["CleanSpec.mk"]
skip_path_prefixes = ["tools/bionicbb"]

[presubmit.projects]
"platform/bionic" = "bionic-presubmit"
"platform/external/jemalloc" = "bionic-presubmit"
"platform/other" = "other-presubmit"

[presubmit.targets]
arm = "aosp_arm-eng"
x86_64 = "aosp_x86_64-eng"
"#,
        gerrit = standins.gerrit_url,
        jenkins = standins.jenkins_url,
        gmail = standins.gmail_url,
    );
    let path = dir.join("bionicbb.toml");
    std::fs::write(&path, config)?;
    for job in ["bionic-presubmit", "other-presubmit"] {
        world.jenkins_add_job(job, &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"]);
    }
    world.jenkins_add_job("clean-bionic-presubmit", &[]);
    world.jenkins_add_job("bionic-lint", &["REF", "CHANGE_ID", "PROJECT"]);
    world.gmail_label("gerrit");
    Ok(path)
}

/// Writes yup-oauth2's token cache as `--authorize` leaves it; `expired` makes the stored
/// access token stale so the first call must refresh it at the token endpoint.
pub fn write_token_cache(standins: &Standins, dir: &Path, expired: bool) -> io::Result<()> {
    std::fs::write(
        dir.join("oauth-token.json"),
        standins.world.oauth_token_cache_json(expired),
    )
}

fn port(url: &str) -> io::Result<u16> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .ok_or_else(|| io::Error::other(format!("no port in {url}")))
}
