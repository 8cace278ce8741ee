//! build-listener's HTTP API (SPEC §7): Jenkins Notification-plugin callbacks on `POST /`,
//! `POST /drop-rejection` from gmail-listener, Gerrit webhooks-plugin events on
//! `POST /gerrit-events` (SPEC §15, [`gerrit_events`]), `GET /healthz`; and, read-only without a token,
//! the status views of SPEC §14 (`GET /`, `/api/v1/*`, `/sse`, `/metrics`, the webhook: the
//! submodules `board`, `api`, `feed`, `webhook`, started by [`status`]).
//!
//! A POST is answered as soon as what it asks for is durably in the journal (intents and
//! events, [`crate::journal`]): the plugin blocks the build while it waits and never retries on
//! an error status, so Gerrit is never called from a request. The effect runner, which [`serve`]
//! runs beside the HTTP server, posts to Gerrit ([`crate::effects`]).
//!
//! Bad input is a 4xx with a one-line JSON body naming the problem ([`answer`]).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::credentials::{self, Secret};
use crate::effects::{Backoff, Effectors, Foreground, Runner};
use crate::gerrit::Gerrit;
use crate::intake::Intake;
use crate::intake::callbacks::Callbacks;
use crate::jenkins::Jenkins;
use crate::journal::{IntentKind, Journal, Owner};
use crate::policy::DropBy;

mod answer;
mod api;
mod auth;
mod board;
mod callbacks;
mod drop;
mod feed;
mod gerrit_events;
mod limits;
pub mod status;
mod views;
mod webhook;

pub use answer::ApiError;
pub use limits::{IDLE_TIMEOUT, REQUEST_TIMEOUT};

use answer::{body_bytes, method_not_allowed, not_found, reply};

/// The environment variable holding the shared secret of the POST endpoints.
pub const TOKEN_ENV: &str = "BIONICBB_LISTENER_TOKEN";

/// How long an intent build-listener is carrying out stays its own without a renewal.
pub const LEASE: Duration = Duration::from_secs(15);

/// More callbacks than this being answered at once is a burst: reviews wait, at most
/// [`CALLBACKS_MAX_WAIT`] in a row. Each callback is answered in a millisecond or two, so even
/// a Jenkins with many executors finishing together stays far below it.
const CALLBACKS_BUSY: usize = 8;
const CALLBACKS_MAX_WAIT: Duration = Duration::from_millis(250);

/// The intent kinds build-listener carries out.
const KINDS: &[IntentKind] = &[IntentKind::Review, IntentKind::DropRejection];

/// Everything a handler and the runner need; cheap to clone (axum clones it for every
/// request, so it is one shared allocation rather than a copy of every client's URLs and
/// credentials).
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub journal: Journal,
    /// Carry out reviews and drop-rejections; `effectors.backoff` paces retries.
    pub effectors: Effectors,
    /// When set, every POST must carry it (`?token=` or `Authorization: Bearer`).
    pub token: Option<Secret>,
    wake: Arc<Notify>,
    /// Jenkins' callbacks, handled.
    callbacks: Callbacks,
    /// Callbacks being answered: reviews wait while more than a few are (see [`Foreground`]).
    callbacks_in_flight: Foreground,
    /// The board, API, `/sse`, `/metrics` and webhook (SPEC §14).
    pub status: status::Status,
    /// Hints from Gerrit's webhooks plugin; None without Jenkins credentials.
    pub intake: Option<Intake>,
}

impl AppState {
    /// `jenkins` confirms callbacks before they vote (`[jenkins] verify_callbacks`).
    pub fn new(
        config: Config,
        journal: Journal,
        gerrit: Gerrit,
        jenkins: Option<Jenkins>,
        token: Option<Secret>,
    ) -> AppState {
        let mut effectors = Effectors::new(journal.clone(), Owner::this_process(LEASE));
        let status = status::Status {
            timings: gerrit.timings().clone(),
            ..status::Status::default()
        };
        effectors.gerrit = Some(gerrit.clone());
        effectors.jenkins = jenkins.clone();
        let config = Arc::new(config);
        // `POST /gerrit-events` triggers builds itself, so it needs Jenkins.
        let intake = jenkins.map(|jenkins| Intake {
            config: config.clone(),
            gerrit,
            jenkins,
            journal: journal.clone(),
            effectors: effectors.clone(),
            dry_run: false,
            drop_by: DropBy::InProcess,
        });
        let callbacks = Callbacks {
            config: config.clone(),
            journal: journal.clone(),
        };
        AppState(Arc::new(App {
            intake,
            config,
            journal,
            effectors,
            token,
            wake: Arc::new(Notify::new()),
            callbacks,
            callbacks_in_flight: Foreground::new(CALLBACKS_BUSY, CALLBACKS_MAX_WAIT),
            status,
        }))
    }

    /// Sets the retry pacing of the runner.
    pub fn with_backoff(mut self, backoff: Backoff) -> AppState {
        let app = Arc::make_mut(&mut self.0);
        app.effectors.backoff = backoff;
        if let Some(intake) = &mut app.intake {
            intake.effectors.backoff = backoff;
        }
        self
    }

    fn runner(&self) -> Runner {
        Runner {
            effectors: self.effectors.clone(),
            kinds: KINDS.to_vec(),
            wake: self.wake.clone(),
            give_up_after: Some(self.config.build_listener.give_up_after),
            shutdown_timeout: self.config.build_listener.shutdown_timeout,
            yield_to: Some(self.callbacks_in_flight.clone()),
        }
    }
}

/// The router; tests and [`serve`] use the same one.
pub fn create_app(state: AppState) -> Router {
    let limit = state.config.build_listener.max_body_bytes;
    // The token is checked before anything reads the body: an unauthenticated request never
    // gets to make the server buffer a megabyte. Reads (the board, the API) need no token.
    let token = || axum::middleware::from_fn_with_state(state.clone(), auth::require_token);
    Router::new()
        .route(
            "/",
            post(callbacks::notification)
                .route_layer(token())
                .merge(get(board::page)),
        )
        .route(
            "/drop-rejection",
            post(drop::drop_rejection).route_layer(token()),
        )
        .route(
            "/gerrit-events",
            post(gerrit_events::receive).route_layer(token()),
        )
        .merge(api::routes())
        .route("/sse", get(feed::sse))
        .route("/board/changes/{*change}", get(board::card))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Serves `listener` and runs the effect runner until `shutdown` completes; then stops
/// accepting, finishes the requests in flight, lets the runner finish or give back its
/// attempts within `[build_listener] shutdown_timeout`, and returns.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = rx.wait_for(|stop| *stop).await;
    };
    prune(&app).await;
    let runner = tokio::spawn(app.runner().run(stopped(stop_rx.clone())));
    let status = status::spawn(app.clone(), stopped(stop_rx.clone()));
    let trigger = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
    });
    let limited = limits::Limited::new(listener, app.config.build_listener.max_connections);
    let result = axum::serve(limited, create_app(app))
        .with_graceful_shutdown(stopped(stop_rx))
        .await;
    // If the server failed on its own, dropping the sender stops the runner too.
    trigger.abort();
    let _ = trigger.await;
    if let Err(e) = runner.await {
        tracing::error!(error = %e, "effect runner panicked");
    }
    if let Err(e) = status.await {
        tracing::error!(error = %e, "status tasks panicked");
    }
    result
}

/// Forgets rows older than `[state] retention`.
async fn prune(app: &AppState) {
    let keep = i64::try_from(app.config.state.retention.as_millis()).unwrap_or(i64::MAX);
    match app.journal.prune(keep).await {
        Ok(p) => tracing::debug!(?p, "pruned the state database"),
        Err(e) => tracing::warn!(error = %e, "cannot prune the state database"),
    }
}

/// Everything build-listener needs, from the configuration: the journal, the Gerrit client
/// and (to confirm callbacks) the Jenkins client, with netrc credentials.
pub fn app_state(config: Config, token: Option<Secret>) -> anyhow::Result<AppState> {
    let journal = Journal::open(&config.state.path, "build-listener")?;
    let netrc = credentials::netrc_path(config.gerrit.netrc.as_deref())?;
    let creds = credentials::for_url(&config.gerrit.url, &netrc)?;
    let gerrit = Gerrit::new(&config.gerrit.url, creds, config.gerrit.timeout)?;
    // Jenkins confirms callbacks (`verify_callbacks`) and takes the builds `/gerrit-events`
    // asks for; without its credentials only the first is a set-up error.
    let jenkins_creds = credentials::netrc_path(config.jenkins.netrc.as_deref())
        .and_then(|netrc| credentials::for_url(&config.jenkins.url, &netrc));
    let jenkins = match jenkins_creds {
        Ok(creds) => Some(
            // Its requests are timed with Gerrit's, for /metrics.
            Jenkins::new(&config.jenkins.url, creds, config.jenkins.timeout)
                .context("cannot set up the Jenkins client")?
                .with_timings(gerrit.timings().clone()),
        ),
        Err(e) if config.jenkins.verify_callbacks => {
            return Err(e).context("[jenkins] verify_callbacks needs the Jenkins credentials");
        }
        Err(e) => {
            tracing::warn!(error = %e, "no Jenkins credentials: POST /gerrit-events is off");
            None
        }
    };
    Ok(AppState::new(config, journal, gerrit, jenkins, token))
}

/// build-listener's main: build the [`AppState`], bind, serve until `shutdown` completes.
/// `token` is the shared secret of the POST endpoints.
pub async fn run(
    config: Config,
    token: Option<Secret>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let bind = config.build_listener.bind;
    let app = app_state(config, token)?;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!(addr = %listener.local_addr()?, "build-listener listening");
    if app.token.is_none() {
        tracing::warn!("{TOKEN_ENV} is not set: anyone who can reach the port can post callbacks");
    }
    serve(listener, app, shutdown)
        .await
        .context("server failed")
}
