//! Credentials for Gerrit and Jenkins, read from a netrc file per host.
//!
//! reqwest does not read `.netrc` by itself (Python requests did, which is how the 2015 bot got
//! its Gerrit password without saying so), so we parse it and send HTTP Basic auth ourselves.
//! Secrets are wrapped in [`Secret`], whose `Debug` never prints the value.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A string that must not appear in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// User name and password/API token for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub login: String,
    pub password: Secret,
}

/// Why credentials could not be found.
#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error("cannot read netrc file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("netrc file {path} is malformed: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error(
        "netrc file {path} has no `machine {host}` entry (add `machine {host} login USER password TOKEN`)"
    )]
    NoEntry { path: PathBuf, host: String },
    #[error("netrc file {path}: the `machine {host}` entry has no password")]
    NoPassword { path: PathBuf, host: String },
    #[error("URL `{0}` has no host to look up in netrc")]
    NoHost(String),
    #[error("no netrc file given and neither $NETRC nor $HOME is set")]
    NoDefault,
}

/// The netrc file to use: the configured one, else `$NETRC`, else `~/.netrc`.
pub fn netrc_path(configured: Option<&Path>) -> Result<PathBuf, CredentialsError> {
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("NETRC").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".netrc"))
        .ok_or(CredentialsError::NoDefault)
}

/// Looks up the credentials for the host of `url` in the netrc file at `path`.
///
/// An entry with a port (`machine host:port` is not netrc syntax, but the `port` token some
/// tools write is) must match the URL's port; the `default` entry is used only when no
/// `machine` matches.
pub fn for_url(url: &str, path: &Path) -> Result<Credentials, CredentialsError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| CredentialsError::NoHost(url.into()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| CredentialsError::NoHost(url.into()))?
        .to_ascii_lowercase();
    let port = parsed.port_or_known_default();
    let file = std::fs::File::open(path).map_err(|source| CredentialsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let netrc = netrc::Netrc::parse(std::io::BufReader::new(file)).map_err(|e| {
        CredentialsError::Malformed {
            path: path.to_path_buf(),
            message: format!("{e:?}"),
        }
    })?;
    let machine = netrc
        .hosts
        .iter()
        .find(|(h, m)| h.eq_ignore_ascii_case(&host) && m.port.is_none_or(|p| Some(p) == port))
        .map(|(_, m)| m)
        .or(netrc.default.as_ref())
        .ok_or_else(|| CredentialsError::NoEntry {
            path: path.to_path_buf(),
            host: host.clone(),
        })?;
    let password = machine
        .password
        .clone()
        .ok_or_else(|| CredentialsError::NoPassword {
            path: path.to_path_buf(),
            host,
        })?;
    Ok(Credentials {
        login: machine.login.clone(),
        password: Secret(password),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn netrc(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn finds_the_entry_for_the_url_host() {
        let f = netrc(
            "machine jenkins.example.com login ci password tok1\n\
             machine review.example.com login bot password pw2\n",
        );
        let c = for_url("https://review.example.com/a/changes/", f.path()).unwrap();
        assert_eq!(c.login, "bot");
        assert_eq!(c.password.expose(), "pw2");
        assert!(!format!("{c:?}").contains("pw2"));
    }

    #[test]
    fn a_missing_entry_names_the_host_and_the_file() {
        let f = netrc("machine other.example.com login a password b\n");
        let e = for_url("https://review.example.com", f.path()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("review.example.com"), "{msg}");
        assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    }

    #[test]
    fn an_entry_without_password_is_an_error() {
        let f = netrc("machine review.example.com login bot\n");
        assert!(matches!(
            for_url("https://review.example.com", f.path()),
            Err(CredentialsError::NoPassword { .. })
        ));
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let e = for_url("https://x.example", Path::new("/nonexistent/netrc")).unwrap_err();
        assert!(matches!(e, CredentialsError::Read { .. }));
    }

    #[test]
    fn the_default_entry_is_a_fallback() {
        let f = netrc("default login anon password pw\n");
        assert_eq!(
            for_url("http://127.0.0.1:8080/", f.path()).unwrap().login,
            "anon"
        );
    }
}
