//! The mailbox: Gmail API v1 through google-gmail1, authorised with yup-oauth2.
//!
//! Traps this module exists to contain (see shared/research/gmail-api.md):
//! - every call passes the `gmail.modify` scope, because each google-gmail1 method has its own
//!   default scope and yup-oauth2 matches stored tokens by literal scope strings — a call
//!   without it would start a new authorisation;
//! - yup-oauth2 falls back to the interactive flow whenever a refresh fails; the daemon's
//!   flow delegate refuses, so a dead token is an error that says what to do, never a hang;
//! - the label filter is sent on every page of `messages.list`;
//! - nothing times out or retries by default: each call is wrapped in a timeout, and 429/5xx
//!   answers are retried with jittered exponential backoff.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use google_gmail1::api::{Label, ModifyMessageRequest, Scope};
use google_gmail1::{Gmail as Hub, hyper_rustls, hyper_util};
use thiserror::Error;
use yup_oauth2::authenticator_delegate::InstalledFlowDelegate;

use crate::config::GmailConfig;
use crate::metrics::{Service, Timings};

mod sync;

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

/// How to obtain a token when none is stored (or the stored one cannot be refreshed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorize {
    /// Never prompt: the daemon's mode.
    Never,
    /// Print the consent URL and read the redirected `http://localhost:PORT/?code=…` URL (or the
    /// bare code) from standard input. Works on a headless server without a tunnel.
    Paste { port: u16 },
    /// Print the consent URL and wait for the browser's redirect on `127.0.0.1:PORT` (for a
    /// workstation, or a server reached with `ssh -L PORT:localhost:PORT`).
    Loopback { port: u16 },
}

const NOT_AUTHORISED: &str = "Gmail access is not authorised, or the stored token could not be \
    refreshed. If this repeats, run `gmail-listener --config <file> --authorize` once in a \
    terminal (README: \"Authorise Gmail\"); a transient refresh failure heals on the next poll";

/// The daemon's delegate: refuses every interactive prompt.
struct NoPrompt;

impl InstalledFlowDelegate for NoPrompt {
    fn present_user_url<'a>(
        &'a self,
        _url: &'a str,
        _need_code: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async { Err(NOT_AUTHORISED.to_string()) })
    }
}

/// The `--authorize` delegate: prints instructions, reads the redirected URL or code.
struct PasteCode {
    redirect: String,
}

impl InstalledFlowDelegate for PasteCode {
    fn redirect_uri(&self) -> Option<&str> {
        Some(&self.redirect)
    }

    fn present_user_url<'a>(
        &'a self,
        url: &'a str,
        need_code: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            use tokio::io::AsyncBufReadExt;
            println!(
                "Open this URL in a browser signed in to the bot's Google account:\n\n  {url}\n"
            );
            if !need_code {
                println!(
                    "Waiting for the browser to come back to {} ...",
                    self.redirect
                );
                return Ok(String::new());
            }
            println!(
                "After you allow access, the browser goes to {}/?code=… and shows an error page \
                 (nothing listens there; that is expected).\nCopy that whole URL from the address \
                 bar and paste it here, then press Enter:",
                self.redirect
            );
            let mut line = String::new();
            tokio::io::BufReader::new(tokio::io::stdin())
                .read_line(&mut line)
                .await
                .map_err(|e| format!("cannot read the code from standard input: {e}"))?;
            code_from_pasted(&line).ok_or_else(|| "no authorisation code was pasted".to_string())
        })
    }
}

/// Accepts the redirected URL (`http://localhost:8085/?code=4/0A…&scope=…`) or the bare code.
pub fn code_from_pasted(input: &str) -> Option<String> {
    let input = input.trim();
    if input.is_empty() {
        return None;
    }
    if input.contains("code=") {
        let query = input.split_once('?').map_or(input, |(_, q)| q);
        return query
            .split('&')
            .find_map(|kv| kv.strip_prefix("code="))
            .map(|c| {
                percent_encoding::percent_decode_str(c)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .filter(|c| !c.is_empty());
    }
    if input.contains("://") || input.contains('?') || input.contains(char::is_whitespace) {
        return None;
    }
    Some(input.to_string())
}

/// A Gmail mailbox with the bot's authorisation.
pub struct Gmail {
    hub: Hub<Connector>,
    timeout: Duration,
    backoff_base: Duration,
    tries: u32,
    /// Request durations, for `/metrics`.
    timings: Timings,
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
        make_private(&config.token_cache);
        let secret = read_secret(&config.client_secret).await?;
        let auth = build_authenticator(secret, &config.token_cache, authorize).await?;
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

    /// The id of the user label `name`, creating it when `create` and it is missing.
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

    /// Moves a handled message to the trash.
    pub async fn trash(&self, id: &str) -> Result<(), GmailError> {
        self.retrying("messages.trash", || {
            self.hub
                .users()
                .messages_trash("me", id)
                .add_scope(Scope::Modify)
                .doit()
        })
        .await
        .map(|_| ())
    }

    /// Replaces label `remove` by `add` on a message (setting a mail aside).
    pub async fn relabel(&self, id: &str, remove: &str, add: &str) -> Result<(), GmailError> {
        let req = ModifyMessageRequest {
            add_label_ids: Some(vec![add.to_string()]),
            remove_label_ids: Some(vec![remove.to_string()]),
        };
        self.retrying("messages.modify", || {
            self.hub
                .users()
                .messages_modify(req.clone(), "me", id)
                .add_scope(Scope::Modify)
                .doit()
        })
        .await
        .map(|_| ())
    }
}

/// yup-oauth2 creates the token cache 0600, but a file copied or made by hand may be readable
/// by others: it holds a refresh token, so it is tightened (SPEC §11 files).
fn make_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
        && let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot make the token cache private");
    }
}

async fn read_secret(path: &Path) -> Result<yup_oauth2::ApplicationSecret, GmailError> {
    yup_oauth2::read_application_secret(path)
        .await
        .map_err(|e| {
            GmailError::Setup(format!(
                "cannot read the OAuth client secret {}: {e} (download the \"Desktop app\" OAuth \
             client JSON from the Google Cloud console; README: \"Gmail OAuth client\")",
                path.display()
            ))
        })
}

async fn build_authenticator(
    secret: yup_oauth2::ApplicationSecret,
    token_cache: &Path,
    authorize: Authorize,
) -> Result<yup_oauth2::authenticator::DefaultAuthenticator, GmailError> {
    use yup_oauth2::{InstalledFlowAuthenticator, InstalledFlowReturnMethod as Method};
    let (method, delegate): (Method, Box<dyn InstalledFlowDelegate>) = match authorize {
        Authorize::Never => (Method::Interactive, Box::new(NoPrompt)),
        Authorize::Paste { port } => (
            Method::Interactive,
            Box::new(PasteCode {
                redirect: format!("http://localhost:{port}"),
            }),
        ),
        Authorize::Loopback { port } => (
            Method::HTTPPortRedirect(port),
            Box::new(PasteCode {
                redirect: format!("http://localhost:{port}"),
            }),
        ),
    };
    InstalledFlowAuthenticator::builder(secret, method)
        .flow_delegate(delegate)
        .force_account_selection(authorize != Authorize::Never)
        .persist_tokens_to_disk(token_cache)
        .build()
        .await
        .map_err(|e| {
            GmailError::Setup(format!(
                "cannot use the token cache {}: {e}",
                token_cache.display()
            ))
        })
}

/// Obtains a token for the `gmail.modify` scope now (prompting per `authorize`) and stores it.
pub async fn authorize_now(config: &GmailConfig, authorize: Authorize) -> Result<(), GmailError> {
    let secret = read_secret(&config.client_secret).await?;
    let auth = build_authenticator(secret, &config.token_cache, authorize).await?;
    auth.token(&[Scope::Modify.as_ref()])
        .await
        .map(|_| ())
        .map_err(|e| GmailError::Auth(e.to_string()))
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
            message: crate::jenkins::one_line(v["error"]["message"].as_str().unwrap_or(""), 200),
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
        E::HttpError(err) => GmailError::Transport(crate::jenkins::error_chain(&err)),
        E::Io(err) => GmailError::Transport(err.to_string()),
        E::JsonDecodeError(_, err) => GmailError::Decode(err.to_string()),
        other => GmailError::Decode(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_redirect_urls_and_bare_codes_give_the_code() {
        assert_eq!(
            code_from_pasted("http://localhost:8085/?code=4%2F0Aabc&scope=https://x\n").as_deref(),
            Some("4/0Aabc")
        );
        assert_eq!(code_from_pasted("  4/0Aabc \n").as_deref(), Some("4/0Aabc"));
        assert_eq!(code_from_pasted("\n"), None);
        assert_eq!(
            code_from_pasted("http://localhost:8085/?error=access_denied"),
            None
        );
    }

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
