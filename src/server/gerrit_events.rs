//! `POST /gerrit-events`: Gerrit's webhooks plugin tells build-listener about a new patch set
//! or a comment the moment it happens (SPEC §15).
//!
//! An event is a hint handled like the matching mail ([`crate::intake`]): Gerrit's facts, the
//! same checks, the same intent keys, so a patch set announced by a webhook, a mail and the
//! reconcile pass is built once. Unlike Jenkins' plugin, the webhooks plugin retries any answer
//! but 200/201/202/204 (`maxTries`, default 5, every `retryInterval`), so the facts are read
//! from Gerrit in the request: a passing Gerrit failure is a 503 the plugin tries again, and
//! the event is answered 2xx only once its intents are in the journal. The builds are then
//! triggered in the background; one that fails is retried here a few times and otherwise
//! carried out by the next mail or reconcile pass that finds the patch set (same key).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::console;
use crate::effects::{Effect, Payload};
use crate::intake::mail::Notification;
use crate::intake::webhooks::{self, Event};
use crate::intake::{Assessed, Carried, Done, Intake};
use crate::journal::{IntentKind, NewEvent, Planned};
use tracing::Instrument;

use super::{ApiError, AppState, body_bytes, drop_rejection_plan, reply};

/// How many times the background task tries a failed build before leaving it to the next
/// mail or reconcile pass.
const ATTEMPTS: u32 = 5;

pub(super) async fn receive(
    AxumState(app): AxumState<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(&app, body)?;
    let n = match webhooks::parse(&body) {
        Ok(Event::Hint(n)) => n,
        Ok(Event::Ignored(kind)) => {
            tracing::debug!(%kind, "a Gerrit event the bot does not act on");
            return Ok(reply(
                StatusCode::OK,
                json!({ "result": "ignored", "type": kind }),
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "bad Gerrit event");
            let line = NewEvent::new(
                console::Kind::Error,
                "gerrit-events",
                format!("bad request: {e}"),
            );
            console::emit(&app.journal, line).await;
            return Err(ApiError::new(StatusCode::BAD_REQUEST, e.to_string()));
        }
    };
    let Some(intake) = &app.intake else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "build-listener has no Jenkins credentials: add a netrc entry for [jenkins] url",
        ));
    };
    let span =
        tracing::info_span!("gerrit_event", change = %n.locator(), patch_set = n.patch_set.0);
    handle(&app, intake, &n).instrument(span).await
}

async fn handle(app: &AppState, intake: &Intake, n: &Notification) -> Result<Response, ApiError> {
    let ctx = n.message_type.to_string();
    let (planned, events) = match intake.assess(n, &webhooks::fallback_key(n)).await {
        Assessed::Plan { planned, events } => (planned, events),
        Assessed::Stale(e) | Assessed::Ambiguous(e) => {
            console::emit(&app.journal, e).await;
            return Ok(reply(StatusCode::OK, json!({ "result": "nothing to do" })));
        }
        Assessed::Failed(error) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error));
        }
        Assessed::DryRun => return Ok(reply(StatusCode::OK, json!({ "result": "dry run" }))),
    };
    let (planned, mut events) = in_process(planned, events);
    let keys = intake
        .record(&ctx, planned, std::mem::take(&mut events))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    // Reviews and drop-rejections are the runner's; builds and cancels are carried out here.
    app.wake.notify_one();
    let jenkins_keys: Vec<(String, IntentKind)> = keys
        .iter()
        .filter(|(_, k)| matches!(k, IntentKind::Trigger | IntentKind::Cancel))
        .cloned()
        .collect();
    if !jenkins_keys.is_empty() {
        tokio::spawn(carry_out(intake.clone(), jenkins_keys));
    }
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({ "result": "recorded", "intents": keys.len() }),
    ))
}

/// A drop-rejection a comment calls for is gmail-listener's request to build-listener; here
/// it is the check itself, under the same key (so the mail of the same comment finds it done).
fn in_process(planned: Vec<Planned>, mut events: Vec<NewEvent>) -> (Vec<Planned>, Vec<NewEvent>) {
    let planned = planned
        .into_iter()
        .map(|p| {
            let Ok(Payload {
                effect:
                    Effect::DropRequest {
                        change_id,
                        patch_set,
                    },
                ..
            }) = serde_json::from_str::<Payload>(&p.intent.payload)
            else {
                return p;
            };
            let (mut check, queued) = drop_rejection_plan(&change_id, patch_set);
            check.intent.key = p.intent.key;
            events.push(queued);
            check
        })
        .collect();
    (planned, events)
}

/// Carries out the event's builds and cancels, retrying a failure a few times.
async fn carry_out(intake: Intake, keys: Vec<(String, IntentKind)>) {
    for attempt in 1..=ATTEMPTS {
        let mut done = Done::default();
        match intake.run(&keys, &mut done).await {
            Carried::Done => return,
            Carried::Waiting if attempt == ATTEMPTS => return,
            Carried::Failed(error, _) => {
                tracing::warn!(%error, attempt, "a build a Gerrit event asked for failed");
            }
            Carried::Waiting => {}
        }
        let wait = intake
            .effectors
            .backoff
            .delay(attempt)
            .max(Duration::from_millis(100));
        tokio::time::sleep(wait).await;
    }
    tracing::warn!("leaving the build to the next mail or reconcile pass");
}
