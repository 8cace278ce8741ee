//! Who is calling the Jenkins stand-in, and Jenkins' CSRF protection (research/jenkins-api.md
//! §2.3):
//! - HTTP Basic with the user's API token (`BasicHeaderApiTokenAuthenticator`) or real password
//!   (`BasicHeaderRealPasswordAuthenticator`) authenticates; any other password or token for a
//!   Basic header is 401 with `WWW-Authenticate: Basic realm="Jenkins"`; no credentials is 403
//!   (Jenkins never challenges an anonymous caller).
//! - `CrumbFilter` checks every POST: API-token calls are exempt (`ApiCrumbExclusion`, 2.96+);
//!   anything else needs a crumb, sent as the `Jenkins-Crumb` header or form field, else 403 "No
//!   valid crumb was included in the request". The crumb `DefaultCrumbIssuer` hands out at
//!   `/crumbIssuer/api/json` is bound to the user *and the HTTP session* (SECURITY-626, 2.186):
//!   asking for it opens a session (a `JSESSIONID.<hash>` cookie), and the POST must carry that
//!   cookie too; without it Jenkins opens a new session, whose crumb differs.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::jenkins::{html_error, unauthorized};
use crate::jenkins_store::JenkinsStore;
use crate::util::{BasicAuth, basic_auth, first, hex40};

/// `CrumbIssuer.DEFAULT_CRUMB_NAME`.
pub(crate) const CRUMB_FIELD: &str = "Jenkins-Crumb";

/// Winstone names Jenkins' session cookie `JSESSIONID.` + 8 hex digits of an instance hash.
const SESSION_COOKIE: &str = "JSESSIONID.5f4dcc3b";

/// How a request authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    ApiToken,
    Password,
}

/// Why Jenkins refused a request before looking at what it asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A Basic header whose password or token is wrong, for this user name.
    BadCredentials(String),
    Anonymous,
    NoValidCrumb,
}

impl Refusal {
    pub(crate) fn response(&self) -> Response {
        match self {
            Refusal::BadCredentials(user) => unauthorized(user),
            Refusal::Anonymous => html_error(StatusCode::FORBIDDEN, "Authentication required"),
            Refusal::NoValidCrumb => html_error(
                StatusCode::FORBIDDEN,
                "No valid crumb was included in the request",
            ),
        }
    }
}

/// Authenticates a request.
pub(crate) fn authenticate(store: &JenkinsStore, headers: &HeaderMap) -> Result<Caller, Refusal> {
    match basic_auth(headers) {
        BasicAuth::Credentials(u, t) if u == store.user && t == store.token => Ok(Caller::ApiToken),
        BasicAuth::Credentials(u, p) if u == store.user && p == store.password => {
            Ok(Caller::Password)
        }
        BasicAuth::Credentials(u, _) => Err(Refusal::BadCredentials(u)),
        BasicAuth::Absent | BasicAuth::Malformed => Err(Refusal::Anonymous),
    }
}

/// The session the request's cookie names, if Jenkins knows it.
fn session<'a>(store: &'a JenkinsStore, headers: &HeaderMap) -> Option<&'a String> {
    let prefix = format!("{SESSION_COOKIE}=");
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(prefix.as_str()))
        .find_map(|id| store.sessions.iter().find(|s| s.as_str() == id))
}

/// `DefaultCrumbIssuer.issueCrumb`: a digest of the user name and the session id (64 hex
/// digits, as SHA-256 gives).
fn crumb_for(user: &str, session: &str) -> String {
    let mut hasher = DefaultHasher::new();
    (user, ';', session).hash(&mut hasher);
    let h = hasher.finish();
    format!("{}{}", hex40(h), &hex40(h ^ 0x5A5A)[..24])
}

/// `GET /crumbIssuer/api/json`: the crumb for the request's session, opening one (and setting
/// its cookie) when the request has none.
pub(crate) fn issue_crumb(
    store: &mut JenkinsStore,
    headers: &HeaderMap,
) -> (String, Option<HeaderValue>) {
    if let Some(s) = session(store, headers) {
        return (crumb_for(&store.user, s), None);
    }
    let id = format!("node0{}.node0", &hex40(store.next_session_seed())[..26]);
    let cookie = HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly")).ok();
    let crumb = crumb_for(&store.user, &id);
    store.sessions.push(id);
    (crumb, cookie)
}

/// `CrumbFilter` for a POST: API-token calls pass; others need the crumb of their session,
/// from the header or else a form or query field.
pub(crate) fn crumb_check(
    store: &JenkinsStore,
    caller: Caller,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<(), Refusal> {
    if caller == Caller::ApiToken {
        return Ok(());
    }
    let sent = headers
        .get(CRUMB_FIELD)
        .and_then(|v| v.to_str().ok())
        .or_else(|| first(fields, CRUMB_FIELD));
    let expected = session(store, headers).map(|s| crumb_for(&store.user, s));
    match (sent, expected) {
        (Some(sent), Some(expected)) if sent == expected => Ok(()),
        _ => Err(Refusal::NoValidCrumb),
    }
}
