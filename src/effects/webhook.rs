//! The client of `[status] webhook_url` (SPEC §14): one POST of a JSON body, a 10 s limit, no
//! redirects followed. The webhook is not an intent on purpose (a receiver that is down loses
//! a status change, never a vote), so build-listener's status tasks call it directly.

use std::time::Duration;

/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs status changes to one URL.
#[derive(Clone, Debug)]
pub struct StatusWebhook {
    url: String,
    http: reqwest::Client,
}

/// How one POST ended, when not with a 2xx.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("refused with HTTP {0}")]
    Refused(reqwest::StatusCode),
    #[error("{0}")]
    Transport(String),
}

impl StatusWebhook {
    pub fn new(url: &str) -> Result<StatusWebhook, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bionicbb/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(StatusWebhook {
            url: url.to_string(),
            http,
        })
    }

    /// POSTs `body` once.
    pub async fn post(&self, body: &serde_json::Value) -> Result<(), WebhookError> {
        match self.http.post(&self.url).json(body).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(WebhookError::Refused(r.status())),
            Err(e) => Err(WebhookError::Transport(crate::text::error_chain(&e))),
        }
    }
}
