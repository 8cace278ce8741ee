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
//! Bad input is a 4xx with a one-line JSON body `{"error":"..."}` naming the problem; the
//! handlers read the body as bytes and parse it themselves to control those messages.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, Query, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing::{Instrument, field};

use crate::jenkins::notification::Phase;
use crate::jenkins::notification::{self, BodyError, JenkinsEvent};
use crate::policy::callback::{
    Decision, Item, Rejection, Triggered, build_link, decide, decision_line, sanitize,
};
use crate::policy::vote::presubmit_post;

mod limits;

pub use limits::{IDLE_TIMEOUT, REQUEST_TIMEOUT};

use crate::config::Config;
use crate::console::{self, Kind};
use crate::credentials::{self, Secret};
use crate::effects::{self, Backoff, Effect, Effectors, Foreground, Payload, Runner, Verify};
use crate::gerrit::Gerrit;
use crate::intake::Intake;
use crate::jenkins::Jenkins;
use crate::journal::{
    Accepted, CallbackPhase, IntentKind, Journal, JournalError, NewEvent, Owner, Plan, Planned,
    Recorded, Sibling,
};
use crate::types::rest_id_from_plain;

mod api;
mod board;
mod feed;
mod gerrit_events;
pub mod status;
mod webhook;

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
    /// Callbacks being answered: reviews wait while more than a few are (see [`Foreground`]).
    callbacks: Foreground,
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
        });
        AppState(Arc::new(App {
            intake,
            config,
            journal,
            effectors,
            token,
            wake: Arc::new(Notify::new()),
            callbacks: Foreground::new(CALLBACKS_BUSY, CALLBACKS_MAX_WAIT),
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
            yield_to: Some(self.callbacks.clone()),
        }
    }
}

/// A 4xx (or, for a broken state database, 503) with a one-line JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // serde_json escapes newlines, so the body is always one line.
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<Rejection> for ApiError {
    fn from(e: Rejection) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
    }
}

impl From<JournalError> for ApiError {
    fn from(e: JournalError) -> ApiError {
        tracing::error!(error = %e, "state database failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state database unavailable",
        )
    }
}

/// The router; tests and [`serve`] use the same one.
pub fn create_app(state: AppState) -> Router {
    let limit = state.config.build_listener.max_body_bytes;
    // The token is checked before anything reads the body: an unauthenticated request never
    // gets to make the server buffer a megabyte. Reads (the board, the API) need no token.
    let token = || axum::middleware::from_fn_with_state(state.clone(), require_token);
    Router::new()
        .route(
            "/",
            post(notification)
                .route_layer(token())
                .merge(get(board::page)),
        )
        .route("/drop-rejection", post(drop_rejection).route_layer(token()))
        .route(
            "/gerrit-events",
            post(gerrit_events::receive).route_layer(token()),
        )
        .merge(api::routes())
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Answers 401 before the handler (and its body extractor) runs, when the token is wrong.
async fn require_token(
    AxumState(app): AxumState<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(&app, request.headers(), request.uri()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// SPEC §7: with a token configured, a POST must carry it as `?token=` (all the plugin's URL
/// can hold) or `Authorization: Bearer`.
fn authorize(app: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let Some(expected) = &app.token else {
        return Ok(());
    };
    let from_query = Query::<TokenQuery>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.token);
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let given = [from_query, from_header];
    // Evaluate both candidates so timing does not tell which one was present.
    let ok = given.iter().fold(false, |acc, t| {
        acc | t
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), expected.expose().as_bytes()))
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token (send ?token=<value> or Authorization: Bearer <value>)",
        ))
    }
}

/// Compares without an early exit, so the time taken does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// The body, or the 413/400 that replaces axum's plain-text rejection.
fn body_bytes(app: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    match body {
        Ok(bytes) => Ok(bytes),
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "body is larger than {} bytes ([build_listener] max_body_bytes)",
                    app.config.build_listener.max_body_bytes
                ),
            ))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {}", e.body_text()),
        )),
    }
}

/// `POST /`: one Notification-plugin event.
async fn notification(
    AxumState(app): AxumState<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!(
        "callback",
        job = field::Empty,
        number = field::Empty,
        phase = field::Empty,
        status = field::Empty
    );
    let _answering = app.callbacks.enter();
    async move {
        let body = body_bytes(&app, body)?;
        let event = match JenkinsEvent::parse(&body) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "bad callback");
                let line = NewEvent::new(Kind::Error, "callback", format!("bad request: {e}"));
                console::emit(&app.journal, line).await;
                return Err(e.into());
            }
        };
        let span = tracing::Span::current();
        span.record("job", event.name.as_str());
        span.record("number", event.build.number);
        span.record("phase", field::display(&event.build.phase));
        if let Some(s) = &event.build.status {
            span.record("status", field::display(s));
        }
        handle_event(&app, &event).await
    }
    .instrument(span)
    .await
}

async fn handle_event(app: &AppState, event: &JenkinsEvent) -> Result<Response, ApiError> {
    let b = &event.build;
    let job = event.job_path();
    let p = &app.config.presubmit;
    // What the journal knows about the build's queue item: only asked when it matters (the
    // change a clean build was for; whether the bot triggered a presubmit build).
    let needs_triggered = b.phase.is_finished()
        && (job == p.clean_job || (p.is_presubmit_job(&job) && !p.vote_on_manual_builds));
    let triggered: Vec<Triggered> = match b.queue_id {
        Some(q) if needs_triggered => app
            .journal
            .builds_by_queue_id(q)
            .await?
            .into_iter()
            .map(|r| Triggered {
                queue_id: q,
                job: r.job,
                change_key: r.change,
                patch_set: r.patch_set,
            })
            .collect(),
        _ => Vec::new(),
    };
    let decision = match decide(event, &app.config, &triggered) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "callback rejected");
            let build = format!("{job} #{} {}", b.number, b.phase);
            let line = NewEvent::new(Kind::Error, "callback", format!("{build}: {e}"))
                .build(&job, Some(b.number));
            console::emit(&app.journal, line).await;
            return Err(e.into());
        }
    };
    let events: Vec<NewEvent> = decision_line(event, &decision)
        .map(|(kind, context, text)| NewEvent::new(kind, context, text).build(&job, Some(b.number)))
        .into_iter()
        .collect();
    let items = match decision {
        Decision::Ignored | Decision::UnknownJob | Decision::ManualBuild => {
            let what = match decision {
                Decision::Ignored => "ignored job",
                Decision::UnknownJob => "unknown job",
                _ => "not triggered by the bot",
            };
            tracing::info!("{what}: nothing to do");
            app.journal.append_events(events.clone()).await?;
            events.iter().for_each(console::event);
            return Ok(reply(StatusCode::OK, json!({ "result": what })));
        }
        Decision::NoChange => {
            tracing::warn!(queue_id = ?b.queue_id,
                "clean build of no known change: gmail-listener did not record this queue id");
            Vec::new()
        }
        Decision::NotFinished => Vec::new(),
        Decision::Post(items) => items,
    };
    let verify = app.config.jenkins.verify_callbacks.then(|| Verify {
        job: job.clone(),
        number: b.number,
        status: b
            .status
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        git_ref: b.parameters.get("REF").cloned(),
    });
    let plan = review_plan(app, event, &job, items.clone(), events, verify);
    let (accepted, recorded) = app
        .journal
        .accept_callback(
            CallbackPhase {
                job: job.clone(),
                number: b.number,
                phase: b.phase.to_string(),
                status: b.status.as_ref().map(ToString::to_string),
                finished: b.phase.is_finished(),
                queue_id: b.queue_id,
                url: b.full_url.as_deref().or(b.url.as_deref()).map(sanitize),
            },
            plan,
        )
        .await?;
    recorded.iter().for_each(console::event);
    if b.phase == Phase::Started && p.start_message && p.is_presubmit_job(&job) {
        start_message(app, event, &job).await?;
    }
    Ok(respond(app, accepted, items.first()))
}

/// What the first finished phase of a build posts, decided inside the journal's transaction
/// from the builds of the same patch set: a presubmit build's review carries the patch set's
/// one vote only when it is the last voting job to finish (SPEC §15).
fn review_plan(
    app: &AppState,
    event: &JenkinsEvent,
    job: &str,
    items: Vec<Item>,
    events: Vec<NewEvent>,
    verify: Option<Verify>,
) -> Plan {
    let config = app.config.clone();
    let event = event.clone();
    let job = job.to_string();
    Box::new(move |siblings: Option<&[Sibling]>| {
        let presubmit = config.presubmit.is_presubmit_job(&job);
        let status = event.build.status.clone();
        let items: Vec<Item> = items
            .into_iter()
            .map(|mut item| {
                if let (true, Some(status)) = (presubmit, &status) {
                    let link = build_link(
                        &config.build_listener.build_link,
                        &event,
                        &config.jenkins.url,
                    );
                    item.review = presubmit_post(
                        &job,
                        event.build.number,
                        status,
                        &link,
                        siblings,
                        &config.presubmit,
                    );
                }
                item
            })
            .collect();
        // The console line says what was decided, vote included.
        let events = match decision_line(&event, &Decision::Post(items.clone())) {
            Some((kind, context, text)) if !items.is_empty() => {
                vec![NewEvent::new(kind, context, text).build(&job, Some(event.build.number))]
            }
            _ => events,
        };
        let intents = items
            .iter()
            .map(|i| review_intent(&job, &event, i, verify.clone(), presubmit))
            .collect();
        (intents, events)
    })
}

/// `<job> #<number> started: <link>`, once per build (`[presubmit] start_message`).
async fn start_message(app: &AppState, event: &JenkinsEvent, job: &str) -> Result<(), ApiError> {
    let Some(r) = event
        .build
        .parameters
        .get("REF")
        .and_then(|r| r.parse::<crate::types::GerritRef>().ok())
    else {
        return Ok(());
    };
    let link = build_link(
        &app.config.build_listener.build_link,
        event,
        &app.config.jenkins.url,
    );
    let text = format!("{job} #{} started: {}", event.build.number, sanitize(&link));
    let item = Item {
        review: crate::gerrit::ReviewInput::bot(Some(text), Default::default()),
        change: r.change.to_string(),
        revision: r.patch_set.to_string(),
        source: format!("{job} #{}", event.build.number),
    };
    let mut intent = review_intent(job, event, &item, None, false);
    intent.key = format!(
        "start:{job}#{}:{}:{}",
        event.build.number, r.change, r.patch_set
    );
    let line = NewEvent::new(
        Kind::Check,
        "STARTED",
        format!(
            "{job} #{} => {} patch set {}: started",
            event.build.number, r.change, r.patch_set
        ),
    )
    .change(r.change.to_string(), Some(r.patch_set.0))
    .build(job, Some(event.build.number));
    let recorded = app
        .journal
        .record(vec![Planned::new(intent)], vec![])
        .await?;
    if matches!(recorded.first(), Some(Recorded::New(_))) {
        app.journal.append_events(vec![line.clone()]).await?;
        console::event(&line);
        app.wake.notify_one();
    }
    Ok(())
}

/// The intent of posting one callback's review, keyed by the build, the revision and the
/// status: the plugin's re-sends and the second finished phase find it already recorded, and
/// a callback Jenkins contradicted does not stand in the way of the genuine one.
fn review_intent(
    job: &str,
    event: &JenkinsEvent,
    item: &Item,
    verify: Option<Verify>,
    only_if_current: bool,
) -> crate::journal::NewIntent {
    let change = percent_encoding::percent_decode_str(&item.change)
        .decode_utf8_lossy()
        .into_owned();
    let status = event
        .build
        .status
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let key = format!(
        "review:{job}#{}:{}:{}:{}",
        event.build.number,
        item.change,
        item.revision,
        sanitize(&status)
    );
    let done = NewEvent::new(
        Kind::Check,
        "gerrit",
        format!(
            "{} => {change} patch set {}: {{outcome}}",
            item.source, item.revision
        ),
    )
    .change(change.clone(), item.revision.parse().ok())
    .build(job, Some(event.build.number));
    effects::plan(
        key,
        Payload {
            effect: Effect::Review {
                change: item.change.clone(),
                revision: item.revision.clone(),
                review: item.review.clone(),
                verify,
                only_if_current,
            },
            context: "gerrit".into(),
            done: Some(done),
        },
        Some(change),
        item.revision.parse().ok(),
        &item.source,
    )
    .intent
}

/// The answer to an accepted callback; a queued review also wakes the runner.
fn respond(app: &AppState, accepted: Accepted, item: Option<&Item>) -> Response {
    match accepted {
        Accepted::Queued(id) => {
            if let Some(i) = item {
                tracing::info!(id, change = %i.change, revision = %i.revision,
                    labels = ?i.review.labels, "review queued");
            }
            app.wake.notify_one();
            reply(
                StatusCode::ACCEPTED,
                json!({ "result": "queued", "id": id }),
            )
        }
        Accepted::Duplicate { acted_phase } => {
            tracing::info!(acted_phase = %acted_phase, "already acted on this build: duplicate");
            reply(
                StatusCode::OK,
                json!({ "result": "duplicate", "acted_phase": acted_phase }),
            )
        }
        Accepted::Recorded => {
            tracing::debug!("recorded");
            reply(StatusCode::OK, json!({ "result": "recorded" }))
        }
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `POST /drop-rejection {"changeid": "...", "patchset": N}`: queue a check of the bot's
/// Verified vote on that revision, set to 0 by the worker if it is negative.
async fn drop_rejection(
    AxumState(app): AxumState<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(&app, body)?;
    let (change, patch_set) = parse_drop_request(&body)
        .inspect_err(|e| tracing::warn!(error = %e, "bad drop-rejection request"))?;
    let span = tracing::info_span!("drop_rejection", change = %change, patch_set);
    let (planned, queued) = drop_rejection_plan(&change, patch_set);
    let (id, new) = app
        .journal
        .record_deduped(planned, vec![queued.clone()])
        .instrument(span.clone())
        .await?;
    span.in_scope(|| tracing::info!(id, new, "drop-rejection queued"));
    if new {
        console::event(&queued);
    }
    app.wake.notify_one();
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({ "result": "queued", "id": id }),
    ))
}

/// The intent of lifting the bot's Verified-1 from `change`'s patch set (the effector checks
/// Gerrit for a person's Verified+1 first), and the line saying it is queued.
fn drop_rejection_plan(change: &str, patch_set: u32) -> (Planned, NewEvent) {
    let rest = rest_id_from_plain(change);
    let queued = NewEvent::new(
        Kind::Check,
        "drop-rejection",
        format!("{change} patch set {patch_set}: queued"),
    )
    .change(change, Some(patch_set));
    let done = NewEvent::new(
        Kind::Check,
        "gerrit",
        format!("drop-rejection => {change} patch set {patch_set}: {{outcome}}"),
    )
    .change(change, Some(patch_set));
    let planned = effects::plan(
        // A unique key: the same request made again later is a new request (only an
        // identical one still pending is merged, by `record_deduped`).
        format!("drop:{rest}:{patch_set}:{}", crate::journal::now_ms()),
        Payload {
            effect: Effect::DropRejection {
                change: rest,
                revision: patch_set.to_string(),
            },
            context: "gerrit".into(),
            done: Some(done),
        },
        Some(change.to_string()),
        Some(patch_set),
        "drop-rejection",
    );
    (planned, queued)
}

fn parse_drop_request(body: &[u8]) -> Result<(String, u32), BodyError> {
    let obj = notification::parse_object(body)?;
    let change = notification::required(
        notification::get(&obj, "changeid", "changeid", "a non-empty string", |v| {
            v.as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        }),
        "changeid",
    )?;
    let patch_set = notification::required(
        notification::get(&obj, "patchset", "patchset", "a positive integer", |v| {
            v.as_u64()
                .filter(|&n| n > 0)
                .and_then(|n| u32::try_from(n).ok())
        }),
        "patchset",
    )?;
    Ok((change.to_string(), patch_set))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content_only() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cres"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn drop_requests_are_validated() {
        assert_eq!(
            parse_drop_request(br#"{"changeid":"platform/bionic~5","patchset":2}"#),
            Ok(("platform/bionic~5".to_string(), 2))
        );
        let rendered: Vec<String> = [
            "",
            "[]",
            r#"{"patchset":2}"#,
            r#"{"changeid":"p~5"}"#,
            r#"{"changeid":"","patchset":2}"#,
            r#"{"changeid":5,"patchset":2}"#,
            r#"{"changeid":"p~5","patchset":"2"}"#,
            r#"{"changeid":"p~5","patchset":0}"#,
            r#"{"changeid":"p~5","patchset":1.5}"#,
        ]
        .iter()
        .map(|b| format!("{b}  =>  {}", parse_drop_request(b.as_bytes()).unwrap_err()))
        .collect();
        insta::assert_snapshot!(rendered.join("\n"));
    }
}
