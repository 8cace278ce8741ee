//! Delivering Gerrit events to an HTTP endpoint the way the webhooks plugin
//! (`GerritCodeReview/plugins_webhooks`) does: one POST by hand ([`World::gerrit_webhook`]), or
//! every event as it fires ([`World::gerrit_webhooks`]).
//!
//! Kept from the plugin (`HttpSession`, `PostTask`, `HttpClientProvider`, `Configuration`):
//! - `POST <url>` with `Content-Type: application/json; charset=utf-8` (Guava's
//!   `MediaType.JSON_UTF_8`), `X-Origin-Url: <canonicalWebUrl>`, Apache HttpClient's
//!   `User-Agent`, and the event serialized by a plain Gson; the plugin has no authentication
//!   of its own (a token goes in the URL's query), and userinfo in the URL is only offered in
//!   answer to a `401` Basic challenge, never sent up front;
//! - only 200, 201, 202 and 204 count as delivered;
//! - a POST is not redirected, except that a 303 is followed with a GET (HttpClient's
//!   `DefaultRedirectStrategy`); its answer is then the one that counts;
//! - retries, two layers: inside one run the HTTP client itself repeats a request answered
//!   with a status >= 500 while its execution count is <= the *global* `maxTries`, pausing the
//!   global `retryInterval` (`ServiceUnavailableRetryStrategy`; the pool thread is held
//!   meanwhile); then a run that did not deliver (any other status, or an I/O error such as a
//!   refused connection or a timeout) is rescheduled after the remote's `retryInterval` while
//!   fewer than the remote's `maxTries` runs were made (0 or 1: a single run), after which the
//!   event is dropped with a log line. With the defaults (5 tries, 1 s) an endpoint that keeps
//!   answering 500 gets 30 POSTs over about 30 s;
//! - runs share `threadPoolSize` (default 2) threads, taken in the order events fired; a retry
//!   waits its interval without a thread, so later events can overtake it, and with two or more
//!   threads two events can be in flight at once: delivery order is not guaranteed;
//! - the connect and socket timeouts (default 5 s each) bound each request;
//! - retries live in memory only: stopping the dispatcher (Gerrit restarting) loses them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use crate::gerrit_events::{EventSpelling, GerritEvent};
use crate::world::World;

/// How the plugin's remote is configured for [`World::gerrit_webhooks`] (`webhooks.config` on
/// `refs/meta/config`, and `[plugin "webhooks"]` in `gerrit.config`). Start from
/// [`GerritWebhooks::new`], which has the plugin's defaults, and change fields.
#[derive(Clone, Debug)]
pub struct GerritWebhooks {
    /// `remote.NAME.url`.
    pub url: String,
    /// `remote.NAME.event`: the event types to send; empty sends every type.
    pub events: Vec<String>,
    /// How `project` and `changeKey` are spelled (default: the plugin on Gerrit 3.1+).
    pub spelling: EventSpelling,
    /// `remote.NAME.maxTries`: runs of the delivery task (default 5).
    pub max_tries: u32,
    /// `remote.NAME.retryInterval`: pause between runs (default 1 s).
    pub retry_interval: Duration,
    /// `plugin.webhooks.maxTries` in `gerrit.config`: the HTTP client's repeats of a 5xx answer
    /// within one run (default 5).
    pub client_max_tries: u32,
    /// `plugin.webhooks.retryInterval`: pause between those repeats (default 1 s).
    pub client_retry_interval: Duration,
    /// `connectionTimeout` (default 5 s).
    pub connection_timeout: Duration,
    /// `socketTimeout` (default 5 s).
    pub socket_timeout: Duration,
    /// `plugin.webhooks.threadPoolSize` (default 2).
    pub thread_pool_size: usize,
}

impl GerritWebhooks {
    /// A remote posting every event to `url`, with the plugin's defaults.
    pub fn new(url: impl Into<String>) -> GerritWebhooks {
        GerritWebhooks {
            url: url.into(),
            events: Vec::new(),
            spelling: EventSpelling::Webhooks,
            max_tries: 5,
            retry_interval: Duration::from_secs(1),
            client_max_tries: 5,
            client_retry_interval: Duration::from_secs(1),
            connection_timeout: Duration::from_secs(5),
            socket_timeout: Duration::from_secs(5),
            thread_pool_size: 2,
        }
    }
}

/// One event as the endpoint received it, after every retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// `patchset-created` or `comment-added`.
    pub kind: String,
    pub change: u64,
    pub patch_set: u32,
    /// The change message of a `comment-added`.
    pub message_id: Option<String>,
    /// Every request in order: `Some(status)` if answered, `None` for an I/O failure.
    pub attempts: Vec<Option<u16>>,
    /// True when a run ended with 200, 201, 202 or 204.
    pub delivered: bool,
}

/// What Apache HttpClient 4.5 sends as `User-Agent` (the exact versions vary by server).
const USER_AGENT: &str = "Apache-HttpClient/4.5.14 (Java/17.0.13)";

/// `HttpResponseHandler.isSuccessful`.
fn successful(status: u16) -> bool {
    matches!(status, 200 | 201 | 202 | 204)
}

fn client(cfg: &GerritWebhooks) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(cfg.connection_timeout)
        .read_timeout(cfg.socket_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

/// The URL without its userinfo, and that userinfo, decoded, as `URI.getUserInfo()` gives it.
fn split_userinfo(url: &str) -> Result<(reqwest::Url, Option<(String, String)>), String> {
    let mut url = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let creds = (!url.username().is_empty() || url.password().is_some()).then(|| {
        (
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        )
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url, creds))
}

/// One request of `HttpSession.post`; `Err` is an I/O failure. Credentials in the URL are not
/// sent up front: HttpClient's `ProtocolExec` only offers them to a `401` with a Basic
/// challenge, answering it within the same request.
async fn post_once(
    client: &reqwest::Client,
    url: &str,
    origin: Option<&str>,
    body: &str,
) -> Result<u16, String> {
    let (target, creds) = split_userinfo(url)?;
    let send = |auth: Option<&(String, String)>| {
        let mut request = client
            .post(target.clone())
            .header("Content-Type", "application/json; charset=utf-8")
            .header("User-Agent", USER_AGENT)
            .body(body.to_owned());
        if let Some(origin) = origin {
            request = request.header("X-Origin-Url", origin);
        }
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        request.send()
    };
    let mut response = send(None).await.map_err(|e| e.to_string())?;
    let basic_challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.trim_start().to_ascii_lowercase().starts_with("basic"));
    if response.status() == 401 && basic_challenge && creds.is_some() {
        let _ = response.bytes().await;
        response = send(creds.as_ref()).await.map_err(|e| e.to_string())?;
    }
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    // `HttpResponseHandler` reads the whole answer; so does the stand-in, for keep-alive.
    let _ = response.bytes().await;
    match (status, location) {
        (303, Some(location)) => {
            let next = target
                .join(&location)
                .map_err(|e| format!("bad redirect to {location}: {e}"))?;
            let answer = client
                .get(next)
                .header("User-Agent", USER_AGENT)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            Ok(answer.status().as_u16())
        }
        _ => Ok(status),
    }
}

/// One `PostTask.run`: a POST, repeated by the client's 5xx rule. True when delivered.
async fn run(
    client: &reqwest::Client,
    cfg: &GerritWebhooks,
    origin: Option<&str>,
    body: &str,
    attempts: &mut Vec<Option<u16>>,
) -> bool {
    let mut execution = 1;
    loop {
        match post_once(client, &cfg.url, origin, body).await {
            Ok(status) if status >= 500 && execution <= cfg.client_max_tries => {
                attempts.push(Some(status));
                execution += 1;
                if !cfg.client_retry_interval.is_zero() {
                    tokio::time::sleep(cfg.client_retry_interval).await;
                }
            }
            Ok(status) => {
                attempts.push(Some(status));
                return successful(status);
            }
            Err(e) => {
                tracing::debug!(url = %cfg.url, error = %e, "webhook POST failed");
                attempts.push(None);
                return false;
            }
        }
    }
}

/// A `PostTask` from its first run to success or its last retry; then records the delivery.
async fn deliver(
    world: World,
    cfg: Arc<GerritWebhooks>,
    client: reqwest::Client,
    threads: Arc<Semaphore>,
    first: OwnedSemaphorePermit,
    event: GerritEvent,
) {
    let origin = world.lock().gerrit.own_url.clone();
    let mut attempts = Vec::new();
    let mut permit = Some(first);
    let mut runs = 0;
    let mut delivered = false;
    loop {
        let thread = match permit.take() {
            Some(p) => p,
            None => match threads.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        runs += 1;
        delivered = run(&client, &cfg, origin.as_deref(), &event.body, &mut attempts).await;
        drop(thread);
        // `execCnt < remote.getMaxTries()` reschedules.
        if delivered || runs >= cfg.max_tries {
            break;
        }
        tokio::time::sleep(cfg.retry_interval).await;
    }
    if !delivered {
        tracing::warn!(url = %cfg.url, kind = %event.kind, change = event.change,
            "webhook not delivered after {runs} runs");
    }
    world
        .lock()
        .gerrit
        .webhook_deliveries
        .push(WebhookDelivery {
            kind: event.kind,
            change: event.change,
            patch_set: event.patch_set,
            message_id: event.message_id,
            attempts,
            delivered,
        });
}

impl World {
    /// POSTs `event` to `url` once, as the plugin sends each request (method, headers, body),
    /// and returns the status it was answered with, or the I/O error's text. The plugin would
    /// repeat a 5xx answer and retry anything but 200/201/202/204 (see [`GerritWebhooks`]);
    /// this sends exactly one request so a test sees each answer.
    pub async fn gerrit_webhook(&self, url: &str, event: &GerritEvent) -> Result<u16, String> {
        let cfg = GerritWebhooks::new(url);
        let client = client(&cfg)?;
        let origin = self.lock().gerrit.own_url.clone();
        post_once(&client, url, origin.as_deref(), &event.body).await
    }

    /// Turns the webhooks plugin on with one remote: from now on every patch set upload and
    /// every review that writes a change message (REST Set Review and
    /// [`World::gerrit_post_comment`] alike) is POSTed as `patchset-created` / `comment-added`,
    /// with the plugin's retries and threads, until the returned task is aborted (which also
    /// drops deliveries in progress, as a Gerrit restart does). Calling it again replaces the
    /// remote. Each finished delivery is recorded in [`World::gerrit_webhook_deliveries`].
    /// Must be called inside a Tokio runtime.
    pub fn gerrit_webhooks(&self, cfg: GerritWebhooks) -> JoinHandle<()> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.lock().gerrit.webhook = Some(tx);
        let world = self.clone();
        tokio::spawn(async move {
            let client = match client(&cfg) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot build the HTTP client");
                    return;
                }
            };
            let cfg = Arc::new(cfg);
            let threads = Arc::new(Semaphore::new(cfg.thread_pool_size.max(1)));
            // Owned by this task, so aborting it drops the deliveries in progress.
            let mut running = JoinSet::new();
            while let Some(event) = rx.recv().await {
                while running.try_join_next().is_some() {}
                let kind = event.kind();
                if !cfg.events.is_empty() && !cfg.events.iter().any(|e| e == kind) {
                    continue;
                }
                // Taken here, in firing order, as the executor's queue hands out its threads.
                let Ok(thread) = threads.clone().acquire_owned().await else {
                    break;
                };
                running.spawn(deliver(
                    world.clone(),
                    cfg.clone(),
                    client.clone(),
                    threads.clone(),
                    thread,
                    event.render(cfg.spelling),
                ));
            }
            // Replaced by another remote: the events already taken are still delivered.
            while running.join_next().await.is_some() {}
        })
    }

    /// Every finished automatic delivery, in the order they finished.
    pub fn gerrit_webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.lock().gerrit.webhook_deliveries.clone()
    }
}
