//! The mailbox: Gmail API v1 through google-gmail1, authorised with yup-oauth2 (`auth`); the
//! incremental sync calls (`sync`) and the history cursor that decides what a poll reads
//! ([`crate::intake::cursor`]).
//!
//! Traps this module exists to contain (the API:
//! <https://developers.google.com/gmail/api/reference/rest>):
//! - every call passes the `gmail.modify` scope, because each google-gmail1 method has its own
//!   default scope and yup-oauth2 matches stored tokens by literal scope strings — a call
//!   without it would start a new authorisation;
//! - yup-oauth2 falls back to the interactive flow whenever a refresh fails; the daemon's
//!   flow delegate refuses, so a dead token is an error that says what to do, never a hang;
//! - the label filter is sent on every page of `messages.list`;
//! - nothing times out or retries by default: each call is wrapped in a timeout, and 429/5xx
//!   answers are retried with jittered exponential backoff.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use google_gmail1::api::{Label, Scope};
use google_gmail1::{Gmail as Hub, hyper_rustls, hyper_util};
use thiserror::Error;

use crate::config::GmailConfig;
use crate::metrics::{Service, Timings};

mod auth;
mod sync;

use auth::NOT_AUTHORISED;
pub use auth::{Authorize, authorize_now, code_from_pasted};
pub use sync::{Added, BATCH_LIMIT};

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// What went wrong talking to Gmail.
#[derive(Debug, Error)]
pub enum GmailError {
    #[error("{0}")]
    Auth(String),
    #[error("Gmail API answered HTTP {code} ({reason}): {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("cannot reach the Gmail API: {0}")]
    Transport(String),
    #[error("Gmail API call timed out after {0:?}")]
    Timeout(Duration),
    #[error("unexpected Gmail API answer: {0}")]
    Decode(String),
    #[error("cannot set up Gmail access: {0}")]
    Setup(String),
}

impl GmailError {
    /// Worth retrying: rate limits, server errors, network trouble and timeouts.
    pub fn is_transient(&self) -> bool {
        match self {
            GmailError::Api { code, reason, .. } => {
                *code == 429
                    || *code >= 500
                    || (*code == 403
                        && matches!(
                            reason.as_str(),
                            "rateLimitExceeded" | "userRateLimitExceeded" | "dailyLimitExceeded"
                        ))
            }
            GmailError::Transport(_) | GmailError::Timeout(_) => true,
            GmailError::Auth(_) | GmailError::Decode(_) | GmailError::Setup(_) => false,
        }
    }
}

/// A Gmail mailbox with the bot's authorisation.
pub struct Gmail {
    hub: Hub<Connector>,
    timeout: Duration,
    backoff_base: Duration,
    tries: u32,
    /// Request durations, for `/metrics`.
    timings: Timings,
    /// Label ids by name (ASCII lower case: label names are matched without case), so that a poll
    /// and a mail move do not list the labels each time. The one cache of them in the process.
    labels: tokio::sync::Mutex<HashMap<String, String>>,
}

fn connector() -> Connector {
    // reqwest and the Google crates compile in different rustls providers; without a process
    // default, building a TLS config panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates found; https to Gmail will fail");
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build()
}

impl Gmail {
    /// Reads the client secret, loads (or, per `authorize`, obtains) the token and builds the
    /// API client. Does not contact Gmail.
    pub async fn connect(config: &GmailConfig, authorize: Authorize) -> Result<Gmail, GmailError> {
        auth::make_private(&config.token_cache);
        let secret = auth::read_secret(&config.client_secret).await?;
        let auth = auth::build_authenticator(secret, &config.token_cache, authorize).await?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector());
        let mut hub = Hub::new(client, auth);
        hub.base_url(config.api_url.clone());
        Ok(Gmail {
            hub,
            timeout: config.timeout,
            backoff_base: Duration::from_secs(1),
            tries: 4,
            timings: Timings::default(),
            labels: tokio::sync::Mutex::default(),
        })
    }

    /// Records request durations into `timings` (shared with the process's other clients).
    pub fn with_timings(mut self, timings: Timings) -> Gmail {
        self.timings = timings;
        self
    }

    /// Runs `call` with a timeout, retrying transient failures with jittered backoff.
    async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, GmailError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, google_gmail1::Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = std::time::Instant::now();
            let result = match tokio::time::timeout(self.timeout, call()).await {
                Ok(r) => r.map_err(map_error),
                Err(_) => Err(GmailError::Timeout(self.timeout)),
            };
            self.timings.observe(Service::Gmail, started.elapsed());
            match result {
                Err(e) if e.is_transient() && attempt < self.tries => {
                    let wait = self.backoff_base * 2u32.pow(attempt - 1)
                        + Duration::from_millis(fastrand::u64(0..1000));
                    tracing::warn!(call = what, attempt, error = %e, ?wait, "Gmail call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// The id of label `name` (created when `create` and it is missing), looked up once and
    /// then taken from the cache; `None` when it does not exist.
    pub async fn label(&self, name: &str, create: bool) -> Result<Option<String>, GmailError> {
        let key = name.to_ascii_lowercase();
        let mut cache = self.labels.lock().await;
        if let Some(id) = cache.get(&key) {
            return Ok(Some(id.clone()));
        }
        let id = self.label_id(name, create).await?;
        if let Some(id) = &id {
            cache.insert(key, id.clone());
        }
        Ok(id)
    }

    /// Forgets the cached label ids, so that the next [`Gmail::label`] asks Gmail again: a
    /// full listing does this, so a label deleted and made again is found.
    pub async fn forget_labels(&self) {
        self.labels.lock().await.clear();
    }

    /// The id of the user label `name`, creating it when `create` and it is missing (always
    /// asked, never cached: `--check` must see the mailbox as it is now).
    pub async fn label_id(&self, name: &str, create: bool) -> Result<Option<String>, GmailError> {
        let (_, list) = self
            .retrying("labels.list", || {
                self.hub
                    .users()
                    .labels_list("me")
                    .add_scope(Scope::Modify)
                    .doit()
            })
            .await?;
        let found = list.labels.unwrap_or_default().into_iter().find(|l| {
            l.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        if let Some(id) = found.and_then(|l| l.id) {
            return Ok(Some(id));
        }
        if !create {
            return Ok(None);
        }
        let label = Label {
            name: Some(name.to_string()),
            label_list_visibility: Some("labelShow".into()),
            message_list_visibility: Some("show".into()),
            ..Default::default()
        };
        let (_, created) = self
            .retrying("labels.create", || {
                self.hub
                    .users()
                    .labels_create(label.clone(), "me")
                    .add_scope(Scope::Modify)
                    .doit()
            })
            .await?;
        created
            .id
            .map(Some)
            .ok_or_else(|| GmailError::Decode("created label has no id".into()))
    }

    /// Every message id carrying `label_id`, all pages, oldest last as Gmail lists them.
    /// The label filter goes on every page (the 2015 bot dropped it after the first).
    pub async fn list(&self, label_id: &str) -> Result<Vec<String>, GmailError> {
        let mut ids = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let (_, resp) = self
                .retrying("messages.list", || {
                    let mut call = self
                        .hub
                        .users()
                        .messages_list("me")
                        .add_label_ids(label_id)
                        .max_results(500)
                        .add_scope(Scope::Modify);
                    if let Some(t) = page.as_deref() {
                        call = call.page_token(t);
                    }
                    call.doit()
                })
                .await?;
            ids.extend(
                resp.messages
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.id),
            );
            match resp.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if Some(&t) != page.as_ref() => page = Some(t),
                _ => break,
            }
        }
        Ok(ids)
    }

    /// The original RFC 5322 bytes of a message (google-gmail1 has already base64-decoded
    /// `raw`).
    pub async fn raw(&self, id: &str) -> Result<Vec<u8>, GmailError> {
        let (_, msg) = self
            .retrying("messages.get", || {
                self.hub
                    .users()
                    .messages_get("me", id)
                    .format("raw")
                    .add_scope(Scope::Modify)
                    .doit()
            })
            .await?;
        msg.raw
            .ok_or_else(|| GmailError::Decode(format!("message {id} has no raw content")))
    }
}

fn map_error(e: google_gmail1::Error) -> GmailError {
    use google_gmail1::Error as E;
    match e {
        E::BadRequest(v) => GmailError::Api {
            code: v["error"]["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(0),
            reason: v["error"]["errors"][0]["reason"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            message: crate::text::one_line(v["error"]["message"].as_str().unwrap_or(""), 200),
        },
        E::Failure(resp) => GmailError::Api {
            code: resp.status().as_u16(),
            reason: String::new(),
            message: "non-JSON error body".into(),
        },
        E::MissingToken(err) => {
            let text = err.to_string();
            if text.contains(NOT_AUTHORISED) {
                GmailError::Auth(NOT_AUTHORISED.to_string())
            } else {
                GmailError::Auth(format!("{NOT_AUTHORISED} ({text})"))
            }
        }
        E::HttpError(err) => GmailError::Transport(crate::text::error_chain(&err)),
        E::Io(err) => GmailError::Transport(err.to_string()),
        E::JsonDecodeError(_, err) => GmailError::Decode(err.to_string()),
        other => GmailError::Decode(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_and_server_errors_are_transient() {
        let api = |code, reason: &str| GmailError::Api {
            code,
            reason: reason.into(),
            message: String::new(),
        };
        assert!(api(429, "rateLimitExceeded").is_transient());
        assert!(api(503, "backendError").is_transient());
        assert!(api(403, "userRateLimitExceeded").is_transient());
        assert!(!api(403, "insufficientPermissions").is_transient());
        assert!(!api(404, "notFound").is_transient());
        assert!(!GmailError::Auth("x".into()).is_transient());
    }
}
