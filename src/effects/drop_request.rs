//! The drop-request effector (gmail-listener): ask build-listener to drop the bot's rejection
//! of a patch set (`POST /drop-rejection`), through [`BuildListener`], the typed client of
//! that endpoint. build-listener decides and posts; this side only asks.

use std::time::Duration;

use crate::credentials::Secret;
use crate::text::{error_chain, one_line};

use super::Effectors;
use super::outcome::{Attempt, no_client};

/// How gmail-listener reaches build-listener's `/drop-rejection`.
#[derive(Clone, Debug)]
pub struct BuildListener {
    url: String,
    token: Option<Secret>,
    http: reqwest::Client,
}

/// Why a drop request did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("build-listener answered {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        /// The answer's body on one line, shortened.
        body: String,
    },
    #[error("cannot reach build-listener: {0}")]
    Transport(String),
}

impl BuildListener {
    /// A client for build-listener at `url` (its base URL), sending `token` as a bearer token
    /// when set; a request gives up after `timeout`.
    pub fn new(
        url: &str,
        token: Option<Secret>,
        timeout: Duration,
    ) -> Result<BuildListener, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(BuildListener {
            url: url.to_string(),
            token,
            http,
        })
    }

    /// Asks build-listener to drop the bot's rejection of patch set `patch_set` of
    /// `change_id`.
    pub async fn drop_rejection(
        &self,
        change_id: &str,
        patch_set: u32,
    ) -> Result<(), ListenerError> {
        let url = format!("{}/drop-rejection", self.url.trim_end_matches('/'));
        let mut req = self
            .http
            .post(url)
            .json(&serde_json::json!({ "changeid": change_id, "patchset": patch_set }));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                Err(ListenerError::Status {
                    status,
                    body: one_line(&body, 200),
                })
            }
            Err(e) => Err(ListenerError::Transport(error_chain(&e))),
        }
    }
}

impl BuildListener {
    /// `GET /healthz`: the HTTP status build-listener answered.
    pub async fn health(&self) -> Result<reqwest::StatusCode, ListenerError> {
        let url = format!("{}/healthz", self.url.trim_end_matches('/'));
        match self.http.get(url).send().await {
            Ok(r) => Ok(r.status()),
            Err(e) => Err(ListenerError::Transport(error_chain(&e))),
        }
    }

    /// An incomplete `POST /drop-rejection` (`{}`): what `--check` asks to learn whether the
    /// token is accepted without recording anything (a 4xx once the token passed, 401 when it
    /// was refused). The HTTP status.
    pub async fn probe_token(&self) -> Result<reqwest::StatusCode, ListenerError> {
        let url = format!("{}/drop-rejection", self.url.trim_end_matches('/'));
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body("{}");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        match req.send().await {
            Ok(r) => Ok(r.status()),
            Err(e) => Err(ListenerError::Transport(error_chain(&e))),
        }
    }
}

impl Effectors {
    pub(super) async fn drop_request(&self, change_id: &str, patch_set: u32) -> Attempt {
        let Some(listener) = &self.listener else {
            return no_client("build-listener");
        };
        match listener.drop_rejection(change_id, patch_set).await {
            Ok(()) => Attempt::Done("requested".into()),
            // A 4xx (a token mismatch) will not heal by itself, but the mail that asked must
            // not be lost: it is kept and counted (SPEC §12 poison mail).
            Err(e) => Attempt::Retry {
                error: e.to_string(),
                doubt: false,
            },
        }
    }
}
