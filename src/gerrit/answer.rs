//! How the client reads Gerrit's answers, and the errors callers branch on
//! ([`GerritError`]). Gerrit's wire quirks live here: JSON bodies start with the XSSI guard line
//! `)]}'`; error bodies are `text/plain` messages without the guard, but Set Review can answer
//! 400 with a JSON body, so the parser is chosen by `Content-Type`, never by status; and a 404
//! `Multiple changes found` is [`GerritError::Ambiguous`], not "gone".

use crate::text::one_line;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::ReviewResult;

/// Error bodies may hold several lines (message + ACL info); logs want one, and not a page.
const ERROR_BODY_CHARS: usize = 300;

/// A Gerrit call that did not produce the expected answer. Callers branch on the variant.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GerritError {
    /// 404 for an id that names one change: it does not exist or the bot cannot see it.
    #[error("Gerrit: not found: {0}")]
    NotFound(String),
    /// 404 "Multiple changes found": the id matched several changes.
    #[error("Gerrit: ambiguous change id: {0}")]
    Ambiguous(String),
    /// 409: the change's state forbids it (closed change, reducing a vote after submit).
    #[error("Gerrit: conflict: {0}")]
    Conflict(String),
    /// 403: the account may not do this (e.g. `Applying label "Verified": -1 is restricted`),
    /// or the netrc entry names another account than the bot's.
    #[error(
        "Gerrit at {host}: 403 forbidden: {message} (check that the account of the netrc entry \
         `machine {}` is the bot's and may do this)",
        netrc_machine(.host)
    )]
    Forbidden { host: String, message: String },
    /// 401: the netrc credentials were refused.
    #[error(
        "Gerrit at {host}: 401 unauthorized (check the netrc entry `machine {}`: the login and \
         the HTTP password from Settings > HTTP Credentials)",
        netrc_machine(.host)
    )]
    Unauthorized { host: String },
    /// A 3xx: API calls never follow redirects (a POST turned into a GET loses the vote; a
    /// redirect to a login page means the credentials or the URL are wrong).
    #[error(
        "Gerrit at {host}: HTTP {status} redirect to {location} (check [gerrit] url: REST calls \
         must not be redirected, e.g. to a login page; and the netrc entry `machine {}`)",
        netrc_machine(.host)
    )]
    Redirect {
        host: String,
        status: u16,
        location: String,
    },
    /// Any other non-success status.
    #[error("Gerrit: HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// A success answer we could not read.
    #[error("Gerrit: cannot decode the answer: {0}")]
    Decode(String),
    /// No answer: connection refused, reset, timeout, DNS.
    #[error("Gerrit: request failed: {0}")]
    Transport(String),
}

/// The `machine` of the netrc entry the credentials for `host` (`name` or `name:port`, as
/// [`super::Gerrit::host`] gives it) are read from: netrc names hosts without a port
/// ([`crate::credentials::for_url`]), so that is what the operator must look for.
pub fn netrc_machine(host: &str) -> String {
    let url = format!("http://{host}/");
    reqwest::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| host.to_string())
}

impl GerritError {
    /// Whether trying again later may succeed: no answer at all, 408 (deadline), 429 (quota,
    /// "may be retried with exponential backoff") and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            GerritError::Transport(_) => true,
            GerritError::Status { status, .. } => {
                matches!(status, 408 | 429) || (500..600).contains(status)
            }
            _ => false,
        }
    }

    /// A problem only the operator can fix (credentials, URL, permissions): the work is kept
    /// and retried with backoff, and the error says what to check (SPEC §11).
    pub fn is_operator_fixable(&self) -> bool {
        matches!(
            self,
            GerritError::Unauthorized { .. }
                | GerritError::Forbidden { .. }
                | GerritError::Redirect { .. }
        )
    }
}

/// Describes a reqwest failure without the URL's query (nothing secret is in it, but it is noise).
pub(super) fn transport(e: reqwest::Error) -> GerritError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transport error"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    let mut detail = e.without_url().to_string();
    for cause in causes {
        detail = format!("{detail}: {cause}");
    }
    GerritError::Transport(format!("{kind}: {detail}"))
}

/// Turns one HTTP answer into a value or a [`GerritError`]. Pure, so it is unit-tested.
pub(super) fn interpret<T: DeserializeOwned>(
    host: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, GerritError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if status.is_success() {
        return parse_json(body);
    }
    let message = if is_json {
        // Set Review's 400 carries a JSON ReviewResult whose `error` says what went wrong.
        parse_json::<ReviewResult>(body)
            .ok()
            .and_then(|r| r.error)
            .unwrap_or_else(|| {
                one_line(
                    &String::from_utf8_lossy(strip_guard(body)),
                    ERROR_BODY_CHARS,
                )
            })
    } else {
        one_line(&String::from_utf8_lossy(body), ERROR_BODY_CHARS)
    };
    if status.is_redirection() {
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || "(no Location)".to_string(),
                |l| one_line(l, ERROR_BODY_CHARS),
            );
        return Err(GerritError::Redirect {
            host: host.to_string(),
            status: status.as_u16(),
            location,
        });
    }
    Err(match status.as_u16() {
        401 => GerritError::Unauthorized {
            host: host.to_string(),
        },
        403 => GerritError::Forbidden {
            host: host.to_string(),
            message,
        },
        404 if message.starts_with("Multiple changes found") => GerritError::Ambiguous(message),
        404 => GerritError::NotFound(message),
        409 => GerritError::Conflict(message),
        code => GerritError::Status {
            status: code,
            body: message,
        },
    })
}

/// Drops Gerrit's XSSI guard: if the body starts with `)]}'`, everything up to and including
/// the first newline goes (the guard is exactly `)]}'\n`, but be liberal about a CR).
pub(super) fn strip_guard(body: &[u8]) -> &[u8] {
    if body.starts_with(b")]}'") {
        match body.iter().position(|&b| b == b'\n') {
            Some(nl) => &body[nl + 1..],
            None => &[],
        }
    } else {
        body
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, GerritError> {
    serde_json::from_slice(strip_guard(body)).map_err(|e| GerritError::Decode(e.to_string()))
}
